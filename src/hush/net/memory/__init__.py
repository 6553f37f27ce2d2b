"""An in-memory network for simulations and tests (issue "A whole network in one process").

Nodes get their links from a `MemoryTransport` on a shared `MemoryNetwork` instead of TCP.
Links carry a `LinkModel` (latency, bandwidth, loss with TCP semantics, all seeded) and come in
two modes, chosen per network:

* **real RLPx** (`rlpx=True`, for fidelity): in-memory asyncio transports under real
  StreamReader/StreamWriter pairs, so `hush.net.handshake.establish` and `PeerConnection` run
  unchanged — encryption, Hello, pings and deadlines included (`streams`);
* **plain** (for speed): a message-level `PlainLink` with no encryption whose sub-protocol
  messages are what RLPx would carry, and whose frames cost on the link what RLPx frames would
  (`plain`).

Under `hush.vclock`'s virtual-time loop, latency and bandwidth cost virtual time only. Parts:
`model` (what a link costs), `pipe` (one direction's queue), `streams`, `plain`, `network`
(the switchboard and the transport).
"""

from hush.net.memory.model import Constant, Latency, LinkModel, LogNormal, Uniform
from hush.net.memory.network import MemoryNetwork, MemoryTransport
from hush.net.memory.plain import PlainLink, frame_size
from hush.net.memory.streams import MemoryStream

__all__ = [
    "Constant",
    "Latency",
    "LinkModel",
    "LogNormal",
    "MemoryNetwork",
    "MemoryStream",
    "MemoryTransport",
    "PlainLink",
    "Uniform",
    "frame_size",
]
