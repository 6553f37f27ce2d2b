"""Two (or more) real nodes over the in-memory transport under the virtual clock.

In the spirit of h11's ConnectionPair and aioquic's client_and_server: no sockets, no real
sleeps. Run the test body under `hush.vclock` (`@virtual_time()`), then

    async with node_pair() as (cluster, a, b):
        ...

`a` has dialled `b` and both shh sessions are up. `cluster` (a `hush.testing.MemoryCluster`)
adds more nodes, connects them, and seals messages as a node would post them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from hush.net.memory import LinkModel, MemoryNetwork
from hush.node import Node
from hush.testing import MemoryCluster

__all__ = ["node_pair"]


@asynccontextmanager
async def node_pair(
    *, rlpx: bool = False, seed: int = 0, model: LinkModel | None = None, **config: Any
) -> AsyncIterator[tuple[MemoryCluster, Node, Node]]:
    """Two connected nodes on a fresh memory network (plain links unless `rlpx`)."""
    network = MemoryNetwork(seed=seed, model=model, rlpx=rlpx)
    async with MemoryCluster(network, seed=seed, **config) as cluster:
        a, b = await cluster.add_nodes(2)
        await cluster.connect(a, b)
        yield cluster, a, b
