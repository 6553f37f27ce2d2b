"""Byte-domain value types, so a topic can't be passed where a hash is expected."""

from __future__ import annotations

from collections.abc import Callable
from typing import NewType

__all__ = ["Bloom", "EnvelopeHash", "KeyID", "NodeID", "PublicKeyBytes", "RandomBytes", "Topic"]

Topic = NewType("Topic", bytes)
"""4 bytes (whisper-v6.md §1.7)."""

Bloom = NewType("Bloom", bytes)
"""64 bytes, 512 bits (whisper-v6.md §1.7)."""

EnvelopeHash = NewType("EnvelopeHash", bytes)
"""keccak256 of the envelope's 5-item RLP, 32 bytes (whisper-v6.md §1.4)."""

NodeID = NewType("NodeID", bytes)
"""A node's 64-byte public key X‖Y, as devp2p carries it (devp2p.md §1)."""

PublicKeyBytes = NewType("PublicKeyBytes", bytes)
"""A 65-byte uncompressed secp256k1 public key, 0x04‖X‖Y."""

KeyID = NewType("KeyID", str)
"""A key or filter id: 64 lowercase hex characters, no 0x (whisper-v6.md §4)."""

RandomBytes = Callable[[int], bytes]
"""Injected randomness: returns n uniformly random bytes (os.urandom in the shell)."""
