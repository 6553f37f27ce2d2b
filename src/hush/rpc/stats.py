"""`hush_stats`: what the node is doing, as one JSON object (what `hush top` draws).

hush only; `shh_info` stays geth's. The answer is a snapshot: the node's peers (direction,
client, kind, PoW requirement, bloom fill, traffic since they joined), pool occupancy, envelope
and packet counters since start, filters, trial decryptions, sealing, the rate limiter's counters,
static peers whose dials fail (with the last error), peer churn, and the archive's counters once
it counted anything. Counters come from the node's `NodeStats` (`hush node` always has one);
without one, the counter sections are null and `counters` is false. Counters only grow: a
client computes rates from two answers. The answer is bounded: peers by the node's peer limits,
failing peers by `hush.metrics.stats.MAX_FAILING`, labels by their vocabularies.
Documented in docs/metrics.md.
"""

from __future__ import annotations

from typing import Any

from hush.enode import short_id
from hush.metrics.archive import ArchiveStats
from hush.metrics.counters import Histogram
from hush.metrics.stats import NodeReadings, NodeStats, bloom_fill, peer_kind, read_node
from hush.node import Node
from hush.rpc.jsonrpc import CallContext, Method

__all__ = ["StatsMethods"]

_FAILING_FRESH = 120.0
"""Seconds a failed dial is shown (static peers are redialled every ≤ 30 s; a removed one fades)."""


def _histogram(histogram: Histogram) -> dict[str, Any]:
    return {"count": histogram.count, "sum": histogram.sum}


def _by(counter: Any) -> dict[str, int]:
    return {"/".join(labels): count for labels, count in counter.items()}


class StatsMethods:
    """hush_stats over the node facade and its NodeStats (None: node readings only)."""

    def __init__(self, node: Node, stats: NodeStats | None):
        self.node = node
        self.stats = stats

    async def stats_method(self, _: CallContext) -> dict[str, Any]:
        node, stats = self.node, self.stats
        readings = read_node(node)
        answer: dict[str, Any] = {
            "time": node.clock.time(),
            "counters": stats is not None,
            "node": {
                "enode": node.enode,
                "name": node.config.client_id,
                "minPow": readings.min_pow,
                "maxMessageSize": readings.max_message_size,
                "light": readings.light,
            },
            "peers": self._peers(readings),
            "pool": {
                "envelopes": readings.pool_envelopes,
                "bytes": readings.pool_bytes,
                "maxBytes": readings.pool_max_bytes,
            },
            "filters": {"sym": readings.filters_sym, "asym": readings.filters_asym},
            "queuedMessages": readings.queued_messages,
            "decryptAttempts": {
                kind: {
                    "ok": readings.decrypt_attempts.get((symmetric, True), 0),
                    "fail": readings.decrypt_attempts.get((symmetric, False), 0),
                }
                for kind, symmetric in (("sym", True), ("asym", False))
            },
            "rateLimit": self._rate_limits(readings),
            "deliveryOverflow": {"normal": readings.overflow[0], "filter": readings.overflow[1]},
            "powHashes": readings.pow_hashes,
            "inbound": None
            if readings.inbound is None
            else {
                "refused": dict(readings.inbound.refused),
                "handshakeFailures": dict(readings.inbound.handshake_failures),
                "pending": readings.inbound.pending,
                "connections": readings.inbound.connections,
            },
            "discovery": _discovery(node),
            "uptime": None,
            "envelopes": None,
            "packets": None,
            "sealing": None,
            "bundles": None,
            "broadcastTurns": None,
            "peerEvents": None,
            "failingPeers": None,
            "archive": None,
        }
        if stats is not None:
            answer.update(self._counters(stats))
        return answer

    def _peers(self, readings: NodeReadings) -> list[dict[str, Any]]:
        stats = self.stats
        out = []
        for peer in readings.peers:
            traffic = stats.peers.get(peer.node_id) if stats is not None else None
            out.append(
                {
                    "id": short_id(peer.node_id),
                    "enode": peer.enode,
                    "name": peer.name,
                    "inbound": peer.inbound,
                    "kind": peer_kind(peer),
                    "powRequirement": peer.pow_requirement,
                    "bloomFill": bloom_fill(peer.bloom),
                    "connectedFor": stats.connected_for(peer.node_id) if stats else None,
                    "packetsIn": traffic.packets_in if traffic else None,
                    "packetsOut": traffic.packets_out if traffic else None,
                    "bytesIn": traffic.bytes_in if traffic else None,
                    "bytesOut": traffic.bytes_out if traffic else None,
                    "envelopesIn": traffic.envelopes_in if traffic else None,
                }
            )
        return out

    @staticmethod
    def _rate_limits(readings: NodeReadings) -> dict[str, Any]:
        limits = readings.rate_limits
        return {
            "mode": limits.mode.value,
            "checked": {unit.value: count for unit, count in limits.checked.items()},
            "exceeded": [
                {"scope": scope.value, "unit": unit.value, "action": action.value, "count": n}
                for (scope, unit, action), n in sorted(
                    limits.exceeded.items(), key=lambda item: str(item[0])
                )
                if n
            ],
            "exempt": limits.exempt,
        }

    def _counters(self, stats: NodeStats) -> dict[str, Any]:
        now = stats.clock.time()
        packets: dict[str, dict[str, int]] = {d: {"count": 0, "bytes": 0} for d in ("in", "out")}
        for (direction, _), count in stats.packets.items():
            packets[direction]["count"] += count
        for (direction, _), size in stats.packet_bytes.items():
            packets[direction]["bytes"] += size
        return {
            "uptime": max(0.0, now - stats.started),
            "envelopes": {
                "received": _by(stats.received),
                "accepted": stats.accepted,
                "duplicate": stats.duplicate,
                "rejected": _by(stats.rejected),
                "expired": stats.expired,
                "delivered": {
                    "pool": stats.delivered.get("false"),
                    "p2p": stats.delivered.get("true"),
                },
            },
            "packets": packets,
            "sealing": _histogram(stats.seals),
            "bundles": _histogram(stats.bundles),
            "broadcastTurns": _histogram(stats.broadcast_turns),
            "peerEvents": [
                {"event": event, "reason": reason, "count": count}
                for (event, reason), count in stats.peer_events.items()
            ],
            "failingPeers": [
                {
                    "id": short_id(node_id),
                    "nodeId": node_id.hex(),
                    "failures": failure.failures,
                    "lastError": failure.last_error,
                    "at": failure.at,
                }
                for node_id, failure in stats.failing.items()
                if now - failure.at <= _FAILING_FRESH
            ],
            "archive": _archive(stats.archive) if stats.archive.used else None,
        }

    def methods(self) -> list[Method]:
        return [Method("hush_stats", self.stats_method)]


def _discovery(node: Node) -> dict[str, Any] | None:
    """The discovery beside the node (null when none runs): its UDP port and table size."""
    discovery = node.discovery
    if discovery is None or not discovery.running:
        return None
    return {"udpPort": discovery.port, "tableSize": discovery.table_size()}


def _archive(archive: ArchiveStats) -> dict[str, Any]:
    return {
        "requests": {"/".join(key): n for key, n in sorted(archive.requests.items())},
        "envelopesSent": archive.envelopes_sent,
        "bytesSent": archive.bytes_sent,
        "archived": dict(archive.archived_now),
        "errors": dict(archive.errors),
        "pruned": dict(archive.pruned_total),
        "history": dict(archive.history_requests),
    }
