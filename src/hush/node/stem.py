"""The one-hop stem for a node's own envelopes: to whom, and until when (simulation.md §5, §5.4).

geth floods its own envelope to every peer within one tick, which names the sender to a few
colluding peers. The stem breaks that symmetry without any peer's help and without anything new
on the wire: a locally posted envelope goes at once, in a normal `messages` packet, to ONE peer
(the stem peer); the others get it only once it is relayed like any other envelope, when its
echo comes back from any peer or when its embargo (mean `mean_embargo`: half of it fixed, the
other half exponential) runs out.
The node then relays its own envelope as Whisper requires (plausible deniability).

The stem peer is drawn uniformly from all connected peers, blind to client type, and kept for
the connection's life, at most `epoch` seconds (a day): re-drawing per message or every few
minutes lets an adversary who links a user's envelopes by topic intersect the stem peers'
neighbourhoods (§5.4). It is lost with its connection; the envelopes it held are released then.

Pure: `now` (monotonic seconds) and randomness (`random_bytes`) come in, timers are data
(`get_timer` / `handle_timer`), no I/O. Bounded: at most `max_held` envelopes under embargo; a
post past that releases the oldest first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hush.errors import UsageError
from hush.randomness import uniform_below, uniform_unit
from hush.types import EnvelopeHash, NodeID, RandomBytes

__all__ = ["DEFAULT_EPOCH", "DEFAULT_MEAN_EMBARGO", "DEFAULT_MAX_HELD", "Stem", "StemConfig"]

DEFAULT_MEAN_EMBARGO = 2.0
"""Mean seconds an own envelope waits for its echo before it is relayed anyway (§5 item 1)."""
DEFAULT_EPOCH = 86_400.0
"""Longest a stem peer is kept (a day, §5.4); a lost connection ends it sooner."""
DEFAULT_MAX_HELD = 1024
"""Own envelopes under embargo at once."""
# × the mean: bounds the tail (P(cut): e^-19 for 1 s + Exp(1 s), e^-10 for a plain exponential)
_EMBARGO_CAP = 10.0
_EMBARGO_FIXED = 0.5
"""Share of `mean_embargo` that every one-hop embargo lasts at least. A plain Exp(2 s) embargo ends within
0.4 s one time in five, before the stem peer's relay has reached anyone, and the source then
floods to its own (spy) neighbours: `hush sim darkness --policy stem` (1,000 nodes, 5 seeds)
measured first-spy 0.157 / 0.266 at p = 0.1 / 0.2 with Exp(2 s) and 0.105 / 0.207 with
1 s + Exp(1 s) (BENCHMARKS.md, issue 10). The echo still releases at once; only the fail-safe
waits longer."""


@dataclass(frozen=True, slots=True)
class StemConfig:
    mean_embargo: float = DEFAULT_MEAN_EMBARGO
    """Mean embargo, seconds: half of it fixed, the other half exponential."""
    epoch: float = DEFAULT_EPOCH
    """Seconds a stem peer is kept at most."""
    max_held: int = DEFAULT_MAX_HELD
    """Envelopes under embargo at most; more release the oldest."""

    def __post_init__(self) -> None:
        if not (0 < self.mean_embargo <= 60 and math.isfinite(self.mean_embargo)):
            raise UsageError(f"stem embargo must be in (0, 60] s, got {self.mean_embargo!r}")
        if not (0 < self.epoch < math.inf):
            raise UsageError(f"stem epoch must be a positive number of seconds, got {self.epoch!r}")
        if self.max_held < 1:
            raise UsageError(f"stem table must hold at least 1 envelope, got {self.max_held!r}")


@dataclass(slots=True)
class _Held:
    deadline: float
    peer: NodeID
    echo_delay: float = 0.0
    echoed: bool = False


class Stem:
    """The stem's state: the stem peer, its epoch, and the embargo table.

    `hash in stem` says whether an envelope is under embargo (the relay must not send it to
    anyone); every method that ends embargoes returns the hashes it released, for the shell to
    offer to every peer as any other pooled envelope.
    """

    def __init__(self, random_bytes: RandomBytes, config: StemConfig | None = None) -> None:
        self.config = config or StemConfig()
        self._random_bytes = random_bytes
        self.peer: NodeID | None = None
        """The current stem peer (None: none chosen, or it left)."""
        self._chosen_at = 0.0
        self._held: dict[EnvelopeHash, _Held] = {}  # insertion order = post order

    def __contains__(self, envelope_hash: object) -> bool:
        return envelope_hash in self._held

    def __len__(self) -> int:
        return len(self._held)

    # -- randomness ------------------------------------------------------------------------------

    def _uniform(self) -> float:
        return uniform_unit(self._random_bytes)

    def _index(self, count: int) -> int:
        return uniform_below(count, self._random_bytes)

    def embargo(self, mean: float | None = None) -> float:
        """One embargo duration, its far tail cut at 10 × the mean: the configured one (half
        of `mean_embargo` fixed plus an exponential of the other half), or an exponential of
        mean `mean` (the multi-hop source, which sets its own floor)."""
        fixed = 0.0
        if mean is None:
            mean = self.config.mean_embargo
            fixed = _EMBARGO_FIXED * mean
        return min(fixed - (mean - fixed) * math.log(self._uniform()), _EMBARGO_CAP * mean)

    # -- inputs ----------------------------------------------------------------------------------

    def stem_peer(self, peers: Sequence[NodeID], now: float) -> NodeID | None:
        """The stem peer among the connected `peers` (sorted by the caller or not: the draw is
        uniform either way), drawn anew only when there is none, it left, or its epoch ended."""
        if not peers:
            self.peer = None
            return None
        if (
            self.peer is None
            or self.peer not in peers
            or now - self._chosen_at >= self.config.epoch
        ):
            self.peer = peers[self._index(len(peers))]
            self._chosen_at = now
        return self.peer

    def post(
        self,
        envelope_hash: EnvelopeHash,
        peer: NodeID,
        now: float,
        mean: float | None = None,
        floor: float = 0.0,
        echo_delay: float = 0.0,
    ) -> tuple[EnvelopeHash, ...]:
        """Hold an own envelope sent to `peer` (the stem peer) under embargo (of mean `mean`
        if given, `floor` seconds more; released U(0, `echo_delay`) s after its first echo);
        returns the envelopes released to make room (the oldest), usually none."""
        released: list[EnvelopeHash] = []
        if envelope_hash not in self._held:
            while len(self._held) >= self.config.max_held:
                oldest = next(iter(self._held))
                del self._held[oldest]
                released.append(oldest)
        self._held[envelope_hash] = _Held(now + floor + self.embargo(mean), peer, echo_delay)
        return tuple(released)

    def echo(self, envelope_hash: EnvelopeHash, now: float = 0.0) -> bool:
        """A peer sent us an envelope we hold: it is out. True: relay it now (it was held).
        One posted with an `echo_delay` is released by the timer instead, U(0, echo_delay) s
        after its first echo (False)."""
        held = self._held.get(envelope_hash)
        if held is None:
            return False
        if held.echo_delay <= 0:
            del self._held[envelope_hash]
            return True
        if not held.echoed:
            held.echoed = True
            held.deadline = min(held.deadline, now + held.echo_delay * self._uniform())
        return False

    def peer_lost(self, peer: NodeID) -> tuple[EnvelopeHash, ...]:
        """A connection ended. If it was the stem peer, the next post draws another, and what
        it held is released at once (it may never have left that peer)."""
        if peer == self.peer:
            self.peer = None
        gone = tuple(h for h, held in self._held.items() if held.peer == peer)
        for envelope_hash in gone:
            del self._held[envelope_hash]
        return gone

    def release(self, envelope_hash: EnvelopeHash) -> bool:
        """End one embargo now (the envelope left the pool, say)."""
        return self._held.pop(envelope_hash, None) is not None

    # -- timers as data --------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When the next embargo ends (monotonic seconds), or None with none held."""
        return min((held.deadline for held in self._held.values()), default=None)

    def handle_timer(self, now: float) -> tuple[EnvelopeHash, ...]:
        """Release every envelope whose embargo ended by `now`."""
        due = tuple(h for h, held in self._held.items() if held.deadline <= now)
        for envelope_hash in due:
            del self._held[envelope_hash]
        return due
