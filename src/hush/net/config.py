"""Configuration of the devp2p shell (devp2p.md §3, §4)."""

from __future__ import annotations

from dataclasses import dataclass

from hush.errors import UsageError

__all__ = ["P2PConfig"]


@dataclass(frozen=True, slots=True)
class P2PConfig:
    """How this node speaks devp2p; one per node, shared by every connection."""

    client_id: str = "hush/v0.1.0/python3.11"
    """The clientId we announce in Hello (devp2p.md §4.2)."""

    capabilities: tuple[tuple[str, int, int], ...] = (("shh", 6, 128),)
    """Sub-protocols we speak as (name, version, number of message ids); shh/6 uses 128 (§4.6)."""

    max_message_size: int = 10 * 1024 * 1024
    """Largest incoming message payload, after decompression; a Snappy block declaring more is
    refused before it is inflated, and frames are bounded accordingly (§4.3)."""

    handshake_timeout: float = 5.0
    """One deadline, in seconds, for the TCP connect, RLPx handshake and Hello exchange together
    (geth's 5 s, §4.2)."""

    read_timeout: float = 30.0
    """Seconds of silence after which a peer is dropped with READ_TIMEOUT (geth's 30 s, §3)."""

    write_timeout: float = 20.0
    """Seconds a single write may take to drain before the peer is dropped (geth's 20 s, §3)."""

    ping_interval: float = 15.0
    """Seconds between our Pings, which keep the remote's read deadline satisfied (§4.5)."""

    def __post_init__(self) -> None:
        if not self.capabilities:
            raise UsageError("P2PConfig needs at least one capability")
        for value in (
            self.handshake_timeout,
            self.read_timeout,
            self.write_timeout,
            self.ping_interval,
        ):
            if value <= 0:
                raise UsageError("P2PConfig timeouts and intervals must be positive")
        if self.max_message_size <= 0:
            raise UsageError("P2PConfig.max_message_size must be positive")
