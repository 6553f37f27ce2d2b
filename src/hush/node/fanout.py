"""The node's observers as one: each accounting point of `hush.node.hooks.NodeObserver` fanned
out to every observer in order. An observer that raises is logged and keeps its place. The hot
points (packets, envelopes, bundles, turns) call only the observers that override them, bound
once: they cost a loop over nothing when no observer cares."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from hush.node.hooks import NodeObserver
from hush.shh.envelope import Envelope
from hush.shh.pool import AddOutcome, PooledEnvelope
from hush.types import NodeID

__all__ = ["Observers"]

log = logging.getLogger(__name__)

_HOT = (
    "packet_received",
    "packet_sent",
    "envelope_received",
    "envelope_accepted",
    "bundle_sent",
    "broadcast_turn",
)


def _failed(method: Callable[..., None]) -> None:
    log.exception("observer %r failed in %s", getattr(method, "__self__", None), method.__name__)


class Observers(NodeObserver):
    """Fans each accounting point out to the node's observers; one that raises is logged."""

    def __init__(self, observers: Sequence[NodeObserver]) -> None:
        self.observers = tuple(observers)
        hot: dict[str, tuple[Callable[..., None], ...]] = {
            name: tuple(
                method
                for method in (getattr(observer, name) for observer in self.observers)
                if getattr(method, "__func__", None) is not getattr(NodeObserver, name)
            )
            for name in _HOT
        }
        self._packet_received = hot["packet_received"]
        self._packet_sent = hot["packet_sent"]
        self._envelope_received = hot["envelope_received"]
        self._envelope_accepted = hot["envelope_accepted"]
        self._bundle_sent = hot["bundle_sent"]
        self._broadcast_turn = hot["broadcast_turn"]

    def observes(self, name: str) -> bool:
        """Whether any observer overrides the hot accounting point `name` (a caller may then
        skip what it computes only for it)."""
        return bool(getattr(self, f"_{name}"))

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
        for method in self._packet_received:
            try:
                method(node_id, code, size)
            except Exception:
                _failed(method)

    def packet_sent(self, node_id: NodeID, code: int, size: int) -> None:
        for method in self._packet_sent:
            try:
                method(node_id, code, size)
            except Exception:
                _failed(method)

    def envelope_received(self, outcome: AddOutcome, source: NodeID | None, local: bool) -> None:
        for method in self._envelope_received:
            try:
                method(outcome, source, local)
            except Exception:
                _failed(method)

    def duplicates_received(self, entries: Sequence[PooledEnvelope], source: NodeID) -> None:
        for observer in self.observers:  # an observer that raises misses the rest of the run
            try:
                observer.duplicates_received(entries, source)
            except Exception:
                log.exception("observer %r failed in duplicates_received", observer)

    def envelope_accepted(
        self, entry: PooledEnvelope, envelope: Envelope, source: NodeID | None, local: bool
    ) -> None:
        for method in self._envelope_accepted:
            try:
                method(entry, envelope, source, local)
            except Exception:
                _failed(method)

    def envelopes_expired(self, count: int) -> None:
        self._each("envelopes_expired", count)

    def message_delivered(self, count: int, direct: bool) -> None:
        self._each("message_delivered", count, direct)

    def envelope_sealed(self, seconds: float, pow_target: float) -> None:
        self._each("envelope_sealed", seconds, pow_target)

    def bundle_sent(self, node_id: NodeID, envelopes: int) -> None:
        for method in self._bundle_sent:
            try:
                method(node_id, envelopes)
            except Exception:
                _failed(method)

    def broadcast_turn(self, node_id: NodeID, seconds: float, envelopes: int) -> None:
        for method in self._broadcast_turn:
            try:
                method(node_id, seconds, envelopes)
            except Exception:
                _failed(method)

    def dial_failed(self, node_id: NodeID, error: Exception) -> None:
        self._each("dial_failed", node_id, error)
