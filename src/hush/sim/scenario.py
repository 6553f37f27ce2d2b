"""A simulation scenario: frozen dataclasses, loaded from TOML with one-line errors.

```toml
name = "quick"
seed = 1
duration = 60.0          # virtual seconds after every link is up
relay = "push"           # push | geth | mix (geth_fraction of the nodes on geth's tick)
geth_fraction = 0.5
rlpx = false             # real RLPx on every link (slower, for fidelity)
stem = true              # hush nodes' one-hop stem for own posts (default: the node's); geth nodes: off
sample_every = 5.0       # pool-size sampling period, virtual seconds
workers = 1              # processes (1 or 2) that run the nodes (`hush.sim.parallel`)

[topology]               # kind: regular | barabasi-albert | star | ring | full-mesh | fleet
kind = "regular"
nodes = 30               # for a fleet: the full relay nodes
degree = 6               # regular
attach = 3               # barabasi-albert
light = 0                # fleet: light leaves
uplinks = [1, 2]         # fleet: uplinks per leaf

[links]                  # latency: constant (seconds) | uniform (low, high) | lognormal (median, sigma)
latency = "lognormal"
median = 0.05
sigma = 0.5
bandwidth = 1_000_000    # bytes/s per direction; 0: unlimited
loss = 0.0

[workload]               # kind: gossip | quicksim | vac | chat
kind = "gossip"
messages = 30            # gossip, quicksim (random-topic envelopes)
topics = 5
publish_over = 30.0      # gossip: seconds over which messages are posted
ttl = 60
rate = 50.0              # vac: messages/s; chat: messages per node per hour
publishers = 10          # vac
payload = 8              # vac / chat payload bytes

[churn]                  # a fraction of the nodes go offline and come back
fraction = 0.0           # of the nodes that run no archive server
online = 60.0            # mean seconds online (exponential)
offline = 20.0           # mean seconds offline (exponential)
catch_up = false         # back online, ask an archive server for what was missed

[archive]                # archive ("mail") servers: real hush.archive, SQLite in a temp dir
servers = 0              # how many (the best-connected full nodes; they never churn)
mode = "direct"          # the history client's request: direct | v2 | v1 | raw
overlap = 70             # seconds the window starts before the node went offline
timeout = 10.0           # seconds a history page may take

[skew]
seconds = 0.0            # each node's clock off by U(-seconds, +seconds)
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hush.errors import UsageError
from hush.net.memory import Constant, LinkModel, LogNormal, Uniform
from hush.sim.topologies import KINDS
from hush.validation import check_bool, check_choice, check_int, check_number, check_text

__all__ = [
    "RELAYS",
    "ArchiveSpec",
    "ChurnSpec",
    "SkewSpec",
    "WORKLOADS",
    "LinksSpec",
    "Scenario",
    "TopologySpec",
    "WorkloadSpec",
    "load_scenario",
    "parse_scenario",
]

RELAYS = ("push", "geth", "mix")
WORKLOADS = ("gossip", "quicksim", "vac", "chat")
LATENCIES = ("constant", "uniform", "lognormal")
HISTORY_MODES = ("direct", "v2", "v1", "raw")


@dataclass(frozen=True, slots=True)
class TopologySpec:
    kind: str = "regular"
    nodes: int = 30
    degree: int = 6
    attach: int = 3
    light: int = 0
    uplinks: tuple[int, int] = (1, 2)

    def __post_init__(self) -> None:
        check_choice("topology.kind", self.kind, KINDS)
        check_int("topology.nodes", self.nodes, 1, 20_000)
        check_int("topology.degree", self.degree, 1, 1000)
        check_int("topology.attach", self.attach, 1, 1000)
        check_int("topology.light", self.light, 0, 20_000)
        low, high = self.uplinks
        check_int("topology.uplinks low", low, 1, 1000)
        check_int("topology.uplinks high", high, low, 1000)


@dataclass(frozen=True, slots=True)
class LinksSpec:
    latency: str = "lognormal"
    seconds: float = 0.05
    low: float = 0.02
    high: float = 0.12
    median: float = 0.05
    sigma: float = 0.5
    bandwidth: float | None = 1_000_000.0
    loss: float = 0.0

    def __post_init__(self) -> None:
        check_choice("links.latency", self.latency, LATENCIES)
        self.model()  # LinkModel checks every number

    def model(self) -> LinkModel:
        latency: Constant | Uniform | LogNormal
        if self.latency == "constant":
            latency = Constant(self.seconds)
        elif self.latency == "uniform":
            latency = Uniform(self.low, self.high)
        else:
            latency = LogNormal(self.median, self.sigma)
        bandwidth = self.bandwidth or None  # 0: unlimited (TOML has no null)
        return LinkModel(latency, bandwidth=bandwidth, loss=self.loss)

    def bounds(self) -> tuple[float, float]:
        """Least and most one-way latency of a segment."""
        if self.latency == "constant":
            return (self.seconds, self.seconds)
        if self.latency == "uniform":
            return (self.low, self.high)
        return (0.0, LogNormal(self.median, self.sigma).cap)


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    kind: str = "gossip"
    messages: int = 30
    topics: int = 5
    publish_over: float = 30.0
    ttl: int = 60
    rate: float = 50.0
    publishers: int = 10
    payload: int = 8

    def __post_init__(self) -> None:
        check_choice("workload.kind", self.kind, WORKLOADS)
        check_int("workload.messages", self.messages, 0, 1_000_000)
        check_int("workload.topics", self.topics, 1, 100_000)
        check_number("workload.publish_over", self.publish_over, 0, 86_400)
        check_int("workload.ttl", self.ttl, 1, 86_400)
        check_number("workload.rate", self.rate, 0, 10_000, positive=True)
        check_int("workload.publishers", self.publishers, 1, 100_000)
        check_int("workload.payload", self.payload, 1, 100_000)


@dataclass(frozen=True, slots=True)
class ChurnSpec:
    """Nodes going offline and back: a seeded `fraction` of the nodes alternate online
    (Exp(mean `online`) seconds) and offline (Exp(mean `offline`) seconds, every link dropped);
    back online, the peers' first turns send the whole pool (catch-up within the TTL), and with
    `catch_up` the node asks an archive server (`[archive]`) for the window it missed."""

    fraction: float = 0.0
    online: float = 60.0
    offline: float = 20.0
    catch_up: bool = False

    def __post_init__(self) -> None:
        check_number("churn.fraction", self.fraction, 0, 1)
        check_number("churn.online", self.online, 0, 86_400, positive=True)
        check_number("churn.offline", self.offline, 0, 86_400, positive=True)
        check_bool("churn.catch_up", self.catch_up)


@dataclass(frozen=True, slots=True)
class ArchiveSpec:
    """Archive ("mail") servers: `servers` full nodes (the best-connected; they never churn)
    run the real `hush.archive.server.ArchiveServer` on SQLite in a temporary directory;
    churning nodes with `churn.catch_up` fetch what they missed with the real
    `hush.archive.client.HistoryClient` (its own session to the server, over the simulated
    network) in request form `mode`, from `overlap` seconds before they went offline."""

    servers: int = 0
    mode: str = "direct"
    overlap: int = 70
    timeout: float = 10.0

    def __post_init__(self) -> None:
        check_int("archive.servers", self.servers, 0, 100)
        check_choice("archive.mode", self.mode, HISTORY_MODES)
        check_int("archive.overlap", self.overlap, 0, 86_400)
        check_number("archive.timeout", self.timeout, 0, 3600, positive=True)


@dataclass(frozen=True, slots=True)
class SkewSpec:
    """Clock skew: every node's wall clock is off by U(−seconds, +seconds) (its own, fixed)."""

    seconds: float = 0.0

    def __post_init__(self) -> None:
        check_number("skew.seconds", self.seconds, 0, 3600)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str = "scenario"
    seed: int = 0
    duration: float = 60.0
    relay: str = "push"
    geth_fraction: float = 0.5
    rlpx: bool = False
    stem: bool | None = None
    """One-hop stem for own posts on hush (push) nodes (`NodeConfig.stem`); None: the node's
    default. geth-tick nodes never run it (geth has none)."""
    sample_every: float = 5.0
    workers: int = 1
    """Processes that run the nodes, 1 or 2 (`hush.sim.parallel`: a conservative parallel
    simulation; needs a positive minimum link latency and refuses churn, archives, RLPx)."""
    topology: TopologySpec = field(default_factory=TopologySpec)
    links: LinksSpec = field(default_factory=LinksSpec)
    workload: WorkloadSpec = field(default_factory=WorkloadSpec)
    churn: ChurnSpec = field(default_factory=ChurnSpec)
    skew: SkewSpec = field(default_factory=SkewSpec)
    archive: ArchiveSpec = field(default_factory=ArchiveSpec)

    def __post_init__(self) -> None:
        check_text("name", self.name, 80)
        check_int("seed", self.seed, 0)
        check_number("duration", self.duration, 0, 7 * 86_400, positive=True)
        check_choice("relay", self.relay, RELAYS)
        check_number("geth_fraction", self.geth_fraction, 0, 1)
        check_bool("rlpx", self.rlpx)
        if self.stem is not None:
            check_bool("stem", self.stem)
        check_number("sample_every", self.sample_every, 0, 86_400, positive=True)
        check_int("workers", self.workers, 1, MAX_WORKERS)
        if self.workers > 1:
            self._check_parallel()
        if self.churn.catch_up and not self.archive.servers:
            raise UsageError("invalid churn.catch_up: needs an archive server ([archive] servers)")
        if self.archive.servers > self.topology.nodes:
            raise UsageError(
                f"invalid archive.servers {self.archive.servers}: more than the "
                f"{self.topology.nodes} full nodes"
            )

    def _check_parallel(self) -> None:
        """What a run split over processes cannot do (each needs the whole network in one)."""
        refused = (
            (self.churn.fraction > 0, "churn (churn.fraction > 0)"),
            (self.archive.servers > 0, "archive servers (archive.servers > 0)"),
            (self.rlpx, "real RLPx links (rlpx = true)"),
            (self.topology.nodes + self.topology.light < self.workers, "fewer nodes than workers"),
        )
        for hit, what in refused:
            if hit:
                raise UsageError(
                    f"invalid workers {self.workers}: a parallel run does not support {what}"
                )
        if not self.links.bounds()[0] > 0:
            raise UsageError(
                f"invalid workers {self.workers}: a parallel run needs a positive minimum link "
                f"latency (its lookahead), and {self.links.latency} latency can be 0 s; use "
                "constant or uniform latency above 0"
            )


MAX_WORKERS = 2
"""Processes a scenario may run on (`hush.sim.parallel` is written for two)."""

_FLOATS = (
    "duration",
    "geth_fraction",
    "sample_every",
    "publish_over",
    "rate",
    "seconds",
    "low",
    "high",
    "median",
    "sigma",
    "bandwidth",
    "loss",
    "fraction",
    "online",
    "offline",
    "timeout",
)


def _build(cls: type[Any], table: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise UsageError(f"invalid [{where}]: must be a table")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise UsageError(
            f"unknown key {where}.{unknown[0]}: known keys are {', '.join(sorted(known))}"
        )
    values = dict(table)
    if "uplinks" in values:
        uplinks = values["uplinks"]
        if not (isinstance(uplinks, list) and len(uplinks) == 2):
            raise UsageError(f"invalid {where}.uplinks: must be [low, high], got {uplinks!r}")
        values["uplinks"] = tuple(uplinks)
    for name in _FLOATS:
        if isinstance(values.get(name), int) and not isinstance(values.get(name), bool):
            values[name] = float(values[name])
    return cls(**values)


_TABLES: tuple[tuple[str, type[Any]], ...] = (
    ("topology", TopologySpec),
    ("links", LinksSpec),
    ("workload", WorkloadSpec),
    ("churn", ChurnSpec),
    ("skew", SkewSpec),
    ("archive", ArchiveSpec),
)


def parse_scenario(text: str, default_name: str = "scenario") -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"invalid scenario TOML: {exc}") from exc
    nested = {}
    for key, cls in _TABLES:
        nested[key] = _build(cls, data.pop(key, {}), key)
    data.setdefault("name", default_name)
    scenario: Scenario = _build(Scenario, {**data, **nested}, "scenario")
    return scenario


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read scenario {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"scenario {path} is not UTF-8 text") from exc
    return parse_scenario(text, path.stem)
