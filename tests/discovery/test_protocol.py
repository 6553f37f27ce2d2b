"""The discv4 core under a fake clock: bonding, endpoint proof, lookups, revalidation, ENR
requests, and hostile input dropped without an answer and without polluting the table."""

from __future__ import annotations

import dataclasses

from hush.crypto import PrivateKey, keccak256
from hush.discovery.v4 import enr
from hush.discovery.v4.packets import (
    Endpoint,
    ENRRequest,
    ENRResponse,
    FindNode,
    Neighbors,
    NodeRecord,
    Ping,
    Pong,
    decode_packet,
    encode_packet,
    ip_bytes,
)
from hush.discovery.v4.protocol import Discv4, Discv4Config
from hush.discovery.v4.table import TableNode

from .simnet import FAST, SimNet


def _pair() -> tuple[SimNet, Discv4, Discv4]:
    net = SimNet()
    a = net.add(30001)
    b = net.add(30002)
    return net, a, b


def _decoded(node: Discv4) -> list[object]:
    return [decode_packet(data).packet for data, _ in node.datagrams_to_send()]


def test_ping_bonds_both_ways() -> None:
    net, a, b = _pair()
    a.ping(net.enode(b), net.now)
    net.flush()
    assert b.node_id in a.table and a.node_id in b.table
    assert a.bonded(b.node_id, "127.0.0.1", net.now) and b.bonded(a.node_id, "127.0.0.1", net.now)
    entry = b.table.get(a.node_id)
    assert entry is not None and entry.tcp_port == 30001


def test_pong_echoes_source_and_tcp_port() -> None:
    net, a, b = _pair()
    a.ping(net.enode(b), net.now)
    datagram, _ = a.datagrams_to_send()[0]
    b.receive_datagram(datagram, ("127.0.0.1", 40000), net.now)  # a NATed source port
    pong, ping = _decoded(b)
    assert isinstance(pong, Pong) and pong.recipient == Endpoint.of("127.0.0.1", 40000, 30001)
    assert pong.ping_hash == datagram[:32] and pong.enr_seq == b.record.seq
    assert isinstance(ping, Ping) and ping.recipient == Endpoint.of("127.0.0.1", 40000, 0)


def test_findnode_from_an_unproven_endpoint_gets_no_answer() -> None:
    net, a, b = _pair()
    for port in range(31000, 31020):
        b.table.add_seen(
            TableNode(PrivateKey.generate(net.random_bytes).node_id, "127.0.0.1", port, port),
            net.now,
        )
    data, _ = encode_packet(FindNode(b.node_id, int(net.now) + 20), a.key)
    b.receive_datagram(data, ("127.0.0.1", 30001), net.now)
    assert b.datagrams_to_send() == [] and b.dropped["unproven"] == 1
    # once bonded, the same request is answered with 16 nodes in two packets (12 + 4)
    a.ping(net.enode(b), net.now)
    net.flush()
    b.receive_datagram(data, ("127.0.0.1", 30001), net.now)
    replies = _decoded(b)
    assert [len(r.nodes) for r in replies if isinstance(r, Neighbors)] == [12, 4]


def test_expired_packets_are_dropped() -> None:
    net, a, b = _pair()
    ping = Ping(4, a.endpoint, b.endpoint, int(net.now) - 1)
    data, _ = encode_packet(ping, a.key)
    b.receive_datagram(data, ("127.0.0.1", 30001), net.now)
    assert b.datagrams_to_send() == [] and b.dropped["expired"] == 1 and len(b.table) == 0


def test_spoofed_pongs_do_not_bond() -> None:
    net, a, b = _pair()
    a.ping(net.enode(b), net.now)
    ping_data, _ = a.datagrams_to_send()[0]
    mallory = PrivateKey.generate(net.random_bytes)
    pongs = [
        (encode_packet(Pong(a.endpoint, b"\x00" * 32, int(net.now) + 20), b.key)[0], "127.0.0.1"),
        (
            encode_packet(Pong(a.endpoint, ping_data[:32], int(net.now) + 20), mallory)[0],
            "127.0.0.1",
        ),
        (encode_packet(Pong(a.endpoint, ping_data[:32], int(net.now) + 20), b.key)[0], "127.0.0.2"),
    ]
    for data, ip in pongs:
        a.receive_datagram(data, (ip, 30002), net.now)
    assert a.dropped["unsolicited"] == 3 and len(a.table) == 0
    assert not a.bonded(b.node_id, "127.0.0.1", net.now)


def test_unsolicited_neighbors_do_not_enter_the_table() -> None:
    net, a, b = _pair()
    a.ping(net.enode(b), net.now)
    net.flush()
    before = len(a.table)
    fake = NodeRecord(
        ip_bytes("127.0.0.1"), 5555, 5555, PrivateKey.generate(net.random_bytes).node_id
    )
    data, _ = encode_packet(Neighbors((fake,), int(net.now) + 20), b.key)
    a.receive_datagram(data, ("127.0.0.1", 30002), net.now)
    assert a.dropped["unsolicited"] == 1 and len(a.table) == before
    assert fake.node_id not in a.table


def test_garbage_and_oversized_datagrams_are_dropped() -> None:
    net, a, _ = _pair()
    for data in (b"", b"\x00" * 200, b"\xff" * 1281):
        a.receive_datagram(data, ("127.0.0.1", 9), net.now)
    assert a.dropped["malformed"] == 3 and a.datagrams_to_send() == []


def test_per_ip_budget() -> None:
    net = SimNet()
    a = net.add(30001, config=dataclasses.replace(FAST, packet_rate=1.0, packet_burst=5.0))
    b = net.add(30002)
    for _ in range(10):
        data, _ = encode_packet(Ping(4, b.endpoint, a.endpoint, int(net.now) + 20), b.key)
        a.receive_datagram(data, ("127.0.0.1", 30002), net.now)
    assert a.dropped["budget"] == 5
    assert sum(isinstance(p, Pong) for p in _decoded(a)) == 5
    net.now += 2.0  # two tokens later
    data, _ = encode_packet(Ping(4, b.endpoint, a.endpoint, int(net.now) + 20), b.key)
    a.receive_datagram(data, ("127.0.0.1", 30002), net.now)
    assert any(isinstance(p, Pong) for p in _decoded(a))


def test_excess_neighbors_are_capped_at_16() -> None:
    net, a, b = _pair()
    a.table.add_seen(TableNode.of(net.enode(b)), net.now)
    lookup = a.lookup(None, net.now)
    net.flush()  # ping, pong, ping back, pong, findnode...
    a.datagrams_to_send()
    b.datagrams_to_send()
    query_target = lookup.target
    assert lookup.pending == 1
    records = [
        NodeRecord(
            ip_bytes("127.0.0.1"), 2000 + i, 2000 + i, PrivateKey.generate(net.random_bytes).node_id
        )
        for i in range(24)
    ]
    for start in (0, 12):
        data, _ = encode_packet(
            Neighbors(tuple(records[start : start + 12]), int(net.now) + 20), b.key
        )
        a.receive_datagram(data, ("127.0.0.1", 30002), net.now)
    assert query_target == lookup.target and a.dropped["excess_neighbors"] == 1
    assert sum(r.node_id in a.table for r in records) == 16


def test_low_ports_and_invalid_keys_in_neighbors_are_skipped() -> None:
    net, a, b = _pair()
    a.table.add_seen(TableNode.of(net.enode(b)), net.now)
    a.lookup(None, net.now)
    net.flush()
    good = NodeRecord(
        ip_bytes("127.0.0.1"), 2000, 2000, PrivateKey.generate(net.random_bytes).node_id
    )
    low = NodeRecord(
        ip_bytes("127.0.0.1"), 1024, 2000, PrivateKey.generate(net.random_bytes).node_id
    )
    bad_key = NodeRecord(ip_bytes("127.0.0.1"), 2001, 2000, b"\x00" * 64)  # type: ignore[arg-type]
    data, _ = encode_packet(Neighbors((good, low, bad_key), int(net.now) + 20), b.key)
    a.receive_datagram(data, ("127.0.0.1", 30002), net.now)
    net.run(net.now + 1.0)
    assert good.node_id in a.table and low.node_id not in a.table
    assert bad_key.node_id not in a.table


def test_lookups_find_the_closest_nodes_in_a_network() -> None:
    net = SimNet(seed=3)
    boot = net.add(30000)
    nodes = [net.add(30001 + i, bootnodes=(net.enode(boot),)) for i in range(40)]
    net.run(net.now + 5.0)  # every node's first refresh: a self lookup through the bootnode
    assert all(len(node.table) >= 16 for node in nodes)
    target = PrivateKey.generate(net.random_bytes).node_id
    everyone = [boot, *nodes]
    truth = sorted(
        everyone,
        key=lambda n: (
            int.from_bytes(keccak256(n.node_id), "big") ^ int.from_bytes(keccak256(target), "big")
        ),
    )
    lookup = nodes[7].lookup(target, net.now)
    net.run(net.now + 5.0)
    assert lookup.done
    found = [n.node_id for n in lookup.result]
    assert len(found) == 16
    # nodes[7] itself cannot be in its own result
    expected = [n.node_id for n in truth if n is not nodes[7]][:16]
    assert found == expected


def test_alpha_bounds_queries_in_flight() -> None:
    net = SimNet(seed=5)
    a = net.add(30001)
    for i in range(10):
        peer = net.add(30100 + i)
        a.table.add_seen(TableNode.of(net.enode(peer)), net.now)
    lookup = a.lookup(None, net.now)
    assert lookup.pending == 3
    assert sum(isinstance(p, Ping) for p in _decoded(a)) == 3


def test_two_lookups_pinging_one_node_at_once_both_finish() -> None:
    # Two Pings to one node in the same second are the same packet (deterministic signatures,
    # whole-second expirations), so one hash and one Pong: both lookups must hear of it. (A
    # lost waiter once left a lookup pending for ever, and no lookup ever started again.)
    net = SimNet(seed=6)
    a = net.add(30001)
    peers = [net.add(30100 + i) for i in range(3)]
    for peer in peers:
        a.table.add_seen(TableNode.of(net.enode(peer)), net.now)
    first, second = a.lookup(None, net.now), a.lookup(None, net.now)
    assert first.pending == second.pending == 3
    out = a.datagrams_to_send()
    assert sum(isinstance(decode_packet(d).packet, Ping) for d, _ in out) == 3  # not six
    for data, to in out:
        net.nodes[to].receive_datagram(data, ("127.0.0.1", 30001), net.now)
    net.run(net.now + 5.0)
    assert first.done and second.done and not a.lookups
    assert {n.node_id for n in first.result} == {p.node_id for p in peers}
    third = a.lookup(None, net.now)  # lookups go on
    net.run(net.now + 5.0)
    assert third.done and not a.lookups


def test_a_lost_shared_ping_fails_every_waiter() -> None:
    net = SimNet(seed=7)
    a = net.add(30001)
    dead = net.add(30100)
    net.lost.add(("127.0.0.1", 30100))
    a.table.add_seen(TableNode.of(net.enode(dead)), net.now)
    first, second = a.lookup(None, net.now), a.lookup(None, net.now)
    net.run(net.now + 5.0)
    assert first.done and second.done and not a.lookups


def test_dead_nodes_fail_revalidation_and_leave() -> None:
    net, a, b = _pair()
    a.ping(net.enode(b), net.now)
    net.flush()
    assert b.node_id in a.table
    net.lost.add(("127.0.0.1", 30002))
    net.run(net.now + 30.0)  # a few revalidation rounds (10 s mean)
    assert b.node_id not in a.table


def test_enr_request_after_bond() -> None:
    net, a, b = _pair()
    entry = TableNode.of(net.enode(b))
    # unbonded: b ignores the request
    assert a.request_enr(entry, net.now)
    net.flush()
    assert b.dropped["unproven"] == 1 and b.node_id not in a.records
    a.ping(net.enode(b), net.now)
    net.flush()
    assert a.request_enr(entry, net.now)
    net.flush()
    record = a.records[b.node_id]
    assert record == b.record and record.udp_port == 30002 and record.tcp_port == 30002
    assert enr.decode(record.encode()).node_id == b.node_id


def test_unsolicited_enr_response_is_dropped() -> None:
    net, a, b = _pair()
    _, request_hash = encode_packet(ENRRequest(int(net.now) + 20), a.key)
    response, _ = encode_packet(ENRResponse(request_hash, b.record.encode()), b.key)
    a.receive_datagram(response, ("127.0.0.1", 30002), net.now)
    assert a.dropped["unsolicited"] == 1 and not a.records


def test_timer_is_data() -> None:
    net = SimNet()
    config = Discv4Config(revalidate_interval=10.0, refresh_interval=100.0)
    a = net.add(30001, config=config)
    assert a.get_timer() == net.now  # first refresh at once
    a.handle_timer(net.now)
    assert net.now < a.get_timer() <= net.now + 15.0
