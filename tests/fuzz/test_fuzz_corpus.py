"""The CI-sized fuzz run (docs/fuzzing.md): every kept corpus input through its target, bounded
in memory; a short deterministic mutation run from the corpus; and, where atheris is installed,
one short coverage-guided run of all targets through fuzz/run.py.

A failure names the input: add it to `fuzz/corpus/<target>/` once the decoder is fixed.
"""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "fuzz"))

import fuzz_targets  # noqa: E402
from fuzz_targets import ALL, CORPUS, TARGETS  # noqa: E402

MUTATIONS = 150
"""Mutated inputs per target in CI; `make fuzz` runs millions."""

_INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0x81, 0xB7, 0xB8, 0xBF, 0xC0, 0xC1, 0xF7, 0xF8, 0xFF)


def _corpus(name: str) -> list[Path]:
    return sorted(path for path in (CORPUS / name).iterdir() if path.is_file())


def _memory_limit(data: bytes) -> int:
    """What one input may allocate at peak: a fixed allowance (a fresh node for the RPC target,
    cipher contexts) plus a small multiple of its size. A decoder that inflates what a peer
    declares instead of what it sent blows through this."""
    return (1 << 20) + 32 * len(data)


@pytest.mark.parametrize("name", ALL)
def test_corpus_replays_within_bounds(name: str) -> None:
    files = _corpus(name)
    assert files, f"fuzz/corpus/{name}/ is empty: run fuzz/seeds.py"
    run = TARGETS[name].run
    failures = []
    tracemalloc.start()
    try:
        for path in files:
            data = path.read_bytes()
            tracemalloc.reset_peak()
            try:
                run(data)
            except Exception as exc:
                failures.append(f"{path.name}: {type(exc).__name__}: {exc}")
                continue
            peak = tracemalloc.get_traced_memory()[1]
            if peak > _memory_limit(data):
                failures.append(f"{path.name}: {peak} bytes allocated for {len(data)} in")
    finally:
        tracemalloc.stop()
    assert not failures, "\n".join(failures)


def _mutate(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    """libFuzzer's cheap mutations: flip, set an RLP-interesting byte, insert, erase, copy a
    part, splice with another corpus input, truncate."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(7)
        pos = rng.randrange(len(out) + 1)
        if kind == 0 and out:
            out[pos % len(out)] ^= 1 << rng.randrange(8)
        elif kind == 1 and out:
            out[pos % len(out)] = rng.choice(_INTERESTING)
        elif kind == 2:
            out[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif kind == 3:
            del out[pos : pos + rng.randint(1, 16)]
        elif kind == 4 and out:
            start = rng.randrange(len(out))
            out[pos:pos] = out[start : start + rng.randint(1, 32)]
        elif kind == 5:
            other = rng.choice(others)
            out[pos:] = other[rng.randrange(len(other) + 1) :]
        else:
            del out[pos:]
    return bytes(out)


@pytest.mark.parametrize("name", ALL)
def test_mutated_corpus(name: str) -> None:
    corpus = [path.read_bytes() for path in _corpus(name)]
    rng = random.Random(f"hush-fuzz-{name}")  # deterministic: the same inputs every run
    run = TARGETS[name].run
    for _ in range(MUTATIONS):
        data = _mutate(rng, rng.choice(corpus), corpus)
        try:
            run(data)
        except Exception as exc:
            raise AssertionError(f"{name} input {data.hex()}: {type(exc).__name__}: {exc}") from exc


def test_every_decoder_has_a_target() -> None:
    assert set(ALL) == {
        "rlp",
        "handshake",
        "frame",
        "connection",
        "hello",
        "disconnect",
        "shh_status",
        "shh_peer",
        "envelope",
        "message",
        "enode",
        "rpc_body",
        "rpc_params",
    }
    assert fuzz_targets.fuzz_all(b"") is None


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_atheris_runs_every_target(tmp_path: Path) -> None:
    runs = 3000
    env = dict(os.environ, FUZZ_WORK_DIR=str(tmp_path / "work"), FUZZ_CRASH_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "run.py"), "all", f"-runs={runs}", "-seed=1"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Done {runs} runs" in result.stderr
    assert not list(tmp_path.glob("all-*")), "atheris wrote a crash input"
