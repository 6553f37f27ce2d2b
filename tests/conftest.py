"""Shared fixtures: geth 1.9.7 vectors (tests/vectors/README.md) and fixed randomness."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).parent / "vectors"


def _load(name: str) -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads((VECTORS / name).read_text())["vectors"]
    return vectors


def _payload_70000() -> bytes:
    return bytes((i * 13) % 256 for i in range(70000))


def geth_vectors() -> list[dict[str, Any]]:
    """All geth-recorded envelopes, with `expected.payload` filled in for the 70 000-byte one."""
    vectors = _load("envelopes.json")
    for vector in _load("envelope_payload_70000.json"):
        payload = _payload_70000()
        assert hashlib.sha256(payload).hexdigest() == vector["expected"]["payload_sha256"]
        vector["expected"]["payload"] = "0x" + payload.hex()
        vectors.append(vector)
    return vectors


GETH_VECTORS = geth_vectors()


def _fixed_random(*chunks: bytes) -> Callable[[int], bytes]:
    """A random_bytes that returns `chunks` in order, each exactly the size asked for."""
    queue = list(chunks)

    def random_bytes(n: int) -> bytes:
        chunk = queue.pop(0)
        assert len(chunk) == n, f"asked for {n} random bytes, fixture has {len(chunk)}"
        return chunk

    return random_bytes


@pytest.fixture(params=GETH_VECTORS, ids=[v["name"] for v in GETH_VECTORS])
def geth_vector(request: pytest.FixtureRequest) -> dict[str, Any]:
    vector: dict[str, Any] = request.param
    return vector


@pytest.fixture
def fixed_random() -> Callable[..., Callable[[int], bytes]]:
    """`fixed_random(*chunks)`: a random_bytes returning `chunks` in order, sizes checked."""
    return _fixed_random
