"""Parameter decoding with geth's error texts (whisper-v6.md §5).

geth decodes positional JSON-RPC params with Go's encoding/json, so a bad parameter is answered with
code -32602 and `invalid argument N: <Go's message>`; a missing one with `missing value for required
argument N`; extra ones with `too many arguments, want at most N`. The decoders here reproduce those
messages for the types the shh, net and admin namespaces use. Like Go, struct field names match
case-insensitively, unknown fields are ignored and `null` means the zero value.

Numbers no float64 can hold (`1e400`) and integers of more than `MAX_INT_DIGITS` digits are parsed
into `BigNumber`, which keeps the JSON text: a request id echoes it verbatim as geth does, and every
number decoder refuses it with Go's `cannot unmarshal number 1e400 into …` (-32602). The decoders
also refuse NaN and infinities handed to them directly (from Python, not JSON).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from hush.types import Topic

__all__ = [
    "MAX_INT_DIGITS",
    "BigNumber",
    "Criteria",
    "NewMessage",
    "ParamError",
    "as_bool",
    "as_criteria",
    "as_float",
    "as_hex",
    "as_message_size",
    "as_new_message",
    "as_str",
    "as_topic",
    "as_uint32",
    "parse_float",
    "parse_int",
]

_T = TypeVar("_T")

Decoder = Callable[[Any, str | None], _T]
"""Decodes one JSON value; the second argument names the struct field (`NewMessage.ttl`) or None."""


class ParamError(ValueError):
    """A parameter Go's JSON decoder would refuse; the message is Go's."""


MAX_INT_DIGITS = 64
"""Longer JSON integers stay text (`BigNumber`): no parameter takes them, and Python's int parser
refuses more than 4300 digits with an error of its own."""


class BigNumber:
    """A JSON number kept as its text because no float64 or sane integer holds it."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BigNumber) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def parse_float(text: str) -> float | BigNumber:
    """json.loads' `parse_float`: a finite float, else the text."""
    value = float(text)
    return value if math.isfinite(value) else BigNumber(text)


def parse_int(text: str) -> int | BigNumber:
    """json.loads' `parse_int`: an int, or the text when it has more than MAX_INT_DIGITS digits."""
    return int(text) if len(text) <= MAX_INT_DIGITS else BigNumber(text)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, BigNumber):
        return f"number {value.text}"
    if isinstance(value, int) and value.bit_length() > 1024:  # repr refuses > 4300 digits
        return f"number of {value.bit_length()} bits"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(what: str, go_type: str, field: str | None) -> ParamError:
    where = f"Go struct field {field} of type {go_type}" if field else f"Go value of type {go_type}"
    return ParamError(f"json: cannot unmarshal {what} into {where}")


def as_str(value: Any, field: str | None = None) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _type_error(_kind(value), "string", field)
    return value


def as_bool(value: Any, field: str | None = None) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _type_error(_kind(value), "bool", field)
    return value


def as_uint32(value: Any, field: str | None = None) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
        raise _type_error(_kind(value), "uint32", field)
    return value


def as_message_size(value: Any, field: str | None = None) -> int:
    """shh_setMaxMessageSize's uint32, without Go's "null is 0": a node limit of 0 (or a typo'd
    `null`) would silently refuse every envelope."""
    if value is None:
        raise ParamError("message size must be a number, not null")
    size = as_uint32(value, field)
    if size == 0:
        raise ParamError("message size must be at least 1")
    return size


def as_float(value: Any, field: str | None = None) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(_kind(value), "float64", field)
    try:
        number = float(value)
    except OverflowError:  # a Python int beyond float64
        raise _type_error(_kind(value), "float64", field) from None
    if not math.isfinite(number):
        raise _type_error(_kind(value), "float64", field)
    return number


def _hex_digits(text: str) -> str:
    """The digits after 0x, with hexutil's errors."""
    if not text.startswith(("0x", "0X")):
        raise ParamError("hex string without 0x prefix")
    digits = text[2:]
    if len(digits) % 2:
        raise ParamError("hex string of odd length")
    if any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise ParamError("invalid hex string")
    return digits


def as_hex(value: Any, field: str | None = None) -> bytes:
    """hexutil.Bytes: a 0x-prefixed, even-length hex string."""
    if value is None:
        return b""
    if not isinstance(value, str):
        raise _type_error("non-string", "hexutil.Bytes", field)
    try:
        return bytes.fromhex(_hex_digits(value))
    except ParamError as exc:
        raise _type_error(str(exc), "hexutil.Bytes", field) from None


def as_topic(value: Any, field: str | None = None) -> Topic:
    """whisperv6.TopicType: "0x" and exactly 8 hex digits."""
    if value is None:
        return Topic(bytes(4))
    if not isinstance(value, str):
        raise _type_error(_kind(value).split()[0], "whisperv6.TopicType", field)
    digits = _hex_digits(value)
    if len(digits) != 8:
        raise ParamError(f"hex string has length {len(digits)}, want 8 for Topic")
    return Topic(bytes.fromhex(digits))


@dataclass(frozen=True, slots=True)
class _Field(Generic[_T]):
    json_name: str
    decode: Decoder[_T]


def _decode_struct(
    value: Any, go_name: str, fields: Mapping[str, _Field[Any]], field: str | None
) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise _type_error(_kind(value).split()[0], f"whisperv6.{go_name}", field)
    by_lower = {spec.json_name.lower(): (attr, spec) for attr, spec in fields.items()}
    out = {attr: spec.decode(None, None) for attr, spec in fields.items()}
    for key, item in value.items():  # Go: case-insensitive match, last one wins, unknown ignored
        found = by_lower.get(str(key).lower())
        if found is not None:
            attr, spec = found
            out[attr] = spec.decode(item, f"{go_name}.{spec.json_name}")
    return out


@dataclass(frozen=True, slots=True)
class NewMessage:
    """shh_post's parameter (geth whisperv6.NewMessage)."""

    sym_key_id: str
    pub_key: bytes
    sig: str
    ttl: int
    topic: Topic
    payload: bytes
    padding: bytes
    pow_time: int
    pow_target: float
    target_peer: str


_NEW_MESSAGE_FIELDS: dict[str, _Field[Any]] = {
    "sym_key_id": _Field("symKeyID", as_str),
    "pub_key": _Field("pubKey", as_hex),
    "sig": _Field("sig", as_str),
    "ttl": _Field("ttl", as_uint32),
    "topic": _Field("topic", as_topic),
    "payload": _Field("payload", as_hex),
    "padding": _Field("padding", as_hex),
    "pow_time": _Field("powTime", as_uint32),
    "pow_target": _Field("powTarget", as_float),
    "target_peer": _Field("targetPeer", as_str),
}


def as_new_message(value: Any, field: str | None = None) -> NewMessage:
    message = NewMessage(**_decode_struct(value, "NewMessage", _NEW_MESSAGE_FIELDS, field))
    if not math.isfinite(message.pow_target):  # 1e400: Go's decoder refuses it as out of range
        raise _type_error(f"number {message.pow_target}", "float64", "NewMessage.powTarget")
    return message


def _as_topics(value: Any, field: str | None = None) -> tuple[Topic, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _type_error(_kind(value).split()[0], "[]whisperv6.TopicType", field)
    return tuple(as_topic(item, field) for item in value)


@dataclass(frozen=True, slots=True)
class Criteria:
    """shh_newMessageFilter's and shh_subscribe's parameter (geth whisperv6.Criteria)."""

    sym_key_id: str
    private_key_id: str
    sig: bytes
    min_pow: float
    topics: tuple[Topic, ...]
    allow_p2p: bool


_CRITERIA_FIELDS: dict[str, _Field[Any]] = {
    "sym_key_id": _Field("symKeyID", as_str),
    "private_key_id": _Field("privateKeyID", as_str),
    "sig": _Field("sig", as_hex),
    "min_pow": _Field("minPow", as_float),
    "topics": _Field("topics", _as_topics),
    "allow_p2p": _Field("allowP2P", as_bool),
}


def as_criteria(value: Any, field: str | None = None) -> Criteria:
    return Criteria(**_decode_struct(value, "Criteria", _CRITERIA_FIELDS, field))
