"""Seal and open Whisper messages with hush's pure core: no node, no network."""

import os
import time

from hush.crypto import PrivateKey, SymmetricKey
from hush.sealer import Sealer
from hush.shh.message import open_asymmetric, open_symmetric, wrap
from hush.shh.topic import topic_from_hex

topic = topic_from_hex("0xcafebabe")
room_key = SymmetricKey.from_password("our secret room")  # geth's PBKDF2 (65356 iterations)
alice = PrivateKey.generate(os.urandom)
bob = PrivateKey.generate(os.urandom)

with Sealer() as sealer:
    # Symmetric, signed by Alice, PoW 0.2 (the network's default minimum).
    envelope = wrap(
        b"hello room", topic, int(time.time()), os.urandom, ttl=60, sym_key=room_key, signer=alice
    )
    envelope = sealer.seal(envelope, pow_target=0.2, work_time=5)
    wire = envelope.encode()  # the exact bytes geth puts in a `messages` packet

    # Asymmetric, to Bob's public key.
    private = sealer.seal(
        wrap(b"hi bob", topic, int(time.time()), os.urandom, public_key=bob.public_key), 0.2, 5
    )

message = open_symmetric(envelope, room_key)
assert message is not None and message.signer == alice.public_key
print(message.payload, f"pow={message.pow:.3f}", f"hash=0x{message.envelope_hash.hex()}")

assert open_asymmetric(private, alice) is None  # not for Alice: None, never an exception
opened = open_asymmetric(private, bob)
assert opened is not None
print(opened.payload)
