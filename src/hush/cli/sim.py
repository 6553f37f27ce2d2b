"""`hush sim`: simulate a network of real hush nodes in one process (issue 9).

* `hush sim run SCENARIO.toml [--out DIR] [--json]` — real `hush.node.Node`s over the memory
  transport under the virtual clock (`hush.sim.runner`); prints the model checks, writes
  results.json, CSVs and PNGs to `--out`; `--json` prints the summary numbers on stdout.
* `hush sim darkness [...]` — the sender-anonymity yardstick of simulation.md §6, on the
  first-arrival propagation engine (`hush.sim.spread`) under the relay policy's per-hop timing.

Bad input (a missing file, bad TOML, an unknown key) is one line on stderr, exit status 1.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from hush.sim.scenario import load_scenario
from hush.sim.spread import POLICIES

if TYPE_CHECKING:
    from hush.sim.darkness import DarknessReport

__all__ = ["group"]

_SCENARIO_HELP = """Simulate a network of real hush nodes in one process.

\b
Scenario file (TOML), every knob with its default:
  name = "scenario"      label in the output
  seed = 0               everything (graph, links, keys, workload) derives from it
  duration = 60.0        virtual seconds to run after every link is up
  relay = "push"         push: hush's relay (forward on arrival); geth: 300 ms tick;
                         mix: a seeded geth_fraction of nodes on the tick
  geth_fraction = 0.5
  rlpx = false           real RLPx (encryption, Hello, pings) on every link: slower
  stem = (node default)  hush nodes' one-hop stem for own posts; geth-tick nodes never
  sample_every = 5.0     pool-size sampling period (virtual s)
  workers = 1            processes running the nodes (2: both cores; barriers every
                         minimum link latency, which must be > 0; no churn/archive/rlpx)
  [topology] kind = "regular" | "barabasi-albert" | "star" | "ring" | "full-mesh" | "fleet"
    nodes = 30           (fleet: the full relay nodes, in a full mesh)
    degree = 6           regular graphs (N·degree even)
    attach = 3           Barabási–Albert: edges per new node
    light = 0            fleet: light leaves;  uplinks = [1, 2] per leaf
  [links] latency = "constant" (seconds) | "uniform" (low, high) | "lognormal" (median, sigma)
    seconds = 0.05  low = 0.02  high = 0.12  median = 0.05  sigma = 0.5
    bandwidth = 1000000  bytes/s per direction (0: unlimited);  loss = 0.0 (TCP semantics)
  [workload] kind = "gossip" | "quicksim" | "vac" | "chat"
    messages = 30        gossip posts; quicksim random-topic envelopes
    topics = 5           (quicksim: the light nodes' topics, 100 in nim-waku's quicksim)
    publish_over = 30.0  seconds over which gossip/vac/chat post
    ttl = 60   rate = 50.0 (vac: msg/s; chat: msg per node per hour)
    publishers = 10 (vac)   payload = 8 (vac/chat bytes)
  [churn] fraction = 0.0  of the nodes go offline (all links dropped) and back;
    online = 60.0  offline = 20.0  mean seconds (exponential)
    catch_up = false     back online, fetch what was missed from an archive server
                         (needs [archive] servers >= 1; archive servers never churn)
  [archive] servers = 0  full nodes (the best-connected) running the real archive
                         server (hush.archive, SQLite in a temp dir)
    mode = "direct"      history request: direct | v2 | v1 (Status RLP) | raw (wnode)
    overlap = 70         seconds the fetched window starts before going offline
    timeout = 10.0       seconds a history page may take
  [skew] seconds = 0.0   each node's clock is off by U(-seconds, +seconds)

Examples: examples/sim/*.toml (quick.toml runs in seconds).
"""


@click.group(name="sim", help=_SCENARIO_HELP)
def group() -> None:
    pass


def _progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.1f}/{task.total:.1f}"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


@group.command(name="run")
@click.argument("scenario", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Results directory (default: sim-results/NAME).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary numbers as JSON.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option(
    "--workers",
    type=click.IntRange(1, 2),
    default=None,
    help="Processes that run the nodes (default: the scenario's `workers`, 1). 2: one "
    "simulation on two cores, barriers every minimum link latency (needs one above 0; no "
    "churn, archive servers or RLPx).",
)
def run_command(
    scenario: Path, out: Path | None, as_json: bool, no_plots: bool, workers: int | None
) -> None:
    """Run SCENARIO.toml on real nodes; print the model checks; write the results directory."""
    # The node stack and numpy load only for a run, not for every `hush` command.
    from hush.sim.results import checks, summarise, write_results  # noqa: PLC0415
    from hush.sim.runner import run_scenario  # noqa: PLC0415

    spec = load_scenario(scenario)
    if workers is not None:
        spec = dataclasses.replace(spec, workers=workers)  # checked as the file's would be
    console = Console(stderr=True)
    out = out or Path("sim-results") / spec.name
    started = time.perf_counter()
    with _progress_bar(console) as bar:
        task = bar.add_task("virtual s", total=spec.duration, rate="")

        def progress(done: float, total: float, posts: int) -> None:
            wall = time.perf_counter() - started
            rate = f"{done / wall:.0f}× real time, {posts} posts" if wall > 0 else ""
            bar.update(task, completed=done, total=total, rate=rate)

        trace = run_scenario(spec, progress)
    numbers = summarise(trace)
    found = checks(trace, numbers)
    write_results(trace, numbers, found, out, plots=not no_plots)
    if as_json:
        public = {
            k: v
            for k, v in numbers.items()
            if not k.startswith("_") and "per_node" not in k and k != "pool_size"
        }
        public["checks"] = [
            {
                "name": c.name,
                "measured": c.measured,
                "low": c.low,
                "high": c.high,
                "passed": c.passed,
            }
            for c in found
        ]
        public["out"] = str(out)
        click.echo(json.dumps(public, sort_keys=True))
        return
    latency = numbers["latency_s"]
    click.echo(
        f"{spec.name}: {trace.topology.nodes} nodes ({trace.topology.kind}), "
        f"{numbers['posts']} posts, {trace.virtual_seconds:.0f} virtual s in "
        f"{trace.wall_seconds:.1f} s wall, peak RSS {trace.peak_rss_mb:.0f} MB"
    )
    if trace.parallel is not None:
        par = trace.parallel
        click.echo(
            f"{par['workers']} workers: nodes {par['nodes']}, {par['edge_cut']} of "
            f"{par['edges']} edges cut, {par['barriers'][0]} barriers every ≥ "
            f"{par['lookahead_s'] * 1000:g} ms, CPU s {par['cpu_seconds']}, waiting at "
            f"barriers {par['barrier_wait_s']} s, peak RSS MB {par['peak_rss_mb']}"
        )
    ratio = numbers["delivery_ratio"]
    click.echo(
        f"delivery {'n/a' if ratio is None else f'{ratio:.4f}'} of "
        f"{numbers['pairs_wanted']} pairs; latency p50 {_s(latency['p50'])} "
        f"p90 {_s(latency['p90'])} p99 {_s(latency['p99'])} max {_s(latency['max'])}; "
        f"duplicate factor {numbers['duplicate_factor']:.2f}"
    )
    catch_up = numbers["catch_up"]
    if catch_up is not None:
        held = catch_up["held_pairs_delivered_ratio"]
        click.echo(
            f"catch-up: {catch_up['completed']}/{catch_up['fetches']} fetches, "
            f"{catch_up['envelopes']} envelopes, p50 {_s(catch_up['latency_s']['p50'])}; "
            f"held pairs delivered {'n/a' if held is None else f'{held:.4f}'} of "
            f"{catch_up['held_pairs']}"
        )
    for check in found:
        click.echo(check.line())
    click.echo(f"results in {out}/")


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"


def _spies(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected fractions like 0.1,0.2, got {text!r}") from None


@group.command(name="darkness")
@click.option("--nodes", type=int, default=1000, show_default=True, help="Graph size N.")
@click.option("--degree", type=int, default=8, show_default=True, help="d of the d-regular graph.")
@click.option(
    "--spies",
    default="0.1,0.2",
    show_default=True,
    help="Spy fractions p, comma-separated (⌊pN⌋ spies, never the source).",
)
@click.option("--seeds", type=int, default=5, show_default=True, help="Graph seeds (≥ 5 for CIs).")
@click.option(
    "--policy",
    default="geth",
    show_default=True,
    help=f"Relay policy: {', '.join(sorted(POLICIES))}.",
)
@click.option(
    "--sources",
    type=int,
    default=None,
    help="Messages per graph and p (default: one per honest node).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed.")
@click.option(
    "--black-holes",
    is_flag=True,
    help="Spies drop the stem hops they get (multi-hop policies: hops, hops-tick, hops25 and "
    "hops50, the last two with 25 / 50 % hush nodes and messages from hush nodes only).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def darkness_command(
    nodes: int,
    degree: int,
    spies: str,
    seeds: int,
    policy: str,
    sources: int | None,
    seed: int,
    black_holes: bool,
    as_json: bool,
) -> None:
    """Who can tell the sender (simulation.md §6): spies log the first (time, sender) of every
    copy; first-spy, graph-aware least-squares and stem-aware estimators; precision, posterior
    entropy, reach p50/p95, copies per node; mean ± 95 % CI over graph seeds. Runs the first-arrival propagation engine
    under the policy's per-hop timing (validated against real nodes in tests/sim)."""
    from hush.sim.darkness import DarknessConfig, run_darkness  # noqa: PLC0415

    config = DarknessConfig(
        nodes=nodes,
        degree=degree,
        spies=_spies(spies),
        seeds=seeds,
        policy=policy,
        sources=sources,
        seed=seed,
        black_holes=black_holes,
    )
    console = Console(stderr=True)
    with _progress_bar(console) as bar:
        task = bar.add_task("messages", total=1, rate="")
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            wall = time.perf_counter() - started
            bar.update(
                task,
                completed=done,
                total=total,
                rate=f"{done / wall:.0f} msg/s" if wall > 0 else "",
            )

        report = run_darkness(config, progress, time.perf_counter)
    if as_json:
        click.echo(json.dumps(_jsonable(report.to_json()), sort_keys=True))
        return
    _print_report(report)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _print_report(report: DarknessReport) -> None:
    c = report.config
    click.echo(f"darkness: policy {c.policy} ({report.policy_description})")
    click.echo(
        f"{c.nodes} nodes, {c.degree}-regular, {c.seeds} graph seeds, latency "
        f"U({c.latency[0] * 1000:.0f}, {c.latency[1] * 1000:.0f}) ms per directed link; "
        f"engine: {report.engine}; {report.wall_seconds:.1f} s"
    )

    def e(est: Any, unit: str = "") -> str:
        half = "" if math.isnan(est.ci95) else f" ±{est.ci95:.3f}"
        return f"{est.mean:.3f}{half}{unit}"

    unit = " hops" if c.policy == "sync" else " s"  # sync flooding counts unit hops
    for r in report.results:
        click.echo(f"p = {r.p:g} ({r.spies} spies, {r.messages} messages):")
        click.echo(
            f"  P_detect first-spy {e(r.first_spy)}  graph-aware LS {e(r.graph_aware)}"
            f"  (sync formula 1−(1−p)^d = {r.sync_formula:.3f})"
        )
        click.echo(
            f"  precision first-spy {e(r.precision_first_spy)}  LS "
            f"{e(r.precision_graph_aware)}  entropy {e(r.entropy_bits, ' bits')}"
        )
        click.echo(
            f"  stem-aware {e(r.stem_aware)}  precision {e(r.precision_stem_aware)}  entropy "
            f"{e(r.entropy_stem_bits, ' bits')}  (all-lite formula p+(1−p)/(1+(d−1)(1−p)) = "
            f"{r.stem_formula:.3f})"
        )
        click.echo(f"  reach 50 % {e(r.reach_p50_s, unit)}  95 % {e(r.reach_p95_s, unit)}")
        if not math.isnan(r.copies_per_node.mean):
            click.echo(f"  copies received per node per envelope {e(r.copies_per_node)}")
