"""Who can tell the sender: the adversary, estimators and metrics of simulation.md §6.

* **Adversary** (§6.1): ⌊pN⌋ spies, uniformly random, never the source; they follow the protocol
  and log the first (time, sender) of every envelope.
* **Messages**: one per honest node per graph (needed for precision), or a seeded sample of
  `sources` of them; graphs are random d-regular, one per seed.
* **Estimators** (§6.2): *first-spy* (the sender of the earliest spy observation), the
  *graph-aware timing least squares* (argmin over honest candidates c of Var_s(t_s − β·D[c, s]),
  D the hop matrix, β the policy's mean per-hop delay) and the *stem-aware* estimator of an
  adversary who knows the one-hop stem (`stem_aware`): a node that sent the first copy to one
  spy only, no copy to its other spy neighbours within a tick (+ the latency spread), sent a
  stem copy, its own post: guess it; a node that flooded is the fluff origin (the stem peer):
  guess uniformly among its honest neighbours.
* **Metrics** (§6.3): P_detect (recall) per estimator, precision (Dandelion: the mean over
  honest nodes v of 1[v's message → v] / #messages attributed to v), posterior entropy (log2 of
  the least-squares candidate set: candidates with |S|·(V_c/V_min − 1) ≤ χ²₁(0.95) = 3.84),
  reach p50/p95 (time to reach 50 % / 95 % of honest nodes), copies each node receives per
  envelope (`spread.copies_received`, on up to `COPIES_SAMPLE` messages per graph; nan for a
  policy without a departure model). Mean and a 95 % t-interval over graph seeds.

Propagation is `hush.sim.spread`'s first-arrival engine under the policy's per-hop timing.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hush.errors import UsageError
from hush.sim.confidence import mean_ci
from hush.sim.spread import GETH_TICK_SECONDS, Graph, copies_received, policy_named, propagate
from hush.sim.topologies import regular
from hush.validation import check_int, check_number

__all__ = [
    "COPIES_SAMPLE",
    "DarknessConfig",
    "DarknessReport",
    "Estimate",
    "run_darkness",
    "stem_aware",
    "stem_candidates",
    "stem_formula",
    "stem_window",
    "sync_detect",
]

COPIES_SAMPLE = 100
"""Messages per graph whose copies are counted (the count is a Python loop over all links)."""

_CHI2_95 = 3.841

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class DarknessConfig:
    nodes: int = 1000
    degree: int = 8
    spies: tuple[float, ...] = (0.1, 0.2)
    """Spy fractions p."""
    seeds: int = 5
    """Graph seeds (one random regular graph, latencies and phases each)."""
    policy: str = "geth"
    latency: tuple[float, float] = (0.02, 0.12)
    """One-way link latency U(low, high) seconds, fixed per directed link (§6.1)."""
    sources: int | None = None
    """Messages per graph and p: every honest node (None) or a seeded sample of this many."""
    seed: int = 0
    black_holes: bool = False
    """Spies drop the stem hops they receive (a policy with `with_spies`, e.g. `hops`)."""

    def __post_init__(self) -> None:
        # The graph-aware estimator keeps the all-pairs hop matrix: N² entries.
        check_int("nodes", self.nodes, 3, 5000)
        check_int("degree", self.degree, 1, self.nodes - 1)
        check_int("seeds", self.seeds, 1, 1000)
        if not self.spies:
            raise UsageError("invalid spies: give at least one fraction")
        for p in self.spies:
            check_number("spies", p, 0, 0.9, positive=True)
            if math.floor(p * self.nodes) < 1:
                raise UsageError(f"invalid spies: {p} of {self.nodes} nodes is no spy at all")
        low, high = self.latency
        check_number("latency low", low, 0, 60)
        check_number("latency high", high, low, 60)
        if self.sources is not None:
            check_int("sources", self.sources, 1, self.nodes)
        policy_named(self.policy)


@dataclass(frozen=True, slots=True)
class Estimate:
    """Mean over graph seeds, 95 % half-width, and the per-seed values."""

    mean: float
    ci95: float
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: list[float]) -> Estimate:
        mean = statistics.fmean(values)
        if len(values) < 2 or math.isnan(mean):
            return cls(mean, math.nan, tuple(values))
        half = mean_ci(values).half
        assert half is not None  # two values or more
        return cls(mean, half, tuple(values))


@dataclass(frozen=True, slots=True)
class SpyResult:
    p: float
    spies: int
    messages: int
    first_spy: Estimate
    graph_aware: Estimate
    precision_first_spy: Estimate
    precision_graph_aware: Estimate
    entropy_bits: Estimate
    reach_p50_s: Estimate
    reach_p95_s: Estimate
    sync_formula: float
    """1 − (1−p)^d: exact for synchronous flooding."""
    stem_aware: Estimate
    precision_stem_aware: Estimate
    entropy_stem_bits: Estimate
    """log2 of the stem-aware candidate set (1 node: the stem copy's sender; else the fluff
    origin's honest neighbours)."""
    copies_per_node: Estimate
    """Copies of an envelope each node receives, first one included (nan: not modelled)."""
    stem_formula: float
    """p + (1−p)/(1 + (d−1)(1−p)): §6.2's analytic stem-aware P_detect for an all-lite network."""


@dataclass(frozen=True, slots=True)
class DarknessReport:
    config: DarknessConfig
    engine: str
    policy_description: str
    results: tuple[SpyResult, ...]
    wall_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sync_detect(p: float, degree: int) -> float:
    return 1 - (1 - p) ** degree


def stem_formula(p: float, degree: int) -> float:
    return p + (1 - p) / (1 + (degree - 1) * (1 - p))


def stem_candidates(
    neighbours: tuple[tuple[int, ...], ...],
    spy_mask: npt.NDArray[np.bool_],
    times: npt.NDArray[np.float64],
    senders: npt.NDArray[np.int64],
    first_spy: int,
    window: float,
) -> tuple[list[int], bool]:
    """The stem-aware candidate set of one message (`times` / `senders`: each node's
    first-copy time and sender; `first_spy`: the spy with the earliest copy). u, the sender of
    that first copy, is taken for the source when none of u's other spy neighbours got a first
    copy from u within `window` seconds of it (the stem copy goes to one peer alone; a relay
    sends to all its peers within one tick); otherwise u flooded, so it is the fluff origin
    and the source is one of u's honest neighbours (u itself when it has none). Returns the
    set and whether the first copy was taken for a stem copy."""
    u = int(senders[first_spy])
    until = times[first_spy] + window
    if not any(
        v != first_spy and spy_mask[v] and senders[v] == u and times[v] <= until
        for v in neighbours[u]
    ):
        return [u], True
    return [v for v in neighbours[u] if not spy_mask[v]] or [u], False


def stem_aware(
    neighbours: tuple[tuple[int, ...], ...],
    spy_mask: npt.NDArray[np.bool_],
    times: npt.NDArray[np.float64],
    senders: npt.NDArray[np.int64],
    first_spy: npt.NDArray[np.int64],
    rng: random.Random,
    window: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Every message's stem-aware guess (uniform over `stem_candidates`) and candidate-set
    size; row m of `times` / `senders` is message m, `first_spy[m]` its first spy."""
    guesses = np.empty(len(first_spy), dtype=np.int64)
    sizes = np.empty(len(first_spy), dtype=np.float64)
    for m, spy in enumerate(first_spy.tolist()):
        candidates, stem_copy = stem_candidates(
            neighbours, spy_mask, times[m], senders[m], spy, window
        )
        guesses[m] = candidates[0] if stem_copy else rng.choice(candidates)
        sizes[m] = len(candidates)
    return guesses, sizes


def stem_window(latency: tuple[float, float]) -> float:
    """How far apart a geth relay's copies to its peers can arrive: one tick plus the latency
    spread."""
    return GETH_TICK_SECONDS + latency[1] - latency[0]


def _hops(neighbours: tuple[tuple[int, ...], ...]) -> npt.NDArray[np.int16]:
    """All-pairs hop counts by frontier expansion on the adjacency matrix."""
    n = len(neighbours)
    adjacency = np.zeros((n, n), dtype=np.float32)
    for u, row in enumerate(neighbours):
        adjacency[u, list(row)] = 1.0
    hops = np.full((n, n), -1, dtype=np.int16)
    np.fill_diagonal(hops, 0)
    reached = np.eye(n, dtype=bool)
    frontier = np.eye(n, dtype=np.float32)
    for step in range(1, n):
        nxt = (frontier @ adjacency > 0) & ~reached
        if not nxt.any():
            break
        hops[nxt] = step
        reached |= nxt
        frontier = nxt.astype(np.float32)
    return hops


def _precision(guesses: npt.NDArray[np.int64], truth: npt.NDArray[np.int64]) -> float:
    counts = np.bincount(guesses, minlength=int(max(guesses.max(), truth.max())) + 1)
    right = guesses == truth
    return float(np.sum(right / np.maximum(counts[guesses], 1)) / len(truth))


def _one_graph(
    config: DarknessConfig, graph_seed: int, on_message: Callable[[], None]
) -> list[dict[str, float]]:
    rng = random.Random(config.seed * 1_000_003 + graph_seed)
    topology = regular(config.nodes, config.degree, rng)
    graph = Graph.build(config.nodes, topology.edges, rng, config.latency)
    spread = policy_named(config.policy).spread(graph, rng)
    hops = _hops(graph.neighbours).astype(np.float64)
    cache: dict[int, tuple[list[float], list[int]]] = {}
    copies: dict[int, float] = {}
    # Its own stream: drawing from `rng` would move every later spy and source draw.
    guess_rng = random.Random(f"stem-aware {config.seed} {graph_seed}")
    window = stem_window(config.latency)
    rows = []
    for p in config.spies:
        spies = np.array(sorted(rng.sample(range(config.nodes), math.floor(p * config.nodes))))
        spy_set = set(spies.tolist())
        honest = np.array([v for v in range(config.nodes) if v not in spy_set])
        sources = honest.tolist()
        # A policy whose spread depends on the spies (black holes) or posts from some nodes only.
        spied, runs = spread, cache
        if (with_spies := getattr(spread, "with_spies", None)) is not None:
            spied = with_spies(frozenset(spy_set), config.black_holes)
            runs = cache if spied is spread else {}
            if (posters := getattr(spied, "posters", None)) is not None:
                sources = [v for v in sources if v in posters]
        elif config.black_holes:
            raise UsageError(f"invalid black_holes: policy {config.policy} has no stem to drop")
        if config.sources is not None and config.sources < len(sources):
            sources = sorted(rng.sample(sources, config.sources))
        times = np.empty((len(sources), config.nodes))
        senders = np.empty((len(sources), config.nodes), dtype=np.int64)
        for i, source in enumerate(sources):
            if source not in runs:
                run = propagate(spied, config.nodes, source)
                runs[source] = (run.times, run.senders)
                if len(copies) < COPIES_SAMPLE:
                    counted = copies_received(spied, graph, run)
                    copies[source] = math.nan if counted is None else sum(counted) / config.nodes
                on_message()
            times[i], senders[i] = runs[source]
        truth = np.array(sources, dtype=np.int64)
        spy_times = times[:, spies]
        first = np.argmin(spy_times, axis=1)
        first_guess = senders[np.arange(len(sources)), spies[first]]
        spy_mask = np.zeros(config.nodes, dtype=bool)
        spy_mask[spies] = True
        stem_guess, stem_sizes = stem_aware(
            graph.neighbours, spy_mask, times, senders, spies[first], guess_rng, window
        )
        # Least squares: V[m, c] = Var(T_m) − 2β·Cov(T_m, D_c) + β²·Var(D_c), over spies.
        beta = spread.beta
        t_centred = spy_times - spy_times.mean(axis=1, keepdims=True)
        d = hops[np.ix_(honest, spies)]
        d_centred = d - d.mean(axis=1, keepdims=True)
        n_spies = len(spies)
        variance = (
            (t_centred**2).mean(axis=1)[:, None]
            - 2 * beta * (t_centred @ d_centred.T) / n_spies
            + beta**2 * (d_centred**2).mean(axis=1)[None, :]
        )
        variance = np.maximum(variance, 0.0)
        best = np.argmin(variance, axis=1)
        ls_guess = honest[best]
        v_min = np.maximum(variance[np.arange(len(sources)), best], 1e-12)
        in_set = n_spies * (variance / v_min[:, None] - 1) <= _CHI2_95
        entropy = float(np.mean(np.log2(in_set.sum(axis=1))))
        honest_times = times[:, honest]
        reach50 = np.quantile(honest_times, 0.5, axis=1, method="inverted_cdf")
        reach95 = np.quantile(honest_times, 0.95, axis=1, method="inverted_cdf")
        rows.append(
            {
                "first_spy": float(np.mean(first_guess == truth)),
                "graph_aware": float(np.mean(ls_guess == truth)),
                "precision_first_spy": _precision(first_guess, truth),
                "precision_graph_aware": _precision(ls_guess.astype(np.int64), truth),
                "entropy_bits": entropy,
                "reach_p50_s": float(np.mean(reach50)),
                "reach_p95_s": float(np.mean(reach95)),
                "stem_aware": float(np.mean(stem_guess == truth)),
                "precision_stem_aware": _precision(stem_guess, truth),
                "entropy_stem_bits": float(np.mean(np.log2(stem_sizes))),
                "copies_per_node": statistics.fmean(
                    [copies[s] for s in sources if s in copies] or [math.nan]
                ),
                "messages": float(len(sources)),
                "spies": float(n_spies),
            }
        )
    return rows


def run_darkness(
    config: DarknessConfig,
    progress: Progress | None = None,
    clock: Callable[[], float] | None = None,
) -> DarknessReport:
    """Every seed's graph, every p; `progress(done, total)` after each propagation."""
    started = clock() if clock is not None else 0.0
    per_graph = (
        config.nodes
        if config.sources is None
        else min(config.nodes, config.sources * len(config.spies))
    )
    total = per_graph * config.seeds
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    graphs = [_one_graph(config, g, tick) for g in range(config.seeds)]
    results = []
    for i, p in enumerate(config.spies):

        def est(key: str, i: int = i) -> Estimate:
            return Estimate.of([rows[i][key] for rows in graphs])

        results.append(
            SpyResult(
                p=p,
                spies=int(graphs[0][i]["spies"]),
                messages=int(sum(rows[i]["messages"] for rows in graphs)),
                first_spy=est("first_spy"),
                graph_aware=est("graph_aware"),
                precision_first_spy=est("precision_first_spy"),
                precision_graph_aware=est("precision_graph_aware"),
                entropy_bits=est("entropy_bits"),
                reach_p50_s=est("reach_p50_s"),
                reach_p95_s=est("reach_p95_s"),
                sync_formula=sync_detect(p, config.degree),
                stem_aware=est("stem_aware"),
                precision_stem_aware=est("precision_stem_aware"),
                entropy_stem_bits=est("entropy_stem_bits"),
                copies_per_node=est("copies_per_node"),
                stem_formula=stem_formula(p, config.degree),
            )
        )
    policy = policy_named(config.policy)
    return DarknessReport(
        config,
        "first-arrival propagation engine (hush.sim.spread), per-hop timing of the relay policy",
        policy.description,
        tuple(results),
        (clock() - started) if clock is not None else 0.0,
    )
