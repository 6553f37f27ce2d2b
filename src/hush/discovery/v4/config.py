"""The discovery v4 protocol's settings: timings and bounds, geth's values by default
(devp2p.md §5). `Discv4` (hush.discovery.v4.protocol) reads them; nothing else here."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Discv4Config"]


@dataclass(frozen=True, slots=True)
class Discv4Config:
    """Timings and bounds of the protocol; geth's values by default."""

    expiration: float = 20.0
    """Lifetime written into every packet we send (geth `expiration`)."""
    bond_expiration: float = 24 * 3600.0
    """How long a received Pong proves an endpoint (geth `bondExpiration`)."""
    request_timeout: float = 0.5
    """How long we wait for a Pong, Neighbors or ENRResponse (geth `respTimeout`)."""
    bond_wait: float = 0.5
    """After a new bond, how long we wait for the remote's Ping before asking it."""
    revalidate_interval: float = 10.0
    """Mean interval between revalidation pings."""
    refresh_interval: float = 1800.0
    """Interval between table refreshes (geth `refreshInterval`)."""
    alpha: int = 3
    """Queries in flight per lookup."""
    max_findnode_failures: int = 5
    """FindNodes in a row without an answer after which a node leaves the table."""
    max_pending: int = 512
    """Outstanding requests of ours (pings, findnodes, ENR requests), in all."""
    max_bonds: int = 4096
    """Nodes whose last Ping / Pong we remember."""
    packet_rate: float = 100.0
    """Packets per second one source IP may send us (token bucket refill)."""
    packet_burst: float = 400.0
    """Token bucket size per source IP."""
    max_tracked_ips: int = 4096
    """Source IPs whose budget we track."""
    max_records: int = 1024
    """ENRs of other nodes we keep (latest answers)."""
    enr_shh: bool = False
    """Publish a hush-private `shh` entry (`[6]`, the versions spoken) in our record
    (discovery.md §3.3: no client reads it; EIP-868 ENR requests are the only way to see it)."""
    max_found: int = 512
    """Nodes learned from Neighbors replies kept beside the table (geth's dialer draws from
    lookup results, not only the table: a full bucket doesn't hide a node from the dialer)."""
