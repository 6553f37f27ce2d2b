"""100 nodes in one process (issue 12's third test): discv4 over the in-memory datagram network,
real Nodes over `hush.net.memory`, under virtual time (`hush.testing.discovery`).

One bootnode, 50 shh Nodes and 50 eth-only nodes (discovery plus a devp2p listener without
shh). Every shh node finds ≥ 6 shh peers by itself; then 10 of them stop, the nodes they leave
short dial again and get back to 6; after 90 more virtual seconds (past the 60 s backoff of a
failed dial, so only the negative cache keeps an eth-only node from being dialled again) no shh
node has reached the same eth-only node twice, and a message posted at one shh node reaches
every other. The few-hundred-node runs are `benchmarks/discovery_network.py` (BENCHMARKS.md).
"""

from __future__ import annotations

from hush.testing.discovery import DiscoveryRun, discover
from hush.vclock import run_virtual

SHH, OTHERS, CHURN = 50, 50, 10


def test_a_hundred_nodes_find_their_shh_peers_and_keep_them() -> None:
    run: DiscoveryRun = run_virtual(
        discover(shh=SHH, others=OTHERS, seed=1, churn=CHURN, hold=90.0, limit=300.0)
    )
    assert run.converged_at is not None, sorted(run.shh_peers)
    assert run.left_short > 0  # the churn took some nodes below 6 …
    assert run.rejoined_at is not None, sorted(run.shh_peers)  # … and they found new peers
    assert len(run.shh_peers) == SHH - CHURN and min(run.shh_peers) >= 6
    # eth-only nodes were dialled (they are in the tables), none twice by the same node
    assert run.handshakes and max(run.handshakes.values()) == 1
    assert {target for _, target in run.handshakes} <= run.other_ids
    assert run.useless_known >= SHH // 2  # the negative cache was used
    assert run.reached == SHH - CHURN - 1  # everyone but the poster has the message
    assert run.delivered_in is not None and run.delivered_in < 5.0  # virtual seconds
    assert run.virtual_seconds > 90.0
