"""Ingress rate-limit settings (hardening.md §2.3): modes, rates, exemptions, and the IP key.

What `hush.node.ratelimit.RateLimiter` enforces is configured here: `RateLimitConfig` (checked
on construction), `rate_limit_config` from the node's settings (rates as `RATE[:BURST]` with
k/m/g and KiB/MiB/GiB suffixes, exemptions as IP addresses, enode URLs or node ids), and
`ip_scope`, the key an IP counts under (IPv4-mapped IPv6 as IPv4, other IPv6 by /64), which the
limiter and the exemption list share. Pure: no clock, no I/O.
"""

from __future__ import annotations

import enum
import ipaddress
import math
from dataclasses import dataclass
from functools import lru_cache

from hush.enode import Enode
from hush.errors import HushError, UsageError

__all__ = [
    "DEFAULT_BYTES",
    "DEFAULT_PACKETS",
    "DEFAULT_TOLERANCE",
    "Rate",
    "RateLimitConfig",
    "RateLimitMode",
    "ip_scope",
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


@lru_cache(maxsize=1024)
def ip_scope(host: str) -> tuple[str, bool]:
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
    return ip_scope(host)[0]
