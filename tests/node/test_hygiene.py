"""Envelope hygiene (simulation.md §4, §7 G4): nonces that say nothing about the device, a
`sent` spread over [now − R, now] with the TTL kept, padding buckets — each still valid
to geth's rules (whisper-v6.md §3.6, checked by hush's pool, which follows them)."""

from __future__ import annotations

import asyncio
import math
import os
import random

import pytest

from hush.crypto.symmetric import SymmetricKey
from hush.errors import UsageError
from hush.net.memory import MemoryNetwork
from hush.node import NodeConfig, PostRequest
from hush.sealer import InlineSealer
from hush.shh.envelope import Envelope
from hush.shh.hygiene import bucket_padding, spread_sent
from hush.shh.message import build_plaintext, open_symmetric, parse_plaintext
from hush.shh.pool import AddStatus, EnvelopePool
from hush.testing import MemoryCluster
from hush.types import Topic
from hush.vclock import virtual_time

KEY = SymmetricKey(bytes(range(7, 39)))
TOPIC = Topic(b"hyg\x00")


def _ks_uniform(samples: list[float]) -> tuple[float, float]:
    """One-sample Kolmogorov–Smirnov against U(0, 1): (D, asymptotic p-value)."""
    xs = sorted(samples)
    n = len(xs)
    d = max(max((i + 1) / n - x, x - i / n) for i, x in enumerate(xs))
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return d, min(1.0, max(0.0, p))


def test_the_ks_check_can_fail() -> None:
    rng = random.Random(1)
    assert _ks_uniform([rng.random() for _ in range(10_000)])[1] > 0.01
    assert _ks_uniform([rng.random() ** 1.1 for _ in range(10_000)])[1] < 0.01  # slightly off
    assert _ks_uniform([rng.random() / 2 for _ in range(1_000)])[1] < 1e-6


def test_target_mode_nonces_are_uniform_over_64_bits() -> None:
    """10,000 target-mode seals (cheap PoW): the nonces start at random, so they pass KS."""
    sealer = InlineSealer(lambda: 0.0, os.urandom)
    rng = random.Random(5)
    nonces = []
    for i in range(10_000):
        envelope = Envelope(1_800_000_050, 50, TOPIC, rng.randbytes(32) + i.to_bytes(4, "big"))
        sealed = sealer.seal(envelope, 0.001, 1.0)
        assert sealed.pow() >= 0.001
        nonces.append(sealed.nonce / 2**64)
    d, p = _ks_uniform(nonces)
    assert p > 0.01, (d, p)


def test_sent_is_spread_over_the_past_and_the_ttl_kept() -> None:
    rng = random.Random(3)
    now, ttl, spread = 1_800_000_000, 50, 5
    counts = [0] * (spread + 1)
    for _ in range(6_000):
        sent, kept = spread_sent(now, ttl, spread, rng.randbytes)
        assert now - spread <= sent <= now and kept == ttl
        counts[now - sent] += 1
    chi2 = sum((c - 1000) ** 2 / 1000 for c in counts)
    assert chi2 < 20.5  # χ²(5) at p = 0.001: uniform over the R + 1 seconds
    assert spread_sent(now, ttl, 0, rng.randbytes) == (now, ttl)
    with pytest.raises(UsageError):
        spread_sent(now, ttl, -1, rng.randbytes)


@pytest.mark.parametrize("bucket", [256, 512, 1024, 4096])
@pytest.mark.parametrize("signed", [False, True])
def test_padding_fills_the_bucket(bucket: int, signed: bool) -> None:
    for size in (0, 1, 200, 250, 700, 5000):
        padding = bucket_padding(size, signed, os.urandom, bucket=bucket)
        raw = 1 + (1 if size < 256 else 2) + size + (65 if signed else 0)
        assert (raw + len(padding)) % bucket == 0 and 1 <= len(padding) <= bucket
        plain = build_plaintext(b"x" * size, os.urandom, padding)
        parsed = parse_plaintext(plain)  # as geth parses it: the padding is free-form
        assert parsed is not None and parsed.payload == b"x" * size and parsed.padding == padding


def test_constant_padding_per_topic() -> None:
    assert len(bucket_padding(10, False, os.urandom, pad_to=1000)) == 1000 - 12
    with pytest.raises(UsageError):
        bucket_padding(2000, False, os.urandom, pad_to=1000)


def test_geth_accepts_a_spread_sent_and_refuses_a_future_one() -> None:
    """The pool applies geth's `add` rules: sent in the past is fine, > 10 s ahead is not."""
    now = 1_800_000_000
    pool = EnvelopePool(min_pow=0)
    sent, ttl = now - 5, 50
    past = Envelope(sent + ttl, ttl, TOPIC, b"\x01" * 40)
    assert pool.add(past, now).status is AddStatus.ACCEPTED
    future = Envelope(now + 11 + 50, 50, TOPIC, b"\x02" * 40)  # sent 11 s ahead
    assert pool.add(future, now).status is AddStatus.REJECTED


@pytest.mark.parametrize("bucket", [256, 1024])
@virtual_time()
async def test_posts_carry_the_hygiene_and_stay_valid(bucket: int) -> None:
    """Posts through a real node: sent in [now − 5, now], the ttl exactly as asked, size a
    multiple of the bucket, accepted by a peer that applies geth's rules."""
    loop = asyncio.get_running_loop()
    async with MemoryCluster(MemoryNetwork(seed=2), seed=2, padding_bucket=bucket) as cluster:
        a, b = await cluster.add_nodes(2)
        await cluster.connect(a, b)
        key_id = a.add_sym_key(KEY.secret)
        spreads = set()
        for n in range(40):
            await asyncio.sleep(1.0)
            now = int(a.clock.time())
            request = PostRequest(
                payload=b"p" * n, topic=TOPIC, sym_key_id=key_id, ttl=60, pow_target=0.01
            )
            envelope_hash = await a.post(request)
            envelope = a.envelope(envelope_hash)
            assert envelope is not None and envelope.ttl == 60
            sent = envelope.expiry - envelope.ttl
            assert now - 5 <= sent <= now
            spreads.add(now - sent)
            opened = open_symmetric(envelope, KEY)
            assert opened is not None and opened.payload == b"p" * n
            assert (len(opened.payload) + len(opened.padding) + 2) % bucket == 0
            watch = cluster.watch(b)
            await watch.wait(lambda h=envelope_hash: b.envelope(h) is not None, timeout=30)
        assert len(spreads) >= 4  # spread, not a constant offset
        assert loop.time() < 200


def test_padding_bucket_setting_is_checked() -> None:
    assert NodeConfig(datadir=None, padding_bucket=4096).padding_bucket == 4096
    with pytest.raises(UsageError, match="padding_bucket"):
        NodeConfig(datadir=None, padding_bucket=300)
    with pytest.raises(UsageError, match="sent_spread"):
        NodeConfig(datadir=None, sent_spread=-1)
