"""The multi-hop stem between hush nodes, opt-in (simulation.md §5 item 2): Dandelion++ minus the
parts that leak.

Stem hops travel on their own devp2p capability, `hushstem/1` (one message: code 0, an RLP list
of envelopes in shh's encoding, byte for byte), so `shh/6` stays byte-identical and legacy peers,
which ignore an unknown capability, never see one. Only peers that share the capability are
stem relays; with none, a node falls back to the one-hop stem over shh.

The rules, per node (pure state; `now` and randomness injected, timers as data):
- **Asynchronous, randomised epochs**: each node draws its own epoch length uniformly in
  [epoch/2, 3·epoch/2] (not Waku's global `time mod 600`). At each epoch start it draws whether
  it is a *diffuser* (probability `fluff_probability`, q ≈ 0.2: node-level, not per message)
  and two stem relays among its hush peers.
- **Per-inbound-edge routes**: each inbound peer (and the node's own posts) is mapped, for the
  epoch, to one of the two relays; the same edge always takes the same route (a BIP 156
  fingerprinting defence). A relay never sends a stem envelope back the way it came when it has
  another choice.
- **No hop counter**: nothing in the message says how far it went.
- **Stem hops are sent immediately**, not on a tick.
- **Fail-safe**: every stem node holds what it forwarded with an exponential timer
  (`fail_safe`); when it fires before the envelope was seen fluffed, the node fluffs it itself,
  so a black-hole relay delays a message, never loses it. Bounded: at most `max_held`
  envelopes held (the oldest is fluffed to make room).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hush.errors import UsageError
from hush.randomness import uniform_below, uniform_unit
from hush.shh.envelope import Envelope
from hush.types import EnvelopeHash, NodeID, RandomBytes

__all__ = [
    "STEM_CAPABILITY",
    "STEM_CODE",
    "STEM_NAME",
    "HopsConfig",
    "StemHops",
    "fail_safe_mean",
]

STEM_NAME = "hushstem"
STEM_CAPABILITY = (STEM_NAME, 1, 1)
"""(name, version, message count) offered in the devp2p Hello when the multi-hop stem is on."""
STEM_CODE = 0
"""The one message: a list of envelopes, encoded as in shh's `messages` packet."""


def fail_safe_mean(hops: float, hop_delay: float, premature: float) -> float:
    """Dandelion++'s fail-safe sizing (its Prop. 3): with k stem hops of `hop_delay` seconds
    each and exponential timers of mean T at every hop, some timer fires before the stem ends
    with probability ≤ `premature` when T ≥ −k(k−1)·δ / (2·ln(1 − ε))."""
    return -hops * (hops - 1) * hop_delay / (2 * math.log(1 - premature))


DEFAULT_FAIL_SAFE = max(1.0, fail_safe_mean(5, 0.05, 0.25))
"""≈ 1.7 s: 1/q = 5 hops of 50 ms, a premature fluff in at most one stem in four (which only
shortens that stem); kept small so a black hole costs little."""


@dataclass(frozen=True, slots=True)
class HopsConfig:
    fluff_probability: float = 0.2
    """Chance that a node is a diffuser for an epoch (fluffs what it receives)."""
    epoch: float = 600.0
    """Mean seconds of an epoch (each drawn uniformly in [epoch/2, 3·epoch/2])."""
    relays: int = 2
    """Stem relays per epoch."""
    fail_safe: float = DEFAULT_FAIL_SAFE
    """Mean seconds of the exponential fail-safe timer."""
    max_held: int = 1024
    """Envelopes forwarded and held for their fail-safe at most."""
    source_embargo: float = 0.2
    """Mean seconds of the exponential part of how long a node holds its own post, sent down a
    multi-hop stem, before flooding it without an echo (`source_floor` comes on top)."""
    source_floor: float = 1.5
    """Least seconds that hold lasts. The source is the only one who can rescue a post whose
    first relay is a black hole, so its hold bounds the delay black holes cost; and it must
    outlast the echo, which comes back once the stem has fluffed (or the source's own flood
    names it to its spy neighbours). A floor does both: measured on 1,000-node 8-regular
    graphs (`hush sim darkness --policy hops`, benchmarks/darkness_hops.py), 1.5 s + Exp(0.2 s)
    is longer than the echo's p99.9 (1.2 s with push relays, 1.7 s on geth's tick) and keeps
    the p99 extra delay under 10 % black-hole spies at 1.8 s, where the former Exp(6 s) cost
    13 s (and Exp(2 s) let the source flood before its echo too often: first-spy 0.16)."""
    echo_delay: float = 0.3
    """The source relays its own post U(0, echo_delay) seconds after the echo, not at once:
    its push relay would otherwise reach its spy neighbours before the fluff does through geth
    peers' 300 ms ticks (measured with 50 % hush nodes: first-spy 0.128 at once, 0.110 so)."""

    def __post_init__(self) -> None:
        if not 0 <= self.fluff_probability <= 1:
            raise UsageError(f"fluff probability must be in [0, 1], got {self.fluff_probability}")
        if not (0 < self.epoch < math.inf and 0 < self.fail_safe <= 600):
            raise UsageError("stem epoch and fail-safe must be positive (fail-safe ≤ 600 s)")
        if not 0 < self.source_embargo <= 60:
            raise UsageError(f"source embargo must be in (0, 60] s, got {self.source_embargo}")
        if not 0 <= self.source_floor <= 60:
            raise UsageError(f"source floor must be in [0, 60] s, got {self.source_floor}")
        if not 0 <= self.echo_delay <= 10:
            raise UsageError(f"echo delay must be in [0, 10] s, got {self.echo_delay}")
        if self.relays < 1 or self.max_held < 1:
            raise UsageError("stem relays and held envelopes must be at least 1")


@dataclass(slots=True)
class _Held:
    envelope: Envelope
    inbound: NodeID | None
    deadline: float


class StemHops:
    """One node's multi-hop stem state."""

    def __init__(self, random_bytes: RandomBytes, config: HopsConfig | None = None) -> None:
        self.config = config or HopsConfig()
        self._random_bytes = random_bytes
        self.diffuser = False
        self.relays: list[NodeID] = []
        self._routes: dict[NodeID | None, NodeID] = {}
        self._epoch_end = -math.inf
        self._held: dict[EnvelopeHash, _Held] = {}

    def __contains__(self, envelope_hash: object) -> bool:
        return envelope_hash in self._held

    def __len__(self) -> int:
        return len(self._held)

    # -- randomness ------------------------------------------------------------------------------

    def _uniform(self) -> float:
        return uniform_unit(self._random_bytes)

    def _index(self, count: int) -> int:
        return uniform_below(count, self._random_bytes)

    # -- epochs and routes -----------------------------------------------------------------------

    def _new_epoch(self, peers: Sequence[NodeID], now: float) -> None:
        config = self.config
        self._epoch_end = now + config.epoch * (0.5 + self._uniform())
        self.diffuser = self._uniform() < config.fluff_probability
        pool = list(peers)
        self.relays = []
        while pool and len(self.relays) < config.relays:
            self.relays.append(pool.pop(self._index(len(pool))))
        self._routes = {}

    def route(self, inbound: NodeID | None, peers: Sequence[NodeID], now: float) -> NodeID | None:
        """Where a stem envelope from `inbound` (None: our own post) goes next among the hush
        `peers`; None: fluff it (a diffuser, or no relay but the way it came). Own posts are
        always stemmed while there is a relay."""
        if now >= self._epoch_end or any(relay not in peers for relay in self.relays):
            self._new_epoch(peers, now)
        if inbound is not None and self.diffuser:
            return None
        choices = [relay for relay in self.relays if relay != inbound]
        if not choices:
            return None
        chosen = self._routes.get(inbound)
        if chosen is None or chosen not in choices:
            chosen = self._routes[inbound] = choices[self._index(len(choices))]
        return chosen

    # -- the fail-safe ---------------------------------------------------------------------------

    def hold(self, envelope: Envelope, inbound: NodeID | None, now: float) -> list[Envelope]:
        """Hold a forwarded envelope for its fail-safe; returns those to fluff now to make room."""
        out: list[Envelope] = []
        if envelope.hash not in self._held:
            while len(self._held) >= self.config.max_held:
                oldest = next(iter(self._held))
                out.append(self._held.pop(oldest).envelope)
        deadline = now - self.config.fail_safe * math.log(self._uniform())
        self._held[envelope.hash] = _Held(envelope, inbound, deadline)
        return out

    def get_timer(self) -> float | None:
        return min((held.deadline for held in self._held.values()), default=None)

    def handle_timer(self, now: float) -> list[tuple[Envelope, NodeID | None]]:
        """The held envelopes whose fail-safe fired: fluff them (with who sent each)."""
        due = [h for h, held in self._held.items() if held.deadline <= now]
        return [(held.envelope, held.inbound) for held in map(self._held.pop, due)]

    def seen(self, envelope_hash: EnvelopeHash) -> None:
        """The envelope came back fluffed: no fail-safe needed."""
        self._held.pop(envelope_hash, None)
