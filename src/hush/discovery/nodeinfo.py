"""What `admin_nodeInfo` reports of discovery, as geth 1.9 does: the node's ENR text and the
discovery UDP port. Without discovery geth still has a record (ip and tcp, no udp), seq 1."""

from __future__ import annotations

from hush.discovery.dialing import DialPolicy
from hush.discovery.service import Discovery
from hush.discovery.v4.enr import make_record
from hush.enode import Enode
from hush.node import Node

__all__ = ["discovery_of", "node_record"]


def discovery_of(node: Node) -> Discovery | None:
    """The running discovery behind the node's peer source, if any."""
    source = node.peer_source
    nodes = source.nodes if isinstance(source, DialPolicy) else None
    return nodes if isinstance(nodes, Discovery) and nodes.running else None


def node_record(node: Node) -> tuple[str, int | None]:
    """(ENR text, discovery UDP port or None when discovery isn't running)."""
    discovery = discovery_of(node)
    if discovery is not None:
        return discovery.record.text(), discovery.port
    enode = Enode.parse(node.enode)
    record = make_record(node.node_key, 1, ip=enode.ip, tcp_port=enode.tcp_port or None)
    return record.text(), None
