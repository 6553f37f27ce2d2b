"""Configuration of the devp2p shell (devp2p.md §3, §4) and its connection limits."""

from __future__ import annotations

from dataclasses import dataclass

from hush import CLIENT_ID
from hush.errors import UsageError
from hush.rlpx.base import MAX_SNAPPY_SIZE
from hush.rlpx.connection import HANDSHAKE_TIMEOUT, PING_INTERVAL, READ_TIMEOUT
from hush.validation import check_bool, check_int, check_number, check_text

__all__ = ["MAX_TIMEOUT", "TIMEOUT_FIELDS", "P2PConfig"]

MAX_TIMEOUT = 24 * 3600.0
"""Longest timeout a setting may take, in seconds: a day (longer is surely a typo)."""
TIMEOUT_FIELDS = ("handshake_timeout", "read_timeout", "write_timeout", "ping_interval")
"""The connection timeouts, which `NodeConfig` carries too and hands to `P2PConfig`."""


@dataclass(frozen=True, slots=True)
class P2PConfig:
    """How this node speaks devp2p; one per node, shared by every connection."""

    client_id: str = CLIENT_ID
    """The clientId we announce in Hello (devp2p.md §4.2)."""

    capabilities: tuple[tuple[str, int, int], ...] = (("shh", 6, 128),)
    """Sub-protocols we speak as (name, version, number of message ids); shh/6 uses 128 (§4.6)."""

    max_message_size: int = 10 * 1024 * 1024
    """Largest incoming message payload, after decompression; a Snappy block declaring more is
    refused before it is inflated, and frames are bounded accordingly (§4.3)."""

    handshake_timeout: float = HANDSHAKE_TIMEOUT
    """One deadline, in seconds, for the TCP connect, RLPx handshake and Hello exchange together
    (geth's 5 s, §4.2)."""

    read_timeout: float = READ_TIMEOUT
    """Seconds of silence after which a peer is dropped with READ_TIMEOUT (geth's 30 s, §3)."""

    write_timeout: float = 20.0
    """Seconds a single write may take to drain before the peer is dropped (geth's 20 s, §3)."""

    ping_interval: float = PING_INTERVAL
    """Seconds between our Pings, which keep the remote's read deadline satisfied (§4.5)."""

    max_pending_inbound: int = 50
    """Inbound connections allowed in the handshake at once; more are closed at accept (geth's
    maxPendingPeers, 50)."""

    evict_pending_after: float | None = 1.0
    """When the pending cap is reached, a handshake pending this many seconds is closed to make
    room for the newcomer (honest handshakes take milliseconds); None: refuse the newcomer."""

    max_inbound_per_ip: int = 8
    """Inbound connections, pending or established, from one IP address (an IPv6 /64)."""

    inbound_throttle: float = 30.0
    """Seconds after an accepted connection during which the same IP is refused (geth's
    inboundThrottleTime, 30 s); 0 turns it off."""

    exempt_lan: bool = True
    """Loopback and private addresses skip the per-IP cap and the throttle (geth's LAN rule)."""

    max_connections: int | None = None
    """p2p connections in all, pending or established, in or out; None: derived from the
    open-file limit when the listener starts (`hush.net.limits.connection_budget`)."""

    def __post_init__(self) -> None:
        check_text("client_id", self.client_id, 512)
        if not isinstance(self.capabilities, tuple) or not self.capabilities:
            raise UsageError("invalid capabilities: P2PConfig needs at least one capability")
        for capability in self.capabilities:
            if not isinstance(capability, tuple) or len(capability) != 3:
                raise UsageError(
                    f"invalid capability {capability!r}: expected (name, version, length)"
                )
            name, version, length = capability
            check_text("capability name", name, 8)
            check_int("capability version", version, 0, 0xFFFF)
            check_int("capability length", length, 1, 0xFFFF)
        check_int("max_message_size", self.max_message_size, 1, MAX_SNAPPY_SIZE)
        for field_name in TIMEOUT_FIELDS:
            check_number(field_name, getattr(self, field_name), 0, MAX_TIMEOUT, positive=True)
        check_int("max_pending_inbound", self.max_pending_inbound, 1)
        if self.evict_pending_after is not None:
            check_number("evict_pending_after", self.evict_pending_after, 0, MAX_TIMEOUT)
        check_int("max_inbound_per_ip", self.max_inbound_per_ip, 1)
        check_number("inbound_throttle", self.inbound_throttle, 0, MAX_TIMEOUT)
        check_bool("exempt_lan", self.exempt_lan)
        if self.max_connections is not None:
            check_int("max_connections", self.max_connections, 1)
