"""What later features plug into the node: observers of its accounting points, and a source of
peers to dial.

* `NodeObserver` — every accounting point of the node (peers, packets, envelopes, delivery,
  sealing), as no-op methods to override. Observers are called synchronously on the event loop,
  in the order the node makes its decisions: keep them cheap, and never raise (an exception is
  logged and the observer keeps its place). The archive listens to `envelope_accepted`, metrics
  to all of them, the simulator to whatever it traces.
* `PeerSource` — candidates to dial when the node has fewer peers than it wants (discovery, a
  fleet file), told how each dial went so it can learn who speaks shh.
* `DiscoveryView` — what the node shows of the discovery running beside it (its enode's
  discport, admin_nodeInfo's enr, hush_stats), set as `Node.discovery` by whoever runs it.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from typing import Protocol

from hush.enode import Enode
from hush.shh.envelope import Envelope
from hush.shh.pool import AddOutcome, AddStatus, PooledEnvelope
from hush.types import NodeID

__all__ = ["DialOutcome", "DiscoveryView", "NodeObserver", "PeerSource"]


class NodeObserver:
    """Accounting points of a node; override the ones you need."""

    def peer_connected(self, node_id: NodeID, inbound: bool, client_id: str) -> None:
        """A peer passed admission and its shh session starts."""

    def peer_disconnected(self, node_id: NodeID, why: str) -> None:
        """A peer's session ended; `why` is a short label (a disconnect reason's name, say)."""

    def packet_received(self, node_id: NodeID, code: int, size: int) -> None:
        """An shh packet arrived (before rate limits and validation); `size` is its payload."""

    def packet_sent(self, node_id: NodeID, code: int, size: int) -> None:
        """An shh packet was handed to the peer's link."""

    def envelope_received(self, outcome: AddOutcome, source: NodeID | None, local: bool) -> None:
        """The pool's verdict on one envelope, from a peer (`source`) or posted here (`local`)."""

    def duplicates_received(self, entries: Sequence[PooledEnvelope], source: NodeID) -> None:
        """Copies of pooled envelopes from a peer, in the order they came, told at once (a
        relaying node gets most envelopes several times): by default `envelope_received` with
        a DUPLICATE outcome for each. Override to take the run in one call."""
        if type(self).envelope_received is not NodeObserver.envelope_received:
            for entry in entries:
                self.envelope_received(AddOutcome(AddStatus.DUPLICATE, "", entry), source, False)

    def envelope_accepted(
        self, entry: PooledEnvelope, envelope: Envelope, source: NodeID | None, local: bool
    ) -> None:
        """An envelope entered the pool for the first time (`entry.raw` is its encoding). Not
        called for direct (code 127) messages."""

    def envelopes_expired(self, count: int) -> None:
        """The expiry sweep dropped this many envelopes."""

    def message_delivered(self, count: int, direct: bool) -> None:
        """An envelope opened for `count` filters (`direct`: a code 127 message)."""

    def envelope_sealed(self, seconds: float, pow_target: float) -> None:
        """A local post finished its proof of work in `seconds`."""

    def bundle_sent(self, node_id: NodeID, envelopes: int) -> None:
        """A `messages` packet of this many envelopes went to the peer (after `packet_sent`)."""

    def broadcast_turn(self, node_id: NodeID, seconds: float, envelopes: int) -> None:
        """One turn of the peer's write loop ended: `envelopes` candidates were considered and
        what was due was sent (flushes included) in `seconds` of the node's monotonic clock."""

    def dial_failed(self, node_id: NodeID, error: Exception) -> None:
        """A dial of a static peer failed before its shh session started (it is retried)."""


class DialOutcome(enum.Enum):
    CONNECTED = "connected"
    """The peer speaks shh/6 and its session started."""
    USELESS = "useless"
    """The peer answered but shares no capability with us (no shh)."""
    REFUSED = "refused"
    """The peer refused us (too many peers, say) or we refused it at admission."""
    FAILED = "failed"
    """Connect, handshake or Hello failed or timed out."""


class PeerSource(Protocol):
    """Peers to dial beyond the static set (discovery, a fleet file)."""

    def candidates(self, want: int, exclude: Collection[NodeID]) -> list[Enode]:
        """Up to `want` peers worth dialling now, none of `exclude` (connected or being dialled)."""
        ...

    def dialed(self, node_id: NodeID, outcome: DialOutcome) -> None:
        """How a dial of a candidate went."""
        ...


class DiscoveryView(Protocol):
    """The node's discovery, read-only (hush.discovery.Discovery is one)."""

    @property
    def running(self) -> bool: ...

    @property
    def port(self) -> int:
        """The UDP port it answers on."""
        ...

    def record_text(self) -> str:
        """The node's ENR as `enr:` text (EIP-778)."""
        ...

    def table_size(self) -> int:
        """Nodes in its table."""
        ...
