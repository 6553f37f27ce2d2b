"""Two real nodes over loopback TCP: messages both ways, settings reaching the peer."""

from __future__ import annotations

import asyncio

from hush.crypto import SymmetricKey
from hush.errors import UsageError
from hush.node import PostRequest
from hush.shh.filters import Filter
from hush.shh.topic import topic_to_bloom
from hush.types import Topic

from .conftest import NodeFactory, connect, wait_for

TOPIC = Topic(b"\xca\xfe\xba\xbe")
OTHER = Topic(b"\x01\x02\x03\x04")


async def next_message(subscription, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        return await subscription.get()


async def test_symmetric_asymmetric_signed_both_ways(make_node: NodeFactory) -> None:
    alice, bob = await make_node(), await make_node()
    await connect(alice, bob)
    secret = SymmetricKey.from_password("room").secret
    a_sym, b_sym = alice.keys.add_sym_key(secret), bob.keys.add_sym_key(secret)
    a_id, b_id = alice.keys.new_key_pair(), bob.keys.new_key_pair()
    a_key, b_key = alice.keys.private_key(a_id), bob.keys.private_key(b_id)
    at_bob = bob.subscribe(Filter(sym_key=bob.keys.sym_key(b_sym), topics=frozenset({TOPIC})))
    at_alice = alice.subscribe(Filter(private_key=a_key))

    sent = await alice.post(
        PostRequest(b"hello bob", TOPIC, sym_key_id=a_sym, signer_id=a_id, pow_target=0.05)
    )
    message = await next_message(at_bob)
    assert message is not None
    assert (message.payload, message.envelope_hash, message.signer) == (
        b"hello bob",
        sent,
        a_key.public_key,
    )
    assert message.sym_key_hash == SymmetricKey(secret).hash

    await bob.post(PostRequest(b"hi alice", OTHER, public_key=a_key.public_key, pow_target=0.05))
    reply = await next_message(at_alice)
    assert reply is not None and reply.payload == b"hi alice" and reply.signer is None
    assert reply.recipient_public_key == a_key.public_key
    # Both envelopes are in both pools (a copy sent back would be a duplicate, not an entry).
    assert len(alice.pool) == len(bob.pool) == 2
    del b_key


async def test_pow_requirement_and_bloom_reach_the_peer(make_node: NodeFactory) -> None:
    alice, bob = await make_node(), await make_node()
    await connect(alice, bob)
    await bob.set_min_pow(3.0)
    await bob.set_bloom(topic_to_bloom(TOPIC))
    (bob_at_alice,) = alice._peers.values()
    await wait_for(lambda: bob_at_alice.shh.pow_requirement == 3.0)
    await wait_for(lambda: bob_at_alice.shh.bloom == topic_to_bloom(TOPIC))
    key = alice.keys.add_sym_key(bytes(range(32)))
    # Too little PoW for Bob, and a topic outside his bloom: Alice keeps them to herself.
    await alice.post(PostRequest(b"weak", TOPIC, sym_key_id=key, pow_target=0.05))
    await alice.post(PostRequest(b"off-topic", OTHER, sym_key_id=key, pow_target=4.0))
    strong = await alice.post(PostRequest(b"strong", TOPIC, sym_key_id=key, pow_target=4.0))
    # `strong` was posted last and one link delivers in order: whatever Alice sent before it
    # has reached Bob's pool by the time it has (no sleep needed).
    await wait_for(lambda: strong in bob.pool)
    assert len(bob.pool) == 1 and len(alice.pool) == 3


async def test_post_errors_are_geths(make_node: NodeFactory) -> None:
    node = await make_node(min_pow=0.5)
    key = node.keys.new_sym_key()
    cases = [
        (PostRequest(b"x", TOPIC), "specify either a symmetric or an asymmetric key"),
        (PostRequest(b"x", Topic(bytes(4)), sym_key_id=key), "missing topic(s)"),
        (PostRequest(b"x", TOPIC, sym_key_id="00" * 32), "non-existent key ID"),
        (PostRequest(b"x", TOPIC, sym_key_id=key, signer_id="ab"), "invalid id"),
        (PostRequest(b"x", TOPIC, public_key=b"\x04" + bytes(64)), "invalid public key"),
        (PostRequest(b"x", TOPIC, sym_key_id=key, pow_target=0.1), "message rejected, PoW too low"),
    ]
    for request, error in cases:
        try:
            await node.post(request)
        except UsageError as exc:
            assert str(exc) == error
        else:
            raise AssertionError(f"{request} was accepted")
