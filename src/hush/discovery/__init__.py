"""Node discovery, the pure part: discv4 (`hush.discovery.v4`: packets, ENR, the Kademlia table,
the protocol state machine), EIP-1459 tree lists and fleet files (devp2p.md §5,
discovery.md). No sockets, clock or event loop:
the shell that drives them over UDP (or an in-memory datagram network), and the dial policy
that turns discovered nodes into shh peers, are `hush.net.discovery`."""

from hush.discovery.fleet import Fleet, load_fleet, parse_fleet
from hush.discovery.v4.protocol import Discv4, Discv4Config

__all__ = [
    "Discv4",
    "Discv4Config",
    "Fleet",
    "load_fleet",
    "parse_fleet",
]
