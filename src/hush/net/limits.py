"""Connection limits of the devp2p shell: what an inbound connection must pass before it costs more
than an accept and a close (issue 7 item 5; geth `p2p/server.go`).

`ConnectionGate` is plain accounting with `now` passed in (no sockets, no clock), consulted by the
listener the moment a connection is accepted, before any reader, writer or task exists for it:

* **pending handshakes** are capped (geth's `maxPendingPeers`, 50); a connection stays pending
  from accept until its Hello exchange is done or it is closed, at the latest at the handshake
  deadline. When the cap (or the budget below) is reached, the oldest pending connection is
  closed to make room if it has been pending for `evict_pending_after` seconds (an honest
  handshake takes milliseconds), so idle squatters cannot keep honest peers out for a whole
  deadline; otherwise the newcomer is;
* **per IP** (an IPv6 address counts by its /64), inbound connections pending or established are
  capped, and an IP that connected less than `inbound_throttle` seconds ago is refused (geth's
  `inboundThrottleTime`, 30 s); loopback and private (LAN) addresses are exempt by default, as
  geth exempts LAN peers from its throttle;
* **all p2p connections**, pending or established, inbound or outbound, stay below a budget taken
  from the open-file limit, leaving descriptors for JSON-RPC, files and the sealer; the last part of
  the budget is kept for outbound dials (static peers).

A refused connection is closed at once without a Disconnect (geth closes the socket the same way);
refusals are counted here and summarised by the shell in one log line per minute at most.

The rest of the module is shell helpers: the open-file limit (raised to the hard limit at node
start, as geth's `fdlimit.Raise` does) and a loop exception handler that turns asyncio's
per-attempt "socket.accept() out of system resource" report into one rate-limited line.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AcceptErrorLog",
    "ConnectionGate",
    "Refusal",
    "Slot",
    "connection_budget",
    "open_file_limit",
    "raise_open_file_limit",
]

log = logging.getLogger(__name__)

_THROTTLE_ENTRIES = 10_000
"""Most IPs remembered by the reconnect throttle; beyond it the oldest are forgotten early."""
_OUTBOUND_RESERVE = 16
"""Connections of the budget that only outbound dials may use."""
_UNLIMITED_FILES = 65_536
"""What "raise to the hard limit" means when the hard limit is unlimited."""


class Refusal(enum.Enum):
    """Why an inbound connection was closed at once."""

    BUDGET = "connection budget (open-file limit) reached"
    PENDING = "pending handshakes at the cap"
    PER_IP = "per-IP connection cap reached"
    THROTTLED = "reconnected too soon"
    EVICTED = "closed after pending too long while the pending cap was full"


@dataclass(eq=False, slots=True)
class Slot:
    """One connection's place in the accounting, released exactly once."""

    key: str | None
    """The per-IP key, or None when the address is exempt (or the connection outbound)."""
    inbound: bool
    pending: bool = True
    released: bool = False
    since: float = 0.0
    """When the connection was accepted."""
    abort: Callable[[], None] | None = None
    """Closes the connection at once; set by the shell when its transport exists."""


def _ip_key(host: str) -> tuple[str, bool]:
    """The per-IP accounting key of `host`, and whether it is loopback or LAN."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host, False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    lan = address.is_loopback or address.is_private or address.is_link_local
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False)), lan
    return str(address), lan


class ConnectionGate:
    """Counts p2p connections and decides whether an inbound one may proceed."""

    def __init__(
        self,
        *,
        max_pending_inbound: int,
        max_inbound_per_ip: int,
        inbound_throttle: float,
        exempt_lan: bool,
        max_connections: int,
        evict_pending_after: float | None = None,
    ) -> None:
        self.max_pending_inbound = max_pending_inbound
        self.max_inbound_per_ip = max_inbound_per_ip
        self.inbound_throttle = inbound_throttle
        self.exempt_lan = exempt_lan
        self.max_connections = max_connections
        self.evict_pending_after = evict_pending_after
        self.pending = 0
        """Inbound connections accepted whose Hello exchange is not done."""
        self.total = 0
        """Every connection holding a slot: a socket of ours that is open."""
        self.per_ip: dict[str, int] = {}
        self.refused: Counter[Refusal] = Counter()
        """Refusals so far, by reason."""
        self.handshake_failures: Counter[str] = Counter()
        """Inbound handshakes that failed or timed out after passing the gate, counted by the
        shell as `local_<reason>` / `remote_<reason>` (a disconnect reason's name: bounded)."""
        self._recent: dict[str, float] = {}  # IP key -> when the throttle lets it in again
        self._pending: dict[Slot, None] = {}  # pending inbound slots, oldest first

    @property
    def inbound_room(self) -> int:
        return self.max_connections - min(_OUTBOUND_RESERVE, self.max_connections // 4)

    def inbound(self, host: str, now: float) -> Slot | Refusal:
        """Account an accepted connection from `host`, or say why it must be closed."""
        key, lan = _ip_key(host)
        limited = not (lan and self.exempt_lan)
        refusal: Refusal | None = None
        throttled = limited and self.inbound_throttle > 0
        full = self.total >= self.inbound_room
        if limited and self.per_ip.get(key, 0) >= self.max_inbound_per_ip:
            refusal = Refusal.PER_IP
        elif throttled and self._recently_seen(key, now):
            refusal = Refusal.THROTTLED
        elif (full or self.pending >= self.max_pending_inbound) and not self._evict_stale(now):
            refusal = Refusal.BUDGET if full else Refusal.PENDING
        if refusal is not None:
            self.refused[refusal] += 1
            return refusal
        if throttled:
            self._recent[key] = now + self.inbound_throttle
        self.pending += 1
        self.total += 1
        slot = Slot(key if limited else None, inbound=True, since=now)
        self._pending[slot] = None
        if slot.key is not None:
            self.per_ip[slot.key] = self.per_ip.get(slot.key, 0) + 1
        return slot

    def outbound(self) -> Slot | None:
        """A slot for a dial, or None when the whole budget is in use."""
        if self.total >= self.max_connections:
            return None
        self.total += 1
        return Slot(None, inbound=False, pending=False)

    def established(self, slot: Slot) -> None:
        """The Hello exchange is done: the connection no longer counts as pending."""
        if slot.pending and not slot.released:
            slot.pending = False
            self.pending -= 1
            self._pending.pop(slot, None)

    def release(self, slot: Slot) -> None:
        """The connection's socket is closed."""
        if slot.released:
            return
        slot.released = True
        self.total -= 1
        if slot.pending:
            slot.pending = False
            self.pending -= 1
            self._pending.pop(slot, None)
        if slot.key is not None:
            left = self.per_ip[slot.key] - 1
            if left:
                self.per_ip[slot.key] = left
            else:
                del self.per_ip[slot.key]

    def _recently_seen(self, key: str, now: float) -> bool:
        # The throttle time is constant, so insertion order is expiry order.
        recent = self._recent
        while recent:
            oldest, until = next(iter(recent.items()))
            if until > now and len(recent) < _THROTTLE_ENTRIES:
                break
            del recent[oldest]
        return key in recent

    def _evict_stale(self, now: float) -> bool:
        """Close the oldest pending connection if it has had `evict_pending_after` seconds."""
        oldest = next(iter(self._pending), None)
        after = self.evict_pending_after
        if oldest is None or after is None or now - oldest.since < after:
            return False
        self.refused[Refusal.EVICTED] += 1
        abort = oldest.abort
        self.release(oldest)
        if abort is not None:
            abort()
        return True


# -- the open-file limit (shell) ---------------------------------------------------------------


def open_file_limit() -> int | None:
    """The soft RLIMIT_NOFILE, or None where unknown or unlimited."""
    try:
        import resource  # noqa: PLC0415 - Unix only
    except ImportError:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def raise_open_file_limit() -> tuple[int, int] | None:
    """Raise the soft open-file limit to the hard one; (old, new) when it changed."""
    try:
        import resource  # noqa: PLC0415 - Unix only
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _UNLIMITED_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError):
            return None
        return int(soft), int(target)
    return None


def connection_budget(file_limit: int | None) -> int:
    """p2p connections allowed under `file_limit` open files: a quarter (at least 64) of the
    descriptors stay for JSON-RPC clients, files, the sealer and the event loop."""
    if file_limit is None:
        return _UNLIMITED_FILES
    return max(file_limit - max(64, file_limit // 4), file_limit // 2, 1)


# -- accept errors (shell) -----------------------------------------------------------------------

_ACCEPT_ERROR = "socket.accept() out of system resource"


class AcceptErrorLog:
    """A loop exception handler: asyncio reports every failed accept (EMFILE, ENFILE, ENOBUFS,
    ENOMEM) with a traceback and retries a second later; this logs one line per `interval`
    seconds with the count instead. Every other report goes to the previous handler."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self.count = 0
        self._next_report = float("-inf")
        self._previous: Any = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != _ACCEPT_ERROR:
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self.count += 1
        now = loop.time()
        if now < self._next_report:
            return
        self._next_report = now + self.interval
        exc = context.get("exception")
        why = getattr(exc, "strerror", None) or str(exc)
        log.warning(
            "cannot accept connections: %s (%d time(s) so far; retried every second); "
            "raise the open-file limit (ulimit -n) or lower --max-peers",
            why,
            self.count,
        )
