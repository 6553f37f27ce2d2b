"""Node discovery: discv4 (pure core in `hush.discovery.v4`), its datagram shell, and the policy
that turns discovered nodes into shh peers (devp2p.md §5, discovery.md)."""

from hush.discovery.datagram import (
    DatagramEndpoint,
    MemoryDatagramNetwork,
    UdpEndpoint,
    open_udp,
)
from hush.discovery.dialing import DialConfig, DialPolicy
from hush.discovery.fleet import Fleet, load_fleet, parse_fleet
from hush.discovery.service import Discovery, DiscoveryConfig
from hush.discovery.store import DiscoveryState, load_state, save_state
from hush.discovery.v4.protocol import Discv4, Discv4Config

__all__ = [
    "DatagramEndpoint",
    "DialConfig",
    "DialPolicy",
    "Discovery",
    "DiscoveryConfig",
    "DiscoveryState",
    "Discv4",
    "Discv4Config",
    "Fleet",
    "MemoryDatagramNetwork",
    "UdpEndpoint",
    "load_fleet",
    "load_state",
    "open_udp",
    "parse_fleet",
    "save_state",
]
