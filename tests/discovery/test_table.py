"""The Kademlia table: geth's 17 buckets of 16, replacements, IP limits, revalidation."""

from __future__ import annotations

import random

from hush.crypto import PrivateKey, keccak256
from hush.discovery.v4.table import (
    BUCKET_COUNT,
    BUCKET_SIZE,
    MAX_REPLACEMENTS,
    Table,
    TableNode,
    bucket_index,
    log_distance,
)
from hush.types import NodeID

RNG = random.Random(7)


def _key() -> PrivateKey:
    return PrivateKey.generate(RNG.randbytes)


SELF = _key().node_id


def _node_in_bucket(table: Table, index: int, ip: str) -> TableNode:
    """A fresh node whose id falls into bucket `index` (brute force over random keys)."""
    while True:
        node = TableNode(NodeID(RNG.randbytes(64)), ip, 30303, 30303)
        if bucket_index(table.self_hash, node.id_hash) == index:
            return node


def test_bucket_index_follows_geth() -> None:
    zero = bytes(32)
    assert log_distance(zero, zero) == 0
    assert bucket_index(zero, (1).to_bytes(32, "big")) == 0
    assert bucket_index(zero, (1 << 239).to_bytes(32, "big")) == 0  # log-distance 240
    assert bucket_index(zero, (1 << 240).to_bytes(32, "big")) == 1
    assert bucket_index(zero, (1 << 255).to_bytes(32, "big")) == BUCKET_COUNT - 1


def test_full_bucket_fills_replacements_then_stops() -> None:
    table = Table(SELF, RNG.randbytes)
    nodes = [_node_in_bucket(table, 16, "127.0.0.1") for _ in range(BUCKET_SIZE + 12)]
    entered = [table.add_seen(node, 1.0) for node in nodes]
    assert entered == [True] * BUCKET_SIZE + [False] * 12
    assert len(table) == BUCKET_SIZE
    # the dead last entry leaves; a replacement (at most 10 kept) takes its place
    last = table.nodes()[-1]
    table.revalidated(last.node_id, alive=False)
    assert last.node_id not in table and len(table) == BUCKET_SIZE
    replaced = {n.node_id for n in nodes[BUCKET_SIZE:]} & {n.node_id for n in table.nodes()}
    assert len(replaced) == 1
    assert replaced <= {n.node_id for n in nodes[BUCKET_SIZE + 12 - MAX_REPLACEMENTS :]}


def test_verified_nodes_go_to_the_front_seen_to_the_back() -> None:
    table = Table(SELF, RNG.randbytes)
    a, b, c = (_node_in_bucket(table, 16, "127.0.0.1") for _ in range(3))
    table.add_seen(a, 1.0)
    table.add_seen(b, 1.0)
    table.add_verified(c, 1.0)
    assert [n.node_id for n in table.nodes()] == [c.node_id, a.node_id, b.node_id]
    table.revalidated(b.node_id, alive=True)
    assert table.nodes()[0].node_id == b.node_id and table.nodes()[0].liveness == 1


def test_ip_limits_per_bucket_and_table() -> None:
    table = Table(SELF, RNG.randbytes)
    same_net = [_node_in_bucket(table, 16, f"203.0.113.{i}") for i in range(1, 4)]
    assert [table.add_seen(n, 1.0) for n in same_net] == [True, True, False]
    entered = 0
    for index in range(10, 16):
        for i in range(2):
            entered += table.add_seen(_node_in_bucket(table, index, f"198.51.100.{i + 1}"), 1.0)
    assert entered == 10  # a /24 holds at most 10 entries of the table
    lan = [_node_in_bucket(table, 15, "10.0.0.1") for _ in range(5)]
    assert all(table.add_seen(n, 1.0) for n in lan)  # LAN addresses are exempt


def test_self_is_never_added() -> None:
    table = Table(SELF, RNG.randbytes)
    assert not table.add_verified(TableNode(SELF, "127.0.0.1", 1, 1), 1.0)
    assert len(table) == 0


def test_closest_sorts_by_xor_distance() -> None:
    table = Table(SELF, RNG.randbytes)
    nodes = [TableNode(_key().node_id, "127.0.0.1", 2000 + i, 0) for i in range(60)]
    for node in nodes:
        table.add_seen(node, 1.0)
    target = keccak256(b"target")
    present = table.nodes()
    want = sorted(
        present, key=lambda n: int.from_bytes(n.id_hash, "big") ^ int.from_bytes(target, "big")
    )
    assert table.closest(target, 16) == want[:16]
    assert len(table.random_nodes(5)) == 5 and len(
        set(n.node_id for n in table.random_nodes(99))
    ) == len(table)
