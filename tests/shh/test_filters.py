"""Filter matching in geth's order (whisper-v6.md §4)."""

from __future__ import annotations

import os

import pytest

from hush.crypto import PrivateKey, SymmetricKey
from hush.errors import UsageError
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter, FilterSet
from hush.shh.message import wrap
from hush.shh.topic import topic_to_bloom
from hush.types import KeyID, Topic

NOW = 1_700_000_000
TOPIC = Topic(b"\x01\x02\x03\x04")
OTHER = Topic(b"\x05\x06\x07\x08")
KEY = SymmetricKey(os.urandom(32))
WRONG = SymmetricKey(os.urandom(32))
ALICE = PrivateKey.generate(os.urandom)
BOB = PrivateKey.generate(os.urandom)


def sym(topic: Topic = TOPIC, signer: PrivateKey | None = None) -> Envelope:
    return wrap(b"hi", topic, NOW, os.urandom, sym_key=KEY, signer=signer)


def deliver(filters: FilterSet, envelope: Envelope, p2p: bool = False) -> list[str]:
    return [m.filter_id for m in filters.notify(envelope, envelope.pow(), envelope.hash, p2p)]


def test_filter_needs_exactly_one_key() -> None:
    with pytest.raises(UsageError, match="specify either a symmetric or an asymmetric key"):
        Filter()
    with pytest.raises(UsageError):
        Filter(sym_key=KEY, private_key=ALICE)


def test_topic_and_key_matching() -> None:
    filters = FilterSet()
    filters.install(KeyID("a"), Filter(sym_key=KEY, topics=frozenset({TOPIC})))
    filters.install(KeyID("b"), Filter(sym_key=KEY))  # no topics: every topic
    filters.install(KeyID("c"), Filter(sym_key=KEY, topics=frozenset({OTHER})))
    filters.install(KeyID("d"), Filter(sym_key=WRONG, topics=frozenset({TOPIC})))
    envelope = sym()
    assert sorted(deliver(filters, envelope)) == ["a", "b"]
    assert deliver(filters, envelope) == []  # deduplicated by hash until polled
    messages = filters.retrieve(KeyID("a"))
    assert [m.payload for m in messages] == [b"hi"]
    assert messages[0].sym_key_hash == KEY.hash
    assert filters.retrieve(KeyID("a")) == []  # polling clears
    assert filters.topics_bloom() == bytes(
        a | b for a, b in zip(topic_to_bloom(TOPIC), topic_to_bloom(OTHER), strict=True)
    )


def test_asymmetric_and_signer() -> None:
    filters = FilterSet()
    filters.install(KeyID("bob"), Filter(private_key=BOB))
    filters.install(KeyID("from-alice"), Filter(private_key=BOB, signer=ALICE.public_key))
    unsigned = wrap(b"x", TOPIC, NOW, os.urandom, public_key=BOB.public_key)
    signed = wrap(b"y", TOPIC, NOW, os.urandom, public_key=BOB.public_key, signer=ALICE)
    assert deliver(filters, unsigned) == ["bob"]
    assert sorted(deliver(filters, signed)) == ["bob", "from-alice"]
    message = filters.retrieve(KeyID("from-alice"))[0]
    assert message.signer == ALICE.public_key
    assert message.recipient_public_key == BOB.public_key


def test_min_pow_and_p2p() -> None:
    filters = FilterSet()
    filters.install(KeyID("strict"), Filter(sym_key=KEY, min_pow=1e9))
    filters.install(KeyID("p2p"), Filter(sym_key=KEY, allow_p2p=True))
    filters.install(KeyID("p2p-pow"), Filter(sym_key=KEY, allow_p2p=True, min_pow=1e-6))
    filters.install(KeyID("plain"), Filter(sym_key=KEY))
    envelope = sym()
    assert sorted(deliver(filters, envelope)) == ["p2p", "p2p-pow", "plain"]
    direct = sym()
    # Direct messages reach allowP2P filters only, and never one with minPow > 0 (geth).
    assert deliver(filters, direct, p2p=True) == ["p2p"]
    assert filters.retrieve(KeyID("p2p"))[-1].p2p


def test_uninstall_and_unknown() -> None:
    filters = FilterSet()
    filters.install(KeyID("a"), Filter(sym_key=KEY, topics=frozenset({TOPIC})))
    assert filters.uninstall(KeyID("a"))
    assert not filters.uninstall(KeyID("a"))
    assert deliver(filters, sym()) == []
    with pytest.raises(UsageError, match="filter not found"):
        filters.retrieve(KeyID("a"))


def test_capacity_bounds_memory() -> None:
    filters = FilterSet(capacity=3)
    filters.install(KeyID("a"), Filter(sym_key=KEY))
    sent = [sym() for _ in range(5)]
    for envelope in sent:
        deliver(filters, envelope)
    kept = filters.retrieve(KeyID("a"))
    assert [m.envelope_hash for m in kept] == [e.hash for e in sent[2:]]


def _big(size: int) -> Envelope:
    return wrap(os.urandom(size), TOPIC, NOW, os.urandom, sym_key=KEY, padding=b"\x00")


def test_store_is_bounded_in_bytes_not_only_count() -> None:
    """Issue 7: 10,000 x 1 MiB kept for a polled filter would be 10 GiB. Before: all 40 kept."""
    from hush.shh.filters import message_cost

    filters = FilterSet(filter_bytes=10 * 70_000, store_bytes=15 * 70_000)
    filters.install(KeyID("a"), Filter(sym_key=KEY))
    filters.install(KeyID("b"), Filter(sym_key=KEY, topics=frozenset({TOPIC})))
    envelopes = [_big(64 * 1024) for _ in range(40)]
    for envelope in envelopes:
        deliver(filters, envelope)
    assert filters.bytes_used <= 15 * 70_000
    kept_a = filters.retrieve(KeyID("a"))
    kept_b = filters.retrieve(KeyID("b"))
    # each filter is under its own bound, together under the store's, and what stays is newest
    for kept in (kept_a, kept_b):
        assert 0 < sum(map(message_cost, kept)) <= 10 * 70_000
        assert kept[-1].envelope_hash == envelopes[-1].hash
    assert sum(map(message_cost, kept_a + kept_b)) <= 15 * 70_000
    assert filters.dropped(KeyID("a")) + len(kept_a) == 40
    assert filters.bytes_used == 0


def test_retrieve_with_a_budget_keeps_the_rest() -> None:
    filters = FilterSet()
    filters.install(KeyID("a"), Filter(sym_key=KEY))
    envelopes = [_big(10_000) for _ in range(10)]
    for envelope in envelopes:
        deliver(filters, envelope)
    seen = []
    while batch := filters.retrieve(KeyID("a"), budget=25_000, size=lambda m: len(m.payload)):
        assert len(batch) <= 2
        seen += batch
    assert [m.envelope_hash for m in seen] == [e.hash for e in envelopes]  # all, once, in order
    deliver(filters, envelopes[0])
    assert len(filters.retrieve(KeyID("a"), budget=1)) == 1  # always at least one
    assert filters.bytes_used == 0
