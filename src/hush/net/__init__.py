"""The asyncio shell of the devp2p stack: dial, serve, and live peers (devp2p.md §2–§4).

Sockets, deadlines and the OS random source live here; the protocol is `hush.rlpx`.
"""

from hush.net.config import P2PConfig
from hush.net.limits import ConnectionGate
from hush.net.peer import Admit, Listener, PeerConnection, PeerDisconnected, dial, gate_for, serve

__all__ = [
    "Admit",
    "ConnectionGate",
    "Listener",
    "P2PConfig",
    "PeerConnection",
    "PeerDisconnected",
    "dial",
    "gate_for",
    "serve",
]
