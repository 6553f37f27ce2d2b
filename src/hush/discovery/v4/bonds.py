"""Bonding and pending-reply bookkeeping of the discovery v4 protocol (devp2p.md §5).

* `Bonds`: the endpoint proofs: each node's last Pong (and the IP it came from) and last Ping,
  at most `max_bonds` of each (oldest forgotten); `bonded` is the 24 h endpoint proof.
* `PendingPing` / `Purpose`: a Ping of ours awaiting its Pong, and what each waiter wants done
  when it comes (or does not).
* `IPBudgets`: the token bucket per source IP (`packet_rate`, `packet_burst`), at most
  `max_tracked_ips` remembered (least recently heard forgotten first).

`Discv4` (hush.discovery.v4.protocol) owns one of each; this module knows nothing of it.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TypeVar

from hush.discovery.v4.config import Discv4Config
from hush.discovery.v4.lookup import Lookup
from hush.discovery.v4.table import TableNode
from hush.types import NodeID

__all__ = ["Bonds", "IPBudgets", "PendingPing", "Purpose"]

_T = TypeVar("_T")


class Purpose(enum.Enum):
    BOND = "bond"  # answer to their ping: add them when they pong
    REVALIDATE = "revalidate"
    QUERY = "query"  # a lookup wants to ask them
    PING = "ping"  # a plain ping (bootnode seeding, a caller's request)


@dataclass(slots=True)
class PendingPing:
    node: TableNode
    deadline: float
    purpose: Purpose
    lookup: Lookup | None = None
    also: list[tuple[Purpose, Lookup | None]] = field(default_factory=list)
    """Other purposes waiting on the same Pong: two Pings to one node within the same second
    are the same packet (deterministic signatures, whole-second expirations), so one hash."""

    def waiters(self) -> list[tuple[Purpose, Lookup | None]]:
        return [(self.purpose, self.lookup), *self.also]


class Bonds:
    """Who answered our Ping (and from which IP), and who pinged us, and when."""

    def __init__(self, config: Discv4Config) -> None:
        self.config = config
        self.last_pong: OrderedDict[NodeID, tuple[str, float]] = OrderedDict()
        self.last_ping: OrderedDict[NodeID, float] = OrderedDict()

    def bonded(self, node_id: NodeID, ip: str, now: float) -> bool:
        """Whether `node_id` at `ip` answered our Ping within the bond expiration."""
        proof = self.last_pong.get(node_id)
        return proof is not None and proof[0] == ip and now - proof[1] < self.config.bond_expiration

    def pinged_recently(self, node_id: NodeID, now: float) -> bool:
        seen = self.last_ping.get(node_id)
        return seen is not None and now - seen < self.config.bond_expiration

    def remember(self, store: OrderedDict[NodeID, _T], node_id: NodeID, value: _T) -> None:
        store[node_id] = value
        store.move_to_end(node_id)
        while len(store) > self.config.max_bonds:
            store.popitem(last=False)


class IPBudgets:
    """A token bucket per source IP, bounded in the IPs it tracks."""

    def __init__(self, config: Discv4Config) -> None:
        self.config = config
        self._budgets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def spend(self, ip: str, now: float) -> bool:
        tokens, last = self._budgets.pop(ip, (self.config.packet_burst, now))
        tokens = min(self.config.packet_burst, tokens + (now - last) * self.config.packet_rate)
        ok = tokens >= 1.0
        self._budgets[ip] = (tokens - 1.0 if ok else tokens, now)
        while len(self._budgets) > self.config.max_tracked_ips:
            self._budgets.popitem(last=False)
        return ok
