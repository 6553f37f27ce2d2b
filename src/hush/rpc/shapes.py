"""Shapes the shh method tables share: geth 1.9's Message JSON, hex strings, the `id` parameter.

Field names and encodings follow whisper-v6.md §5 and what geth 1.9.7 answered
(tests/vectors/rpc_*.json): byte strings are `0x`-prefixed lower-case hex; a Message omits `sig`
and `recipientPublicKey` when they are empty. `message_json_size` bounds a Message's encoded size
without encoding it, so a poll can stop at its response budget.
"""

from __future__ import annotations

from typing import Any

from hush.rpc.jsonrpc import Param
from hush.rpc.params import as_str
from hush.shh.message import OpenedMessage

__all__ = [
    "ID_PARAM",
    "SHH_VERSION",
    "hex_str",
    "message_json",
    "message_json_size",
]

SHH_VERSION = "6.0"

ID_PARAM = (Param("id", as_str),)
"""The one parameter of the methods that take a key, filter or subscription id."""

_MESSAGE_JSON_FIXED = 300
"""Bytes of a Message's JSON besides its hex fields: names, hash, topic, numbers, commas."""


def message_json_size(message: OpenedMessage) -> int:
    """An upper bound on len(encode(message_json(message)))."""
    hexed = (
        len(message.payload)
        + len(message.padding)
        + len(message.signer or b"")
        + len(message.recipient_public_key or b"")
    )
    return 2 * hexed + _MESSAGE_JSON_FIXED


def hex_str(data: bytes) -> str:
    return "0x" + data.hex()


def message_json(message: OpenedMessage) -> dict[str, Any]:
    """geth's whisperv6.Message: `sig` and `recipientPublicKey` omitted when empty."""
    out: dict[str, Any] = {}
    if message.signer:
        out["sig"] = hex_str(message.signer)
    out["ttl"] = message.ttl
    out["timestamp"] = message.timestamp
    out["topic"] = hex_str(message.topic)
    out["payload"] = hex_str(message.payload)
    out["padding"] = hex_str(message.padding)
    out["pow"] = message.pow
    out["hash"] = hex_str(message.envelope_hash)
    if message.recipient_public_key:
        out["recipientPublicKey"] = hex_str(message.recipient_public_key)
    return out
