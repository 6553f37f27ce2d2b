"""One simulation on two processes: a conservative parallel discrete-event simulation.

`run_parallel(scenario)` splits the nodes in two (`hush.sim.partition`: breadth-first order
from node 0, halved, then pair swaps while one lowers the edge cut), forks a child for the
second part and runs the first itself. Both build the same topology, workload and node identities from the scenario's
seed (`hush.testing.cluster.enode_of`), but each starts only its own nodes, as real
`hush.node.Node`s on its own `MemoryNetwork` under its own `VirtualEventLoop`
(`hush.sim.runner.simulate` with a `Worker`). Links between the parts are plain memory links whose
ends live in the two processes (`hush.net.memory.remote.Bridge`).

Synchronisation (rules):

* **Lookahead** L = the scenario's least one-way link latency (> 0, or the scenario is refused):
  whatever a node sends at virtual time t reaches the other part at t + L or later.
* **Barriers.** Each loop runs with a horizon (`VirtualEventLoop.set_horizon`): it never runs a
  callback due at or after the horizon h. Idle at h, it exchanges with the other worker, over
  a pipe, its exports since the last barrier, its window credits, its next timer's due time and
  two flags (sessions up, run over). Both then compute the same T = the earliest of: both next
  timers, every exported arrival, h if anything is due at h (credits, the agreed start or end);
  the next horizon is T + L (T = h while traffic flows; an idle network jumps straight ahead).
  Everything sent in [T, T + L) arrives at T + L or later: at or after the horizon, checked.
* **Start and end.** Each worker waits until its ends of every link are up, then sets its
  flag; at the first barrier where both are set, both resume at that barrier's instant, the
  run's virtual zero. At the end each sets the other flag; at the barrier where both are set
  the horizon is lifted and what would still cross is dropped (the nodes then stop, alone).
* **Deterministic.** Same scenario and seed, same results: imports are scheduled in (arrival,
  link id, sequence) order, horizons are computed from the same numbers on both sides.

Each worker records its own nodes (taps, first arrivals, deliveries by envelope hash, pool
sizes). The child hands its share to the parent as soon as the run is over and leaves
without stopping its nodes (nothing the parent reads would change); the parent merges the shares,
with the cyclic collector off, into one `RunTrace` that `hush.sim.results` reads as it reads a
one-process run. Wall seconds are the parent's; CPU seconds the sum of both processes'; peak
RSS the larger of the two (both in `RunTrace.parallel`). Churn, archive servers and RLPx links
need the whole network in one process: such scenarios are refused (`Scenario`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import random
import resource
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from hush.net.memory.network import MemoryNetwork, host_address
from hush.net.memory.remote import Bridge
from hush.sim.measure import Tap
from hush.sim.partition import cut_edges, partition
from hush.sim.runner import Progress, RunTrace, collector_for_simulation, simulate
from hush.sim.scenario import Scenario
from hush.sim.topologies import Topology, build
from hush.vclock import VirtualDeadlock, VirtualEventLoop, run_virtual

__all__ = ["Worker", "WorkerFailed", "critical_path", "run_parallel"]

_PROTOCOL = pickle.HIGHEST_PROTOCOL


@dataclass(slots=True)
class BarrierStats:
    barriers: int = 0
    waiting_s: float = 0.0
    """Wall seconds spent sending to and waiting for the other worker at barriers."""
    bytes_sent: int = 0
    """Pickled bytes this worker sent at barriers."""
    exported: int = 0
    """Frames and connects this worker sent."""
    windows: list[float] = field(default_factory=list)
    """CPU seconds of each window between barriers, the barrier's own work (pickling,
    scheduling the imports) included; the last entry: after the last barrier."""


class Worker:
    """One worker's share of a parallel run and its side of the barriers (see the module doc).

    `conn` leads to the other worker; worker 0 sends first at each barrier, worker 1 receives
    first (two large batches written at once could fill both pipe buffers and block)."""

    def __init__(
        self,
        index: int,
        parts: list[frozenset[int]],
        conn: Connection,
        lookahead: float,
    ) -> None:
        if len(parts) != 2:
            raise ValueError("a parallel run has two workers")
        self.index = index
        self.nodes = parts[index]
        self._elsewhere = frozenset(
            host_address(i + 1) for k, part in enumerate(parts) if k != index for i in part
        )
        self._conn = conn
        self.lookahead = lookahead
        self.delivered: list[tuple[float, int, bytes]] = []
        """(virtual time, node, envelope hash) of every filter delivery at this worker's nodes."""
        self.stats = BarrierStats()
        self._bridge: Bridge | None = None
        self._loop: VirtualEventLoop | None = None
        self._ready = False
        self._agreed = False
        self._over = False
        self._started: asyncio.Future[None] | None = None
        self._ended: asyncio.Future[None] | None = None
        self._cpu = time.process_time()
        self.on_done: Callable[[RunTrace], None] | None = None
        """Told this worker's trace once the run is over, before its nodes stop."""

    def network_seed(self, seed: int) -> int:
        """Each worker's network draws its own links' random streams."""
        return seed * 1_000_003 + 999_983 + self.index

    def attach(self, network: MemoryNetwork) -> None:
        """Bridge `network` to the other worker and start the barriers (before any node)."""
        loop = asyncio.get_running_loop()
        if not isinstance(loop, VirtualEventLoop):
            raise RuntimeError("a parallel run needs the virtual-time loop")
        self._loop = loop
        self._bridge = Bridge(network, loop, self.index, 2, self._elsewhere, self.lookahead)
        self._started = loop.create_future()
        self._ended = loop.create_future()
        loop.set_horizon(loop.time() + self.lookahead, self._barrier)

    async def agree(self) -> None:
        """Return at the first barrier instant where every worker's sessions are up."""
        assert self._started is not None
        self._ready = True
        await self._started

    async def finish(self, trace: RunTrace) -> None:
        """Return at the first barrier instant where every worker is done (then run alone),
        `trace` (this worker's whole record) handed to `on_done` first."""
        assert self._ended is not None
        self._over = True
        await self._ended
        if self.on_done is not None:
            self.on_done(trace)

    def _close_window(self) -> None:
        cpu = time.process_time()  # a wait in recv takes (next to) no CPU time
        self.stats.windows.append(cpu - self._cpu)
        self._cpu = cpu

    def close(self) -> None:
        """The run is over: the last window's CPU (the nodes' shutdown, the records)."""
        self._close_window()

    def _barrier(self, horizon: float, upcoming: float) -> float | None:
        bridge, loop = self._bridge, self._loop
        assert bridge is not None and loop is not None
        exports, credits = bridge.take()
        message = ("barrier", upcoming, exports, credits, self._ready, self._over)
        data = pickle.dumps(message, _PROTOCOL)
        began = time.perf_counter()
        if self.index == 0:
            _send(self._conn, data)
            reply = _receive(self._conn)
        else:
            reply = _receive(self._conn)
            _send(self._conn, data)
        stats = self.stats
        waited = time.perf_counter() - began
        stats.waiting_s += waited
        stats.barriers += 1
        stats.bytes_sent += len(data)
        stats.exported += len(exports)
        _, theirs, imports, their_credits, their_ready, their_over = reply
        bridge.receive(imports, their_credits, horizon)
        self._close_window()
        due = min(
            upcoming,
            theirs,
            min((e[0] for e in exports), default=float("inf")),
            min((e[0] for e in imports), default=float("inf")),
        )
        if credits or their_credits:
            due = horizon
        started, ended = self._started, self._ended
        assert started is not None and ended is not None
        if self._ready and their_ready and not self._agreed:
            self._agreed = True  # both sides decide it from the same two flags
            loop.call_at(horizon, _resolve, started)
            due = horizon
        if self._over and their_over:
            loop.call_at(horizon, _resolve, ended)
            bridge.detach()
            return None
        if due == float("inf"):
            raise VirtualDeadlock("no worker has anything left to do before the run's end")
        next_horizon: float = due + self.lookahead
        return next_horizon


def critical_path(windows: list[list[float]]) -> float:
    """CPU seconds of the run's critical path: per window the busier worker's (each waits for
    the other at the barrier). Wall seconds on idle cores, barrier latency aside."""
    total: float = sum(max(column) for column in zip(*windows, strict=True))
    return total


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _send(conn: Connection, data: bytes) -> None:
    try:
        conn.send_bytes(data)
    except OSError as exc:
        raise WorkerFailed("the other worker is gone") from exc


def _receive(conn: Connection) -> Any:
    try:
        data = conn.recv_bytes()
    except (EOFError, OSError) as exc:
        raise WorkerFailed("the other worker is gone") from exc
    message = pickle.loads(data)  # noqa: S301 - from our own forked child
    if message[0] == "error":
        raise WorkerFailed(f"the other worker failed:\n{message[1]}")
    return message


class WorkerFailed(RuntimeError):
    """The other process of a parallel run failed or went away."""


@dataclass(slots=True)
class _Share:
    """What one worker hands to the merge."""

    taps: list[Tap]
    arrivals: dict[int, dict[bytes, tuple[float, int | None, bytes]]]
    published: list[tuple[float, int, int, bytes]]
    delivered: list[tuple[float, int, bytes]]
    pool_sizes: list[tuple[float, float, int]]
    stem_nodes: frozenset[int]
    bytes_carried: int
    virtual_seconds: float
    stats: BarrierStats
    cpu_seconds: float
    peak_rss_mb: float


def _work(
    scenario: Scenario,
    index: int,
    parts: list[frozenset[int]],
    conn: Connection,
    lookahead: float,
    progress: Progress | None,
    on_share: Callable[[_Share], None] | None = None,
) -> tuple[RunTrace, _Share]:
    """Run this worker's part; its trace and share. With `on_share`, the share is handed over
    as soon as the run is over, before the nodes stop (the child's, which leaves there)."""
    cpu = time.process_time()
    worker = Worker(index, parts, conn, lookahead)
    shares: list[_Share] = []

    def done(trace: RunTrace) -> None:
        shares.append(_share_of(worker, trace, cpu))
        if on_share is not None:
            on_share(shares[0])

    worker.on_done = done
    with collector_for_simulation():
        trace: RunTrace = run_virtual(simulate(scenario, progress, worker))
    return trace, shares[0]


def _share_of(worker: Worker, trace: RunTrace, cpu: float) -> _Share:
    """What `worker` hands to the merge, its CPU counted from `cpu` (`time.process_time`)."""
    worker.close()
    mine = worker.nodes
    taps = [tap for tap in trace.taps if tap.index in mine]
    for tap in taps:
        tap.first.clear()  # carried in `arrivals`
    return _Share(
        taps,
        {i: trace.arrivals[i] for i in sorted(mine)},
        trace.published,
        worker.delivered,
        trace.pool_sizes,
        trace.stem_nodes,
        trace.bytes_carried,
        trace.virtual_seconds,
        worker.stats,
        time.process_time() - cpu,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def _child(
    scenario: Scenario,
    parts: list[frozenset[int]],
    conn: Connection,
    other: Connection,
    lookahead: float,
) -> None:
    other.close()  # the parent's end, inherited by the fork

    def hand_over(share: _Share) -> None:
        # The run is over: the share is all the parent reads of this process. It leaves at
        # once, as a forked multiprocessing child does after its target (os._exit): stopping
        # its nodes and freeing their memory would only keep the parent waiting in `join`.
        _send(conn, pickle.dumps(("result", share), _PROTOCOL))
        conn.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    try:
        _work(scenario, 1, parts, conn, lookahead, None, hand_over)
        raise RuntimeError("the child worker's run ended without its share")
    except WorkerFailed:
        sys.exit(1)  # the parent is gone or failed: it says why
    except BaseException:
        text = traceback.format_exc()
        try:
            conn.send_bytes(pickle.dumps(("error", text), _PROTOCOL))
        except OSError:
            print(text, file=sys.stderr)
        sys.exit(1)
    finally:
        conn.close()


def run_parallel(
    scenario: Scenario,
    progress: Progress | None = None,
    start_method: str = "fork",
) -> RunTrace:
    """Run `scenario` (`workers` = 2) on this process and a forked child; the merged trace."""
    if scenario.workers != 2:
        raise ValueError("run_parallel runs two workers")
    lookahead = scenario.links.bounds()[0]
    spec = scenario.topology
    topology = build(  # as `simulate` builds it: the seed's first draws
        spec.kind,
        spec.nodes,
        random.Random(scenario.seed),
        degree=spec.degree,
        attach=spec.attach,
        light=spec.light,
        uplinks=spec.uplinks,
    )
    parts = partition(topology, 2)
    context: Any = multiprocessing.get_context(start_method)
    here, there = context.Pipe(duplex=True)
    wall = time.perf_counter()
    child = context.Process(
        target=_child, args=(scenario, parts, there, here, lookahead), daemon=True
    )
    child.start()
    there.close()
    try:
        trace, mine = _work(scenario, 0, parts, here, lookahead, progress)
        with collector_for_simulation():  # unpickling makes millions of objects, no garbage
            _, theirs = _receive(here)
        child.join()
    finally:
        here.close()
        if child.is_alive():
            child.terminate()
            child.join()
    with collector_for_simulation():  # as does the merge
        merged = _merge(trace, topology, parts, [mine, theirs])
    merged.wall_seconds = time.perf_counter() - wall
    assert merged.parallel is not None
    merged.parallel["lookahead_s"] = lookahead
    merged.parallel["edge_cut"] = cut_edges(topology, parts)
    return merged


def _merge(
    trace: RunTrace, topology: Topology, parts: list[frozenset[int]], shares: list[_Share]
) -> RunTrace:
    """One `RunTrace` from the workers' shares (`trace`: worker 0's, for the common parts)."""
    taps = sorted((tap for share in shares for tap in share.taps), key=lambda tap: tap.index)
    arrivals: list[dict[bytes, tuple[float, int | None, bytes]]] = [{} for _ in taps]
    for share in shares:
        for i, first in share.arrivals.items():
            arrivals[i] = first
    published = sorted((p for share in shares for p in share.published), key=lambda p: p[2])
    index_of = {envelope: m for _, _, m, envelope in published}
    deliveries = sorted(
        (t, node, index_of[h])
        for share in shares
        for t, node, h in share.delivered
        if h in index_of
    )
    sizes = [len(part) for part in parts]
    pool_sizes = [
        (
            samples[0][0],
            sum(s[1] * n for s, n in zip(samples, sizes, strict=True)) / sum(sizes),
            max(s[2] for s in samples),
        )
        for samples in zip(*(share.pool_sizes for share in shares), strict=False)
    ]
    merged = RunTrace(
        trace.scenario,
        trace.topology,
        trace.plan,
        trace.geth_nodes,
        taps,
        published,
        deliveries,
        pool_sizes,
        arrivals,
        trace.topic_names,
        sum(share.bytes_carried for share in shares),
        trace.virtual_seconds,
        [],
        trace.skews,
        frozenset().union(*(share.stem_nodes for share in shares)),
    )
    merged.cpu_seconds = sum(share.cpu_seconds for share in shares)
    merged.peak_rss_mb = max(share.peak_rss_mb for share in shares)
    merged.parallel = {
        "workers": len(shares),
        "nodes": sizes,
        "edges": len(topology.edges),
        "virtual_seconds": [share.virtual_seconds for share in shares],
        "cpu_seconds": [round(share.cpu_seconds, 2) for share in shares],
        "peak_rss_mb": [round(share.peak_rss_mb) for share in shares],
        "barriers": [share.stats.barriers for share in shares],
        "barrier_wait_s": [round(share.stats.waiting_s, 2) for share in shares],
        "bytes_pickled": [share.stats.bytes_sent for share in shares],
        "exported": [share.stats.exported for share in shares],
        "critical_path_cpu_s": round(critical_path([share.stats.windows for share in shares]), 2),
    }
    return merged
