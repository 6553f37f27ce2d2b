"""The history client's raw mode against a server that behaves as geth 1.9.7's `wnode
-mailserver` does, replaying the envelopes a real geth made (tests/vectors/envelopes.json, from
/work/shared/vectors/geth-1.9.7; no geth binary can be had here).

The server side is a hush Node whose mail handler applies wnode's rules, written from its
documented behaviour (whisper-v6.md §6): the 126 envelope must open with the password's key and
carry a signature; its payload is `lower u32 ‖ upper u32` (8 bytes: every topic) or that plus a
64-byte bloom; every stored envelope with `lower ≤ sent ≤ upper` whose bloom matches goes back
alone in a 127 (a single envelope, no list), oldest first, and no 125 follows. What this checks
of the client: the request bytes are the form wnode parses, the geth envelopes arrive unchanged in
the client's deliveries, bloom false positives outside the topics are dropped, and the request
completes by the idle timeout (there is no completion packet)."""

from __future__ import annotations

import time

from hush.archive.client import HistoryClient, HistoryQuery
from hush.node import Node
from hush.shh.envelope import Envelope
from hush.shh.message import open_symmetric
from hush.shh.packets import PacketCode
from hush.shh.peer import MailPacket
from hush.shh.topic import FULL_BLOOM, bloom_matches, topic_to_bloom
from hush.types import Bloom, EnvelopeHash, NodeID

from .helpers import geth_envelopes, node_config, password_key

GETH = sorted((Envelope.decode(raw) for raw in geth_envelopes()), key=lambda e: e.sent)


class WnodeForm:
    """wnode's mail server rules over the recorded geth envelopes (see the module docstring)."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.refused: list[str] = []

    async def handle(self, node: Node, node_id: NodeID, request: Envelope | MailPacket) -> None:
        if not isinstance(request, Envelope):
            self.refused.append("not an envelope")
            return
        opened = open_symmetric(request, password_key())
        if opened is None or opened.signer is None:
            self.refused.append("failed to decrypt or unsigned")
            return
        payload = opened.payload
        self.requests.append(payload)
        if len(payload) < 8 or 8 < len(payload) < 72:
            self.refused.append("undersized")
            return
        bloom = FULL_BLOOM if len(payload) == 8 else payload[8:72]
        lower, upper = int.from_bytes(payload[:4], "big"), int.from_bytes(payload[4:8], "big")
        for envelope in GETH:
            if lower <= envelope.sent <= upper and bloom_matches(
                Bloom(bloom), topic_to_bloom(envelope.topic)
            ):
                await node.send_packet(node_id, PacketCode.P2P_MESSAGE, envelope.encode())


async def test_raw_mode_against_a_wnode_form_server_replaying_geth_envelopes() -> None:
    wnode = WnodeForm()
    lower, upper = GETH[0].sent, GETH[-1].sent
    async with Node(node_config(), mail_handler=wnode.handle) as server:
        delivered: list[tuple[bytes, EnvelopeHash]] = []
        client = HistoryClient(lambda envelope, h: delivered.append((envelope.encode(), h)))
        everything = HistoryQuery(
            lower, upper, sym_key=password_key(), mode="raw", idle_timeout=0.5, timeout=10
        )
        started = time.monotonic()
        result = await client.fetch(server.enode, everything)
        assert result.error is None and not result.expired
        assert time.monotonic() - started >= 0.5  # it ended by the idle timeout: no 125 came
        assert wnode.refused == []
        assert (
            wnode.requests[-1] == lower.to_bytes(4, "big") + upper.to_bytes(4, "big") + FULL_BLOOM
        )
        assert [raw for raw, _ in delivered] == [e.encode() for e in GETH]  # geth's own bytes
        assert [h for _, h in delivered] == [e.hash for e in GETH]

        # One topic: the bloom goes to wnode (which may send more), the client keeps the topic.
        topic = GETH[0].topic
        delivered.clear()
        one = HistoryQuery(
            lower, upper, (topic,), sym_key=password_key(), mode="raw", idle_timeout=0.5
        )
        result = await HistoryClient(
            lambda envelope, h: delivered.append((envelope.encode(), h))
        ).fetch(server.enode, one)
        assert result.error is None
        assert wnode.requests[-1][8:] == topic_to_bloom(topic)
        assert [raw for raw, _ in delivered] == [e.encode() for e in GETH if e.topic == topic]
        sent_back = [
            e for e in GETH if bloom_matches(topic_to_bloom(topic), topic_to_bloom(e.topic))
        ]
        assert result.filtered == len(sent_back) - len(delivered)
