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
nothing until it passes its old reading again.
"""

from __future__ import annotations

import enum
import ipaddress
import math
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from hush.enode import Enode
from hush.errors import HushError, UsageError

__all__ = [
    "DEFAULT_BYTES",
    "DEFAULT_PACKETS",
    "DEFAULT_TOLERANCE",
    "Action",
    "Rate",
    "RateLimitConfig",
    "RateLimitMode",
    "RateLimitStats",
    "RateLimiter",
    "Scope",
    "TokenBucket",
    "Unit",
    "Verdict",
    "normalise_ip",
    "parse_mode",
    "parse_rate",
    "rate_limit_config",
]

_MIB = 1024 * 1024


class RateLimitMode(enum.Enum):
    OFF = "off"
    OBSERVE = "observe"
    """Count and report exceedances; never drop (the default: §2.3, "why observe by default")."""
    ENFORCE = "enforce"
    """Drop exceeding `messages` packets; disconnect after `tolerance` exceedances."""


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


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket's shape: `rate` tokens a second, at most `burst` held."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        for name, value in (("rate", self.rate), ("burst", self.burst)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise UsageError(f"invalid rate limit {name}: {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise UsageError(f"invalid rate limit {name}: {value} (must be > 0 and finite)")

    def __str__(self) -> str:
        return f"{self.rate:g}:{self.burst:g}"


DEFAULT_PACKETS = Rate(50.0, 150.0)
"""hardening.md §2.3 says 20 shh packets/s, burst 60, sized for geth's 300 ms tick (~3.3/s). A busy
hush peer sends up to 1/`send_interval` = 50 packets/s, so the default is 50/s, burst 150: an honest
hush relay never trips enforce mode, and bytes/s remains the limit that matters."""
DEFAULT_BYTES = Rate(float(_MIB), float(4 * _MIB))
"""hardening.md §2.3: 1 MiB/s, burst 4 MiB (status-go's Waku default rate)."""
DEFAULT_TOLERANCE = 20
"""hardening.md §2.3: exceedances within the window before enforce mode disconnects."""

_SUFFIXES = {"k": 1e3, "m": 1e6, "g": 1e9, "kib": 1024.0, "mib": float(_MIB), "gib": 1024.0**3}


def _number(text: str) -> float:
    body = text.strip().lower()
    factor = 1.0
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if body.endswith(suffix):
            body, factor = body[: -len(suffix)].strip(), _SUFFIXES[suffix]
            break
    try:
        return float(body) * factor
    except ValueError:
        raise UsageError(f"invalid rate limit number {text!r}") from None


def parse_rate(value: object, burst_factor: float) -> Rate:
    """`RATE[:BURST]` ("20", "20:60", "1MiB:4MiB", suffixes k/M/G and KiB/MiB/GiB), a number, or a
    `[rate, burst]` pair; a missing burst is `burst_factor` × rate."""
    if isinstance(value, Rate):
        return value
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise UsageError(f"invalid rate limit {value!r}: expected [rate, burst]")
        return Rate(*(_number(str(v)) for v in value))
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UsageError(f"invalid rate limit {value!r}: expected RATE[:BURST]")
    rate_text, sep, burst_text = str(value).partition(":")
    rate = _number(rate_text)
    return Rate(rate, _number(burst_text) if sep else rate * burst_factor)


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """The limiter's settings (NodeConfig's `ratelimit_*` fields fill it)."""

    mode: RateLimitMode = RateLimitMode.OBSERVE
    packet_rate: Rate = DEFAULT_PACKETS
    """shh packets per second and burst, per peer ID and per IP."""
    byte_rate: Rate = DEFAULT_BYTES
    """shh payload bytes per second and burst, per peer ID and per IP."""
    tolerance: int = DEFAULT_TOLERANCE
    """Exceedances by one peer ID or IP within `window` after which enforce mode disconnects;
    0: never (Status's RateLimitTolerance)."""
    window: float = 60.0
    """Seconds an exceedance counts towards the tolerance."""
    exempt_loopback: bool = True
    """Packets from loopback addresses are not limited."""
    exempt_ips: frozenset[str] = frozenset()
    """Addresses never limited, as `normalise_ip` gives them (IPv4-mapped IPv6 as IPv4, other
    IPv6 as its /64, which is also the IP scope's key)."""
    exempt_ids: frozenset[bytes] = frozenset()
    """64-byte node ids never limited."""
    max_tracked: int = 4096
    """Most keys kept per scope; idle ones go first anyway."""
    report_interval: float = 10.0
    """Least seconds between two reports (log lines)."""

    def __post_init__(self) -> None:
        if not isinstance(self.mode, RateLimitMode):
            raise UsageError(f"invalid rate limit mode: {self.mode!r}")
        if not isinstance(self.packet_rate, Rate) or not isinstance(self.byte_rate, Rate):
            raise UsageError("rate limits must be Rate(rate, burst)")
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, int):
            raise UsageError(f"invalid rate limit tolerance: {self.tolerance!r}")
        if not 0 <= self.tolerance <= 1_000_000:
            raise UsageError(f"invalid rate limit tolerance: {self.tolerance} (0…1000000)")
        for name, value in (("window", self.window), ("report interval", self.report_interval)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise UsageError(f"invalid rate limit {name}: {value!r}")
        if not (isinstance(self.max_tracked, int) and self.max_tracked >= 1):
            raise UsageError(f"invalid rate limit max_tracked: {self.max_tracked!r}")


def parse_mode(value: object) -> RateLimitMode:
    """`off`, `observe` or `enforce` (or a RateLimitMode); raises UsageError."""
    try:
        return RateLimitMode(value)
    except ValueError:
        choices = "|".join(m.value for m in RateLimitMode)
        raise UsageError(f"invalid ratelimit mode {value!r}: expected {choices}") from None


def rate_limit_config(
    *,
    mode: RateLimitMode | str,
    packets: tuple[float, float] | Rate,
    volume: tuple[float, float] | Rate,
    tolerance: int,
    exempt_loopback: bool,
    exempt: tuple[str, ...],
) -> RateLimitConfig:
    """A checked RateLimitConfig from settings as NodeConfig holds them: `exempt` lists IP
    addresses, enode URLs and node ids (128 hex). Raises UsageError."""
    rates = []
    for name, pair in (("packets", packets), ("bytes", volume)):
        if isinstance(pair, Rate):
            rates.append(pair)
        elif isinstance(pair, tuple | list) and len(pair) == 2:
            rates.append(Rate(*pair))
        else:
            raise UsageError(f"invalid ratelimit {name} {pair!r}: expected (rate, burst)")
    if not isinstance(exempt_loopback, bool):
        raise UsageError(f"invalid ratelimit loopback exemption: {exempt_loopback!r}")
    ips: set[str] = set()
    ids: set[bytes] = set()
    for item in (exempt,) if isinstance(exempt, str) else exempt:
        text = str(item).strip()
        try:
            if text.startswith("enode://"):
                ids.add(Enode.parse(text).node_id)
            elif len(text.removeprefix("0x")) == 128 and ":" not in text:
                ids.add(bytes.fromhex(text.removeprefix("0x")))
            else:
                ips.add(normalise_ip(str(ipaddress.ip_address(text))))
        except (ValueError, HushError) as exc:
            raise UsageError(f"invalid ratelimit exemption {text!r}: {exc}") from None
    return RateLimitConfig(
        mode=parse_mode(mode),
        packet_rate=rates[0],
        byte_rate=rates[1],
        tolerance=tolerance,
        exempt_loopback=exempt_loopback,
        exempt_ips=frozenset(ips),
        exempt_ids=frozenset(ids),
    )


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


@lru_cache(maxsize=1024)
def _address(host: str) -> tuple[str, bool]:
    """(the IP scope's key, loopback?) for a remote host string."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host, False
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif not address.is_loopback:
            network = ipaddress.IPv6Network((address, 64), strict=False)
            return str(network), False
    return str(address), address.is_loopback


def normalise_ip(host: str) -> str:
    """The form `RateLimitConfig.exempt_ips` holds (the IP scope's key)."""
    return _address(host)[0]


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
        ip, loopback = _address(host)
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
            if not oldest.idle(now, window):
                break
            spare = table.popitem(last=False)[1]
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
