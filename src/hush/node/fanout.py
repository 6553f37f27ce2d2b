"""The node's observers as one: each accounting point of `hush.node.hooks.NodeObserver` fanned
out to every observer in order. An observer that raises is logged and keeps its place; the hot
points (packets, envelopes) cost nothing when there are no observers."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from hush.node.hooks import NodeObserver
from hush.shh.envelope import Envelope
from hush.shh.pool import AddOutcome, PooledEnvelope
from hush.types import NodeID

__all__ = ["Observers"]

log = logging.getLogger(__name__)


class Observers(NodeObserver):
    """Fans each accounting point out to the node's observers; one that raises is logged."""

    def __init__(self, observers: Sequence[NodeObserver]) -> None:
        self.observers = tuple(observers)

    def _each(self, name: str, *args: object) -> None:
        for observer in self.observers:
            try:
                getattr(observer, name)(*args)
            except Exception:
                log.exception("observer %r failed in %s", observer, name)

    def peer_connected(self, node_id: NodeID, inbound: bool, client_id: str) -> None:
        self._each("peer_connected", node_id, inbound, client_id)

    def peer_disconnected(self, node_id: NodeID, why: str) -> None:
        self._each("peer_disconnected", node_id, why)

    def packet_received(self, node_id: NodeID, code: int, size: int) -> None:
        if self.observers:
            self._each("packet_received", node_id, code, size)

    def packet_sent(self, node_id: NodeID, code: int, size: int) -> None:
        if self.observers:
            self._each("packet_sent", node_id, code, size)

    def envelope_received(self, outcome: AddOutcome, source: NodeID | None, local: bool) -> None:
        if self.observers:
            self._each("envelope_received", outcome, source, local)

    def envelope_accepted(
        self, entry: PooledEnvelope, envelope: Envelope, source: NodeID | None, local: bool
    ) -> None:
        if self.observers:
            self._each("envelope_accepted", entry, envelope, source, local)

    def envelopes_expired(self, count: int) -> None:
        self._each("envelopes_expired", count)

    def message_delivered(self, count: int, direct: bool) -> None:
        self._each("message_delivered", count, direct)

    def envelope_sealed(self, seconds: float, pow_target: float) -> None:
        self._each("envelope_sealed", seconds, pow_target)

    def bundle_sent(self, node_id: NodeID, envelopes: int) -> None:
        if self.observers:
            self._each("bundle_sent", node_id, envelopes)

    def broadcast_turn(self, node_id: NodeID, seconds: float, envelopes: int) -> None:
        if self.observers:
            self._each("broadcast_turn", node_id, seconds, envelopes)

    def dial_failed(self, node_id: NodeID, error: Exception) -> None:
        self._each("dial_failed", node_id, error)
