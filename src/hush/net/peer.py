"""The asyncio shell of one peer, as it was imported before the split (devp2p.md §2–§4).

The parts live in modules named after what they do: `hush.net.connection` (the stream driver
`PeerConnection`, `PeerDisconnected`), `hush.net.handshake` (RLPx handshake, admission, Hello),
`hush.net.dialer` (`dial`), `hush.net.listener` (`serve`, `Listener`, the accept loop) and
`hush.net.slots` (gate slots per socket, `gate_for`). This module only re-exports them.
"""

from hush.net.connection import PeerConnection, PeerDisconnected
from hush.net.dialer import dial
from hush.net.handshake import Admit
from hush.net.listener import Listener, serve
from hush.net.slots import gate_for

__all__ = ["Admit", "Listener", "PeerConnection", "PeerDisconnected", "dial", "gate_for", "serve"]
