"""One node's counters and histograms, kept at its accounting points (hardening.md §5.2).

`NodeStats` is a `NodeObserver`: pass it as `Node(observers=[stats])` and it counts what the node
reports — peers coming and going, packets and bytes per direction and code, each envelope's fate,
deliveries, sealing, bundles, failed dials of static peers. What the node holds at a moment (pool
occupancy, filters, queued messages, the rate limiter's counters, the peers' PoW and bloom) is
read from its public surface when asked (`read_node`), so nothing is counted twice.

Rules:
- No Prometheus here: plain ints, dicts and `Histogram`s that the exporter (`hush.metrics.
  prometheus`), the `hush_stats` RPC method and the simulator all read the same way.
- Bounded memory: every label comes from a closed vocabulary (enums, packet codes 0–127, the
  node's disconnect labels) and each labelled counter holds at most `MAX_LABEL_VALUES` keys, past
  which new keys count under `other`; per-peer traffic lives only while the peer is connected;
  failed static dials are kept for at most `MAX_FAILING` peers.
- Observers run on the event loop and must be cheap: each method is a few dict updates.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hush.clock import SYSTEM_CLOCK, Clock
from hush.errors import HushError
from hush.metrics.archive import ArchiveStats
from hush.metrics.counters import OTHER, Histogram, LabelledCounter
from hush.net.transport import InboundStats, TcpTransport
from hush.node.hooks import NodeObserver
from hush.sealer import InlineSealer, Sealer
from hush.shh.envelope import Envelope
from hush.shh.errors import ERR_BLOOM_MISMATCH, ERR_FUTURE, ERR_HUGE, ERR_LOW_POW, ERR_TOO_OLD
from hush.shh.packets import PacketCode
from hush.shh.pool import AddOutcome, AddStatus, PooledEnvelope
from hush.types import Bloom, NodeID

if TYPE_CHECKING:
    from hush.node import Node, PeerInfo
    from hush.node.ratelimit import RateLimitStats

__all__ = [
    "AGE_BUCKETS",
    "BUNDLE_BUCKETS",
    "COMPAT",
    "MAX_FAILING",
    "REJECT_REASONS",
    "SEAL_BUCKETS",
    "SIZE_BUCKETS",
    "TURN_BUCKETS",
    "DialFailure",
    "NodeReadings",
    "NodeStats",
    "PeerTraffic",
    "bloom_fill",
    "code_label",
    "peer_kind",
    "read_node",
]

SIZE_BUCKETS: tuple[float, ...] = tuple(float(256 * 4**i) for i in range(10))
"""Envelope sizes: 256·4^i bytes, 10 buckets, as status-go's whisper_envelopes_size_bytes."""
AGE_BUCKETS: tuple[float, ...] = (1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 3600)
"""`now − sent` at first receipt; `sent` has 1 s resolution."""
SEAL_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60)
BUNDLE_BUCKETS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 20000)
TURN_BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.3, 1, 5, 20)
"""One peer's write-loop turn, seconds: scanning, batching and flushing (backpressure)."""
COMPAT = frozenset({"status"})
"""`--metrics-compat` values: `status` adds status-go's whisper_* / mailserver_* names."""
MAX_FAILING = 256
"""Static peers whose failed dials are remembered (the oldest is forgotten first)."""

REJECT_REASONS: Mapping[str, str] = {
    ERR_FUTURE: "in_future",
    ERR_TOO_OLD: "very_old",
    ERR_HUGE: "oversized",
    ERR_LOW_POW: "low_pow",
    ERR_BLOOM_MISMATCH: "no_bloom_match",
}
"""geth's rejection texts → status-go's reason vocabulary (whisper_envelopes_cache_failures)."""
_STATUS_REASONS: Mapping[AddStatus, str] = {
    AddStatus.EXPIRED: "expired",
    AddStatus.POOL_FULL: "pool_full",
    AddStatus.OVER_BUDGET: "over_budget",
}


_CODE_LABELS = tuple(f"0x{code:02x}" for code in range(0x80))
_IN = {code: ("in", label) for code, label in enumerate(_CODE_LABELS)}
_OUT = {code: ("out", label) for code, label in enumerate(_CODE_LABELS)}
_IN_OTHER, _OUT_OTHER = ("in", OTHER), ("out", OTHER)
_PEER, _LOCAL, _P2P = ("peer",), ("local",), ("p2p",)


def code_label(code: int) -> str:
    """A packet code as a label: `0x00` … `0x7f` (shh/6 has 128 codes), else `other`."""
    return _CODE_LABELS[code] if 0 <= code <= 0x7F else OTHER


@dataclass(slots=True)
class PeerTraffic:
    """One connected peer's traffic since it joined."""

    inbound: bool
    client_id: str
    since: float
    """Monotonic time it joined."""
    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    envelopes_in: int = 0
    """Envelopes it sent that entered the pool."""


@dataclass(slots=True)
class DialFailure:
    """A static peer's dials that failed since it was last connected."""

    failures: int
    last_error: str
    at: float
    """Wall time of the last failure."""


def _dial_reason(error: Exception) -> str:
    """A short, bounded label for a failed dial."""
    reason = getattr(error, "reason", None)
    if isinstance(error, HushError) and reason is not None and hasattr(reason, "name"):
        who = "remote" if getattr(error, "by_remote", True) else "local"
        return f"{who}_{reason.name.lower()}"
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, OSError):
        return "unreachable"
    return "error"


class NodeStats(NodeObserver):
    """Counters of one node (see the module's rules). Read the attributes; don't write them."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK):
        self.clock = clock
        self._time = clock.time
        self.started = clock.time()
        self.peer_events = LabelledCounter(2)
        """(event, reason): connect/disconnect/handshake_fail and why."""
        self.packets = LabelledCounter(2, 2 * 129)
        """(direction in/out, code label) → packets."""
        self.packet_bytes = LabelledCounter(2, 2 * 129)
        """(direction, code label) → payload bytes."""
        self.received = LabelledCounter(1)
        """(source peer/local/p2p/mailserver,) → envelopes seen."""
        self.accepted = 0
        self.duplicate = 0
        self.rejected = LabelledCounter(1)
        """(reason,) → envelopes not pooled: status-go's reasons, plus pool_full, over_budget."""
        self.expired = 0
        """Envelopes the expiry sweep removed from the pool."""
        self.sizes = Histogram(SIZE_BUCKETS)
        self.ages = Histogram(AGE_BUCKETS)
        self.delivered = LabelledCounter(1)
        """(p2p "true"/"false",) → messages handed to filters."""
        self.seals = Histogram(SEAL_BUCKETS)
        self.bundles = Histogram(BUNDLE_BUCKETS)
        self.broadcast_turns = Histogram(TURN_BUCKETS)
        """Seconds per write-loop turn of a peer (hush's per-peer stand-in for geth's cycle)."""
        self.peers: dict[NodeID, PeerTraffic] = {}
        """Connected peers' traffic (gone when they leave)."""
        self.failing: OrderedDict[NodeID, DialFailure] = OrderedDict()
        """Static peers whose dials fail, until they connect (at most MAX_FAILING)."""
        self.archive = ArchiveStats()
        """The archive server's and history client's counters (they call its methods)."""

    # -- NodeObserver ----------------------------------------------------------------------------

    def peer_connected(self, node_id: NodeID, inbound: bool, client_id: str) -> None:
        self.peer_events.add(("connect", "inbound" if inbound else "outbound"))
        self.peers[node_id] = PeerTraffic(inbound, client_id[:128], self.clock.monotonic())
        self.failing.pop(node_id, None)

    def peer_disconnected(self, node_id: NodeID, why: str) -> None:
        self.peer_events.add(("disconnect", why[:64]))
        self.peers.pop(node_id, None)

    def packet_received(self, node_id: NodeID, code: int, size: int) -> None:
        labels = _IN.get(code, _IN_OTHER)
        self.packets.add(labels)
        self.packet_bytes.add(labels, size)
        if code == PacketCode.P2P_MESSAGE:
            self.received.add(_P2P)
        traffic = self.peers.get(node_id)
        if traffic is not None:
            traffic.packets_in += 1
            traffic.bytes_in += size

    def packet_sent(self, node_id: NodeID, code: int, size: int) -> None:
        labels = _OUT.get(code, _OUT_OTHER)
        self.packets.add(labels)
        self.packet_bytes.add(labels, size)
        traffic = self.peers.get(node_id)
        if traffic is not None:
            traffic.packets_out += 1
            traffic.bytes_out += size

    def envelope_received(self, outcome: AddOutcome, source: NodeID | None, local: bool) -> None:
        self.received.add(_LOCAL if local else _PEER)
        status = outcome.status
        if status is AddStatus.ACCEPTED:
            self.accepted += 1
        elif status is AddStatus.DUPLICATE:
            self.duplicate += 1
        elif status is AddStatus.REJECTED:
            self.rejected.add((REJECT_REASONS.get(outcome.reason, OTHER),))
        else:
            self.rejected.add((_STATUS_REASONS.get(status, OTHER),))

    def envelope_accepted(
        self, entry: PooledEnvelope, envelope: Envelope, source: NodeID | None, local: bool
    ) -> None:
        self.sizes.observe(len(entry.raw))
        if not local:
            age = self._time() - envelope.sent
            self.ages.observe(age if age > 0 else 0.0)
            traffic = self.peers.get(source) if source is not None else None
            if traffic is not None:
                traffic.envelopes_in += 1

    def envelopes_expired(self, count: int) -> None:
        self.expired += count

    def message_delivered(self, count: int, direct: bool) -> None:
        self.delivered.add(("true" if direct else "false",), count)

    def envelope_sealed(self, seconds: float, pow_target: float) -> None:
        self.seals.observe(seconds)

    def bundle_sent(self, node_id: NodeID, envelopes: int) -> None:
        self.bundles.observe(envelopes)

    def broadcast_turn(self, node_id: NodeID, seconds: float, envelopes: int) -> None:
        self.broadcast_turns.observe(seconds)

    def dial_failed(self, node_id: NodeID, error: Exception) -> None:
        self.peer_events.add(("handshake_fail", _dial_reason(error)))
        failure = self.failing.pop(node_id, None)
        text = (str(error) or type(error).__name__)[:200]
        if failure is None:
            failure = DialFailure(0, text, 0.0)
        failure.failures += 1
        failure.last_error = text
        failure.at = self.clock.time()
        self.failing[node_id] = failure
        while len(self.failing) > MAX_FAILING:
            self.failing.popitem(last=False)

    # -- reading ---------------------------------------------------------------------------------

    def connected_for(self, node_id: NodeID) -> float:
        traffic = self.peers.get(node_id)
        return 0.0 if traffic is None else max(0.0, self.clock.monotonic() - traffic.since)


def bloom_fill(bloom: Bloom | None) -> float:
    """Share of the 512 bloom bits set; a full node (no bloom) is 1.0."""
    if bloom is None:
        return 1.0
    return sum(bin(byte).count("1") for byte in bloom) / (8 * len(bloom)) if bloom else 0.0


def peer_kind(peer: PeerInfo) -> str:
    """trusted, static, light or full (the first that applies)."""
    if peer.trusted:
        return "trusted"
    if peer.static:
        return "static"
    return "light" if peer.light else "full"


@dataclass(frozen=True, slots=True)
class NodeReadings:
    """What a node holds now, read through its public surface."""

    peers: list[PeerInfo]
    pool_envelopes: int
    pool_bytes: int
    pool_max_bytes: int
    min_pow: float
    max_message_size: int
    light: bool
    filters_sym: int
    filters_asym: int
    decrypt_attempts: Mapping[tuple[bool, bool], int]
    queued_messages: int
    rate_limits: RateLimitStats
    overflow: tuple[int, int]
    """Messages lost to full queues: (subscriptions, polled filters)."""
    pow_hashes: int | None
    """Nonces the sealer hashed (None: a sealer that does not count them)."""
    inbound: InboundStats | None
    """The listener's gate counts (None: a transport without them, in-memory say)."""


def read_node(node: Node) -> NodeReadings:
    sym, asym = node.filters.kinds()
    sealer, transport = node.sealer, node.transport
    return NodeReadings(
        peers=node.peers(),
        pool_envelopes=len(node.pool),
        pool_bytes=node.pool.bytes_used,
        pool_max_bytes=node.pool.max_bytes,
        min_pow=node.min_pow,
        max_message_size=node.max_message_size,
        light=node.light,
        filters_sym=sym,
        filters_asym=asym,
        decrypt_attempts=dict(node.filters.decrypt_attempts),
        queued_messages=node.queued_messages(),
        rate_limits=node.rate_limit_stats(),
        overflow=node.delivery_overflow(),
        pow_hashes=sealer.hashes if isinstance(sealer, Sealer | InlineSealer) else None,
        inbound=transport.inbound_stats() if isinstance(transport, TcpTransport) else None,
    )
