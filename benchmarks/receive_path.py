"""The receive path, before and after, in one run (issue 13; figures in BENCHMARKS.md).

    .venv/bin/python benchmarks/receive_path.py --baseline /path/to/checkout-of-main [--runs 3]

Each figure runs in a fresh child process, alternately against the baseline's `src` and this
checkout's (both on PYTHONPATH; the baseline needs its C extension built in place), `--runs`
times each; the table gives medians and the after/before ratio. Rates are per CPU second of the
child (`time.process_time`), so time the shared machine gives to other processes does not count
against either side; it is still one core, single-threaded. Only APIs both sides have are used.
Inputs are `hush bench validate` / `hush bench open`'s: 256-byte envelopes, 64-byte payloads.
`relay` is `hush bench relay` (this checkout's driver and peers, the relay node from each side's
`src`): envelopes received and forwarded to 8 peers per CPU second of the relay process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

FIGURES = [
    "validate",
    "open_sym_wrong",
    "open_sym_right",
    "open_sym_signed_right",
    "open_asym_right",
    "open_asym_wrong",
    "recover",
    "filters_16_one_topic",
    "relay",
    "pow_100",
    "pow_4096",
]
EXPIRY = 1_600_000_000


def _rate(function: Callable[[], object], cpu_seconds: float, batch: int = 256) -> float:
    calls = 0
    start = time.process_time()
    while True:
        for _ in range(batch):
            function()
        calls += batch
        spent = time.process_time() - start
        if spent >= cpu_seconds:
            return calls / spent


def figure(name: str, cpu_seconds: float) -> float:
    from hush.crypto.keccak import keccak256  # noqa: PLC0415 - imported from the chosen src
    from hush.crypto.keys import PrivateKey, recover_public_key  # noqa: PLC0415
    from hush.crypto.symmetric import SymmetricKey  # noqa: PLC0415
    from hush.shh.envelope import Envelope  # noqa: PLC0415
    from hush.shh.filters import Filter, FilterSet  # noqa: PLC0415
    from hush.shh.message import open_asymmetric, open_symmetric, wrap  # noqa: PLC0415
    from hush.types import KeyID, Topic  # noqa: PLC0415

    random_bytes = os.urandom
    topic = Topic(b"\x01\x02\x03\x04")
    payload = b"x" * 64
    key, wrong = SymmetricKey(random_bytes(32)), SymmetricKey(random_bytes(32))
    recipient, wrong_recipient = PrivateKey(random_bytes(32)), PrivateKey(random_bytes(32))
    signer = PrivateKey(random_bytes(32))
    if name == "validate":
        raws = []
        for i in range(512):
            envelope = Envelope(EXPIRY, 50, Topic(i.to_bytes(4, "big")), random_bytes(234))
            raws.append(envelope.with_nonce((1 << 40) + i * 7919).encode())
        cycle = iter(raws * 100_000)

        def validate() -> None:
            envelope = Envelope.decode(next(cycle))
            envelope.hash  # noqa: B018 - computing it is the point
            envelope.pow()
            envelope.bloom()

        return _rate(validate, cpu_seconds)
    sym = wrap(payload, topic, EXPIRY, random_bytes, sym_key=key)
    if name == "open_sym_wrong":
        return _rate(lambda: open_symmetric(sym, wrong, 1.0, sym.hash), cpu_seconds)
    if name == "open_sym_right":
        return _rate(lambda: open_symmetric(sym, key, 1.0, sym.hash), cpu_seconds)
    if name == "open_sym_signed_right":
        signed = wrap(payload, topic, EXPIRY, random_bytes, sym_key=key, signer=signer)
        return _rate(lambda: open_symmetric(signed, key, 1.0, signed.hash), cpu_seconds)
    asym = wrap(payload, topic, EXPIRY, random_bytes, public_key=recipient.public_key)
    if name == "open_asym_right":
        return _rate(lambda: open_asymmetric(asym, recipient, 1.0, asym.hash), cpu_seconds)
    if name == "open_asym_wrong":
        return _rate(lambda: open_asymmetric(asym, wrong_recipient, 1.0, asym.hash), cpu_seconds)
    if name == "recover":
        digest = keccak256(b"hush")
        signature = signer.sign(digest)
        return _rate(lambda: recover_public_key(signature, digest), cpu_seconds)
    if name.startswith("pow_"):
        # nonces/s of one search on one core: the short RLP of that size, a target never met
        from hush.cli.bench import envelope_for_short_size  # noqa: PLC0415
        from hush.shh.pow import NonceSearch  # noqa: PLC0415

        search = NonceSearch(envelope_for_short_size(int(name[4:])).short_rlp())
        chunk = 1 << 14
        starts = iter(range(1 << 40, 1 << 62, chunk))
        return chunk * _rate(lambda: search.find(next(starts), chunk, 256), cpu_seconds, batch=1)
    if name == "filters_16_one_topic":
        # 16 filters on the envelope's topic, each with its own key, one of them the right one:
        # deliveries (envelopes) per second, i.e. 15 wrong-key and 1 right-key open each.
        filters = FilterSet()
        keys = [SymmetricKey(random_bytes(32)) for _ in range(15)] + [key]
        for index, filter_key in enumerate(keys):
            filters.install(
                KeyID(f"{index:064x}"), Filter(sym_key=filter_key, topics=frozenset([topic]))
            )
        return _rate(lambda: filters.notify(sym, 1.0, sym.hash), cpu_seconds, batch=64)
    raise SystemExit(f"unknown figure {name}")


def run_child(src: Path, name: str, cpu_seconds: float) -> float:
    if name == "relay":
        from hush.cli.bench_relay import bench_relay  # noqa: PLC0415 - this checkout's driver

        result = bench_relay(10_000, 8, 256, src=str(src))
        return 1000 / float(result["relay_cpu_s_per_1000"])
    env = dict(os.environ, PYTHONPATH=str(src))
    command = [sys.executable, __file__, "--child", name, "--cpu-seconds", str(cpu_seconds)]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return float(json.loads(output)["rate"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, help="a checkout of the baseline (its root)")
    parser.add_argument(
        "--after",
        type=Path,
        help="measure this checkout instead of this one (e.g. one without its C parts)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cpu-seconds", type=float, default=0.5)
    parser.add_argument("--figures", default=",".join(FIGURES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({"rate": figure(args.child, args.cpu_seconds)}))
        return
    here = (args.after.resolve() if args.after else Path(__file__).resolve().parent.parent) / "src"
    sides = {"after": here}
    if args.baseline:
        sides = {"before": args.baseline.resolve() / "src", "after": here}
    results: dict[str, dict[str, list[float]]] = {}
    for name in args.figures.split(","):
        runs: dict[str, list[float]] = {side: [] for side in sides}
        for _ in range(args.runs):
            for side, src in sides.items():  # alternate: before, after, before, after, ...
                runs[side].append(run_child(src, name, args.cpu_seconds))
        results[name] = runs
        medians = {side: statistics.median(values) for side, values in runs.items()}
        line = "  ".join(
            f"{side} {medians[side]:>11,.0f} ({' / '.join(f'{v:,.0f}' for v in values)})"
            for side, values in runs.items()
        )
        ratio = (
            f"  after/before {medians['after'] / medians['before']:.2f}" if len(sides) > 1 else ""
        )
        print(f"{name:24s} {line}{ratio}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
