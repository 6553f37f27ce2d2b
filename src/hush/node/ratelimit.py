"""Ingress rate limits per peer ID and per IP: token buckets, pure (hardening.md §2.3).

Rules:

- Counted per shh packet after RLPx decryption: one token of the packets bucket and `len(payload)`
  tokens of the bytes bucket, for the sender's peer ID and for its IP (IPv6 by /64: one host gets
  a /64 for nothing). Defaults: 50 packets/s with a burst of 150, 1 MiB/s with a burst of 4 MiB,
  big enough for a geth peer's multi-MB sync after a restart (§2.2).
- A packet passes when all four buckets hold its cost, and only then is the cost taken; an
  exceeding packet takes nothing, so observe mode counts exactly what enforce mode would drop. A
  cost above a bucket's burst is capped at the burst: a packet bigger than the burst passes on a
  full bucket, so no legal packet is impossible.
- `observe` counts and reports, never drops. `enforce` drops an exceeding packet the caller calls
  droppable (the node: `messages` after status) without disconnecting, and asks for a disconnect
  once one peer ID or one IP exceeded `tolerance` times within `window` seconds (0: never).
- Memory is bounded whatever peers do: a key's state goes once its buckets have refilled and its
  exceedances aged out (it then equals new state, so nothing is forgotten that matters), and at
  most `max_tracked` keys per scope are kept, least recently used first out.
- Exempt packets (static and trusted peers say the caller, loopback and listed IPs and ids say the
  config) are counted as exempt and never limited.
- At most one report every `report_interval` seconds: the shell logs it, so a flood costs one log
  line per interval.

No clock, no I/O, no logging: `now` (seconds) is passed in. A clock that goes backwards refills
nothing until it passes its old reading again. The settings (`RateLimitConfig`, parsing, the IP
key) are `hush.node.ratelimit_config`'s.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass

from hush.node.ratelimit_config import Rate, RateLimitConfig, RateLimitMode, ip_scope

__all__ = [
    "Action",
    "RateLimitStats",
    "RateLimiter",
    "Scope",
    "TokenBucket",
    "Unit",
    "Verdict",
]


class Scope(enum.Enum):
    IP = "ip"
    PEER_ID = "peer_id"


class Unit(enum.Enum):
    PACKETS = "packets"
    BYTES = "bytes"


class Action(enum.Enum):
    OBSERVED = "observed"
    DROPPED = "dropped"
    DISCONNECTED = "disconnected"


class TokenBucket:
    """`rate.burst` tokens at first, `rate.rate` more a second, never more than the burst."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: Rate, now: float):
        self.rate = rate.rate
        self.burst = rate.burst
        self.tokens = rate.burst
        self.stamp = now

    def level(self, now: float) -> float:
        """Tokens held at `now` (refilled since the last call)."""
        elapsed = now - self.stamp
        if elapsed > 0:
            tokens = self.tokens + elapsed * self.rate
            self.tokens = tokens if tokens < self.burst else self.burst
        self.stamp = now  # also when the clock went back: refill resumes from here
        return self.tokens

    def cost(self, amount: float) -> float:
        """What taking `amount` costs: at most the burst."""
        return amount if amount < self.burst else self.burst

    def take(self, amount: float, now: float) -> bool:
        """Take `amount` (capped at the burst) if held; False and nothing taken otherwise."""
        cost = self.cost(amount)
        if self.level(now) < cost:
            return False
        self.tokens -= cost
        return True

    def full(self, now: float) -> bool:
        return self.level(now) >= self.burst


class _KeyState:
    __slots__ = ("packets", "strikes", "volume")

    def __init__(self, config: RateLimitConfig, now: float):
        self.packets = TokenBucket(config.packet_rate, now)
        self.volume = TokenBucket(config.byte_rate, now)
        self.strikes: deque[float] | None = None
        """Times of recent exceedances (enforce mode), at most `tolerance`; made on the first."""

    def strike(self, now: float, tolerance: int) -> None:
        if self.strikes is None:
            self.strikes = deque(maxlen=max(1, tolerance))
        self.strikes.append(now)

    def recent_strikes(self, now: float, window: float) -> int:
        strikes = self.strikes
        if not strikes:
            return 0
        while strikes and strikes[0] <= now - window:
            strikes.popleft()
        return len(strikes)

    def idle(self, now: float, window: float) -> bool:
        """Same as new state: both buckets full, no exceedance in the window."""
        return (
            self.packets.full(now)
            and self.volume.full(now)
            and not self.recent_strikes(now, window)
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one packet. `action` None: it passed."""

    action: Action | None = None
    exceeded: tuple[tuple[Scope, Unit], ...] = ()
    """Which buckets lacked the packet's cost."""
    strikes: int = 0
    """Exceedances within the window by the key with most (enforce mode only)."""
    report: int = 0
    """Non-zero when a report is due: exceeding packets since the last one (this one included)."""

    @property
    def passed(self) -> bool:
        return self.action is None


_PASS = Verdict()
_SLOTS = (
    (Scope.PEER_ID, Unit.PACKETS),
    (Scope.PEER_ID, Unit.BYTES),
    (Scope.IP, Unit.PACKETS),
    (Scope.IP, Unit.BYTES),
)


@dataclass(frozen=True, slots=True)
class RateLimitStats:
    """Counters since start, for metrics (hardening.md §5.2 `hush_ratelimit_*`)."""

    mode: RateLimitMode
    checked: Mapping[Unit, int]
    """Packets checked (PACKETS) and their payload bytes (BYTES); exempt ones not included."""
    exceeded: Mapping[tuple[Scope, Unit, Action], int]
    """Packets that exceeded the bucket of that scope and unit, by what was done about them."""
    exempt: int
    """Packets not checked because their peer is exempt."""
    tracked: Mapping[Scope, int]
    """Keys with state now."""


class RateLimiter:
    """Token buckets per peer ID and per IP; `check` one packet at a time."""

    def __init__(self, config: RateLimitConfig | None = None):
        self.config = config or RateLimitConfig()
        self._peers: OrderedDict[object, _KeyState] = OrderedDict()
        self._ips: OrderedDict[object, _KeyState] = OrderedDict()
        self._checked_packets = 0
        self._checked_bytes = 0
        self._exceeded: dict[tuple[Scope, Unit, Action], int] = {
            (scope, unit, action): 0 for scope in Scope for unit in Unit for action in Action
        }
        self._exempt = 0
        self._unreported = 0
        self._next_report = -math.inf

    @property
    def enabled(self) -> bool:
        return self.config.mode is not RateLimitMode.OFF

    def check(
        self,
        peer_id: bytes,
        host: str,
        size: int,
        now: float,
        *,
        droppable: bool = True,
        exempt: bool = False,
    ) -> Verdict:
        """Account one packet of `size` payload bytes from `peer_id` at `host`."""
        config = self.config
        if config.mode is RateLimitMode.OFF:
            return _PASS
        ip, loopback = ip_scope(host)
        if (
            exempt
            or (loopback and config.exempt_loopback)
            or ip in config.exempt_ips
            or peer_id in config.exempt_ids
        ):
            self._exempt += 1
            return _PASS
        self._checked_packets += 1
        self._checked_bytes += size
        # `_state` and `TokenBucket.level`/`cost` inlined, the same float operations in the same
        # order (a known key: the look-up and its move to the end; every bucket refilled to
        # `now` before any is compared, as the comparisons below would refill them): the very
        # verdicts and bucket states, at a fraction of the calls per packet.
        peers = self._peers
        by_peer = peers.get(peer_id)
        if by_peer is None:
            by_peer = self._state(peers, peer_id, now)
        else:
            peers.move_to_end(peer_id)
        ips = self._ips
        by_ip = ips.get(ip)
        if by_ip is None:
            by_ip = self._state(ips, ip, now)
        else:
            ips.move_to_end(ip)
        buckets = (by_peer.packets, by_peer.volume, by_ip.packets, by_ip.volume)
        for bucket in buckets:
            elapsed = now - bucket.stamp
            if elapsed > 0:
                tokens = bucket.tokens + elapsed * bucket.rate
                bucket.tokens = tokens if tokens < bucket.burst else bucket.burst
            bucket.stamp = now
        peer_packets, peer_volume, ip_packets, ip_volume = buckets
        burst = peer_packets.burst  # the same Rate for both scopes
        packet_cost = 1 if burst > 1 else burst
        burst = peer_volume.burst
        byte_cost = size if size < burst else burst
        if (
            peer_packets.tokens >= packet_cost
            and peer_volume.tokens >= byte_cost
            and ip_packets.tokens >= packet_cost
            and ip_volume.tokens >= byte_cost
        ):
            peer_packets.tokens -= packet_cost
            peer_volume.tokens -= byte_cost
            ip_packets.tokens -= packet_cost
            ip_volume.tokens -= byte_cost
            return _PASS
        exceeded = tuple(
            slot
            for slot, bucket, cost in zip(
                _SLOTS, buckets, (packet_cost, byte_cost) * 2, strict=True
            )
            if bucket.level(now) < cost
        )
        states = ((Scope.PEER_ID, by_peer), (Scope.IP, by_ip))
        enforce = config.mode is RateLimitMode.ENFORCE
        strikes = 0
        if enforce:
            for scope, state in states:
                if any(s is scope for s, _ in exceeded):
                    state.strike(now, config.tolerance)
                strikes = max(strikes, state.recent_strikes(now, config.window))
        if enforce and config.tolerance and strikes >= config.tolerance:
            action = Action.DISCONNECTED
        elif enforce and droppable:
            action = Action.DROPPED
        else:
            action = Action.OBSERVED
        for scope, unit in exceeded:
            self._exceeded[(scope, unit, action)] += 1
        self._unreported += 1
        report = 0
        if now >= self._next_report or now < self._next_report - config.report_interval:
            report, self._unreported = self._unreported, 0
            self._next_report = now + config.report_interval
        return Verdict(action, exceeded, strikes, report)

    def _state(self, table: OrderedDict[object, _KeyState], key: object, now: float) -> _KeyState:
        state = table.get(key)
        if state is not None:
            table.move_to_end(key)
            return state
        window = self.config.window
        spare: _KeyState | None = None
        while table:  # least recently used first: drop what is the same as new
            oldest = next(iter(table.values()))
            # `oldest.idle(now, window)`, inlined (a key's buckets often refill between two of
            # its packets, so this runs about once a packet): the same refills, in the same
            # order, and the same short-circuits
            for bucket in (oldest.packets, oldest.volume):
                elapsed = now - bucket.stamp
                if elapsed > 0:
                    tokens = bucket.tokens + elapsed * bucket.rate
                    bucket.tokens = tokens if tokens < bucket.burst else bucket.burst
                bucket.stamp = now
                if not bucket.tokens >= bucket.burst:  # (`full`)
                    break
            else:
                if not (oldest.strikes and oldest.recent_strikes(now, window)):
                    spare = table.popitem(last=False)[1]
                    continue
            break
        while len(table) >= self.config.max_tracked:
            table.popitem(last=False)
        if spare is None:
            spare = _KeyState(self.config, now)
        else:  # idle at `now`: both buckets full and stamped `now`, no strike: as new
            spare.strikes = None
        table[key] = spare
        return spare

    def stats(self) -> RateLimitStats:
        return RateLimitStats(
            mode=self.config.mode,
            checked={Unit.PACKETS: self._checked_packets, Unit.BYTES: self._checked_bytes},
            exceeded=dict(self._exceeded),
            exempt=self._exempt,
            tracked={Scope.PEER_ID: len(self._peers), Scope.IP: len(self._ips)},
        )
