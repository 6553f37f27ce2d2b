"""`Observers`: every observer that overrides an accounting point is called, in order; one that
raises is logged and the next still called; an instance attribute counts as an override."""

from __future__ import annotations

import logging

import pytest

from hush.node.fanout import Observers
from hush.node.hooks import NodeObserver
from hush.types import NodeID

PEER = NodeID(bytes(64))


class Recording(NodeObserver):
    def __init__(self, name: str, calls: list[tuple[str, str, int]]) -> None:
        self.name = name
        self.calls = calls

    def packet_received(self, node_id: NodeID, code: int, size: int) -> None:
        self.calls.append((self.name, "received", code))

    def bundle_sent(self, node_id: NodeID, envelopes: int) -> None:
        self.calls.append((self.name, "bundle", envelopes))


class Raising(NodeObserver):
    def packet_received(self, node_id: NodeID, code: int, size: int) -> None:
        raise RuntimeError("observer bug")


def test_hot_points_reach_overriders_in_order_past_a_raising_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[tuple[str, str, int]] = []
    patched = NodeObserver()
    patched.packet_sent = lambda node_id, code, size: calls.append(("patched", "sent", code))  # type: ignore[method-assign]
    fan = Observers(
        [Recording("a", calls), Raising(), NodeObserver(), Recording("b", calls), patched]
    )
    with caplog.at_level(logging.ERROR, logger="hush.node.fanout"):
        fan.packet_received(PEER, 1, 10)
        fan.bundle_sent(PEER, 3)
        fan.packet_sent(PEER, 2, 5)
        fan.broadcast_turn(PEER, 0.1, 3)  # nobody overrides it: nothing happens
    assert calls == [
        ("a", "received", 1),
        ("b", "received", 1),
        ("a", "bundle", 3),
        ("b", "bundle", 3),
        ("patched", "sent", 2),
    ]
    assert "failed in packet_received" in caplog.text and "RuntimeError" in caplog.text
