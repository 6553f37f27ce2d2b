"""The discovery v4 protocol, sans I/O (devp2p.md §5).

`Discv4` takes datagrams in (`receive_datagram(data, address, now)`), gives datagrams out
(`datagrams_to_send()`), and exposes its deadlines as data (`get_timer()` / `handle_timer(now)`).
Time is Unix seconds passed in, as the wire's expirations are; randomness is injected.

What geth does and so does this:

* Every packet carries `expiration = now + 20 s`; an expired packet is dropped.
* Ping → Pong echoing the Ping's UDP source and `from.tcp`. A sender we have no Pong from in
  24 h is pinged back ("bond"), and enters the table when its Pong arrives.
* A Pong counts only if it carries the hash of a Ping we sent to that node id and IP.
* FindNode and ENRRequest are answered only to nodes whose Pong we received in the last 24 h
  (endpoint proof: no amplification towards a spoofed address). A FindNode gets the 16 closest
  nodes as two Neighbors packets (12 + 4); LAN addresses are not relayed to non-LAN requesters.
* Neighbors are accepted only in reply to a FindNode we sent (same id and IP), at most 16 per
  request; nodes with UDP port ≤ 1024 or an invalid key are skipped.
* Before asking a node, we make sure it can have our Pong: without a Ping from it in 24 h we
  Ping it first and wait for its Ping (or `bond_wait`) before sending FindNode.
* Lookups: the 16 closest known nodes, α = 3 queries in flight, merged into a distance-sorted
  list of 16, done when nothing is pending and every node of the list was asked.
* Table refresh every 30 min (a lookup of our own id, then random ones) and revalidation of a
  random bucket's last entry every 10 s; a node failing 5 FindNodes in a row is dropped.

Bounded against a remote: each source IP has a token bucket (`packet_rate`, `packet_burst`;
`max_tracked_ips` IPs remembered, least recently heard forgotten first); outstanding requests
are capped at `max_pending`; bond records at `max_bonds` (oldest forgotten). Hostile input is
dropped without an answer; `dropped` counts why (a fixed set of reasons).

This module is the facade: the I/O surface, the verbs, the packet handlers and the lookup,
ping and reply flow. Its parts: `config` (`Discv4Config`), `bonds` (endpoint proofs, pending
Pings, per-IP budgets) and `lookup` (`Lookup`, `Query`: lookup state and merge).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

from hush.crypto import PrivateKey, keccak256, public_key_from_bytes
from hush.discovery.v4 import enr
from hush.discovery.v4.bonds import Bonds, IPBudgets, PendingPing, Purpose
from hush.discovery.v4.config import Discv4Config
from hush.discovery.v4.lookup import Lookup, Query
from hush.discovery.v4.packets import (
    MAX_NEIGHBORS_PER_PACKET,
    Endpoint,
    ENRRequest,
    ENRResponse,
    FindNode,
    Neighbors,
    NodeRecord,
    Packet,
    Ping,
    Pong,
    decode_packet,
    encode_packet,
    ip_bytes,
)
from hush.discovery.v4.table import BUCKET_SIZE, Table, TableNode, is_lan
from hush.enode import Enode
from hush.errors import DecodeError, HushError, InvalidKeyError
from hush.types import NodeID, RandomBytes

__all__ = ["Address", "Discv4", "Discv4Config", "Lookup"]

Address = tuple[str, int]
"""(IP literal, UDP port)."""

_VERSION = 4


class Discv4:
    """One node's discovery v4: its key and advertised endpoint, table, requests and lookups."""

    def __init__(
        self,
        key: PrivateKey,
        ip: str,
        udp_port: int,
        tcp_port: int,
        random_bytes: RandomBytes,
        now: float,
        config: Discv4Config | None = None,
        bootnodes: tuple[Enode, ...] = (),
        enr_seq: int = 1,
    ) -> None:
        self.key = key
        self.config = config or Discv4Config()
        self.node_id = key.node_id
        self.endpoint = Endpoint.of(ip, udp_port, tcp_port)
        self._random_bytes = random_bytes
        self.table = Table(self.node_id, random_bytes)
        self.bootnodes = bootnodes
        self.record = enr.make_record(
            key,
            enr_seq,
            ip=ip if ip else None,
            udp_port=udp_port,
            tcp_port=tcp_port,
            extra=enr.shh_entry() if self.config.enr_shh else None,
        )
        self.records: OrderedDict[NodeID, enr.Record] = OrderedDict()
        self.found: OrderedDict[NodeID, TableNode] = OrderedDict()
        """Nodes lookups heard of, most recent last (bounded by `max_found`)."""
        self.dropped: Counter[str] = Counter()
        self._out: list[tuple[bytes, Address]] = []
        self._pings: dict[bytes, PendingPing] = {}
        self._queries: dict[NodeID, Query] = {}
        self._enr_requests: dict[bytes, tuple[NodeID, float]] = {}
        self._bonds = Bonds(self.config)
        self._failures: dict[NodeID, int] = {}
        self._budgets = IPBudgets(self.config)
        self.lookups: list[Lookup] = []
        self._next_revalidate = now + self._jitter(self.config.revalidate_interval)
        self._next_refresh = now  # the first refresh seeds from the bootnodes at once

    # -- the I/O surface -------------------------------------------------------------------------

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float:
        """The next time `handle_timer` has something to do."""
        deadlines = [self._next_revalidate, self._next_refresh]
        deadlines.extend(p.deadline for p in self._pings.values())
        deadlines.extend(q.deadline for q in self._queries.values())
        deadlines.extend(d for _, d in self._enr_requests.values())
        return min(deadlines)

    def handle_timer(self, now: float) -> None:
        for packet_hash, ping in list(self._pings.items()):
            if ping.deadline <= now and self._pings.get(packet_hash) is ping:
                del self._pings[packet_hash]
                self._ping_failed(ping, now)
        for query in list(self._queries.values()):
            if query.deadline <= now and self._queries.get(query.node.node_id) is query:
                if query.sent:
                    self._query_done(query, now)
                else:  # bonded, no Ping from them within bond_wait: ask anyway
                    self._send_findnode(query, now)
        for packet_hash, (_, deadline) in list(self._enr_requests.items()):
            if deadline <= now:
                del self._enr_requests[packet_hash]
        if now >= self._next_revalidate:
            self._next_revalidate = now + self._jitter(self.config.revalidate_interval)
            node = self.table.to_revalidate()
            if node is not None:
                self._ping(node, now, Purpose.REVALIDATE)
        if now >= self._next_refresh:
            self._next_refresh = now + self.config.refresh_interval
            self.refresh(now)

    def receive_datagram(self, data: bytes, address: Address, now: float) -> None:
        """One datagram from `address`; anything wrong with it is dropped and counted."""
        if not self._budgets.spend(address[0], now):
            self.dropped["budget"] += 1
            return
        try:
            decoded = decode_packet(data)
        except DecodeError:
            self.dropped["malformed"] += 1
            return
        packet = decoded.packet
        expiration = packet.expiration if not isinstance(packet, ENRResponse) else None
        if expiration is not None and expiration < now:
            self.dropped["expired"] += 1
            return
        if decoded.sender == self.node_id:
            self.dropped["self"] += 1
            return
        handler = _HANDLERS[type(packet)]
        handler(self, packet, decoded.sender, decoded.hash, address, now)

    # -- verbs -----------------------------------------------------------------------------------

    def lookup(self, target: NodeID | None, now: float) -> Lookup:
        """Start a lookup towards `target` (a random one if None)."""
        if target is None:
            target = NodeID(self._random_bytes(64))
        lookup = Lookup(target, keccak256(target))
        lookup._merge(self.table.closest(lookup.target_hash))
        self.lookups.append(lookup)
        self._advance(lookup, now)
        return lookup

    def refresh(self, now: float) -> None:
        """Seed from the bootnodes when the table is empty, then look up our own id."""
        if len(self.table) == 0:
            for enode in self.bootnodes:
                if enode.node_id != self.node_id:
                    self.table.add_seen(TableNode.of(enode), now)
        self.lookup(self.node_id, now)

    def ping(self, enode: Enode, now: float) -> None:
        """Ping a node; it enters the table if it answers."""
        self._ping(TableNode.of(enode), now, Purpose.BOND)

    def request_enr(self, node: TableNode, now: float) -> bool:
        """Ask a bonded node for its record (EIP-868); the answer lands in `records`."""
        if not self._room():
            return False
        _, packet_hash = self._send(ENRRequest(self._expiration(now)), node)
        self._enr_requests[packet_hash] = (node.node_id, now + self.config.request_timeout)
        return True

    def bonded(self, node_id: NodeID, ip: str, now: float) -> bool:
        """Whether `node_id` at `ip` answered our Ping within the bond expiration."""
        return self._bonds.bonded(node_id, ip, now)

    # -- handlers --------------------------------------------------------------------------------

    def _on_ping(
        self, ping: Ping, sender: NodeID, packet_hash: bytes, address: Address, now: float
    ) -> None:
        ip, port = address
        recipient = Endpoint(ip_bytes(ip), port, ping.sender.tcp_port)
        self._send_to(Pong(recipient, packet_hash, self._expiration(now), self.record.seq), address)
        node = TableNode(sender, ip, port, ping.sender.tcp_port)
        if self.bonded(sender, ip, now):
            self.table.add_verified(node, now)
        else:
            self._ping(node, now, Purpose.BOND)
        self._bonds.remember(self._bonds.last_ping, sender, now)
        query = self._queries.get(sender)
        if query is not None and not query.sent:
            self._send_findnode(query, now)  # it has our Pong now: ask

    def _on_pong(
        self, pong: Pong, sender: NodeID, _hash: bytes, address: Address, now: float
    ) -> None:
        pending = self._pings.get(pong.ping_hash)
        if pending is None or pending.node.node_id != sender or pending.node.ip != address[0]:
            self.dropped["unsolicited"] += 1
            return
        del self._pings[pong.ping_hash]
        self._bonds.remember(self._bonds.last_pong, sender, (address[0], now))
        node = pending.node
        for purpose, lookup in pending.waiters():
            self._ponged(node, purpose, lookup, now)

    def _ponged(self, node: TableNode, purpose: Purpose, lookup: Lookup | None, now: float) -> None:
        if purpose is Purpose.REVALIDATE:
            self.table.revalidated(node.node_id, alive=True)
        elif purpose is Purpose.QUERY and lookup is not None:
            self.table.add_verified(node, now)
            if node.node_id in self._queries:  # another lookup is asking it already
                self._query_finished(lookup, [], now)
            elif not lookup.done:
                query = Query(node, lookup, now + self.config.bond_wait)
                self._queries[node.node_id] = query
                if self._bonds.pinged_recently(node.node_id, now):
                    self._send_findnode(query, now)
        else:
            self.table.add_verified(node, now)

    def _on_findnode(
        self, findnode: FindNode, sender: NodeID, _hash: bytes, address: Address, now: float
    ) -> None:
        if not self.bonded(sender, address[0], now):
            self.dropped["unproven"] += 1
            return
        requester_lan = is_lan(address[0])

        def relayable(node: TableNode) -> bool:
            return requester_lan or not is_lan(node.ip)

        closest = self.table.closest(keccak256(findnode.target), BUCKET_SIZE, relayable)
        records = [NodeRecord(ip_bytes(n.ip), n.udp_port, n.tcp_port, n.node_id) for n in closest]
        expiration = self._expiration(now)
        for start in range(0, len(records), MAX_NEIGHBORS_PER_PACKET):
            chunk = tuple(records[start : start + MAX_NEIGHBORS_PER_PACKET])
            self._send_to(Neighbors(chunk, expiration), address)
        if not records:
            self._send_to(Neighbors((), expiration), address)

    def _on_neighbors(
        self, neighbors: Neighbors, sender: NodeID, _hash: bytes, address: Address, now: float
    ) -> None:
        query = self._queries.get(sender)
        if query is None or not query.sent or query.node.ip != address[0]:
            self.dropped["unsolicited"] += 1
            return
        for record in neighbors.nodes:
            if len(query.received) >= BUCKET_SIZE:
                self.dropped["excess_neighbors"] += 1
                break
            node = self._node_from_record(record, address[0])
            if node is not None:
                query.received.append(node)
        if len(query.received) >= BUCKET_SIZE:
            self._query_done(query, now)

    def _on_enr_request(
        self, request: ENRRequest, sender: NodeID, packet_hash: bytes, address: Address, now: float
    ) -> None:
        if not self.bonded(sender, address[0], now):
            self.dropped["unproven"] += 1
            return
        self._send_to(ENRResponse(packet_hash, self.record.encode()), address)

    def _on_enr_response(
        self, response: ENRResponse, sender: NodeID, _hash: bytes, address: Address, now: float
    ) -> None:
        pending = self._enr_requests.get(response.request_hash)
        if pending is None or pending[0] != sender:
            self.dropped["unsolicited"] += 1
            return
        del self._enr_requests[response.request_hash]
        try:
            record = enr.decode(response.record)
            if record.node_id != sender:
                raise DecodeError("enr: record of another node")
        except (HushError, ValueError):
            self.dropped["bad_record"] += 1
            return
        self.records[sender] = record
        self.records.move_to_end(sender)
        while len(self.records) > self.config.max_records:
            self.records.popitem(last=False)

    # -- lookups ---------------------------------------------------------------------------------

    def _advance(self, lookup: Lookup, now: float) -> None:
        for node in lookup.result:
            if lookup.pending >= self.config.alpha:
                return
            if node.node_id in lookup.asked:
                continue
            lookup.asked.add(node.node_id)
            if self._start_query(node, lookup, now):
                lookup.pending += 1
        if lookup.pending == 0:
            lookup.done = True
            self.lookups.remove(lookup)

    def _start_query(self, node: TableNode, lookup: Lookup, now: float) -> bool:
        if node.node_id in self._queries or not self._room():
            return False
        if self._bonds.pinged_recently(node.node_id, now) and self.bonded(
            node.node_id, node.ip, now
        ):
            query = Query(node, lookup, now)
            self._queries[node.node_id] = query
            self._send_findnode(query, now)
            return True
        return self._ping(node, now, Purpose.QUERY, lookup)

    def _send_findnode(self, query: Query, now: float) -> None:
        query.sent = True
        query.deadline = now + self.config.request_timeout
        self._send(FindNode(query.lookup.target, self._expiration(now)), query.node)

    def _query_done(self, query: Query, now: float) -> None:
        self._queries.pop(query.node.node_id, None)
        node_id = query.node.node_id
        if query.received:
            self._failures.pop(node_id, None)
            for node in query.received:
                self.table.add_seen(node, now)
                self.found.pop(node.node_id, None)
                self.found[node.node_id] = node
            while len(self.found) > self.config.max_found:
                self.found.popitem(last=False)
        else:
            failures = self._failures.get(node_id, 0) + 1
            if failures >= self.config.max_findnode_failures:
                self._failures.pop(node_id, None)
                self.table.remove(node_id)
            elif node_id in self.table:
                self._failures[node_id] = failures
        self._query_finished(query.lookup, query.received, now)

    def _query_finished(self, lookup: Lookup, nodes: list[TableNode], now: float) -> None:
        lookup.pending -= 1
        if lookup.done:
            return
        lookup._merge(nodes)
        self._advance(lookup, now)

    # -- pings -----------------------------------------------------------------------------------

    def _ping(
        self, node: TableNode, now: float, purpose: Purpose, lookup: Lookup | None = None
    ) -> bool:
        if not self._room():
            self.dropped["pending_full"] += 1
            return False
        recipient = Endpoint(ip_bytes(node.ip), node.udp_port, 0)
        ping = Ping(_VERSION, self.endpoint, recipient, self._expiration(now), self.record.seq)
        data, packet_hash = encode_packet(ping, self.key)
        waiting = self._pings.get(packet_hash)
        if waiting is not None:  # this very packet is out already: wait for its Pong
            # (once per purpose and lookup: a Ping flood can't grow the list)
            if not any(p is purpose and w is lookup for p, w in waiting.waiters()):
                waiting.also.append((purpose, lookup))
            return True
        self._out.append((data, (node.ip, node.udp_port)))
        self._pings[packet_hash] = PendingPing(
            node, now + self.config.request_timeout, purpose, lookup
        )
        return True

    def _ping_failed(self, ping: PendingPing, now: float) -> None:
        for purpose, lookup in ping.waiters():
            if purpose is Purpose.REVALIDATE:
                self.table.revalidated(ping.node.node_id, alive=False)
            elif purpose is Purpose.QUERY and lookup is not None:
                self._query_finished(lookup, [], now)

    # -- helpers ---------------------------------------------------------------------------------

    def _room(self) -> bool:
        pending = len(self._pings) + len(self._queries) + len(self._enr_requests)
        return pending < self.config.max_pending

    def _node_from_record(self, record: NodeRecord, source_ip: str) -> TableNode | None:
        if record.udp_port <= 1024 or record.node_id == self.node_id:
            return None
        ip = record.address
        if is_lan(ip) and not is_lan(source_ip):
            return None  # a public node relaying LAN addresses (geth `CheckRelayIP`)
        try:
            public_key_from_bytes(record.node_id)
        except InvalidKeyError:
            return None
        return TableNode(record.node_id, ip, record.udp_port, record.tcp_port)

    def _expiration(self, now: float) -> int:
        return int(now + self.config.expiration)

    def _jitter(self, interval: float) -> float:
        return interval * (0.5 + int.from_bytes(self._random_bytes(2), "big") / 65536)

    def _send(self, packet: Packet, node: TableNode) -> tuple[bytes, bytes]:
        return self._send_to(packet, (node.ip, node.udp_port))

    def _send_to(self, packet: Packet, address: Address) -> tuple[bytes, bytes]:
        data, packet_hash = encode_packet(packet, self.key)
        self._out.append((data, address))
        return data, packet_hash


_Handler = Callable[[Discv4, Any, NodeID, bytes, Address, float], None]
_HANDLERS: dict[type, _Handler] = {
    Ping: Discv4._on_ping,
    Pong: Discv4._on_pong,
    FindNode: Discv4._on_findnode,
    Neighbors: Discv4._on_neighbors,
    ENRRequest: Discv4._on_enr_request,
    ENRResponse: Discv4._on_enr_response,
}
