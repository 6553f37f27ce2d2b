"""The discovery shell: one datagram endpoint driving one `Discv4` core.

Datagrams go into the core as they arrive and whatever it wants sent goes out at once; one task
sleeps until the core's next timer (woken early when a datagram may have moved it). The table is
seeded from `<datadir>/discovery.json` and saved there every `save_interval` and on stop. The
endpoint comes from `open_endpoint` (real UDP by default; `MemoryDatagramNetwork.open` for a
simulated network).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from hush.clock import SYSTEM_CLOCK, Clock
from hush.crypto import PrivateKey
from hush.discovery.v4 import enr
from hush.discovery.v4.protocol import Discv4, Discv4Config
from hush.discovery.v4.table import TableNode
from hush.enode import Enode
from hush.errors import UsageError
from hush.net.discovery.datagram import Address, DatagramEndpoint, Receiver, open_udp
from hush.net.discovery.store import DiscoveryState, load_state, save_state
from hush.types import RandomBytes

__all__ = ["Discovery", "DiscoveryConfig", "OpenEndpoint"]

log = logging.getLogger(__name__)

OpenEndpoint = Callable[[str, int, Receiver], Awaitable[DatagramEndpoint] | DatagramEndpoint]


@dataclass(frozen=True, slots=True)
class DiscoveryConfig:
    """Where discovery listens and whom it asks first."""

    host: str = "127.0.0.1"
    """UDP address to bind (loopback unless told otherwise)."""
    port: int = 30303
    """UDP port; 0 lets the OS choose."""
    advertise_ip: str | None = None
    """The IP written into our Pings and ENR (default: `host`, or 127.0.0.1 for a wildcard)."""
    bootnodes: tuple[Enode, ...] = ()
    """Seeds asked when the table is empty."""
    protocol: Discv4Config = field(default_factory=Discv4Config)
    lookup_gap: float = 1.0
    """Least time between two lookups asked for by the dial policy; doubled (up to
    `max_lookup_gap`) after each lookup that found no node we didn't know."""
    max_lookup_gap: float = 60.0
    save_interval: float = 300.0
    """How often the table is written to the data directory."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 0xFFFF:
            raise UsageError(f"discovery port {self.port} out of range")


class Discovery:
    """discv4 for a node with `key` whose RLPx listens on `tcp_port`."""

    def __init__(
        self,
        key: PrivateKey,
        tcp_port: int,
        config: DiscoveryConfig | None = None,
        *,
        datadir: Path | None = None,
        clock: Clock = SYSTEM_CLOCK,
        random_bytes: RandomBytes = os.urandom,
        open_endpoint: OpenEndpoint | None = None,
        state: DiscoveryState | None = None,
    ) -> None:
        self.key = key
        self.tcp_port = tcp_port
        self.config = config or DiscoveryConfig()
        self.datadir = datadir
        self.clock = clock
        self._random_bytes = random_bytes
        self._open = open_endpoint
        self.state = state if state is not None else load_state(datadir)
        self._endpoint: DatagramEndpoint | None = None
        self._core: Discv4 | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._last_lookup = float("-inf")
        self._gap = self.config.lookup_gap
        self._known = -1

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._core is not None:
            return
        opened = (self._open or open_udp)(self.config.host, self.config.port, self._receive)
        endpoint = await opened if isinstance(opened, Awaitable) else opened
        self._endpoint = endpoint
        ip = self.config.advertise_ip or self.config.host
        if ip in ("0.0.0.0", "::", ""):
            ip = "127.0.0.1"
        udp_port = endpoint.local_address[1]
        signed_for = f"{ip}:{udp_port}:{self.tcp_port}"
        if self.config.protocol.enr_shh:
            signed_for += " shh"  # another record: another sequence number
        seq = (
            self.state.enr_seq if self.state.enr_endpoint == signed_for else self.state.enr_seq + 1
        )
        self.state.enr_seq, self.state.enr_endpoint = max(seq, 1), signed_for
        now = self.clock.time()
        core = Discv4(
            self.key,
            ip,
            udp_port,
            self.tcp_port,
            self._random_bytes,
            now,
            self.config.protocol,
            bootnodes=self.config.bootnodes,
            enr_seq=self.state.enr_seq,
        )
        for enode in self.state.nodes:
            core.table.add_seen(TableNode.of(enode), now)
        self._core = core
        self._task = asyncio.ensure_future(self._run())
        log.info("discovery on udp %s, enr %s", udp_port, core.record.text())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._core is not None:
            self.save()
        if self._endpoint is not None:
            self._endpoint.close()
            self._endpoint = None

    async def __aenter__(self) -> Discovery:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def save(self) -> None:
        self.state.nodes = [node.enode for node in self.core.table.nodes()]
        save_state(self.datadir, self.state)

    # -- what the node and the dial policy read --------------------------------------------------

    @property
    def core(self) -> Discv4:
        if self._core is None:
            raise UsageError("discovery is not running")
        return self._core

    @property
    def running(self) -> bool:
        return self._endpoint is not None

    @property
    def port(self) -> int:
        return self.core.endpoint.udp_port

    @property
    def record(self) -> enr.Record:
        return self.core.record

    def record_text(self) -> str:
        return self.core.record.text()

    @property
    def enode(self) -> Enode:
        endpoint = self.core.endpoint
        return Enode(self.key.node_id, endpoint.address, self.tcp_port, endpoint.udp_port)

    def table_size(self) -> int:
        return len(self.core.table) if self._core is not None else 0

    def random_nodes(self, count: int) -> list[Enode]:
        """Up to `count` dialable nodes (a TCP port), from the table and recent lookups."""
        core = self._core
        if core is None:
            return []
        pool = {n.node_id: n for n in core.found.values() if n.tcp_port}
        pool.update((n.node_id, n) for n in core.table.nodes() if n.tcp_port)
        nodes = list(pool.values())
        chosen: list[Enode] = []
        while nodes and len(chosen) < count:
            index = int.from_bytes(self._random_bytes(4), "big") % len(nodes)
            nodes[index], nodes[-1] = nodes[-1], nodes[index]
            chosen.append(nodes.pop().enode)
        return chosen

    def request_lookup(self) -> None:
        """Look for more nodes (a random target), unless one ran within `lookup_gap`."""
        core = self._core
        if core is None:
            return
        now = self.clock.time()
        if core.lookups or now - self._last_lookup < self._gap:
            return
        known = len(core.table) + len(core.found)
        if known > self._known:  # the last lookup taught us something: keep looking
            self._gap = self.config.lookup_gap
        else:  # a small or exhausted network: look less and less often
            self._gap = min(self._gap * 2, self.config.max_lookup_gap)
        self._known = known
        self._last_lookup = now
        core.lookup(None, now)
        self._flush()

    def ping(self, enode: Enode) -> None:
        self.core.ping(enode, self.clock.time())
        self._flush()

    # -- I/O -------------------------------------------------------------------------------------

    def _receive(self, data: bytes, address: Address) -> None:
        core = self._core
        if core is None:
            return
        core.receive_datagram(data, address, self.clock.time())
        self._flush()
        self._wake.set()  # a reply may have armed a timer (a bond wait) without sending

    def _flush(self) -> None:
        core, endpoint = self._core, self._endpoint
        if core is None or endpoint is None:
            return
        sent = False
        for data, address in core.datagrams_to_send():
            endpoint.send(data, address)
            sent = True
        if sent:  # a request went out: its deadline may be the next timer
            self._wake.set()

    async def _run(self) -> None:
        core = self.core
        next_save = self.clock.time() + self.config.save_interval
        while True:
            now = self.clock.time()
            delay = core.get_timer() - now
            if delay > 0:
                self._wake.clear()
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                continue
            core.handle_timer(now)
            self._flush()
            if now >= next_save:
                next_save = now + self.config.save_interval
                self.save()
