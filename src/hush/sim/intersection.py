"""The intersection attack on a topic-linked user (simulation.md §5.4, §7 G2-b).

Topics travel in clear, so the colluding spies of §6.1 can group one user's envelopes and
combine what each of them says. Under the one-hop stem each post's stem-aware candidate set
(`hush.sim.darkness.stem_candidates`) is the stem copy's sender, or the honest neighbours of the
fluff origin — the stem peer r. With r fixed (hush: per connection, at most a day) every post
points at the same neighbourhood N(r), which the source shares with its ~(1−p)(d−1) honest
co-neighbours; with r re-drawn (per message or every few minutes) the sets N(r₁), N(r₂), …
have only the source in common, and it is soon unique.

The adversary scores every node over the user's posts, two ways (`AGGREGATIONS`): the number
of candidate sets that hold it (an intersection that tolerates a post whose first copy came
from elsewhere), or its probability mass Σ 1/|set|; its answer is the set of top-scoring
nodes. The user is *uniquely identified* when that set is the user alone.

Model (pure, seeded): per graph seed a random d-regular graph, U(low, high) latencies and geth
phases (fixed: the links stay up all day), the `stem` policy of `hush.sim.spread` for the
user and geth everywhere else, ⌊pN⌋ spies drawn once; `users` honest users per graph each post
`posts` envelopes on their topic, every `interval` seconds; a stem peer is kept for `epoch`
seconds (uniform over the user's peers, drawn again when the epoch ends), each post's embargo is
drawn anew. Posts don't interact (one envelope in flight at a time).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hush.errors import UsageError
from hush.sim.darkness import Estimate, stem_candidates, stem_window
from hush.sim.spread import STEM, Graph, StemSpread, propagate, stem_embargo
from hush.sim.topologies import regular
from hush.validation import check_int, check_number

__all__ = [
    "AGGREGATIONS",
    "DAY",
    "IntersectionConfig",
    "IntersectionResult",
    "Verdict",
    "run_intersection",
]

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class IntersectionConfig:
    nodes: int = 1000
    degree: int = 8
    p: float = 0.1
    """Spy fraction."""
    seeds: int = 5
    """Graph seeds."""
    users: int = 10
    """Users followed per graph (honest, distinct, seeded)."""
    hours: float = 24.0
    """How long each user posts."""
    interval: float = 600.0
    """Seconds between a user's posts (one topic): 144 posts in 24 h by default."""
    epoch: float = DAY
    """Seconds a stem peer is kept (hush: per connection, ≤ a day); ≤ `interval`: per post."""
    latency: tuple[float, float] = (0.02, 0.12)
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("nodes", self.nodes, 3, 100_000)
        check_int("degree", self.degree, 1, self.nodes - 1)
        check_int("seeds", self.seeds, 1, 1000)
        check_number("p", self.p, 0, 0.9, positive=True)
        if math.floor(self.p * self.nodes) < 1:
            raise UsageError(f"invalid p: {self.p} of {self.nodes} nodes is no spy at all")
        check_int("users", self.users, 1, self.nodes - math.floor(self.p * self.nodes))
        check_number("hours", self.hours, 0, 24 * 365, positive=True)
        check_number("interval", self.interval, 0, DAY * 365, positive=True)
        check_number("epoch", self.epoch, 0, DAY * 365, positive=True)
        if self.hours * 3600 / self.interval > 100_000:
            raise UsageError("invalid interval: more than 100,000 posts per user")

    @property
    def posts(self) -> int:
        return max(1, math.floor(self.hours * 3600 / self.interval))


AGGREGATIONS = ("count", "mass", "ball")
"""How the adversary combines a user's posts: `count`, the nodes in the most candidate sets
(a noise-tolerant intersection); `mass`, the nodes with the most Σ 1/|set| (a singleton set —
a stem copy's sender — weighs a whole post, a neighbourhood 1/|N| each)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """One aggregation's outcome over the users of every graph seed (fractions per seed)."""

    identified: Estimate
    """The final set is the user alone."""
    in_set: Estimate
    """The user is in the final set."""
    set_size: Estimate
    """Mean size of the final set."""
    posts_to_unique: float
    """Median posts until the final set is the user alone for good (inf: never)."""


@dataclass(frozen=True, slots=True)
class IntersectionResult:
    config: IntersectionConfig
    verdicts: dict[str, Verdict]
    """By aggregation (`AGGREGATIONS`)."""
    stem_peer_spy: Estimate
    """Fraction of users whose first stem peer is a spy (their stem copies name them)."""
    users: int
    posts: int


@dataclass(slots=True)
class _Tally:
    scores: dict[int, float]
    since: int | None = None
    final: frozenset[int] = frozenset()

    def add(self, candidates: list[int], weight: float, user: int, post: int) -> None:
        scores = self.scores
        for v in candidates:
            scores[v] = scores.get(v, 0.0) + weight
        top = max(scores.values())
        self.final = frozenset(v for v, c in scores.items() if c >= top - 1e-9)
        if self.final == {user}:
            if self.since is None:
                self.since = post + 1
        else:
            self.since = None


def _user(
    spread: StemSpread,
    graph: Graph,
    spy_mask: npt.NDArray[np.bool_],
    spies: npt.NDArray[np.int64],
    user: int,
    config: IntersectionConfig,
    rng: random.Random,
) -> tuple[dict[str, _Tally], bool]:
    """One user's day: each aggregation's tally, and whether the first stem peer was a spy."""
    window = stem_window(config.latency)
    degree = len(graph.neighbours[user])
    per_epoch = max(1, math.floor(config.epoch / config.interval))
    tallies = {name: _Tally({}) for name in AGGREGATIONS}
    k = rng.randrange(degree)
    spy_peer = bool(spy_mask[graph.neighbours[user][k]])
    for post in range(config.posts):
        if post and post % per_epoch == 0:
            k = rng.randrange(degree)
        run = propagate(spread.with_stem(user, k, stem_embargo(rng)), graph.nodes, user)
        times = np.asarray(run.times)
        senders = np.asarray(run.senders, dtype=np.int64)
        first = int(spies[int(np.argmin(times[spies]))])
        candidates, _ = stem_candidates(graph.neighbours, spy_mask, times, senders, first, window)
        tallies["count"].add(candidates, 1.0, user, post)
        tallies["mass"].add(candidates, 1 / len(candidates), user, post)
        u = int(senders[first])
        tallies["ball"].add(
            [u, *(v for v in graph.neighbours[u] if not spy_mask[v])], 1.0, user, post
        )
    return tallies, spy_peer


def run_intersection(
    config: IntersectionConfig, progress: Callable[[int, int], None] | None = None
) -> IntersectionResult:
    """Every graph seed's users; `progress(done, total)` after each user."""
    per_seed: dict[str, dict[str, list[float]]] = {
        name: {"identified": [], "in_set": [], "set_size": []} for name in AGGREGATIONS
    }
    to_unique: dict[str, list[float]] = {name: [] for name in AGGREGATIONS}
    spy_stem: list[float] = []
    total, done = config.seeds * config.users, 0
    for g in range(config.seeds):
        rng = random.Random(config.seed * 1_000_003 + g)
        graph = Graph.build(
            config.nodes, regular(config.nodes, config.degree, rng).edges, rng, config.latency
        )
        spread = STEM.spread(graph, rng)
        assert isinstance(spread, StemSpread)
        spies = np.array(
            sorted(rng.sample(range(config.nodes), math.floor(config.p * graph.nodes)))
        )
        spy_mask = np.zeros(config.nodes, dtype=bool)
        spy_mask[spies] = True
        honest = [v for v in range(config.nodes) if not spy_mask[v]]
        seen: dict[str, list[tuple[bool, bool, int]]] = {name: [] for name in AGGREGATIONS}
        caught = 0
        for user in rng.sample(honest, config.users):
            user_rng = random.Random(rng.getrandbits(64))
            tallies, spy_peer = _user(spread, graph, spy_mask, spies, user, config, user_rng)
            caught += spy_peer
            for name, tally in tallies.items():
                seen[name].append((tally.final == {user}, user in tally.final, len(tally.final)))
                to_unique[name].append(math.inf if tally.since is None else float(tally.since))
            done += 1
            if progress is not None:
                progress(done, total)
        for name, rows in seen.items():
            per_seed[name]["identified"].append(statistics.fmean(r[0] for r in rows))
            per_seed[name]["in_set"].append(statistics.fmean(r[1] for r in rows))
            per_seed[name]["set_size"].append(statistics.fmean(r[2] for r in rows))
        spy_stem.append(caught / config.users)
    verdicts = {
        name: Verdict(
            Estimate.of(values["identified"]),
            Estimate.of(values["in_set"]),
            Estimate.of(values["set_size"]),
            statistics.median(to_unique[name]),
        )
        for name, values in per_seed.items()
    }
    return IntersectionResult(config, verdicts, Estimate.of(spy_stem), total, config.posts)
