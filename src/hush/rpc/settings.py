"""The shh node-setting methods: version, info, PoW and size limits, bloom, trust, light mode.

Each answers what geth 1.9's whisperv6 PublicWhisperAPI answers (whisper-v6.md §5); the settings
take effect through the node facade, which tells the peers (a new PoW requirement or bloom).
shh_setMaxMessageSize refuses null and 0 (geth stores 0: a node that accepts nothing); the
parameter parser (`hush.rpc.params.as_message_size`) enforces it.
"""

from __future__ import annotations

from typing import Any

from hush.node import Node
from hush.rpc.jsonrpc import CallContext, Method, Param
from hush.rpc.params import as_float, as_hex, as_message_size, as_str
from hush.rpc.shapes import SHH_VERSION

__all__ = ["SettingsMethods"]


class SettingsMethods:
    """shh_version … shh_cancelLightClient over the node facade."""

    def __init__(self, node: Node):
        self.node = node

    async def version(self, _: CallContext) -> str:
        return SHH_VERSION

    async def info(self, _: CallContext) -> dict[str, Any]:
        node = self.node
        return {
            "memory": node.info().memory,
            "messages": node.queued_messages(),
            "minPow": node.min_pow,
            "maxMessageSize": node.max_message_size,
        }

    async def set_max_message_size(self, _: CallContext, size: int) -> bool:
        self.node.set_max_message_size(size)
        return True

    async def set_min_pow(self, _: CallContext, value: float) -> bool:
        await self.node.set_min_pow(value)
        return True

    async def set_bloom_filter(self, _: CallContext, bloom: bytes) -> bool:
        await self.node.set_bloom(bloom)
        return True

    async def mark_trusted_peer(self, _: CallContext, url: str) -> bool:
        self.node.mark_trusted_peer(url)
        return True

    async def make_light_client(self, _: CallContext) -> bool:
        self.node.light = True
        return self.node.light

    async def cancel_light_client(self, _: CallContext) -> bool:
        self.node.light = False
        return not self.node.light

    def methods(self) -> list[Method]:
        return [
            Method("shh_version", self.version),
            Method("shh_info", self.info),
            Method(
                "shh_setMaxMessageSize",
                self.set_max_message_size,
                (Param("size", as_message_size),),
            ),
            Method("shh_setMinPoW", self.set_min_pow, (Param("pow", as_float),)),
            Method("shh_setBloomFilter", self.set_bloom_filter, (Param("bloom", as_hex),)),
            Method("shh_markTrustedPeer", self.mark_trusted_peer, (Param("enode", as_str),)),
            Method("shh_makeLightClient", self.make_light_client),
            Method("shh_cancelLightClient", self.cancel_light_client),
        ]
