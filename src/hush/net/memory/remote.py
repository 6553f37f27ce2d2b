"""Plain memory links whose two ends live in two processes (a parallel simulation's cut edges).

A `Bridge` is one process's side of the links between its hosts and the hosts another process
runs (`hush.sim.parallel`). Each end is a real `PlainLink`; only the hand-over differs:

* **Frames.** An end's outgoing pipe computes each frame's arrival as a local pipe does
  (bandwidth, latency, loss, order: `Pipe`, the sender's random stream) but, instead of
  delivering it, *exports* `(arrival, link id, sequence, (frame, size))`. The other process
  imports the batch at its next barrier and delivers each frame to its end at `arrival`.
  Every arrival is at least the minimum one-way latency after its send: that is the parallel
  simulation's lookahead, and the importer checks that nothing lands before its horizon.
* **Dialling** a host elsewhere: after the TCP round trip the dialler makes its end and
  exports a *connect* (listener and dialler addresses, the seed of the listener's sending
  stream), timed one lookahead after the dial, ahead of the dialler's auth; at its arrival the
  other process makes the listener's end and runs the listener's accept handler (or, with
  nobody listening there, answers EOF: the dialler's handshake fails).
* **Window.** Reading a frame credits the sender's window (`PlainLink._consumed`); across
  processes the credits of one barrier window are summed per link and reach the sender at the
  next barrier, so a sender may see its window free up to one barrier window (one lookahead)
  later than a local sender would. Close, EOF and Disconnect are frames like any other.

Link ids: the dialling process's k-th cross link is `k · workers + worker`, the same number in
both processes. Imports due at the same instant are scheduled in (arrival, link id, sequence)
order, so a run replays exactly.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Callable
from dataclasses import dataclass

from hush.crypto import PrivateKey
from hush.enode import Enode
from hush.net.config import P2PConfig
from hush.net.handshake import Admit
from hush.net.memory.model import LinkModel
from hush.net.memory.network import MemoryNetwork
from hush.net.memory.pipe import Pipe, Traffic
from hush.net.memory.plain import _EOF, PlainLink, _Frame
from hush.vclock import HorizonError

__all__ = ["Bridge", "Connect", "Export"]

_Item = tuple[_Frame, int]


@dataclass(frozen=True, slots=True)
class Connect:
    """A dial from another process: make the listener's end of link `link id`."""

    listener: tuple[str, int]
    dialler: tuple[str, int]
    seed_back: int
    """Seed of the listener end's sending stream (drawn by the dialler's network)."""


Export = tuple[float, int, int, _Item | Connect]
"""(arrival, link id, sequence, what): one frame or connect for the other process."""


class _RemotePipe(Pipe[_Item]):
    """A pipe that hands each item, with its arrival time, to `export` instead of delivering."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        model: LinkModel,
        rng: random.Random,
        export: Callable[[float, _Item], None],
        total: Traffic | None,
    ) -> None:
        super().__init__(loop, model, rng, _nowhere, total)
        self._export = export

    def send(self, item: _Item, size: int) -> None:
        self._export(self._arrival(size), item)


def _nowhere(item: _Item) -> None:  # pragma: no cover - a remote pipe never delivers here
    raise AssertionError("a remote pipe delivers through its bridge")


class _Window:
    """The remote sender as its reader's end sees it: read bytes become window credits."""

    __slots__ = ("_credits", "_link_id")

    def __init__(self, credits: dict[int, int], link_id: int) -> None:
        self._credits = credits
        self._link_id = link_id

    def _consumed(self, size: int) -> None:
        credits = self._credits
        credits[self._link_id] = credits.get(self._link_id, 0) + size


class Bridge:
    """This process's ends of the links to hosts in another process (see the module doc).

    `elsewhere`: the hosts the other process runs; `lookahead`: the least one-way latency of
    any link (seconds, > 0). Sets itself as `network.bridge`."""

    def __init__(
        self,
        network: MemoryNetwork,
        loop: asyncio.AbstractEventLoop,
        worker: int,
        workers: int,
        elsewhere: frozenset[str],
        lookahead: float,
    ) -> None:
        if not lookahead > 0:
            raise ValueError("a bridge needs a positive lookahead")
        self._network = network
        self._loop = loop
        self._worker = worker
        self._workers = workers
        self._elsewhere = elsewhere
        self.lookahead = lookahead
        self._links: dict[int, PlainLink] = {}
        self._outbox: list[Export] = []
        self._credits: dict[int, int] = {}
        self._opened = 0
        self._sequence = 0
        self._open = True
        self.exported = 0
        """Frames and connects handed to the other process so far."""
        network.bridge = self

    def holds(self, host: str) -> bool:
        return host in self._elsewhere

    # -- this side -------------------------------------------------------------------------------

    async def dial(
        self,
        node_key: PrivateKey,
        enode: Enode,
        config: P2PConfig,
        admit: Admit,
        local: tuple[str, int],
        model: LinkModel,
        rng_out: random.Random,
        seed_back: int,
    ) -> PlainLink:
        """The dialler's end of a new link to `enode` (elsewhere), once its handshake is done."""
        link_id = self._opened * self._workers + self._worker
        self._opened += 1
        remote = (enode.ip, enode.tcp_port)
        link = self._end(link_id, config, False, local, remote, model, rng_out)
        self._emit(self._loop.time() + self.lookahead, link_id, Connect(remote, local, seed_back))
        return await link.dial(node_key.node_id, enode.node_id, admit)

    def _end(
        self,
        link_id: int,
        config: P2PConfig,
        inbound: bool,
        local: tuple[str, int],
        remote: tuple[str, int],
        model: LinkModel,
        rng: random.Random,
    ) -> PlainLink:
        link = PlainLink(self._loop, config, inbound, local, remote, model)
        export = functools.partial(self._emit_frame, link_id)
        link._out = _RemotePipe(self._loop, model, rng, export, self._network.traffic)
        link._peer = _Window(self._credits, link_id)
        self._links[link_id] = link
        return link

    def _emit_frame(self, link_id: int, arrival: float, item: _Item) -> None:
        self._emit(arrival, link_id, item)

    def _emit(self, arrival: float, link_id: int, what: _Item | Connect) -> None:
        if self._open:
            self._outbox.append((arrival, link_id, self._sequence, what))
            self._sequence += 1
            self.exported += 1

    def take(self) -> tuple[list[Export], dict[int, int]]:
        """Everything exported and every window credit since the last call (for the barrier)."""
        outbox, credits = self._outbox, dict(self._credits)
        self._outbox = []
        self._credits.clear()
        return outbox, credits

    def detach(self) -> None:
        """The other process is gone (the run is over): drop what would go to it from now on."""
        self._open = False

    # -- the other side's --------------------------------------------------------------------------

    def receive(self, imports: list[Export], credits: dict[int, int], horizon: float) -> None:
        """Schedule the other process's batch: each import at its arrival, each credit at the
        horizon. Raises HorizonError for an import before `horizon` (a lookahead violation)."""
        loop = self._loop
        for arrival, link_id, _, what in sorted(imports, key=lambda e: (e[0], e[1], e[2])):
            if arrival < horizon:
                raise HorizonError(
                    f"an import for link {link_id} arrives at {arrival!r}, before the "
                    f"horizon {horizon!r}: the lookahead is broken"
                )
            loop.call_at(arrival, self._deliver, link_id, what)
        for link_id in sorted(credits):
            loop.call_at(horizon, self._credit, link_id, credits[link_id])

    def _deliver(self, link_id: int, what: _Item | Connect) -> None:
        if isinstance(what, Connect):
            self._accept(link_id, what)
            return
        link = self._links.get(link_id)
        if link is not None:
            link._arrive(what)

    def _credit(self, link_id: int, size: int) -> None:
        link = self._links.get(link_id)
        if link is not None:
            link._consumed(size)

    def _accept(self, link_id: int, connect: Connect) -> None:
        network = self._network
        listener = network._listeners.get(connect.listener)
        if listener is None or not listener.open:
            # Nobody listens there: the dialler reads EOF during its handshake.
            self._emit(self._loop.time() + self.lookahead, link_id, (_EOF, 0))
            return
        model = network.model_between(connect.listener[0], connect.dialler[0])
        link = self._end(
            link_id,
            listener.config,
            True,
            listener.address,
            connect.dialler,
            model,
            random.Random(connect.seed_back),
        )
        listener.accept_plain(link)
