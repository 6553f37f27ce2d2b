"""What the node says about itself (`Node.info()`)."""

from __future__ import annotations

from dataclasses import dataclass

from hush.types import Bloom, NodeID

__all__ = ["NodeStatus"]


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What the node says about itself (`Node.info()`), read-only, for RPC, CLI and metrics."""

    client_id: str
    node_id: NodeID
    enode: str
    listen_address: str
    """host:port it listens on (port 0 when not listening)."""
    memory: int
    """Bytes the envelope pool accounts for (geth's shh_info `memory`)."""
    pooled: int
    """Envelopes in the pool."""
    queued_messages: int
    min_pow: float
    max_message_size: int
    bloom: Bloom | None
    light: bool
    peers: int
