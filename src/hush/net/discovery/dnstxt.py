"""TXT lookups for `enrtree://` lists (hush.discovery.dnsdisc) over the system's DNS.

Used only when a node is given `--enrtree`: nothing else in hush touches DNS. A query is one
UDP datagram (RFC 1035: id, RD, one question of type TXT, class IN) to the first `nameserver`
of /etc/resolv.conf (or one given), answered within `timeout` seconds, `tries` times at most.
The reply must carry our id and question, is read to at most 512 bytes (no EDNS, no TCP: a
truncated reply is an error; EIP-1459 sizes its entries to fit), and its TXT records come back
with each record's strings joined. NXDOMAIN and an empty answer are an empty list. The codec
(`encode_query`, `decode_txt_reply`) is pure; `SystemResolver` is the asyncio shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from pathlib import Path

from hush.errors import DecodeError, UsageError
from hush.types import RandomBytes

__all__ = ["SystemResolver", "decode_txt_reply", "encode_query", "system_nameserver"]

MAX_REPLY = 512
_TXT, _IN, _CNAME = 16, 1, 5
_HEADER = struct.Struct("!HHHHHH")


class _NotOurs(DecodeError):
    """A datagram that doesn't answer our query (a stale or spoofed one): ignored."""


def _name(name: str) -> bytes:
    labels = name.rstrip(".").split(".")
    out = bytearray()
    for label in labels:
        raw = label.encode("ascii", "strict") if label.isascii() else b""
        if not raw or len(raw) > 63:
            raise UsageError(f"DNS: bad name {name[:80]!r}")
        out += bytes([len(raw)]) + raw
    if len(out) + 1 > 255:
        raise UsageError(f"DNS: name too long {name[:80]!r}")
    return bytes(out) + b"\x00"


def encode_query(name: str, query_id: int) -> bytes:
    """A recursive TXT/IN query for `name`."""
    return _HEADER.pack(query_id, 0x0100, 1, 0, 0, 0) + _name(name) + struct.pack("!HH", _TXT, _IN)


def _skip_name(data: bytes, offset: int) -> int:
    """The offset after a (possibly compressed) name."""
    for _ in range(128):
        if offset >= len(data):
            raise DecodeError("DNS: reply cut short in a name")
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:  # a pointer ends the name
            return offset + 2
        if length & 0xC0:
            raise DecodeError("DNS: bad label in reply")
        offset += 1 + length
    raise DecodeError("DNS: name too long in reply")


def decode_txt_reply(data: bytes, query_id: int, name: str) -> list[str]:
    """The TXT strings of a reply to `encode_query(name, query_id)` (each record joined)."""
    if len(data) < _HEADER.size:
        raise DecodeError("DNS: reply shorter than a header")
    if len(data) > MAX_REPLY:
        raise DecodeError("DNS: reply over 512 bytes")
    reply_id, flags, questions, answers, _, _ = _HEADER.unpack_from(data)
    if reply_id != query_id or not flags & 0x8000:
        raise _NotOurs("DNS: not a reply to our query")
    if flags & 0x0200:
        raise DecodeError("DNS: truncated reply (TCP is not supported)")
    rcode = flags & 0x000F
    if rcode == 3:  # NXDOMAIN
        return []
    if rcode:
        raise DecodeError(f"DNS: server answered rcode {rcode}")
    question = _name(name) + struct.pack("!HH", _TXT, _IN)
    if questions != 1 or data[_HEADER.size : _HEADER.size + len(question)].lower() != (
        question.lower()
    ):
        raise _NotOurs("DNS: reply is for another question")
    offset = _HEADER.size + len(question)
    found: list[str] = []
    for _ in range(answers):
        offset = _skip_name(data, offset)
        if offset + 10 > len(data):
            raise DecodeError("DNS: reply cut short in a record")
        kind, klass, _ttl, size = struct.unpack_from("!HHIH", data, offset)
        offset += 10
        rdata = data[offset : offset + size]
        if len(rdata) != size:
            raise DecodeError("DNS: reply cut short in record data")
        offset += size
        if kind == _CNAME:
            continue  # the resolver followed it: its target's records come next
        if kind != _TXT or klass != _IN:
            continue
        parts, at = [], 0
        while at < size:
            length = rdata[at]
            part = rdata[at + 1 : at + 1 + length]
            if len(part) != length:
                raise DecodeError("DNS: TXT string cut short")
            parts.append(part)
            at += 1 + length
        try:
            found.append(b"".join(parts).decode("utf-8"))
        except UnicodeDecodeError:
            raise DecodeError("DNS: TXT record is not UTF-8") from None
    return found


def system_nameserver(resolv_conf: Path = Path("/etc/resolv.conf")) -> tuple[str, int]:
    """The first `nameserver` of resolv.conf; UsageError when there is none."""
    try:
        lines = resolv_conf.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise UsageError(f"--enrtree: no DNS: cannot read {resolv_conf} ({exc.strerror})") from None
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            return words[1], 53
    raise UsageError(f"--enrtree: no DNS: no nameserver in {resolv_conf}")


class _Reply(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue(16)

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.replies.full():
            self.replies.put_nowait(data[: MAX_REPLY + 1])


class SystemResolver:
    """`TxtResolver` over UDP DNS: `await resolver(name)` → TXT strings."""

    def __init__(
        self,
        nameserver: tuple[str, int] | None = None,
        *,
        timeout: float = 2.0,
        tries: int = 2,
        random_bytes: RandomBytes = os.urandom,
    ) -> None:
        self.nameserver = nameserver
        self.timeout = timeout
        self.tries = tries
        self._random_bytes = random_bytes
        self.queries = 0

    async def __call__(self, name: str) -> list[str]:
        server = self.nameserver or system_nameserver()
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_datagram_endpoint(_Reply, remote_addr=server)
        except OSError as exc:
            raise UsageError(f"DNS: cannot reach {server[0]}: {exc.strerror or exc}") from None
        try:
            for _ in range(self.tries):
                query_id = int.from_bytes(self._random_bytes(2), "big")
                transport.sendto(encode_query(name, query_id))
                self.queries += 1
                try:
                    async with asyncio.timeout(self.timeout):
                        while True:
                            data = await protocol.replies.get()
                            with contextlib.suppress(_NotOurs):
                                return decode_txt_reply(data, query_id, name)
                except TimeoutError:
                    continue
            raise DecodeError(f"DNS: no answer from {server[0]} for {name[:80]}")
        finally:
            transport.close()
