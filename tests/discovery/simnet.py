"""Pure discv4 cores wired together in memory with a fake clock (no sockets, no event loop)."""

from __future__ import annotations

import random

from hush.crypto import PrivateKey
from hush.discovery.v4.protocol import Address, Discv4, Discv4Config
from hush.enode import Enode

FAST = Discv4Config(packet_rate=1e6, packet_burst=1e6)


class SimNet:
    """Cores by (ip, port); `run` delivers every datagram and fires every timer up to a time."""

    def __init__(self, seed: int = 1, start: float = 1_700_000_000.0) -> None:
        self.rng = random.Random(seed)
        self.now = start
        self.nodes: dict[Address, Discv4] = {}
        self.delivered = 0
        self.lost: set[Address] = set()
        """Addresses whose datagrams are dropped (a dead node)."""

    def random_bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    def add(
        self,
        port: int,
        bootnodes: tuple[Enode, ...] = (),
        config: Discv4Config = FAST,
        ip: str = "127.0.0.1",
    ) -> Discv4:
        key = PrivateKey.generate(self.random_bytes)
        node = Discv4(key, ip, port, port, self.random_bytes, self.now, config, bootnodes=bootnodes)
        self.nodes[(ip, port)] = node
        return node

    @staticmethod
    def enode(node: Discv4) -> Enode:
        ip = node.endpoint.address
        return Enode(node.node_id, ip, node.endpoint.tcp_port, node.endpoint.udp_port)

    def flush(self) -> int:
        """Deliver datagrams until quiet (no time passes); returns how many."""
        count = 0
        while True:
            moved = 0
            for address, node in list(self.nodes.items()):
                for data, to in node.datagrams_to_send():
                    if address in self.lost or to in self.lost:
                        continue
                    target = self.nodes.get(to)
                    if target is not None:
                        target.receive_datagram(data, address, self.now)
                        moved += 1
            count += moved
            if not moved:
                self.delivered += count
                return count

    def run(self, until: float) -> None:
        """Advance the clock timer by timer to `until`, delivering everything in between."""
        self.flush()
        while True:
            due = min(node.get_timer() for node in self.nodes.values())
            if due > until:
                break
            self.now = max(self.now, due)
            for node in self.nodes.values():
                if node.get_timer() <= self.now:
                    node.handle_timer(self.now)
            self.flush()
        self.now = until
