"""The discovery shell: the discv4 core of `hush.discovery` driven over datagrams (UDP, or an
in-memory datagram network for simulations), its state persisted in the data directory, the dial
policy (a `PeerSource` that keeps the shh peers and remembers who has no shh), and the DNS TXT
client behind `--enrtree`."""

from hush.net.discovery.datagram import (
    DatagramEndpoint,
    MemoryDatagramNetwork,
    UdpEndpoint,
    open_udp,
)
from hush.net.discovery.dialing import DialConfig, DialPolicy
from hush.net.discovery.service import Discovery, DiscoveryConfig
from hush.net.discovery.store import DiscoveryState, load_state, save_state

__all__ = [
    "DatagramEndpoint",
    "DialConfig",
    "DialPolicy",
    "Discovery",
    "DiscoveryConfig",
    "DiscoveryState",
    "MemoryDatagramNetwork",
    "UdpEndpoint",
    "load_state",
    "open_udp",
    "save_state",
]
