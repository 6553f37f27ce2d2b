"""Whisper messages: the plaintext inside an envelope, its encryption and opening (whisper-v6.md §2).

Plaintext: flags(1) ‖ payload size (1–4 bytes, little-endian) ‖ payload ‖ padding ‖ [signature 65].
Automatic padding brings flags+size+payload+padding+signature to a multiple of 256. A signature is
over keccak256 of everything before it, with the 0x04 flag already set. Openers return None for an
envelope their key does not open: in gossip that is the normal case, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from hush.crypto.ecies import ecies_decrypt, ecies_encrypt
from hush.crypto.keccak import keccak256
from hush.crypto.keys import SIGNATURE_LENGTH, PrivateKey, recover_public_key
from hush.crypto.symmetric import AES_NONCE_LENGTH, SymmetricKey
from hush.errors import UsageError
from hush.shh.envelope import Envelope, slot_builder
from hush.shh.errors import ERR_SYM_ASYM
from hush.types import EnvelopeHash, PublicKeyBytes, RandomBytes, Topic

__all__ = [
    "DEFAULT_TTL",
    "PADDING_ALIGNMENT",
    "SIGNATURE_FLAG",
    "SIZE_MASK",
    "OpenedMessage",
    "ParsedPlaintext",
    "build_plaintext",
    "opened_message",
    "open_asymmetric",
    "open_symmetric",
    "parse_plaintext",
    "wrap",
]

SIZE_MASK = 0x03
SIGNATURE_FLAG = 0x04
PADDING_ALIGNMENT = 256
DEFAULT_TTL = 50


@dataclass(frozen=True, slots=True)
class ParsedPlaintext:
    payload: bytes
    padding: bytes
    signer: PublicKeyBytes | None
    """The signer's 65-byte public key, recovered from the signature; None when unsigned."""


@dataclass(frozen=True, slots=True)
class OpenedMessage:
    """A message opened from an envelope: geth's ReceivedMessage, the RPC `Message` object."""

    payload: bytes
    padding: bytes
    signer: PublicKeyBytes | None
    topic: Topic
    ttl: int
    timestamp: int
    """Sent time: expiry − ttl."""
    pow: float
    envelope_hash: EnvelopeHash
    recipient_public_key: PublicKeyBytes | None = None
    """The filter's public key, for asymmetric messages."""
    sym_key_hash: bytes | None = None
    """keccak256 of the symmetric key that opened it."""
    p2p: bool = False
    """Delivered directly by a trusted peer (code 127), not through the pool."""


def _size_field_width(length: int) -> int:
    width = 1
    while length >= 256**width:
        width += 1
    return width


def build_plaintext(
    payload: bytes,
    random_bytes: RandomBytes,
    padding: bytes | None = None,
    signer: PrivateKey | None = None,
) -> bytes:
    """The message plaintext; `padding=None` means random padding to the 256-byte alignment."""
    width = _size_field_width(len(payload))
    if width > 4:
        raise UsageError("payload too large for a 4-byte size field")
    flags = width | (SIGNATURE_FLAG if signer else 0)
    head = bytes((flags,)) + len(payload).to_bytes(width, "little") + payload
    if padding is None:
        raw = len(head) + (SIGNATURE_LENGTH if signer else 0)
        padding = random_bytes(PADDING_ALIGNMENT - raw % PADDING_ALIGNMENT)
    plain = head + padding
    if signer is not None:
        plain += signer.sign(keccak256(plain))
    return plain


def _parse(raw: bytes) -> tuple[bytes, bytes, PublicKeyBytes | None] | None:
    """(payload, padding, signer) as geth's ValidateAndParse finds them, with the bound check it
    lacks (whisper-v6.md §2.4); None if `raw` isn't a valid plaintext."""
    if not raw:
        return None
    end = len(raw)
    flags = raw[0]
    signer: PublicKeyBytes | None = None
    if flags & SIGNATURE_FLAG:
        end -= SIGNATURE_LENGTH
        if end <= 1:
            return None
        signer = recover_public_key(raw[end:], keccak256(raw[:end]))
        if signer is None:
            return None
    width = flags & SIZE_MASK
    if not width:
        return b"", raw[1:end], signer
    size = int.from_bytes(raw[1 : 1 + width], "little")
    start = 1 + width + size
    if start > end:
        return None
    return raw[1 + width : start], raw[start:end], signer


def parse_plaintext(raw: bytes) -> ParsedPlaintext | None:
    """geth's ValidateAndParse, with the bound check it lacks (whisper-v6.md §2.4)."""
    parsed = _parse(raw)
    return None if parsed is None else ParsedPlaintext(*parsed)


def wrap(
    payload: bytes,
    topic: Topic,
    now: int,
    random_bytes: RandomBytes,
    *,
    ttl: int = DEFAULT_TTL,
    sym_key: SymmetricKey | None = None,
    public_key: bytes | None = None,
    padding: bytes | None = None,
    signer: PrivateKey | None = None,
) -> Envelope:
    """Build, sign and encrypt a message into an unsealed envelope (nonce 0), like geth's Wrap."""
    if (sym_key is None) == (public_key is None):
        raise UsageError(ERR_SYM_ASYM)
    ttl = ttl or DEFAULT_TTL
    plain = build_plaintext(payload, random_bytes, padding, signer)
    if public_key is not None:
        data = ecies_encrypt(public_key, plain, random_bytes)
    else:
        assert sym_key is not None
        data = sym_key.seal(plain, random_bytes(AES_NONCE_LENGTH))
    return Envelope(expiry=(now + ttl) & 0xFFFFFFFF, ttl=ttl, topic=topic, data=data)


if OpenedMessage.__slots__ != tuple(f.name for f in fields(OpenedMessage)):  # pragma: no cover
    raise ImportError("OpenedMessage's slots must be its fields, in order (see _build_opened)")
_build_opened = slot_builder(OpenedMessage)
"""OpenedMessage(*all eleven fields, in order), without the frozen __init__'s cost."""


def opened_message(
    envelope: Envelope,
    plain: bytes,
    pow_value: float | None,
    envelope_hash: EnvelopeHash | None,
    recipient_public_key: PublicKeyBytes | None,
    sym_key_hash: bytes | None,
) -> OpenedMessage | None:
    """The message in an envelope's decrypted `plain`, if it parses (geth's ValidateAndParse)."""
    parsed = _parse(plain)
    if parsed is None:
        return None
    payload, padding, signer = parsed
    return _build_opened(
        payload,
        padding,
        signer,
        envelope.topic,
        envelope.ttl,
        (envelope.expiry - envelope.ttl) & 0xFFFFFFFF,  # envelope.sent
        envelope.pow() if pow_value is None else pow_value,
        envelope_hash or envelope.hash,
        recipient_public_key,
        sym_key_hash,
        False,
    )


def open_symmetric(
    envelope: Envelope,
    key: SymmetricKey,
    pow_value: float | None = None,
    envelope_hash: EnvelopeHash | None = None,
) -> OpenedMessage | None:
    """The message if `key` opens the envelope and its plaintext parses, else None."""
    plain = key.open(envelope.data)
    if plain is None:  # the common case: another filter's key
        return None
    return opened_message(envelope, plain, pow_value, envelope_hash, None, key.hash)


def open_asymmetric(
    envelope: Envelope,
    key: PrivateKey,
    pow_value: float | None = None,
    envelope_hash: EnvelopeHash | None = None,
) -> OpenedMessage | None:
    """The message if the envelope was encrypted to `key` and its plaintext parses, else None."""
    plain = ecies_decrypt(key, envelope.data)
    if plain is None:
        return None
    return opened_message(envelope, plain, pow_value, envelope_hash, key.public_key, None)
