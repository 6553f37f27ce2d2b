"""The dial policy under a fake clock: negative and positive caches (persisted), backoff,
dial rate and in-flight bounds, lookups asked for when candidates run out; fleet files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hush.crypto import PrivateKey
from hush.discovery.fleet import load_fleet, parse_fleet
from hush.enode import Enode
from hush.errors import UsageError
from hush.net.discovery.dialing import DialConfig, DialPolicy
from hush.net.discovery.store import DiscoveryState, load_state, save_state
from hush.node.hooks import DialOutcome


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


class FakeTable:
    def __init__(self, nodes: list[Enode]) -> None:
        self.nodes = nodes
        self.lookups = 0

    def random_nodes(self, count: int) -> list[Enode]:
        return self.nodes[:count]

    def request_lookup(self) -> None:
        self.lookups += 1


def _enodes(count: int, port: int = 30000) -> list[Enode]:
    return [
        Enode(PrivateKey.generate(os.urandom).node_id, "127.0.0.1", port + i) for i in range(count)
    ]


def _policy(
    nodes: list[Enode], state: DiscoveryState | None = None, **config: float
) -> tuple[DialPolicy, FakeTable, FakeClock]:
    clock = FakeClock()
    table = FakeTable(nodes)
    policy = DialPolicy(table, state or DiscoveryState(), DialConfig(**config), clock)  # type: ignore[arg-type]
    return policy, table, clock


def test_useless_nodes_are_not_redialled_within_the_ttl() -> None:
    nodes = _enodes(3)
    policy, _, clock = _policy(nodes, failed_backoff=0.0)
    assert policy.candidates(3, ()) == nodes
    policy.dialed(nodes[0].node_id, DialOutcome.USELESS)
    policy.dialed(nodes[1].node_id, DialOutcome.CONNECTED)
    policy.dialed(nodes[2].node_id, DialOutcome.FAILED)
    clock.now += 3600
    assert [e.node_id for e in policy.candidates(3, ())] == [nodes[1].node_id, nodes[2].node_id]
    for enode in nodes[1:]:
        policy.dialed(enode.node_id, DialOutcome.FAILED)
    clock.now += 24 * 3600  # the TTL has passed
    assert nodes[0] in policy.candidates(3, ())


def test_shh_nodes_are_offered_first_after_a_restart(tmp_path: Path) -> None:
    nodes = _enodes(10)
    state = DiscoveryState()
    policy, _, clock = _policy(nodes, state)
    for enode in policy.candidates(10, ()):
        outcome = DialOutcome.CONNECTED if enode.tcp_port % 3 == 0 else DialOutcome.USELESS
        policy.dialed(enode.node_id, outcome)
    save_state(tmp_path, state)
    reloaded = load_state(tmp_path)
    shh = [e for e in nodes if e.tcp_port % 3 == 0]
    # a fresh process, an empty table: the shh speakers come first, the useless not at all
    again, table, _ = _policy([], reloaded)
    assert again.candidates(10, ()) == list(reversed(shh))
    assert table.lookups == 1  # fewer candidates than wanted: look for more
    assert all(again.is_useless(e.node_id, clock.now) for e in nodes if e not in shh)


def test_refused_nodes_back_off_longer_than_failed_ones() -> None:
    nodes = _enodes(2)
    policy, _, clock = _policy(nodes, failed_backoff=10.0, refused_backoff=100.0)
    policy.candidates(2, ())
    policy.dialed(nodes[0].node_id, DialOutcome.REFUSED)
    policy.dialed(nodes[1].node_id, DialOutcome.FAILED)
    clock.now += 11
    assert policy.candidates(2, ()) == [nodes[1]]
    policy.dialed(nodes[1].node_id, DialOutcome.FAILED)
    clock.now += 90
    assert policy.candidates(2, ()) == [nodes[0], nodes[1]]


def test_dial_rate_and_in_flight_are_bounded() -> None:
    nodes = _enodes(40)
    policy, _, clock = _policy(nodes, dials_per_minute=60.0, dial_burst=5.0, max_in_flight=8)
    first = policy.candidates(20, ())
    assert len(first) == 5  # the burst
    clock.now += 2.0  # two tokens
    assert len(policy.candidates(20, ())) == 2
    clock.now += 60.0
    assert len(policy.candidates(20, ())) == 1  # 8 in flight
    policy.dialed(first[0].node_id, DialOutcome.FAILED)
    assert len(policy.candidates(20, ())) == 1


def test_excluded_nodes_are_skipped() -> None:
    nodes = _enodes(3)
    policy, _, _ = _policy(nodes)
    assert policy.candidates(3, {nodes[1].node_id}) == [nodes[0], nodes[2]]


def test_negative_cache_is_bounded() -> None:
    nodes = _enodes(20)
    policy, _, _ = _policy(nodes, max_useless=5)
    for enode in policy.candidates(20, ()):
        policy.dialed(enode.node_id, DialOutcome.USELESS)
    assert len(policy.state.useless) == 5


def test_fleet_files(tmp_path: Path) -> None:
    a, b, c = (str(e) for e in _enodes(3))
    fleet = parse_fleet(
        f'{{"boot": ["{a}"], "static": {{"node-1": "{b}"}}, "mail": ["{c}"], "x": 1}}'
    )
    assert [str(e) for e in (*fleet.boot, *fleet.static, *fleet.mail)] == [a, b, c]
    path = tmp_path / "fleet.json"
    path.write_text(f'{{"boot": ["{a}"]}}')
    assert load_fleet(path).static == ()
    for text, message in (
        ("[]", "JSON object"),
        ('{"boot": ["enode://nope"]}', "boot"),
        ('{"static": 5}', "static"),
        ("{", "not JSON"),
    ):
        with pytest.raises(UsageError, match=message):
            parse_fleet(text)
    with pytest.raises(UsageError, match="cannot read"):
        load_fleet(tmp_path / "missing.json")
