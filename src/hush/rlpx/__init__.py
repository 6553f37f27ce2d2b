"""RLPx transport and the devp2p base protocol, sans-IO (devp2p.md §2–§4).

`handshake` (auth/ack, both formats, session secrets), `frame` (AES-CTR + MAC framing),
`base` (Hello, Disconnect, Ping/Pong, Snappy, capability offsets) and `connection` (the h11-style
state machine that ties them together). No sockets, clocks or global randomness in here.
"""

from hush.rlpx.base import Capability, Hello, SharedCapability, match_capabilities
from hush.rlpx.connection import (
    HANDSHAKE_TIMEOUT,
    PING_INTERVAL,
    READ_TIMEOUT,
    Authenticated,
    Connection,
    DisconnectReceived,
    Event,
    HelloReceived,
    MessageReceived,
    PongReceived,
    State,
    max_frame_size_for,
)
from hush.rlpx.frame import FrameCodec
from hush.rlpx.handshake import HandshakeFormat, Initiator, Recipient, Secrets

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "PING_INTERVAL",
    "READ_TIMEOUT",
    "Authenticated",
    "Capability",
    "Connection",
    "DisconnectReceived",
    "Event",
    "FrameCodec",
    "HandshakeFormat",
    "Hello",
    "HelloReceived",
    "Initiator",
    "MessageReceived",
    "PongReceived",
    "Recipient",
    "Secrets",
    "SharedCapability",
    "State",
    "match_capabilities",
    "max_frame_size_for",
]
