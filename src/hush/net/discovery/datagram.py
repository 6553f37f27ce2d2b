"""The datagram seam discovery runs over: real UDP, or an in-memory network for simulations.

A `DatagramEndpoint` sends `(data, (ip, port))` and hands every datagram it receives to the
`Receiver` it was opened with. Sends never block and may be lost, as UDP's are. The in-memory
network delivers on the event loop (`call_soon`), so it runs under any loop, the virtual-time
one included; it drops datagrams to unknown addresses and over `MAX_DATAGRAM` bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from hush.errors import UsageError

__all__ = [
    "MAX_DATAGRAM",
    "Address",
    "DatagramEndpoint",
    "MemoryDatagramNetwork",
    "Receiver",
    "UdpEndpoint",
    "open_udp",
]

log = logging.getLogger(__name__)

Address = tuple[str, int]
Receiver = Callable[[bytes, Address], None]
MAX_DATAGRAM = 1280
"""Bigger datagrams are not read (discv4's packet limit); UDP reads are capped by the OS anyway."""


class DatagramEndpoint(Protocol):
    @property
    def local_address(self) -> Address: ...

    def send(self, data: bytes, address: Address) -> None: ...

    def close(self) -> None: ...


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        host, port = str(addr[0]), int(addr[1])
        try:
            self._receiver(data, (host, port))
        except Exception:  # a bug in the receiver must not kill the socket
            log.exception("discovery: datagram handler failed")

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the peer is gone; the core's timeouts deal with it.
        log.debug("discovery: UDP error %s", exc)


class UdpEndpoint:
    """An asyncio UDP socket."""

    def __init__(self, transport: asyncio.DatagramTransport) -> None:
        self._transport = transport
        sockname = transport.get_extra_info("sockname")
        self._address: Address = (str(sockname[0]), int(sockname[1]))

    @property
    def local_address(self) -> Address:
        return self._address

    def send(self, data: bytes, address: Address) -> None:
        if not self._transport.is_closing():
            self._transport.sendto(data, address)

    def close(self) -> None:
        self._transport.close()


async def open_udp(host: str, port: int, receiver: Receiver) -> UdpEndpoint:
    """Bind a UDP socket on `host:port` (0: the OS picks)."""
    loop = asyncio.get_running_loop()
    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(receiver), local_addr=(host, port)
        )
    except OSError as exc:
        raise UsageError(f"cannot bind discovery UDP {host}:{port}: {exc.strerror or exc}") from exc
    return UdpEndpoint(transport)


class MemoryDatagramNetwork:
    """Endpoints that deliver to each other by address, on the running event loop."""

    def __init__(self) -> None:
        self._endpoints: dict[Address, _MemoryEndpoint] = {}
        self._next_port = 40000
        self.sent = 0
        self.dropped = 0

    def open(self, host: str, port: int, receiver: Receiver) -> DatagramEndpoint:
        if port == 0:
            while (host, self._next_port) in self._endpoints:
                self._next_port += 1
            port = self._next_port
        if (host, port) in self._endpoints:
            raise UsageError(f"address {host}:{port} in use")
        endpoint = _MemoryEndpoint(self, (host, port), receiver)
        self._endpoints[(host, port)] = endpoint
        return endpoint

    def _deliver(self, data: bytes, source: Address, target: Address) -> None:
        self.sent += 1
        endpoint = self._endpoints.get(target)
        if endpoint is None or len(data) > MAX_DATAGRAM:
            self.dropped += 1
            return
        asyncio.get_running_loop().call_soon(endpoint._receive, bytes(data), source)

    def _close(self, address: Address) -> None:
        self._endpoints.pop(address, None)


class _MemoryEndpoint:
    def __init__(self, network: MemoryDatagramNetwork, address: Address, receiver: Receiver):
        self._network = network
        self._address = address
        self._receiver = receiver
        self._closed = False

    @property
    def local_address(self) -> Address:
        return self._address

    def send(self, data: bytes, address: Address) -> None:
        if not self._closed:
            self._network._deliver(data, self._address, address)

    def _receive(self, data: bytes, source: Address) -> None:
        if not self._closed:
            self._receiver(data, source)

    def close(self) -> None:
        self._closed = True
        self._network._close(self._address)
