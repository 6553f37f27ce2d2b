"""RLPx framing: AES-256-CTR frames authenticated by the AES-256-ECB/Keccak MAC (devp2p.md §3).

Rules:

* One continuous CTR keystream per direction, zero IV, keyed with the 32-byte aes-secret; the MAC
  block cipher is AES-256 keyed with the mac-secret (not the AES-128 of ECIES, §7.3).
* We write exactly one frame per message with header-data `c2 80 80`, as geth 1.8/1.9 do; on read
  the header-data is ignored.
* Incoming header and frame MACs are checked (constant time) *before* decrypting, and the frame
  size from the header is checked against the limit before any of the body is buffered.

`FrameCodec.decode(buffer)` takes exactly one frame from the front of an explicit buffer, or None
while more bytes are needed. MAC failures and oversize frames raise `PeerError(PROTOCOL_ERROR)`;
after one, the ingress direction is unusable (the stream is desynchronised).
"""

from __future__ import annotations

import hmac
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from hush.errors import DisconnectReason, PeerError, UsageError

__all__ = ["HEADER_DATA", "MAX_FRAME_SIZE", "FrameCodec", "MacState"]

MAX_FRAME_SIZE = 0xFFFFFF
"""frame-size is a 24-bit field (devp2p.md §3)."""

HEADER_DATA = b"\xc2\x80\x80"
"""RLP([capability-id 0, context-id 0]): what geth always writes (devp2p.md §3)."""

_BLOCK = 16
_ZERO_IV = bytes(_BLOCK)


class MacState(Protocol):
    """A running Keccak-256 sponge: `digest()` does not finalise it."""

    def update(self, data: bytes, /) -> Any: ...

    def digest(self) -> bytes: ...


def _padded(length: int) -> int:
    return -(-length // _BLOCK) * _BLOCK


def _xor16(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(_BLOCK, "big")


class _Mac:
    __slots__ = ("_ecb", "_state")

    def __init__(self, mac_secret: bytes, state: MacState) -> None:
        # ECB on single blocks is the construction RLPx defines; it is not used for secrecy.
        self._ecb = Cipher(algorithms.AES(mac_secret), modes.ECB()).encryptor()  # noqa: S305
        self._state = state

    def _update(self, seed: bytes) -> bytes:
        encrypted = self._ecb.update(self._state.digest()[:_BLOCK])
        self._state.update(_xor16(encrypted, seed))
        return self._state.digest()[:_BLOCK]

    def header(self, header_ciphertext: bytes) -> bytes:
        return self._update(header_ciphertext)

    def frame(self, frame_ciphertext: bytes) -> bytes:
        self._state.update(frame_ciphertext)
        return self._update(self._state.digest()[:_BLOCK])

    def digest(self) -> bytes:
        return self._state.digest()


def _ctr(aes_secret: bytes) -> CipherContext:
    return Cipher(algorithms.AES(aes_secret), modes.CTR(_ZERO_IV)).encryptor()


class FrameCodec:
    """Both directions of one RLPx session's framing."""

    __slots__ = (
        "_egress",
        "_egress_mac",
        "_frame_size",
        "_ingress",
        "_ingress_mac",
        "max_frame_size",
    )

    def __init__(
        self,
        aes_secret: bytes,
        mac_secret: bytes,
        egress_mac: MacState,
        ingress_mac: MacState,
        max_frame_size: int = MAX_FRAME_SIZE,
    ) -> None:
        if len(aes_secret) != 32 or len(mac_secret) != 32:
            raise UsageError("RLPx secrets are 32 bytes")
        self._egress = _ctr(aes_secret)
        # CTR decryption is encryption: a second, independent keystream from the same start.
        self._ingress = _ctr(aes_secret)
        self._egress_mac = _Mac(mac_secret, egress_mac)
        self._ingress_mac = _Mac(mac_secret, ingress_mac)
        self.max_frame_size = min(max_frame_size, MAX_FRAME_SIZE)
        """Frames announcing more than this many bytes are refused from the header alone."""
        self._frame_size: int | None = None  # header read, body pending

    @property
    def egress_digest(self) -> bytes:
        return self._egress_mac.digest()

    @property
    def ingress_digest(self) -> bytes:
        return self._ingress_mac.digest()

    def encode(self, frame_data: bytes) -> bytes:
        """One frame carrying `frame_data` (= RLP(msg-id) ‖ payload)."""
        size = len(frame_data)
        if size > MAX_FRAME_SIZE:
            raise UsageError(f"frame of {size} bytes exceeds the 24-bit frame size")
        header = (size.to_bytes(3, "big") + HEADER_DATA).ljust(_BLOCK, b"\x00")
        header_ct = self._egress.update(header)
        header_mac = self._egress_mac.header(header_ct)
        body_ct = self._egress.update(frame_data.ljust(_padded(size), b"\x00"))
        frame_mac = self._egress_mac.frame(body_ct)
        return header_ct + header_mac + body_ct + frame_mac

    def decode(self, buffer: bytearray) -> bytes | None:
        """Take one frame's data from the front of `buffer`, or None if it is not all there yet."""
        if self._frame_size is None:
            if len(buffer) < 2 * _BLOCK:
                return None
            header_ct = bytes(buffer[:_BLOCK])
            expected = self._ingress_mac.header(header_ct)
            if not hmac.compare_digest(expected, bytes(buffer[_BLOCK : 2 * _BLOCK])):
                raise PeerError("RLPx: bad header MAC", DisconnectReason.PROTOCOL_ERROR)
            header = self._ingress.update(header_ct)
            size = int.from_bytes(header[:3], "big")
            del buffer[: 2 * _BLOCK]
            if size > self.max_frame_size:
                raise PeerError(
                    f"RLPx: frame of {size} bytes exceeds the limit of {self.max_frame_size}",
                    DisconnectReason.PROTOCOL_ERROR,
                )
            self._frame_size = size
        size = self._frame_size
        padded = _padded(size)
        if len(buffer) < padded + _BLOCK:
            return None
        body_ct = bytes(buffer[:padded])
        expected = self._ingress_mac.frame(body_ct)
        if not hmac.compare_digest(expected, bytes(buffer[padded : padded + _BLOCK])):
            raise PeerError("RLPx: bad frame MAC", DisconnectReason.PROTOCOL_ERROR)
        del buffer[: padded + _BLOCK]
        self._frame_size = None
        return self._ingress.update(body_ct)[:size]

    def pending_frame_size(self) -> int | None:
        """The size of the frame whose header was read but whose body is still incomplete."""
        return self._frame_size
