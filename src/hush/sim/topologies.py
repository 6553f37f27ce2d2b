"""Network shapes for simulations (simulation.md §4.2 "Topologies"), all seeded.

A `Topology` is the node count, the undirected edges (i < j) and which nodes are light (fleet
leaves). Every builder takes a `random.Random`, so the same seed gives the same graph; builders
refuse impossible shapes with a one-line `UsageError`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hush.errors import UsageError
from hush.testing import random_regular_graph

__all__ = [
    "KINDS",
    "Topology",
    "barabasi_albert",
    "build",
    "fleet",
    "full_mesh",
    "regular",
    "ring",
    "star",
]

_MAX_NODES = 100_000


@dataclass(frozen=True, slots=True)
class Topology:
    nodes: int
    edges: tuple[tuple[int, int], ...]
    light: frozenset[int] = field(default=frozenset())
    """Nodes that run as light nodes (a fleet's leaves)."""
    kind: str = ""
    degree: int | None = None
    """The degree of a regular graph (d-regular, ring: 2, full mesh: N−1); None otherwise."""

    def neighbours(self) -> list[list[int]]:
        adjacency: list[list[int]] = [[] for _ in range(self.nodes)]
        for a, b in self.edges:
            adjacency[a].append(b)
            adjacency[b].append(a)
        return adjacency


def _check_nodes(nodes: int, least: int) -> None:
    if not isinstance(nodes, int) or isinstance(nodes, bool) or not least <= nodes <= _MAX_NODES:
        raise UsageError(
            f"invalid nodes: must be an integer in {least}..{_MAX_NODES}, got {nodes!r}"
        )


def regular(nodes: int, degree: int, rng: random.Random) -> Topology:
    """A random connected `degree`-regular graph (N·d even, d < N)."""
    _check_nodes(nodes, 2)
    try:
        edges = random_regular_graph(nodes, degree, rng)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return Topology(nodes, tuple(edges), kind="regular", degree=degree)


def barabasi_albert(nodes: int, attach: int, rng: random.Random) -> Topology:
    """Preferential attachment: each new node joins `attach` distinct earlier nodes, chosen in
    proportion to their degree (starting from a star on attach + 1 nodes)."""
    _check_nodes(nodes, 2)
    if not isinstance(attach, int) or not 1 <= attach < nodes:
        raise UsageError(f"invalid attach: must be an integer in 1..{nodes - 1}, got {attach!r}")
    edges = [(0, j) for j in range(1, attach + 1)]
    ends = [end for edge in edges for end in edge]
    for new in range(attach + 1, nodes):
        chosen: set[int] = set()
        while len(chosen) < attach:
            chosen.add(rng.choice(ends))
        for old in sorted(chosen):
            edges.append((old, new))
            ends += (old, new)
    return Topology(nodes, tuple(sorted(edges)), kind="barabasi-albert")


def star(nodes: int) -> Topology:
    _check_nodes(nodes, 2)
    return Topology(nodes, tuple((0, j) for j in range(1, nodes)), kind="star")


def ring(nodes: int) -> Topology:
    _check_nodes(nodes, 3)
    edges = sorted({tuple(sorted((i, (i + 1) % nodes))) for i in range(nodes)})
    return Topology(nodes, tuple((a, b) for a, b in edges), kind="ring", degree=2)


def full_mesh(nodes: int) -> Topology:
    _check_nodes(nodes, 2)
    edges = tuple((i, j) for i in range(nodes) for j in range(i + 1, nodes))
    return Topology(nodes, edges, kind="full-mesh", degree=nodes - 1)


def fleet(full: int, light: int, rng: random.Random, uplinks: tuple[int, int] = (1, 2)) -> Topology:
    """`full` relay nodes in a full mesh, and `light` leaves with 1–2 uplinks each (uniform in
    `uplinks`, to distinct full nodes)."""
    _check_nodes(full, 1)
    if not isinstance(light, int) or not 0 <= light <= _MAX_NODES:
        raise UsageError(f"invalid light: must be an integer in 0..{_MAX_NODES}, got {light!r}")
    low, high = uplinks
    if not 1 <= low <= high <= full:
        raise UsageError(f"invalid uplinks {uplinks!r}: need 1 ≤ low ≤ high ≤ {full} full nodes")
    edges = [(i, j) for i in range(full) for j in range(i + 1, full)]
    for leaf in range(full, full + light):
        for relay in sorted(rng.sample(range(full), rng.randint(low, high))):
            edges.append((relay, leaf))
    return Topology(
        full + light, tuple(edges), light=frozenset(range(full, full + light)), kind="fleet"
    )


KINDS = ("regular", "barabasi-albert", "star", "ring", "full-mesh", "fleet")


def build(
    kind: str,
    nodes: int,
    rng: random.Random,
    *,
    degree: int = 6,
    attach: int = 3,
    light: int = 0,
    uplinks: tuple[int, int] = (1, 2),
) -> Topology:
    """The topology `kind` (one of `KINDS`); for a fleet `nodes` counts the full nodes."""
    if kind == "regular":
        return regular(nodes, degree, rng)
    if kind == "barabasi-albert":
        return barabasi_albert(nodes, attach, rng)
    if kind == "star":
        return star(nodes)
    if kind == "ring":
        return ring(nodes)
    if kind == "full-mesh":
        return full_mesh(nodes)
    if kind == "fleet":
        return fleet(nodes, light, rng, uplinks)
    raise UsageError(f"unknown topology {kind!r}: choose one of {', '.join(KINDS)}")
