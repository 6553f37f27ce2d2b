"""Lookup state of the discovery v4 protocol (devp2p.md §5): one iterative lookup (`Lookup`: the
distance-sorted result of 16, who was asked, how many queries are in flight) and one FindNode of
a lookup to one node (`Query`). `Discv4` drives them; this module holds the data and the merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hush.discovery.v4.table import BUCKET_SIZE, TableNode
from hush.types import NodeID

__all__ = ["Lookup", "Query"]


@dataclass(slots=True)
class Query:
    """A FindNode of a lookup to one node, from bonding to the last Neighbors packet."""

    node: TableNode
    lookup: Lookup
    deadline: float
    sent: bool = False
    received: list[TableNode] = field(default_factory=list)


@dataclass(slots=True)
class Lookup:
    """One iterative lookup towards `target` (64 bytes)."""

    target: NodeID
    target_hash: bytes
    result: list[TableNode] = field(default_factory=list)
    asked: set[NodeID] = field(default_factory=set)
    pending: int = 0
    done: bool = False

    def _distance(self, node: TableNode) -> int:
        return int.from_bytes(node.id_hash, "big") ^ int.from_bytes(self.target_hash, "big")

    def _merge(self, nodes: list[TableNode]) -> None:
        known = {n.node_id for n in self.result}
        for node in nodes:
            if node.node_id not in known:
                known.add(node.node_id)
                self.result.append(node)
        self.result.sort(key=self._distance)
        del self.result[BUCKET_SIZE:]
