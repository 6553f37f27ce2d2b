"""Whole networks of real nodes in one process, for tests and simulations.

Parts: `cluster` (`MemoryCluster`: seeded nodes on a memory network, `Watch`, inline sealing)
and `gossip` (a workload on a random regular graph, with delivery and arrival traces).
"""

from hush.testing.cluster import (
    EPOCH,
    MemoryCluster,
    Watch,
    node_id_of,
    seal,
    sealed_message,
    seeded_random,
)
from hush.testing.gossip import GossipRun, gossip, random_regular_graph

__all__ = [
    "EPOCH",
    "GossipRun",
    "MemoryCluster",
    "Watch",
    "gossip",
    "node_id_of",
    "random_regular_graph",
    "seal",
    "sealed_message",
    "seeded_random",
]
