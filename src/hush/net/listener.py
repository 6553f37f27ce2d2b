"""The listener: its own accept loop, the connection gate at accept, and inbound handshakes.

* Inbound connections pass a `ConnectionGate` (`hush.net.limits`) the moment they are accepted:
  over a limit they are closed in the same step, before any reader task exists (asyncio's loop
  accepts up to 100 at once and closes them only later), so refused descriptors never pile up
  and the kernel's queue drains at once;
* a slot is held for exactly the socket's lifetime (`hush.net.slots`), and a connection still in
  the handshake at its deadline (`handshake_timeout`, the core's timer in `establish`) is
  aborted, so nothing of it outlives the deadline;
* refused and failed handshakes are summarised in one log line per minute at most.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import Counter
from collections.abc import Awaitable, Callable

from hush.crypto import PrivateKey
from hush.enode import host_port, short_id
from hush.net.config import P2PConfig
from hush.net.connection import PeerConnection, PeerDisconnected
from hush.net.handshake import Admit, establish
from hush.net.limits import ConnectionGate, Refusal, Slot
from hush.net.slots import SlotStream, gate_for
from hush.types import RandomBytes

__all__ = ["Listener", "serve"]

log = logging.getLogger(__name__)

_BACKLOG = 128  # the kernel's queue of completed connections not yet accepted
_REPORT_INTERVAL = 60.0  # seconds between two summaries of refused and failed handshakes


class _Report:
    """Refused and failed inbound handshakes, summarised in one line per interval at most."""

    def __init__(self, gate: ConnectionGate) -> None:
        self._gate = gate
        self.failed = 0
        self.accept_errors = 0
        self._next = float("-inf")
        self._seen: Counter[Refusal] = Counter()

    def note(self) -> None:
        now = asyncio.get_running_loop().time()
        if now < self._next:
            return
        self._next = now + _REPORT_INTERVAL
        refused = self._gate.refused - self._seen
        self._seen = self._gate.refused.copy()
        failed, self.failed = self.failed, 0
        errors, self.accept_errors = self.accept_errors, 0
        parts = [f"{count} refused: {why.value}" for why, count in refused.items()]
        if failed:
            parts.append(f"{failed} failed or timed out in the handshake")
        if errors:
            parts.append(f"{errors} accept() failed (open-file limit?)")
        gate = self._gate
        log.log(
            logging.WARNING if refused or errors else logging.INFO,
            "inbound connections: %s (now %d pending, %d open of %d)",
            "; ".join(parts),
            gate.pending,
            gate.total,
            gate.max_connections,
        )


def _listen_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address `host` resolves to (as asyncio's
    create_server does); with port 0 they share the port the first one got."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[int, str]] = set()
    try:
        for family, _, _, _, address in infos:
            if (family, str(address[0])) in seen:
                continue
            seen.add((family, str(address[0])))
            bind_port = sockets[0].getsockname()[1] if sockets and port == 0 else port
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((address[0], bind_port, *address[2:]))
            except OSError as exc:
                raise OSError(
                    exc.errno,
                    f"cannot bind {host_port(str(address[0]), bind_port)}: {exc.strerror}",
                ) from exc
            sock.listen(_BACKLOG)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Listener:
    """The devp2p listener, with its own accept loop: a connection over a limit is accepted and
    closed in the same step, so refused descriptors never pile up (asyncio's loop accepts up to
    100 at once and closes them only later) and the kernel's queue drains at once."""

    def __init__(
        self,
        sockets: list[socket.socket],
        gate: ConnectionGate,
        accept: Callable[[asyncio.StreamReader, asyncio.StreamWriter, Slot], None],
    ) -> None:
        self.sockets = sockets
        self.gate = gate
        self._accept = accept
        self._report = _Report(gate)
        self._tasks = [asyncio.create_task(self._accept_loop(sock)) for sock in sockets]
        for task, sock in zip(self._tasks, sockets, strict=True):
            # A loop cancelled before it first ran never reaches its `finally`: close it here.
            task.add_done_callback(_closer(sock))

    def close(self) -> None:
        """Stop accepting (the sockets close as the accept loops end, after their readers are
        unregistered); live connections are their owners' to close."""
        for task in self._tasks:
            task.cancel()

    async def wait_closed(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept_loop(self, listener: socket.socket) -> None:
        try:
            await self._accept_all(listener)
        finally:
            listener.close()

    async def _accept_all(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        gate = self.gate
        while True:
            try:
                conn, address = await loop.sock_accept(listener)
            except OSError:
                self._report.accept_errors += 1
                self._report.note()
                await asyncio.sleep(1.0)  # asyncio's own retry delay for EMFILE and the like
                continue
            verdict = gate.inbound(str(address[0]), loop.time())
            if isinstance(verdict, Refusal):
                conn.close()
                self._report.note()
                # sock_accept returns at once while the kernel's queue is not empty: let the
                # rest of the node run between two refusals.
                await asyncio.sleep(0)
                continue
            reader = asyncio.StreamReader(loop=loop)
            protocol = SlotStream(reader, gate, verdict, self._accept)
            try:
                await loop.connect_accepted_socket(lambda p=protocol: p, conn)  # type: ignore[misc]
            except OSError:
                conn.close()
                gate.release(verdict)
            except BaseException:  # cancelled: stopping
                conn.close()
                gate.release(verdict)
                raise


def _closer(sock: socket.socket) -> Callable[[asyncio.Task[None]], None]:
    def close(_: asyncio.Task[None]) -> None:
        sock.close()

    return close


_handlers: set[asyncio.Task[None]] = set()


async def serve(
    node_key: PrivateKey,
    host: str,
    port: int,
    config: P2PConfig,
    on_connection: Callable[[PeerConnection], Awaitable[None]],
    admit: Admit | None = None,
    gate: ConnectionGate | None = None,
    random_bytes: RandomBytes = os.urandom,
) -> Listener:
    """Listen on host:port (0 picks a free port); each admitted peer goes to `on_connection`.

    Connections pass `gate` (by default one made from `config`) at accept. The connection is
    closed when `on_connection` returns. Bind errors raise OSError.
    """
    gate = gate if gate is not None else gate_for(config)

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slot: Slot
    ) -> None:
        address = writer.get_extra_info("peername")
        try:
            # At its deadline establish aborts the transport: nothing of it outlives the deadline.
            peer = await establish(node_key, reader, writer, config, admit, None, random_bytes)
        except PeerDisconnected as exc:
            log.debug("inbound connection from %s failed: %s", address, exc)
            who = "remote" if exc.by_remote else "local"
            gate.handshake_failures[f"{who}_{exc.reason.name.lower()}"] += 1
            listener._report.failed += 1
            listener._report.note()
            return
        gate.established(slot)
        log.info("accepted peer %s from %s (%s)", short_id(peer.node_id), address, peer.client_id)
        try:
            await on_connection(peer)
        except Exception:
            log.exception("connection handler for peer %s failed", short_id(peer.node_id))
        finally:
            peer.close()

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slot: Slot) -> None:
        task = asyncio.create_task(handle(reader, writer, slot))
        _handlers.add(task)
        task.add_done_callback(_handlers.discard)

    sockets = await asyncio.get_running_loop().run_in_executor(None, _listen_sockets, host, port)
    listener = Listener(sockets, gate, accept)
    return listener
