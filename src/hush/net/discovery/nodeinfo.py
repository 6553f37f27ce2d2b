"""What `admin_nodeInfo` reports of discovery, as geth 1.9 does: the node's ENR text and the
discovery UDP port. Without discovery geth still has a record (ip and tcp, no udp), seq 1."""

from __future__ import annotations

from hush.discovery.v4.enr import make_record
from hush.enode import Enode
from hush.node import Node
from hush.node.hooks import DiscoveryView

__all__ = ["discovery_of", "node_record"]


def discovery_of(node: Node) -> DiscoveryView | None:
    """The discovery running beside the node, if any."""
    discovery = node.discovery
    return discovery if discovery is not None and discovery.running else None


def node_record(node: Node) -> tuple[str, int | None]:
    """(ENR text, discovery UDP port or None when discovery isn't running)."""
    discovery = discovery_of(node)
    if discovery is not None:
        return discovery.record_text(), discovery.port
    enode = Enode.parse(node.enode)
    record = make_record(node.node_key, 1, ip=enode.ip, tcp_port=enode.tcp_port or None)
    return record.text(), None
