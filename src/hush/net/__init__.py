"""The asyncio shell of the devp2p stack: dial, serve, and live peers (devp2p.md §2–§4).

Sockets, deadlines and the OS random source live here; the protocol is `hush.rlpx`.
"""

from hush.net.config import P2PConfig
from hush.net.connection import PeerConnection, PeerDisconnected
from hush.net.dialer import dial
from hush.net.handshake import Admit
from hush.net.limits import ConnectionGate
from hush.net.listener import Listener, serve
from hush.net.slots import gate_for

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
