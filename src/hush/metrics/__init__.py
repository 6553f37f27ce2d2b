"""What a node is doing, in numbers: the stats object (a NodeObserver) and the readings of a node.

`hush.metrics.prometheus` turns them into metric families and `hush.metrics.server` serves them
(the two alone import prometheus_client); `hush.rpc.stats` answers `hush_stats` from them;
`hush top` draws them. See docs/metrics.md.
"""

from hush.metrics.archive import ArchiveStats
from hush.metrics.counters import Histogram, LabelledCounter
from hush.metrics.stats import NodeReadings, NodeStats, PeerTraffic, read_node

__all__ = [
    "ArchiveStats",
    "Histogram",
    "LabelledCounter",
    "NodeReadings",
    "NodeStats",
    "PeerTraffic",
    "read_node",
]
