"""PNG plots of a run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from hush.sim.models import flood_model, vac_cases
from hush.sim.runner import RunTrace

__all__ = ["plot_model_vs_measured", "plot_run", "plot_vac_v1"]


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_run(trace: RunTrace, numbers: dict[str, Any], out: Path) -> list[Path]:
    written = []
    latencies = sorted(numbers["_latencies"])
    fig, ax = plt.subplots(figsize=(6, 4))
    if latencies:
        ax.plot(latencies, [(i + 1) / len(latencies) for i in range(len(latencies))])
    ax.set(
        xlabel="publish → filter latency (virtual s)",
        ylabel="fraction of deliveries",
        title=f"{trace.scenario.name}: latency CDF",
    )
    ax.grid(alpha=0.3)
    written.append(_save(fig, out / "latency_cdf.png"))

    codes = sorted({code for t in trace.taps for code in t.bytes_in})
    fig, ax = plt.subplots(figsize=(7, 4))
    bottom = [0.0] * len(trace.taps)
    for code in codes:
        values = [t.bytes_in.get(code, 0) / 1e3 for t in trace.taps]
        ax.bar(range(len(values)), values, bottom=bottom, label=f"code {code}")
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set(xlabel="node", ylabel="kB received", title="bandwidth in per node by packet code")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if codes:
        ax.legend()
    written.append(_save(fig, out / "bandwidth_by_code.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    wanted = numbers["pairs_wanted"] or 1
    times = sorted(t for t, _, _ in trace.deliveries)
    ax.plot(times, [(i + 1) / wanted for i in range(len(times))])
    ax.set(xlabel="virtual s", ylabel="delivered / wanted pairs", title="delivery over time")
    ax.grid(alpha=0.3)
    written.append(_save(fig, out / "delivery_over_time.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    posts = max(1, numbers["posts"])
    ax.hist([t.copies / posts for t in trace.taps if t.index not in trace.topology.light], bins=20)
    ax.set(xlabel="copies received per envelope", ylabel="nodes", title="duplicate factor")
    written.append(_save(fig, out / "duplicates.png"))

    per_day = float(numbers["bytes_in_per_node_per_day_mean"])
    label = f"this run ({trace.scenario.name}, its own traffic rate)"
    written.append(
        plot_model_vs_measured(
            [(trace.topology.nodes, per_day, label)], out / "bandwidth_vs_model.png"
        )
    )
    return written


def plot_model_vs_measured(points: list[tuple[int, float, str]], out: Path) -> Path:
    """Measured bytes/node/day (N, value, label) over Vac's cases 4–7 across N."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ns = sorted({n for n, _, _ in points} | {100, 1000, 10_000})
    low, high = max(ns[0], 2), ns[-1]
    span = [low * (high / low) ** (i / 60) for i in range(61)]
    for case in (
        "4 partitions",
        "5 + bloom FP",
        "6 + duplicates",
        "7 + mailserver",
        "2 everyone's",
    ):
        ax.plot(span, [vac_cases(int(n))[case] for n in span], "--", label=f"Vac case {case}")
    for label in sorted({label for _, _, label in points}):
        mine = sorted((n, v) for n, v, lab in points if lab == label)
        ax.plot([n for n, _ in mine], [v for _, v in mine], "o-", label=f"measured: {label}")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="nodes N",
        ylabel="bytes received per node per day",
        title="measured vs Vac's model",
    )
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, out)


def plot_vac_v1(rows: list[dict[str, Any]], out: Path) -> Path:
    """Vac's v1-vs-v2 replica across N. Left: measured bytes received per node per second (one
    line per relay mode; rows: `nodes`, `relay`, `in_per_node_per_s`, `wire_bytes_per_copy`,
    `rate`) over the models for the same traffic (`hush.sim.models.flood_model`). Right: latency
    p50 and p99 where rows have them (`latency_p50_s`, `latency_p99_s`). A figure's `…_ci` (a
    95 % half-width over seeds, `hush.sim.confidence.mean_ci`), where present, is its error bar."""
    fig, (ax, lat) = plt.subplots(1, 2, figsize=(11, 4.5), width_ratios=(3, 2))
    ns = sorted({int(r["nodes"]) for r in rows})
    per_copy = sum(float(r["wire_bytes_per_copy"]) for r in rows) / len(rows)
    rate = float(rows[0]["rate"])
    span = list(range(ns[0], ns[-1] + 1))
    for case in flood_model(ns[0], rate, per_copy):
        model = [flood_model(n, rate, per_copy)[case] for n in span]
        ax.plot(span, model, "--", label=f"model: {case}")
    for n, relay in enumerate(sorted({str(r["relay"]) for r in rows})):
        colour = f"C{4 + n}"  # C0–C3 are the models'
        mine = sorted((r for r in rows if r["relay"] == relay), key=lambda r: int(r["nodes"]))
        x = [int(r["nodes"]) for r in mine]
        ax.errorbar(
            x,
            [float(r["in_per_node_per_s"]) for r in mine],
            yerr=_bars(mine, "in_per_node_per_s"),
            fmt="o-",
            color=colour,
            capsize=3,
            label=f"measured: {relay} relay",
        )
        for key, style in (("latency_p50_s", "o-"), ("latency_p99_s", "s:")):
            if all(r.get(key) is not None for r in mine):
                lat.errorbar(
                    x,
                    [float(r[key]) * 1000 for r in mine],
                    yerr=_bars(mine, key, 1000),
                    fmt=style,
                    color=colour,
                    capsize=3,
                    label=f"{relay} relay {key.split('_')[1]}",
                )
    seeds = {len(r["seeds"]) for r in rows if "seeds" in r}
    over = f", mean and 95 % CI over {'/'.join(map(str, sorted(seeds)))} seeds" if seeds else ""
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="nodes N (full mesh)",
        ylabel="bytes received per node per second",
        title=f"Vac v1 replica: {rate:g} msg/s, {per_copy:.0f} B per copy{over}",
    )
    ax.title.set_fontsize(9)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    lat.set(xscale="log", xlabel="nodes N (full mesh)", ylabel="publish → filter latency (ms)")
    lat.set_title("latency p50 / p99", fontsize=9)
    lat.set_xticks(ns, [str(n) for n in ns])
    lat.set_ylim(bottom=0)
    if lat.has_data():
        lat.legend(fontsize=7)
    lat.grid(alpha=0.3, which="both")
    return _save(fig, out)


def _bars(rows: list[dict[str, Any]], key: str, scale: float = 1.0) -> list[float] | None:
    """Each row's `key + "_ci"` half-width times `scale` (0 where a row has none); None if no
    row has one."""
    halves = [r.get(f"{key}_ci") for r in rows]
    if all(h is None for h in halves):
        return None
    return [float(h) * scale if h is not None else 0.0 for h in halves]
