"""The Kademlia table, as geth 1.8/1.9 keeps it (devp2p.md §5.2).

17 buckets of 16 (`nBuckets = 256/15`): log-distances up to 240 share bucket 0, bucket i holds
log-distance 240 + i; each bucket has up to 10 replacements. Distances are on
keccak256(pubkey64). Nodes seen in a Neighbors reply go to the back of their bucket (or its
replacements); nodes that proved their endpoint (answered our Ping) go to the front.
Revalidation pings the last entry of a random bucket: alive, it moves to the front; dead, a
random replacement takes its place. IP limits (geth `DistinctNetSet`): at most 2 nodes of one
/24 (IPv6: /64) per bucket and 10 per table, LAN and loopback addresses exempt. Everything is
bounded by these numbers: 272 entries, 170 replacements.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hush.crypto import keccak256
from hush.enode import Enode
from hush.types import NodeID, RandomBytes

__all__ = [
    "BUCKET_COUNT",
    "BUCKET_SIZE",
    "MAX_REPLACEMENTS",
    "Table",
    "TableNode",
    "bucket_index",
    "is_lan",
    "log_distance",
]

BUCKET_SIZE = 16
BUCKET_COUNT = 17
MAX_REPLACEMENTS = 10
_BUCKET_MIN_DISTANCE = 256 - BUCKET_COUNT  # 239
_BUCKET_IP_LIMIT = 2
_TABLE_IP_LIMIT = 10


def log_distance(a: bytes, b: bytes) -> int:
    """Bit length of a XOR b (0 for equal ids)."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_length()


def bucket_index(self_hash: bytes, other_hash: bytes) -> int:
    distance = log_distance(self_hash, other_hash)
    return 0 if distance <= _BUCKET_MIN_DISTANCE else distance - _BUCKET_MIN_DISTANCE - 1


_LAN = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fe80::/10",
        "fc00::/7",
    )
)


_CACHED_IPS = 4096  # parsing an IP literal is most of the table's CPU; the cache is bounded


@functools.lru_cache(maxsize=_CACHED_IPS)
def is_lan(ip: str) -> bool:
    """Loopback and the LAN ranges of geth's `netutil.IsLAN` (narrower than Python's
    `is_private`, which also takes the documentation ranges)."""
    address = ipaddress.ip_address(ip)
    return address.is_loopback or any(
        address in net for net in _LAN if net.version == address.version
    )


@functools.lru_cache(maxsize=_CACHED_IPS)
def _subnet(ip: str) -> str:
    address = ipaddress.ip_address(ip)
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass(slots=True)
class TableNode:
    """An entry: a node's key and endpoint, when it was added, how often it proved alive."""

    node_id: NodeID
    ip: str
    udp_port: int
    tcp_port: int
    added_at: float = 0.0
    liveness: int = 0
    id_hash: bytes = field(default=b"", compare=False)

    def __post_init__(self) -> None:
        if not self.id_hash:
            self.id_hash = keccak256(self.node_id)

    @property
    def enode(self) -> Enode:
        return Enode(self.node_id, self.ip, self.tcp_port, self.udp_port)

    @classmethod
    def of(cls, enode: Enode, added_at: float = 0.0) -> TableNode:
        return cls(enode.node_id, enode.ip, enode.discovery_port, enode.tcp_port, added_at)


@dataclass(slots=True)
class _Bucket:
    entries: list[TableNode] = field(default_factory=list)
    replacements: list[TableNode] = field(default_factory=list)
    subnets: dict[str, int] = field(default_factory=dict)


class Table:
    """The 17 × 16 table around `self_id` (64-byte key)."""

    def __init__(self, self_id: NodeID, random_bytes: RandomBytes) -> None:
        self.self_id = self_id
        self.self_hash = keccak256(self_id)
        self._random_bytes = random_bytes
        self._buckets = [_Bucket() for _ in range(BUCKET_COUNT)]
        self._subnets: dict[str, int] = {}
        self._index: dict[NodeID, TableNode] = {}

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._index

    def get(self, node_id: NodeID) -> TableNode | None:
        return self._index.get(node_id)

    def nodes(self) -> list[TableNode]:
        """Every entry, bucket by bucket, most recently proven first."""
        return [node for bucket in self._buckets for node in bucket.entries]

    def _bucket(self, node_id_hash: bytes) -> _Bucket:
        return self._buckets[bucket_index(self.self_hash, node_id_hash)]

    def _random(self, below: int) -> int:
        return int.from_bytes(self._random_bytes(4), "big") % below

    # -- IP limits -------------------------------------------------------------------------------

    def _ip_ok(self, bucket: _Bucket, ip: str) -> bool:
        if is_lan(ip):
            return True
        subnet = _subnet(ip)
        return (
            bucket.subnets.get(subnet, 0) < _BUCKET_IP_LIMIT
            and self._subnets.get(subnet, 0) < _TABLE_IP_LIMIT
        )

    def _count_ip(self, bucket: _Bucket, ip: str, delta: int) -> None:
        if is_lan(ip):
            return
        subnet = _subnet(ip)
        for counts in (bucket.subnets, self._subnets):
            counts[subnet] = counts.get(subnet, 0) + delta
            if counts[subnet] <= 0:
                del counts[subnet]

    # -- adding ----------------------------------------------------------------------------------

    def add_seen(self, node: TableNode, now: float) -> bool:
        """A node we heard of (a Neighbors reply, a bootnode): to the back of its bucket if
        there is room, else among the replacements. True if it entered the bucket."""
        return self._add(node, now, front=False)

    def add_verified(self, node: TableNode, now: float) -> bool:
        """A node that answered our Ping: to the front of its bucket (moved there if present),
        else among the replacements."""
        return self._add(node, now, front=True)

    def _add(self, node: TableNode, now: float, front: bool) -> bool:
        if node.node_id == self.self_id:
            return False
        bucket = self._bucket(node.id_hash)
        present = self._index.get(node.node_id)
        if present is not None:
            if front:
                bucket.entries.remove(present)
                bucket.entries.insert(0, present)
                if present.ip == node.ip:
                    present.udp_port, present.tcp_port = node.udp_port, node.tcp_port
            return True
        if len(bucket.entries) >= BUCKET_SIZE:
            self._add_replacement(bucket, node)
            return False
        if not self._ip_ok(bucket, node.ip):
            return False
        node.added_at = now
        self._count_ip(bucket, node.ip, +1)
        bucket.entries.insert(0 if front else len(bucket.entries), node)
        self._index[node.node_id] = node
        self._drop_replacement(bucket, node.node_id)
        return True

    def _add_replacement(self, bucket: _Bucket, node: TableNode) -> None:
        if any(r.node_id == node.node_id for r in bucket.replacements):
            return
        if not self._ip_ok(bucket, node.ip):
            return
        bucket.replacements.insert(0, node)
        self._count_ip(bucket, node.ip, +1)
        if len(bucket.replacements) > MAX_REPLACEMENTS:
            dropped = bucket.replacements.pop()
            self._count_ip(bucket, dropped.ip, -1)

    def _drop_replacement(self, bucket: _Bucket, node_id: NodeID) -> None:
        for replacement in bucket.replacements:
            if replacement.node_id == node_id:
                bucket.replacements.remove(replacement)
                self._count_ip(bucket, replacement.ip, -1)
                return

    # -- removing and revalidating ---------------------------------------------------------------

    def remove(self, node_id: NodeID) -> bool:
        """Drop an entry, a random replacement taking its place. True if it was there."""
        node = self._index.pop(node_id, None)
        if node is None:
            return False
        bucket = self._bucket(node.id_hash)
        bucket.entries.remove(node)
        self._count_ip(bucket, node.ip, -1)
        if bucket.replacements:
            # a replacement is counted against the IP limits already
            replacement = bucket.replacements.pop(self._random(len(bucket.replacements)))
            bucket.entries.append(replacement)
            self._index[replacement.node_id] = replacement
        return True

    def to_revalidate(self) -> TableNode | None:
        """The last entry of a random non-empty bucket (geth `nodeToRevalidate`)."""
        filled = [bucket for bucket in self._buckets if bucket.entries]
        if not filled:
            return None
        return filled[self._random(len(filled))].entries[-1]

    def revalidated(self, node_id: NodeID, alive: bool) -> None:
        """The outcome of a revalidation ping."""
        node = self._index.get(node_id)
        if node is None:
            return
        if not alive:
            self.remove(node_id)
            return
        node.liveness += 1
        bucket = self._bucket(node.id_hash)
        bucket.entries.remove(node)
        bucket.entries.insert(0, node)

    # -- queries ---------------------------------------------------------------------------------

    def closest(
        self,
        target_hash: bytes,
        count: int = BUCKET_SIZE,
        keep: Callable[[TableNode], bool] | None = None,
    ) -> list[TableNode]:
        """The `count` entries nearest `target_hash` by XOR distance, nearest first."""
        target = int.from_bytes(target_hash, "big")
        chosen: Iterable[TableNode] = self._index.values()
        if keep is not None:
            chosen = filter(keep, chosen)
        return sorted(chosen, key=lambda n: int.from_bytes(n.id_hash, "big") ^ target)[:count]

    def random_nodes(self, count: int) -> list[TableNode]:
        """Up to `count` distinct entries in random order."""
        pool = list(self._index.values())
        chosen: list[TableNode] = []
        while pool and len(chosen) < count:
            chosen.append(pool.pop(self._random(len(pool))))
        return chosen
