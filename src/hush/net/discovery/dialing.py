"""Which discovered nodes a Whisper node dials (discovery.md §3.3): a `hush.node.hooks.PeerSource`.

Nothing in a discv4 record says who speaks shh, so the policy learns it by dialling:

* a node that shares no capability with us (`DialOutcome.USELESS`) is not dialled again for
  `useless_ttl` (24 h), remembered across restarts (the negative cache);
* a node that spoke shh (`CONNECTED`) is remembered and offered first, after a restart too
  (the positive cache);
* a node that is full (`REFUSED`: too many peers) is left alone for `refused_backoff`, one that
  failed (`FAILED`) for `failed_backoff`;
* dials are bounded in rate (`dials_per_minute`, a token bucket) and in flight (`max_in_flight`).

Candidates are the positive cache, then the `extra` nodes (a fleet's static list), then random
table entries; when those run out the policy asks discovery for a lookup. All maps are bounded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

from hush.clock import SYSTEM_CLOCK, Clock
from hush.enode import Enode
from hush.net.discovery.store import DiscoveryState
from hush.node.hooks import DialOutcome
from hush.types import NodeID

__all__ = ["DialConfig", "DialPolicy", "NodeSource"]


class NodeSource(Protocol):
    """Where candidates come from (`hush.discovery.Discovery`)."""

    def random_nodes(self, count: int) -> list[Enode]: ...

    def request_lookup(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DialConfig:
    useless_ttl: float = 24 * 3600.0
    """How long a node without shh is not dialled again."""
    refused_backoff: float = 600.0
    """How long a node that said "too many peers" is left alone."""
    failed_backoff: float = 60.0
    """How long a node whose dial failed (or that we were connected to) is left alone."""
    dials_per_minute: float = 30.0
    """Dial rate (token bucket refill)."""
    dial_burst: float = 10.0
    """Dials allowed at once after a quiet spell."""
    max_in_flight: int = 10
    """Dials handed out and not yet reported back."""
    max_shh: int = 64
    """Nodes remembered as shh speakers."""
    max_useless: int = 4096
    """Nodes remembered as useless (oldest forgotten first)."""
    max_backoff: int = 4096
    """Nodes remembered in backoff."""
    table_sample: int = 64
    """Random table entries looked at per call."""


class DialPolicy:
    """A peer source over discovery (and a fleet's nodes), learning who speaks shh."""

    def __init__(
        self,
        nodes: NodeSource | None,
        state: DiscoveryState,
        config: DialConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        extra: Iterable[Enode] = (),
    ) -> None:
        self.nodes = nodes
        self.state = state
        self.config = config or DialConfig()
        self.clock = clock
        self.extra = tuple(extra)
        now = clock.time()
        self._useless: OrderedDict[NodeID, float] = OrderedDict()
        for key, until in sorted(state.useless.items(), key=lambda kv: kv[1]):
            if until > now:
                self._useless[NodeID(bytes.fromhex(key))] = until
        self._shh: OrderedDict[NodeID, Enode] = OrderedDict(
            (enode.node_id, enode) for enode in reversed(state.shh[: self.config.max_shh])
        )  # most recent last; the state lists them most recent first
        self._backoff: OrderedDict[NodeID, float] = OrderedDict()
        self._in_flight: dict[NodeID, Enode] = {}
        self._tokens = self.config.dial_burst
        self._refilled = now
        self.dials = 0
        self.closed = False
        self._save()

    # -- PeerSource ------------------------------------------------------------------------------

    def close(self) -> None:
        """Offer nothing more (shutting down); outcomes of dials under way are still taken."""
        self.closed = True

    @property
    def in_flight(self) -> int:
        """Dials handed out and not yet reported back."""
        return len(self._in_flight)

    def candidates(self, want: int, exclude: Collection[NodeID]) -> list[Enode]:
        if self.closed:
            return []
        now = self.clock.time()
        self._refill(now)
        chosen: list[Enode] = []
        seen: set[NodeID] = set()
        sample = self.nodes.random_nodes(self.config.table_sample) if self.nodes else []
        for enode in (*reversed(self._shh.values()), *self.extra, *sample):
            if len(chosen) >= want or len(self._in_flight) >= self.config.max_in_flight:
                break
            node_id = enode.node_id
            if node_id in seen or node_id in exclude or node_id in self._in_flight:
                continue
            seen.add(node_id)
            if self.is_useless(node_id, now) or self._backoff.get(node_id, 0.0) > now:
                continue
            if self._tokens < 1.0:
                break
            self._tokens -= 1.0
            self._in_flight[node_id] = enode
            chosen.append(enode)
        self.dials += len(chosen)
        if len(chosen) < want and self.nodes is not None:
            self.nodes.request_lookup()
        return chosen

    def dialed(self, node_id: NodeID, outcome: DialOutcome) -> None:
        now = self.clock.time()
        enode = self._in_flight.pop(node_id, None)
        if outcome is DialOutcome.CONNECTED:
            self._useless.pop(node_id, None)
            if enode is not None:
                self._shh.pop(node_id, None)
                self._shh[node_id] = enode  # most recent last
                while len(self._shh) > self.config.max_shh:
                    self._shh.popitem(last=False)
            self._back_off(node_id, now + self.config.failed_backoff)
        elif outcome is DialOutcome.USELESS:
            self._shh.pop(node_id, None)
            self._useless.pop(node_id, None)
            self._useless[node_id] = now + self.config.useless_ttl
            while len(self._useless) > self.config.max_useless:
                self._useless.popitem(last=False)
        elif outcome is DialOutcome.REFUSED:
            self._back_off(node_id, now + self.config.refused_backoff)
        else:
            self._back_off(node_id, now + self.config.failed_backoff)
        self._save()

    # -- queries ---------------------------------------------------------------------------------

    def is_useless(self, node_id: NodeID, now: float | None = None) -> bool:
        until = self._useless.get(node_id)
        if until is None:
            return False
        if until <= (self.clock.time() if now is None else now):
            del self._useless[node_id]
            return False
        return True

    @property
    def shh_nodes(self) -> list[Enode]:
        """Nodes known to speak shh, most recent first."""
        return list(reversed(self._shh.values()))

    # -- helpers ---------------------------------------------------------------------------------

    def _refill(self, now: float) -> None:
        rate = self.config.dials_per_minute / 60.0
        self._tokens = min(self.config.dial_burst, self._tokens + (now - self._refilled) * rate)
        self._refilled = now

    def _back_off(self, node_id: NodeID, until: float) -> None:
        self._backoff.pop(node_id, None)
        self._backoff[node_id] = until
        while len(self._backoff) > self.config.max_backoff:
            self._backoff.popitem(last=False)

    def _save(self) -> None:
        """Into the shared state (written to disk by `Discovery.save`)."""
        self.state.useless = {node_id.hex(): until for node_id, until in self._useless.items()}
        self.state.shh = self.shh_nodes
