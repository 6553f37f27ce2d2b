"""Two halves of a simulated network for `hush.sim.parallel`: breadth-first halves refined by
pair swaps that lower the edge cut (the links whose frames cross between the processes).
Deterministic: no randomness, ties go to the lower index."""

from __future__ import annotations

import heapq
from collections import deque

from hush.sim.topologies import Topology

__all__ = ["cut_edges", "partition"]


def partition(topology: Topology, parts: int) -> list[frozenset[int]]:
    """The nodes in `parts` nearly equal parts: breadth-first order from node 0 (neighbours in
    index order; nodes it cannot reach after, in index order), cut into consecutive runs; two
    halves are then refined by swaps that lower the edge cut (`_refine`), node 0 kept in the
    first. Deterministic: no randomness, ties go to the lower index."""
    neighbours = topology.neighbours()
    seen = [False] * topology.nodes
    order: list[int] = []
    for root in range(topology.nodes):
        if seen[root]:
            continue
        seen[root] = True
        queue = deque([root])
        while queue:
            node = queue.popleft()
            order.append(node)
            for other in sorted(neighbours[node]):
                if not seen[other]:
                    seen[other] = True
                    queue.append(other)
    size = len(order)
    runs = [order[k * size // parts : (k + 1) * size // parts] for k in range(parts)]
    if parts != 2 or not size:
        return [frozenset(run) for run in runs]
    side = [0] * size
    for node in runs[1]:
        side[node] = 1
    _refine([sorted(neighbours[i]) for i in range(size)], side)
    first = side[0]
    mine = frozenset(i for i in range(size) if side[i] == first)
    return [mine, frozenset(range(size)) - mine]


_MAX_PASSES = 50


def _refine(neighbours: list[list[int]], side: list[int]) -> None:
    """Lower the cut between sides 0 and 1 in place by swapping pairs (one node each way, so
    the sizes stay): each pass swaps the best unmoved node of each side while the pair's gain
    (cut edges removed) is positive. Every swap lowers the cut, so the passes end."""
    gain = [sum(1 if side[o] != side[v] else -1 for o in nv) for v, nv in enumerate(neighbours)]
    for _ in range(_MAX_PASSES):
        moved = [False] * len(side)
        heaps: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
        for v, g in enumerate(gain):
            heaps[side[v]].append((-g, v))
        for heap in heaps:
            heapq.heapify(heap)

        swaps = 0
        while True:
            a, b = _best(heaps[0], moved, gain), _best(heaps[1], moved, gain)
            if a is None or b is None:
                break
            if gain[a] + gain[b] - 2 * (b in neighbours[a]) <= 0:
                break
            for v in (a, b):
                moved[v] = True
                side[v] ^= 1
                for o in neighbours[v]:
                    gain[o] += 2 if side[o] != side[v] else -2
                    if not moved[o]:
                        heapq.heappush(heaps[side[o]], (-gain[o], o))
                gain[v] = -gain[v]
            swaps += 1
        if not swaps:
            return


def _best(heap: list[tuple[int, int]], moved: list[bool], gain: list[int]) -> int | None:
    """The unmoved node of highest gain (lowest index first) on one side's heap, or None."""
    while heap:
        g, v = heap[0]
        if moved[v] or -g != gain[v]:
            heapq.heappop(heap)  # stale: moved, or its gain changed since it was pushed
            continue
        return v
    return None


def cut_edges(topology: Topology, parts: list[frozenset[int]]) -> int:
    """Edges whose ends lie in different parts."""
    owner = {i: k for k, part in enumerate(parts) for i in part}
    return sum(1 for a, b in topology.edges if owner[a] != owner[b])
