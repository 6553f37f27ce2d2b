"""`/metrics` for Prometheus: the hush_* set of hardening.md §5.2, read from `NodeStats` and the
node at each scrape, plus process, GC, platform and event-loop-lag collectors.

Rules:
- The only module that imports prometheus_client. The collector keeps no state of its own: every
  scrape reads the stats object and the node's public surface (`read_node`), on the event loop.
- Labels stay bounded: no per-peer label unless `per_peer` (`--metrics-per-peer`), and then only
  for connected peers (at most the node's peer limit); no per-topic label at all.
- `compat=("status",)` (`--metrics-compat status`) adds status-go's `whisper_*` and
  `mailserver_*` names, computed from the same counters, so their dashboards work.
- Serving them is `hush.metrics.server` (`MetricsServer`, the registry, the loop-lag collector).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from hush.enode import short_id
from hush.metrics.counters import Histogram
from hush.metrics.stats import COMPAT, REJECT_REASONS, NodeReadings, NodeStats, peer_kind, read_node
from hush.node.ratelimit import Action, Scope, Unit

if TYPE_CHECKING:
    from hush.node import Node

__all__ = ["COMPAT", "HushCollector", "gauge", "histogram"]

_REJECTED = (*REJECT_REASONS.values(), "expired", "pool_full", "over_budget")
_KINDS = ("full", "light", "trusted", "static")


def _buckets(histogram: Histogram) -> list[tuple[str, float]]:
    return [
        ("+Inf" if math.isinf(bound) else repr(float(bound)), count)
        for bound, count in histogram.cumulative()
    ]


def histogram(name: str, doc: str, values: Histogram) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], _buckets(values), values.sum)
    return family


def _labelled(
    family: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    doc: str,
    label: str,
    values: Mapping[str, float],
) -> Metric:
    """One family with one sample per key of `values`, labelled `label`, in key order."""
    metric = family(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        metric.add_metric([key], value)
    return metric


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class HushCollector(Collector):
    """The hush_* families (and, with `compat`, status-go's), read at each scrape."""

    def __init__(
        self, node: Node, stats: NodeStats, *, per_peer: bool = False, compat: Collection[str] = ()
    ):
        self.node = node
        self.stats = stats
        self.per_peer = per_peer
        self.compat = frozenset(compat)

    def collect(self) -> Iterator[Metric]:
        readings = read_node(self.node)
        yield from self._peers(readings)
        yield from self._traffic()
        yield from self._envelopes(readings)
        yield from self._delivery(readings)
        yield from self._rate_limits(readings)
        yield from self._archive()
        if self.per_peer:
            yield from self._per_peer(readings)
        if "status" in self.compat:
            yield from self._status(readings)

    def _peers(self, readings: NodeReadings) -> Iterator[Metric]:
        stats = self.stats
        peers = GaugeMetricFamily(
            "hush_peers", "Connected shh peers.", labels=["protocol", "direction", "kind"]
        )
        counts = {(d, k): 0 for d in ("in", "out") for k in _KINDS}
        for peer in readings.peers:
            counts["in" if peer.inbound else "out", peer_kind(peer)] += 1
        for (direction, kind), count in counts.items():
            peers.add_metric(["shh", direction, kind], count)
        yield peers
        events = CounterMetricFamily(
            "hush_peer_events",
            "Peer churn: sessions started (connect), ended (disconnect, with the reason) and "
            "static-peer dials that failed (handshake_fail).",
            labels=["event", "reason"],
        )
        for (event, reason), count in stats.peer_events.items():
            events.add_metric([event, reason], count)
        inbound = readings.inbound
        if inbound is not None:
            for why, count in sorted(inbound.refused.items()):
                events.add_metric(["handshake_fail", f"inbound_refused_{why}"], count)
            for why, count in sorted(inbound.handshake_failures.items()):
                events.add_metric(["handshake_fail", f"inbound_{why}"], count)
        yield events
        if inbound is not None:
            connections = GaugeMetricFamily(
                "hush_p2p_connections",
                "p2p sockets open: inbound in the handshake (pending), all (open).",
                labels=["state"],
            )
            connections.add_metric(["pending"], inbound.pending)
            connections.add_metric(["open"], inbound.connections)
            yield connections
        yield gauge("hush_start_time_seconds", "When the stats began (unix time).", stats.started)

    def _traffic(self) -> Iterator[Metric]:
        stats = self.stats
        for name, doc, counter in (
            ("hush_packets", "shh packets per direction and code.", stats.packets),
            (
                "hush_packet_bytes",
                "shh packet payload bytes per direction and code.",
                stats.packet_bytes,
            ),
        ):
            family = CounterMetricFamily(name, doc, labels=["direction", "code"])
            for (direction, code), count in counter.items():
                family.add_metric([direction, code], count)
            yield family

    def _envelopes(self, readings: NodeReadings) -> Iterator[Metric]:
        stats = self.stats
        received = CounterMetricFamily(
            "hush_envelopes_received", "Envelopes seen, by where they came from.", labels=["source"]
        )
        sources = {"peer": 0, "local": 0, "p2p": 0} | {
            source: count for (source,), count in stats.received.items()
        }
        for source, count in sorted(sources.items()):
            received.add_metric([source], count)
        yield received
        yield _counter("hush_envelopes_accepted", "First-time pool insertions.", stats.accepted)
        yield _counter(
            "hush_envelopes_duplicate", "Envelopes already in the pool.", stats.duplicate
        )
        rejected = CounterMetricFamily(
            "hush_envelopes_rejected", "Envelopes not pooled, by reason.", labels=["reason"]
        )
        reasons = dict.fromkeys(_REJECTED, 0) | {r: n for (r,), n in stats.rejected.items()}
        for reason, count in reasons.items():
            rejected.add_metric([reason], count)
        yield rejected
        yield _counter(
            "hush_envelopes_expired", "Envelopes the expiry sweep removed.", stats.expired
        )
        yield histogram(
            "hush_envelope_size_bytes", "Sizes of pooled envelopes (encoded).", stats.sizes
        )
        yield histogram(
            "hush_envelope_age_seconds",
            "now − sent when an envelope from a peer is first pooled (1 s resolution).",
            stats.ages,
        )
        yield gauge("hush_pool_envelopes", "Envelopes in the pool.", readings.pool_envelopes)
        yield gauge("hush_pool_bytes", "Accounted memory of the pool (bytes).", readings.pool_bytes)
        yield gauge(
            "hush_pool_max_bytes", "The pool's memory cap (bytes).", readings.pool_max_bytes
        )
        yield gauge("hush_min_pow", "The node's minimum PoW.", readings.min_pow)

    def _delivery(self, readings: NodeReadings) -> Iterator[Metric]:
        stats = self.stats
        yield histogram(
            "hush_broadcast_bundle_envelopes", "Envelopes per messages packet sent.", stats.bundles
        )
        yield histogram(
            "hush_broadcast_turn_seconds",
            "One peer's write-loop turn: scan its new envelopes, batch and flush them.",
            stats.broadcast_turns,
        )
        depth = GaugeMetricFamily(
            "hush_delivery_queue_depth",
            "Messages waiting in subscription queues (hush has one queue kind: normal).",
            labels=["queue"],
        )
        depth.add_metric(["normal"], readings.queued_messages)
        yield depth
        overflow = CounterMetricFamily(
            "hush_delivery_queue_overflow",
            "Messages lost to a full queue: subscriptions (normal), polled filters (filter).",
            labels=["queue"],
        )
        overflow.add_metric(["normal"], readings.overflow[0])
        overflow.add_metric(["filter"], readings.overflow[1])
        yield overflow
        filters = GaugeMetricFamily("hush_filters", "Installed filters.", labels=["kind"])
        filters.add_metric(["sym"], readings.filters_sym)
        filters.add_metric(["asym"], readings.filters_asym)
        yield filters
        delivered = CounterMetricFamily(
            "hush_messages_delivered", "Opened messages handed to filters.", labels=["p2p"]
        )
        for p2p in ("false", "true"):
            delivered.add_metric([p2p], stats.delivered.get(p2p))
        yield delivered
        attempts = CounterMetricFamily(
            "hush_decrypt_attempts", "Trial decryptions of envelopes.", labels=["kind", "result"]
        )
        for symmetric in (True, False):
            for opened in (True, False):
                attempts.add_metric(
                    ["sym" if symmetric else "asym", "ok" if opened else "fail"],
                    readings.decrypt_attempts.get((symmetric, opened), 0),
                )
        yield attempts
        yield histogram("hush_pow_seal_seconds", "Local sealing (PoW) time.", stats.seals)
        if readings.pow_hashes is not None:
            yield _counter("hush_pow_hashes", "Nonces hashed by the sealer.", readings.pow_hashes)

    def _rate_limits(self, readings: NodeReadings) -> Iterator[Metric]:
        limits = readings.rate_limits
        checked = CounterMetricFamily(
            "hush_ratelimit_checked", "Packets and bytes the rate limiter checked.", labels=["unit"]
        )
        for unit in Unit:
            checked.add_metric([unit.value], limits.checked.get(unit, 0))
        yield checked
        exceeded = CounterMetricFamily(
            "hush_ratelimit_exceeded",
            "Packets over a rate limit, by scope, unit and what was done.",
            labels=["scope", "unit", "action"],
        )
        for scope in Scope:
            for unit in Unit:
                for action in Action:
                    count = limits.exceeded.get((scope, unit, action), 0)
                    exceeded.add_metric([scope.value, unit.value, action.value], count)
        yield exceeded
        yield _counter(
            "hush_ratelimit_exempt", "Packets of exempt peers (not checked).", limits.exempt
        )
        tracked = GaugeMetricFamily(
            "hush_ratelimit_tracked", "Keys the rate limiter holds state for.", labels=["scope"]
        )
        for scope in Scope:
            tracked.add_metric([scope.value], limits.tracked.get(scope, 0))
        yield tracked

    def _archive(self) -> Iterator[Metric]:
        archive = self.stats.archive
        requests = CounterMetricFamily(
            "hush_mail_requests",
            "Mail (history) requests served, by dialect and result.",
            labels=["dialect", "result"],
        )
        for (dialect, result), count in sorted(archive.requests.items()):
            requests.add_metric([dialect, result], count)
        yield requests
        durations = HistogramMetricFamily(
            "hush_mail_request_duration_seconds",
            "Mail request to last envelope sent.",
            labels=["backend"],
        )
        for backend, samples in sorted(archive.request_seconds.items()):
            durations.add_metric([backend], _buckets(samples), samples.sum)
        yield durations
        yield _counter(
            "hush_mail_envelopes_sent", "History envelopes sent.", archive.envelopes_sent
        )
        yield _counter("hush_mail_bytes_sent", "History bytes sent.", archive.bytes_sent)
        queries = HistogramMetricFamily(
            "hush_mail_db_query_seconds", "Archive page query time.", labels=["backend", "filter"]
        )
        for (backend, kind), samples in sorted(archive.query_seconds.items()):
            queries.add_metric([backend, kind], _buckets(samples), samples.sum)
        yield queries
        for name, doc, values, family_type in (
            (
                "hush_mail_archived_envelopes",
                "Envelopes in the archive.",
                archive.archived_now,
                GaugeMetricFamily,
            ),
            (
                "hush_mail_archive_errors",
                "Archive write failures.",
                archive.errors,
                CounterMetricFamily,
            ),
            (
                "hush_mail_pruned",
                "Envelopes deleted by retention.",
                archive.pruned_total,
                CounterMetricFamily,
            ),
        ):
            family = family_type(name, doc, labels=["backend"])
            for backend, value in sorted(values.items()):
                family.add_metric([backend], value)
            yield family
        yield _labelled(
            CounterMetricFamily,
            "hush_history_requests",
            "History requests made (client side).",
            "result",
            archive.history_requests,
        )
        yield histogram(
            "hush_history_request_duration_seconds",
            "History request page time (client side).",
            archive.history_seconds,
        )

    def _per_peer(self, readings: NodeReadings) -> Iterator[Metric]:
        stats = self.stats
        packets = CounterMetricFamily(
            "hush_peer_packets", "shh packets per connected peer.", labels=["peer", "direction"]
        )
        volume = CounterMetricFamily(
            "hush_peer_bytes", "shh payload bytes per connected peer.", labels=["peer", "direction"]
        )
        pow_requirement = GaugeMetricFamily(
            "hush_peer_pow_requirement", "The PoW each peer asks for.", labels=["peer"]
        )
        for peer in readings.peers:
            label = short_id(peer.node_id)
            traffic = stats.peers.get(peer.node_id)
            if traffic is not None:
                packets.add_metric([label, "in"], traffic.packets_in)
                packets.add_metric([label, "out"], traffic.packets_out)
                volume.add_metric([label, "in"], traffic.bytes_in)
                volume.add_metric([label, "out"], traffic.bytes_out)
            pow_requirement.add_metric([label], peer.pow_requirement)
        yield from (packets, volume, pow_requirement)

    def _status(self, readings: NodeReadings) -> Iterator[Metric]:
        """status-go's names (whisper/metrics.go, mailserver/metrics.go), from hush's counters."""
        stats = self.stats
        yield _counter(
            "whisper_envelopes_received",
            "Envelopes received (peer and local).",
            stats.received.get("peer") + stats.received.get("local"),
        )
        yield _counter(
            "whisper_envelopes_validated", "Envelopes validated and pooled.", stats.accepted
        )
        failures = CounterMetricFamily(
            "whisper_envelopes_cache_failures", "Envelopes not cached, by type.", labels=["type"]
        )
        for reason in (*REJECT_REASONS.values(), "expired"):
            failures.add_metric([reason], stats.rejected.get(reason))
        yield failures
        cached = CounterMetricFamily(
            "whisper_envelopes_cached",
            "Pool lookups: hit (duplicate), miss (new).",
            labels=["cache"],
        )
        cached.add_metric(["hit"], stats.duplicate)
        cached.add_metric(["miss"], stats.accepted)
        yield cached
        yield histogram("whisper_envelopes_size_bytes", "Envelope sizes.", stats.sizes)
        limits = readings.rate_limits
        yield _counter(
            "whisper_rate_limits_processed",
            "Packets checked by the rate limiter.",
            limits.checked.get(Unit.PACKETS, 0),
        )
        exceeded = CounterMetricFamily(
            "whisper_rate_limits_exceeded", "Packets over a rate limit.", labels=["type"]
        )
        for scope in Scope:
            total = sum(n for (s, _, _), n in limits.exceeded.items() if s is scope)
            exceeded.add_metric([scope.value], total)
        yield exceeded
        archive = self.stats.archive
        yield _labelled(
            GaugeMetricFamily,
            "mailserver_archived_envelopes",
            "Envelopes archived.",
            "db",
            archive.archived_now,
        )
        yield _counter(
            "mailserver_envelopes",
            "Envelopes archived since start.",
            sum(archive.archived_total.values()),
        )
        yield _labelled(
            CounterMetricFamily,
            "mailserver_archived_envelopes_failures",
            "Archive write failures.",
            "db",
            archive.errors,
        )
        yield _counter(
            "mailserver_delivery_attempts",
            "Mail requests handled.",
            sum(archive.requests.values()),
        )
        delivery_failures = CounterMetricFamily(
            "mailserver_delivery_failures", "Mail requests that failed.", labels=["type"]
        )
        for (_, result), count in sorted(archive.requests.items()):
            if result != "ok":
                delivery_failures.add_metric([result], count)
        yield delivery_failures
