"""TXT lookups for enrtree lists: the DNS codec, and `SystemResolver` against a small DNS
server on loopback UDP (this machine has no DNS), serving a signed EIP-1459 tree."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hush.discovery.dnsdisc import sync_tree
from hush.errors import DecodeError, UsageError
from hush.net.discovery.dnstxt import (
    SystemResolver,
    decode_txt_reply,
    encode_query,
    system_nameserver,
)

from .test_dnsdisc import RECORDS, URL, _zone


def _reply(query: bytes, texts: list[str], *, rcode: int = 0, flags: int = 0x8180) -> bytes:
    """A server's answer to `query`: its question, then one TXT record per text (a name
    pointer to the question, strings of at most 255 bytes)."""
    query_id = struct.unpack_from("!H", query)[0]
    question = query[12:]
    answers = b""
    for text in texts:
        raw = text.encode()
        chunks = b"".join(
            bytes([len(raw[i : i + 255])]) + raw[i : i + 255] for i in range(0, len(raw), 255)
        )
        answers += b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 300, len(chunks)) + chunks
    header = struct.pack("!HHHHHH", query_id, flags | rcode, 1, len(texts), 0, 0)
    return header + question + answers


def test_query_and_reply_round_trip() -> None:
    query = encode_query("abc.nodes.example.org", 0x1234)
    assert query[:2] == b"\x12\x34" and query.endswith(b"\x00\x00\x10\x00\x01")
    assert b"\x03abc\x05nodes\x07example\x03org\x00" in query
    long = "enrtree-branch:" + "A" * 300  # two strings of one record, joined
    reply = _reply(query, ["v=spf1 -all", long])
    assert decode_txt_reply(reply, 0x1234, "abc.nodes.example.org") == ["v=spf1 -all", long]


def test_nxdomain_is_empty_and_errors_are_typed() -> None:
    query = encode_query("x.example.org", 7)
    assert decode_txt_reply(_reply(query, [], rcode=3), 7, "x.example.org") == []
    with pytest.raises(DecodeError, match="rcode 2"):
        decode_txt_reply(_reply(query, [], rcode=2), 7, "x.example.org")
    with pytest.raises(DecodeError, match="truncated"):
        decode_txt_reply(_reply(query, ["a"], flags=0x8380), 7, "x.example.org")
    with pytest.raises(DecodeError, match="not a reply to our query"):
        decode_txt_reply(_reply(query, ["a"]), 8, "x.example.org")
    with pytest.raises(DecodeError, match="another question"):
        decode_txt_reply(_reply(query, ["a"]), 7, "y.example.org")
    with pytest.raises(DecodeError, match="cut short"):
        decode_txt_reply(_reply(query, ["abcdef"])[:-3], 7, "x.example.org")
    with pytest.raises(DecodeError, match="512"):
        decode_txt_reply(_reply(query, ["a" * 600]), 7, "x.example.org")
    with pytest.raises(UsageError, match="bad name"):
        encode_query("a..b", 1)


def test_nameserver_from_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch lan\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n")
    assert system_nameserver(conf) == ("192.0.2.53", 53)
    conf.write_text("search lan\n")
    with pytest.raises(UsageError, match="no nameserver"):
        system_nameserver(conf)
    with pytest.raises(UsageError, match="cannot read"):
        system_nameserver(tmp_path / "missing")


class _Server(asyncio.DatagramProtocol):
    """Answers TXT queries from a zone; `silent` names get no answer, the first query of
    `spoofed` names a wrong-id datagram first."""

    def __init__(self, zone: dict[str, list[str]]) -> None:
        self.zone = zone
        self.transport: Any = None
        self.queries: list[str] = []
        self.silent: set[str] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # a _SelectorDatagramTransport: not a DatagramTransport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        labels, at = [], 12
        while data[at]:
            labels.append(data[at + 1 : at + 1 + data[at]].decode())
            at += 1 + data[at]
        name = ".".join(labels)
        self.queries.append(name)
        if name in self.silent or self.transport is None:
            return
        wrong = bytes([data[0] ^ 0xFF]) + data[1:]
        self.transport.sendto(_reply(wrong, ["spoofed"]), addr)  # ignored: another id
        texts = self.zone.get(name)
        self.transport.sendto(_reply(data, texts or [], rcode=0 if texts else 3), addr)


@pytest.fixture
async def server() -> AsyncIterator[tuple[_Server, tuple[str, int]]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Server(_zone(RECORDS, [])), local_addr=("127.0.0.1", 0)
    )
    try:
        yield protocol, transport.get_extra_info("sockname")[:2]
    finally:
        transport.close()


async def test_a_tree_syncs_over_udp_dns(server: tuple[_Server, tuple[str, int]]) -> None:
    dns, address = server
    resolver = SystemResolver(address, timeout=1.0)
    root, records, links = await sync_tree(URL, resolver)
    assert root.seq == 3 and links == []
    assert sorted(r.node_id for r in records) == sorted(r.node_id for r in RECORDS)
    assert dns.queries[0] == "nodes.example.org" and resolver.queries == len(dns.queries)


async def test_no_answer_is_a_typed_error(server: tuple[_Server, tuple[str, int]]) -> None:
    dns, address = server
    dns.silent.add("nodes.example.org")
    resolver = SystemResolver(address, timeout=0.2, tries=2)
    with pytest.raises(DecodeError, match="no answer"):
        await resolver("nodes.example.org")
    assert dns.queries == ["nodes.example.org"] * 2
    assert await resolver("missing.example.org") == []  # NXDOMAIN
