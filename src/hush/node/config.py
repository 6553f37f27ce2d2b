"""The node's settings: one frozen dataclass, filled by the CLI from flags and a TOML file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hush.shh.pool import DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MIN_POW, DEFAULT_POOL_BYTES

__all__ = ["NodeConfig"]


@dataclass(frozen=True, slots=True)
class NodeConfig:
    datadir: Path | None = field(default_factory=lambda: Path.home() / ".hush")
    """Where the node key lives (and `hush node --keystore` keeps keys); None: all in memory."""
    listen_host: str = "0.0.0.0"
    """Address for incoming devp2p connections."""
    listen_port: int = 30303
    """TCP port for incoming devp2p connections; 0 picks a free one."""
    listen: bool = True
    """Accept incoming connections at all."""
    static_peers: tuple[str, ...] = ()
    """enode URLs dialled at start and redialled with backoff when they drop."""
    trusted_peers: tuple[str, ...] = ()
    """enode URLs whose direct (p2p) messages are accepted; they bypass the peer limit."""
    max_peers: int = 25
    """Connections accepted or dialled, static and trusted peers not counted."""
    min_pow: float = DEFAULT_MIN_POW
    """Minimum PoW of envelopes accepted; advertised to peers."""
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    """Largest envelope (nominal size) and shh packet accepted."""
    light: bool = False
    """Light client: advertised to peers, and this node relays only its own envelopes."""
    restrict_light: bool = True
    """Refuse a light peer when this node is light too (geth's default)."""
    pool_bytes: int = DEFAULT_POOL_BYTES
    """Most bytes of envelopes the pool holds; further envelopes are refused until some expire."""
    send_interval: float = 0.02
    """Least seconds between two batches to the same peer (bursts coalesce; an idle link sends
    at once). Used by the default relay policy."""
    pow_processes: int | None = None
    """Worker processes for sealing; None uses every core."""
    client_id: str = "hush/v0.1.0"
    """The devp2p client id sent in Hello."""
