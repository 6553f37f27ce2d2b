"""A run's numbers, the model checks printed with each run, and the results directory
(results.json, one CSV per series, PNG plots).

Definitions (simulation.md §4.2): *delivery ratio* = delivered (post, interested node) pairs
before expiry / all such pairs; *latency* = publish → filter delivery, overall and by the
delivery's hop count (the first-arrival path's length); *duplicate factor* = copies received
from peers per envelope per node (first copies included, as Vac counts them); *bloom FP
traffic* = envelopes a light node pooled on topics it does not listen to.

Across seeds: `hush.sim.confidence.mean_ci`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hush.sim.measure import by_code, histogram, summary
from hush.sim.models import bloom_fp, duplicate_bounds, flood_model, vac_cases
from hush.sim.runner import RunTrace
from hush.sim.spread import GETH_TICK_SECONDS

__all__ = ["Check", "checks", "summarise", "write_results"]

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    measured: float
    low: float
    high: float

    @property
    def passed(self) -> bool:
        return self.low <= self.measured <= self.high

    def line(self) -> str:
        verdict = "ok  " if self.passed else "FAIL"
        return f"{verdict} {self.name}: {self.measured:.4g} in [{self.low:.4g}, {self.high:.4g}]"


def _path_hops(trace: RunTrace, node: int, envelope: bytes) -> int:
    hops, at = 0, node
    for _ in range(trace.topology.nodes):
        first = trace.arrivals[at].get(envelope)
        if first is None or first[1] is None:
            return hops
        at, hops = first[1], hops + 1
    return hops


def summarise(trace: RunTrace) -> dict[str, Any]:
    s, topo = trace.scenario, trace.topology
    posted = {m: (at, who, h) for at, who, m, h in trace.published}
    wanted = {
        (node, m)
        for m, post in enumerate(trace.plan.posts)
        if m in posted and post.topic >= 0
        for node in range(topo.nodes)
        if post.topic in trace.plan.interests[node] and node != posted[m][1]
    }
    latencies: list[float] = []
    by_hops: list[tuple[int, float]] = []
    delivered = set()
    ever = {(node, m) for _, node, m in trace.deliveries} & wanted
    for at, node, m in trace.deliveries:
        if (node, m) not in wanted or (node, m) in delivered:
            continue
        sent_at, _, envelope = posted[m]
        if at - sent_at > trace.plan.posts[m].ttl:
            continue
        delivered.add((node, m))
        latencies.append(at - sent_at)
        by_hops.append((_path_hops(trace, node, envelope), at - sent_at))
    hop_groups: dict[int, list[float]] = {}
    for k, value in by_hops:
        hop_groups.setdefault(k, []).append(value)
    envelopes = len(trace.published)
    full = [t for t in trace.taps if t.index not in topo.light]
    copies = [t.copies / envelopes for t in full] if envelopes else []
    duplicate_factor = sum(copies) / len(copies) if copies else 0.0
    light_fp = []
    for t in trace.taps:
        if t.index in topo.light:
            mine = {bytes(_topic) for _topic in _topics(trace, t.index)}
            light_fp.append(
                sum(1 for _, _, topic in trace.arrivals[t.index].values() if topic not in mine)
            )
    churning = {node for _, node, _ in trace.churn}
    steady = set(range(topo.nodes)) - churning
    seconds = trace.virtual_seconds or 1.0
    per_node_in = [sum(t.bytes_in.values()) for t in trace.taps]
    per_node_out = [sum(t.bytes_out.values()) for t in trace.taps]
    return {
        "scenario": asdict(s),
        "topology": {
            "kind": topo.kind,
            "nodes": topo.nodes,
            "edges": len(topo.edges),
            "light": len(topo.light),
            "degree": topo.degree,
        },
        "geth_nodes": len(trace.geth_nodes),
        "stem_nodes": len(trace.stem_nodes),
        "posts": envelopes,
        "delivery_ratio": len(delivered) / len(wanted) if wanted else None,
        "delivery_ratio_churning_nodes": _ratio(delivered, wanted, churning),
        "delivery_ratio_steady_nodes": _ratio(delivered, wanted, steady),
        "delivery_ratio_churning_nodes_ever": _ratio(ever, wanted, churning),
        "churn_events": len(trace.churn),
        "catch_up": _catch_up(trace, wanted, ever, posted) if trace.archive_servers else None,
        "clock_skew_s_max": max((abs(skew) for skew in trace.skews), default=0.0),
        "pairs_wanted": len(wanted),
        "latency_s": summary(latencies),
        "latency_by_hops_s": {str(k): summary(v) for k, v in sorted(hop_groups.items())},
        "duplicate_factor": duplicate_factor,
        "duplicate_histogram": histogram([t.copies for t in full]),
        "light_fp_envelopes": light_fp,
        "bytes_in_per_node_by_code": [by_code(t.bytes_in) for t in trace.taps],
        "bytes_out_per_node_by_code": [by_code(t.bytes_out) for t in trace.taps],
        "bytes_in_per_node_per_day_mean": sum(per_node_in) / len(per_node_in) / seconds * _DAY,
        "bytes_out_per_node_per_day_mean": sum(per_node_out) / len(per_node_out) / seconds * _DAY,
        "vac_model_bytes_per_day": vac_cases(topo.nodes),
        "vac_v1": _vac_v1(trace, per_node_in, per_node_out) if s.workload.kind == "vac" else None,
        "pool_size": [{"t": t, "mean": mean, "max": top} for t, mean, top in trace.pool_sizes],
        "bytes_on_links": trace.bytes_carried,
        "virtual_seconds": trace.virtual_seconds,
        "wall_seconds": trace.wall_seconds,
        "cpu_seconds": trace.cpu_seconds,
        "peak_rss_mb": trace.peak_rss_mb,
        "_latencies": latencies,
        "_by_hops": by_hops,
    }


def _vac_v1(trace: RunTrace, per_node_in: list[int], per_node_out: list[int]) -> dict[str, Any]:
    """Vac's v1-vs-v2 figures: bytes in/out per node per second at the workload's rate (the
    run's bytes per post × posts per second, so the idle tail after the last post does not
    dilute them), per day, and the §4.3/§4.4 models for the same N and wire bytes per copy."""
    rate, posts = trace.scenario.workload.rate, len(trace.published) or 1
    copies = sum(t.copies for t in trace.taps)
    per_copy = sum(t.bytes_in.get(1, 0) for t in trace.taps) / copies if copies else 0.0
    nodes = trace.topology.nodes
    bytes_in = sum(per_node_in) / nodes / posts * rate
    bytes_out = sum(per_node_out) / nodes / posts * rate
    return {
        "rate": rate,
        "wire_bytes_per_copy": per_copy,
        "in_per_node_per_s": bytes_in,
        "out_per_node_per_s": bytes_out,
        "in_per_node_per_day": bytes_in * _DAY,
        "out_per_node_per_day": bytes_out * _DAY,
        "in_plus_out_kbps": (bytes_in + bytes_out) * 8 / 1000,
        "duplicate_bounds": duplicate_bounds(nodes, None, True),
        "model_in_per_node_per_s": flood_model(nodes, rate, per_copy),
    }


def _catch_up(
    trace: RunTrace,
    wanted: set[tuple[int, int]],
    ever: set[tuple[int, int]],
    posted: dict[int, tuple[float, int, bytes]],
) -> dict[str, Any]:
    """Mail-server catch-up: the fetches (completed; interrupted: the node went offline again
    first; retries: fetches that re-asked an earlier window one did not complete), their
    latency (back online → the last page), bytes at the servers (126 requests in; 127
    envelopes and 125 completions out), and *held pairs*: (post, churning node) pairs whose
    envelope a server committed and that were posted before the node last came back online.
    Of those, the pairs posted before the node's last *completed* fetch began are what it can
    have by the end, live or from history (a node that goes offline again before its fetch
    completes does not get the rest): with catch-up every one of those should be delivered."""
    back: dict[int, float] = {}
    for at, node, up in trace.churn:
        if up:
            back[node] = at
    held = {
        (node, m)
        for node, m in wanted
        if node in back and posted[m][0] < back[node] and posted[m][2] in trace.held
    }
    done = [r for r in trace.catch_ups if r.done_at is not None and r.error is None]
    fetched: dict[int, float] = {}
    for r in done:
        fetched[r.node] = max(fetched.get(r.node, r.back_at), r.back_at)
    by_fetch = {(node, m) for node, m in held if posted[m][0] < fetched.get(node, -1.0)}
    servers = [trace.taps[i] for i in trace.archive_servers]
    return {
        "servers": list(trace.archive_servers),
        "held_envelopes": len(trace.held),
        "fetches": len(trace.catch_ups),
        "completed": len(done),
        "interrupted": sum(1 for r in trace.catch_ups if r.interrupted_at is not None),
        "retries": sum(1 for r in trace.catch_ups if r.since < r.offline_at),
        "errors": sorted({r.error for r in trace.catch_ups if r.error}),
        "envelopes": sum(r.envelopes for r in trace.catch_ups),
        "duplicates": sum(r.duplicates for r in trace.catch_ups),
        "pages": sum(r.pages for r in trace.catch_ups),
        "latency_s": summary([r.done_at - r.back_at for r in done if r.done_at is not None]),
        "bytes_requests_in": sum(t.bytes_in.get(126, 0) for t in servers),
        "bytes_envelopes_out": sum(t.bytes_out.get(127, 0) for t in servers),
        "bytes_completions_out": sum(t.bytes_out.get(125, 0) for t in servers),
        "held_pairs": len(held),
        "held_pairs_delivered_ratio": len(held & ever) / len(held) if held else None,
        "held_pairs_fetched": len(by_fetch),
        "held_pairs_fetched_delivered_ratio": len(by_fetch & ever) / len(by_fetch)
        if by_fetch
        else None,
    }


def _ratio(
    delivered: set[tuple[int, int]], wanted: set[tuple[int, int]], nodes: set[int]
) -> float | None:
    mine = {pair for pair in wanted if pair[0] in nodes}
    return len(delivered & mine) / len(mine) if mine else None


def _topics(trace: RunTrace, node: int) -> list[bytes]:
    return [trace.topic_names[t] for t in trace.plan.interests[node]]


def checks(trace: RunTrace, numbers: dict[str, Any]) -> list[Check]:
    """The §4.3/§4.4 model checks that apply to this run."""
    s, topo = trace.scenario, trace.topology
    out: list[Check] = []
    if s.relay == "geth" and not topo.light and numbers["posts"]:
        bounds = duplicate_bounds(topo.nodes, topo.degree, topo.kind == "full-mesh")
        if bounds is not None and topo.kind in ("regular", "full-mesh", "ring"):
            out.append(Check("geth duplicate factor (§4.4)", numbers["duplicate_factor"], *bounds))
    if s.workload.kind == "quicksim" and numbers["light_fp_envelopes"]:
        random_posts = sum(1 for post in trace.plan.posts if post.topic < 0)
        expected = bloom_fp(s.workload.topics) * random_posts
        fps = numbers["light_fp_envelopes"]
        mean = sum(fps) / len(fps)
        out.append(
            Check(
                f"light bloom FP envelopes vs p({s.workload.topics})·G (§4.3)",
                mean,
                0.9 * expected,
                1.1 * expected,
            )
        )
    low, high = s.links.bounds()
    tick = GETH_TICK_SECONDS if trace.geth_nodes else 0.02
    serial = 0.0
    if s.links.bandwidth:  # a hop's packet leaves at the link's rate: the largest one sent
        serial = _frame_bound(max((t.largest_out for t in trace.taps), default=0))
        serial /= s.links.bandwidth
    worst = 0.0
    inside = 0
    for k, latency in numbers["_by_hops"]:
        lo, hi = k * low, k * (high + tick + serial) + 1e-3
        inside += lo <= latency <= hi
        worst = max(worst, latency)
    if numbers["_by_hops"] and not trace.stem_nodes:  # a stem's embargo is outside §4.4
        share = inside / len(numbers["_by_hops"])
        out.append(
            Check("deliveries inside k·[lat_min, lat_max + tick + tx] (§4.4)", share, 1.0, 1.0)
        )
    return out


def _frame_bound(payload: int) -> int:
    """Most bytes an RLPx frame of a `payload`-byte message can take: Snappy's worst case
    (32 + n + n/6), the message id, padding to 16, header and MACs (devp2p.md §2.3)."""
    return 32 + payload + payload // 6 + 1 + 15 + 48


def write_results(
    trace: RunTrace, numbers: dict[str, Any], found: list[Check], out: Path, plots: bool = True
) -> list[Path]:
    """results.json, CSVs and PNGs under `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    public = {k: v for k, v in numbers.items() if not k.startswith("_")}
    public["checks"] = [
        {"name": c.name, "measured": c.measured, "low": c.low, "high": c.high, "passed": c.passed}
        for c in found
    ]
    path = out / "results.json"
    path.write_text(json.dumps(public, indent=2, sort_keys=True) + "\n")
    written.append(path)
    series: dict[str, tuple[list[str], list[list[Any]]]] = {
        "latency.csv": (["hops", "latency_s"], [[k, v] for k, v in numbers["_by_hops"]]),
        "deliveries.csv": (["t", "node", "post"], [list(row) for row in trace.deliveries]),
        "pool_size.csv": (["t", "mean", "max"], [list(row) for row in trace.pool_sizes]),
        "bandwidth.csv": (
            ["node", "direction", "code", "bytes"],
            [
                [t.index, d, code, n]
                for t in trace.taps
                for d, counter in (("in", t.bytes_in), ("out", t.bytes_out))
                for code, n in sorted(counter.items())
            ],
        ),
        "duplicates.csv": (["node", "copies"], [[t.index, t.copies] for t in trace.taps]),
    }
    for name, (header, rows) in series.items():
        path = out / name
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        written.append(path)
    if plots:
        # matplotlib loads only when plots are asked for
        from hush.sim.plots import plot_run  # noqa: PLC0415

        written += plot_run(trace, numbers, out)
    return written
