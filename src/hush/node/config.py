"""The node's settings: one frozen dataclass, filled by the CLI from flags and a TOML file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hush import CLIENT_ID
from hush.enode import Enode
from hush.errors import HushError, UsageError
from hush.net.config import MAX_TIMEOUT, TIMEOUT_FIELDS, P2PConfig
from hush.node.ratelimit_config import (
    DEFAULT_BYTES,
    DEFAULT_PACKETS,
    DEFAULT_TOLERANCE,
    RateLimitConfig,
    RateLimitMode,
    rate_limit_config,
)
from hush.sealer import DEFAULT_MAX_WORK_TIME, DEFAULT_QUEUE_LIMIT
from hush.shh.hygiene import DEFAULT_SENT_SPREAD, PADDING_BUCKETS
from hush.shh.pool import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MIN_POW,
    DEFAULT_POOL_BYTES,
    MAX_MESSAGE_SIZE,
)
from hush.validation import check_bool, check_host, check_int, check_number, check_text

__all__ = ["NodeConfig"]

_MAX_COUNT = 1_000_000  # beyond any machine's descriptors: surely a typo
_P2P_DEFAULTS = P2PConfig()


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
    advertise_host: str | None = None
    """IP put in our enode (geth's `--nat extip:IP`); None: the listen address when it is
    specific, else 127.0.0.1."""
    static_peers: tuple[str, ...] = ()
    """enode URLs dialled at start and redialled with backoff when they drop."""
    trusted_peers: tuple[str, ...] = ()
    """enode URLs whose direct (p2p) messages are accepted; they bypass the peer limit."""
    max_peers: int = 25
    """Connections accepted or dialled, static and trusted peers not counted."""
    target_peers: int = 6
    """Peers the node dials its peer source's candidates for (discovery, a fleet file) until it
    has this many; static peers count. Without a peer source it does nothing."""
    source_interval: float = 5.0
    """Seconds between two looks at the peer count for the peer source's dials, unless a peer
    comes or goes first."""
    source_gap: float = 0.5
    """Least seconds between two such looks (at most `target_peers` dials per gap, 3 at once):
    bounds the source's dial rate however fast peers come and go. At most `source_interval`."""
    max_pending_peers: int = 50
    """Inbound connections in the handshake at once; more are closed at accept (geth's
    --maxpendpeers, 50)."""
    max_peers_per_ip: int = 8
    """Inbound connections, pending or established, from one IP (an IPv6 /64); loopback and
    private addresses are exempt."""
    min_pow: float = DEFAULT_MIN_POW
    """Minimum PoW of envelopes accepted; advertised to peers."""
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    """Largest envelope (nominal size) and shh packet accepted."""
    light: bool = False
    """Light client: advertised to peers, and this node relays only its own envelopes."""
    restrict_light: bool = True
    """Refuse a light peer when this node is light too (geth's default)."""
    pool_bytes: int = DEFAULT_POOL_BYTES
    """Most bytes the pool holds, as accounted memory (each envelope's size plus a measured
    per-entry overhead); when full, cheaper envelopes (lower PoW) make room for costlier ones."""
    pool_peer_share: float = 0.25
    """Share of `pool_bytes` one peer's envelopes (or this node's own posts) may take; beyond it
    a peer's envelopes are not pooled (nor is it disconnected). Large enough for a geth peer's
    whole pool after a restart; small enough that one peer can't fill the pool."""
    send_interval: float = 0.02
    """Least seconds between two batches to the same peer (bursts coalesce; an idle link sends
    at once). Used by the default relay policy."""
    stem: bool = True
    """One-hop stem for own envelopes (`hush.node.stem`): a post goes to one peer first and is
    relayed after its echo or a ~2 s embargo. False: flood at once to every peer, as geth."""
    stem_embargo: float = 2.0
    """Mean seconds of the stem's embargo (half of it fixed, the rest exponential)."""
    stem_hops: bool = False
    """Opt-in multi-hop stem between hush nodes (`hush.node.stem_hops`) on its own devp2p
    capability, `hushstem/1` (shh/6 unchanged; legacy peers ignore it). Needs `stem`."""
    sent_spread: int = DEFAULT_SENT_SPREAD
    """Envelope hygiene: a post's `sent` (expiry − ttl, in clear) moves up to this many seconds
    into the past, uniformly, its TTL kept (0: the exact second, as geth)."""
    padding_bucket: int = 256
    """Posts are padded to a multiple of this many bytes (256 as geth; 512, 1024 or 4096 hide
    the length class better, at that cost in bytes)."""
    pow_processes: int | None = None
    """Sealing workers (threads; processes only where the C nonce loop wasn't built); None: one
    per core."""
    max_pow_time: float = DEFAULT_MAX_WORK_TIME
    """Most seconds of PoW one post may ask for (shh_post's powTime); more is refused."""
    seal_queue: int = DEFAULT_QUEUE_LIMIT
    """Most posts being sealed or waiting for the sealer at once; more are refused."""
    client_id: str = CLIENT_ID
    """The devp2p client id sent in Hello."""
    handshake_timeout: float = _P2P_DEFAULTS.handshake_timeout
    """Seconds for the TCP connect, RLPx handshake and Hello exchange together (geth's 5 s)."""
    read_timeout: float = _P2P_DEFAULTS.read_timeout
    """Seconds of silence after which a peer is dropped with READ_TIMEOUT (geth's 30 s)."""
    write_timeout: float = _P2P_DEFAULTS.write_timeout
    """Seconds a single write may take to drain before the peer is dropped (geth's 20 s)."""
    ping_interval: float = _P2P_DEFAULTS.ping_interval
    """Seconds between our devp2p Pings, which keep the remote's read deadline satisfied."""

    # Ingress rate limits (hardening.md §2.3; hush.node.ratelimit). Validated by
    # `rate_limit_config()`, which __post_init__ and Node both call.
    ratelimit: RateLimitMode = RateLimitMode.OBSERVE
    """Rate limits per peer ID and per IP on incoming shh packets: off; observe (count, log a
    line at most every 10 s, never drop); enforce (drop excess `messages` packets without
    disconnecting, and disconnect after `ratelimit_tolerance` exceedances in 60 s)."""
    ratelimit_packets: tuple[float, float] = (DEFAULT_PACKETS.rate, DEFAULT_PACKETS.burst)
    """shh packets per second and burst, per peer ID and per IP. geth sends ~3.3 packets/s; a busy
    hush peer up to 1/`send_interval` (50/s by default), which the default 50/s, burst 150 admits."""
    ratelimit_bytes: tuple[float, float] = (DEFAULT_BYTES.rate, DEFAULT_BYTES.burst)
    """shh payload bytes per second and burst, per peer ID and per IP; a packet bigger than the
    burst passes on a full bucket. The burst covers a geth peer's sync after a restart."""
    ratelimit_tolerance: int = DEFAULT_TOLERANCE
    """Exceedances within 60 s after which enforce mode disconnects a peer (subprotocol error);
    0: never."""
    ratelimit_exempt_loopback: bool = True
    """Peers on loopback addresses are not limited (switch off to try limits on 127.0.0.1)."""
    ratelimit_exempt: tuple[str, ...] = ()
    """IP addresses, enode URLs or node ids (128 hex) never limited. Static and trusted peers are
    exempt anyway; trusted covers archive (mail) servers, whose history geth takes only from
    trusted peers."""

    def __post_init__(self) -> None:
        """Refuse a bad setting at once, in one line naming it (flags, TOML and library alike)."""
        self._check()
        self.rate_limit_config()

    def rate_limit_config(self) -> RateLimitConfig:
        """The limiter's settings from the `ratelimit_*` fields; raises UsageError if invalid."""
        return rate_limit_config(
            mode=self.ratelimit,
            packets=self.ratelimit_packets,
            volume=self.ratelimit_bytes,
            tolerance=self.ratelimit_tolerance,
            exempt_loopback=self.ratelimit_exempt_loopback,
            exempt=self.ratelimit_exempt,
        )

    def _check(self) -> None:
        if self.datadir is not None and not isinstance(self.datadir, Path):
            raise UsageError(f"invalid datadir: must be a path, got {self.datadir!r}")
        check_host("listen_host", self.listen_host)
        check_int("listen_port", self.listen_port, 0, 0xFFFF)
        for name in ("listen", "light", "restrict_light", "stem", "stem_hops"):
            check_bool(name, getattr(self, name))
        for name in ("static_peers", "trusted_peers"):
            urls = getattr(self, name)
            if not isinstance(urls, tuple):
                raise UsageError(f"invalid {name}: must be a tuple of enode URLs")
            for url in urls:
                try:
                    Enode.parse(url)
                except (HushError, TypeError, ValueError, AttributeError) as exc:
                    raise UsageError(f"invalid {name} entry {str(url)[:80]!r}: {exc}") from None
        check_int("max_peers", self.max_peers, 0, _MAX_COUNT)
        check_int("target_peers", self.target_peers, 0, _MAX_COUNT)
        check_number("source_interval", self.source_interval, 0, 3600, positive=True)
        check_number("source_gap", self.source_gap, 0, self.source_interval, positive=True)
        check_int("max_pending_peers", self.max_pending_peers, 1, _MAX_COUNT)
        check_int("max_peers_per_ip", self.max_peers_per_ip, 1, _MAX_COUNT)
        check_number("min_pow", self.min_pow, 0)
        check_int("max_message_size", self.max_message_size, 1, MAX_MESSAGE_SIZE)
        check_int("pool_bytes", self.pool_bytes, 1)
        check_number("pool_peer_share", self.pool_peer_share, 0, 1, positive=True)
        check_number("send_interval", self.send_interval, 0, 3600)
        check_number("stem_embargo", self.stem_embargo, 0, 60, positive=True)
        if self.stem_hops and not self.stem:
            raise UsageError("invalid stem_hops: the multi-hop stem needs stem on")
        check_int("sent_spread", self.sent_spread, 0, 3600)
        if self.padding_bucket not in PADDING_BUCKETS:
            raise UsageError(
                f"invalid padding_bucket: {self.padding_bucket!r} (one of "
                f"{', '.join(map(str, PADDING_BUCKETS))})"
            )
        if self.pow_processes is not None:
            check_int("pow_processes", self.pow_processes, 1, 1024)
        check_number("max_pow_time", self.max_pow_time, 0, positive=True)
        check_int("seal_queue", self.seal_queue, 1, 1_000_000)
        check_text("client_id", self.client_id, 256)
        for name in TIMEOUT_FIELDS:
            check_number(name, getattr(self, name), 0, MAX_TIMEOUT, positive=True)
