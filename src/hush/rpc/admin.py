"""The web3, net, admin and rpc namespaces, and hush_getEnvelope, over the node facade.

Shapes follow geth 1.9 (whisper-v6.md §5, tests/vectors/rpc_*.json), with two deliberate
additions: `admin_peers` reports the peer's shh state (version, PoW requirement, bloom, light)
instead of geth's `"unknown"`, and `admin_nodeInfo.protocols.shh` adds `bloom` and `light` to
geth's three fields (for `hush info`). An enode URL that doesn't parse answers
`invalid enode: …`. `rpc_modules` here is the full list; the server answers each endpoint's own.
`hush_getEnvelope` is hush's only: a pooled envelope's RLP, null once it is gone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from hush.crypto.keccak import keccak256
from hush.enode import Enode
from hush.errors import DecodeError
from hush.net.discovery.nodeinfo import node_record
from hush.node import Node, PeerInfo
from hush.rpc.jsonrpc import CallContext, Method, Param, RpcError
from hush.rpc.params import as_hex, as_str
from hush.rpc.shapes import SHH_VERSION, hex_str

__all__ = ["AdminMethods"]


def _peer_json(peer: PeerInfo) -> dict[str, Any]:
    return {
        "enode": peer.enode,
        "id": keccak256(peer.node_id).hex(),
        "name": peer.name,
        "caps": list(peer.capabilities),
        "network": {
            "localAddress": peer.local_address,
            "remoteAddress": peer.remote_address,
            "inbound": peer.inbound,
            "trusted": peer.trusted,
            "static": peer.static,
        },
        "protocols": {
            "shh": {
                "version": SHH_VERSION,
                "powRequirement": peer.pow_requirement,
                "bloom": hex_str(peer.bloom) if peer.bloom is not None else None,
                "light": peer.light,
            }
        },
    }


@contextlib.contextmanager
def _enode_errors() -> Iterator[None]:
    """An enode URL that doesn't parse is the caller's mistake: `invalid enode: …`."""
    try:
        yield
    except DecodeError as exc:
        raise RpcError(f"invalid enode: {exc}") from None


class AdminMethods:
    """web3_*, net_*, admin_*, rpc_modules and hush_getEnvelope."""

    def __init__(self, node: Node, net_version: str):
        self.node = node
        self._net_version = net_version

    async def client_version(self, _: CallContext) -> str:
        return self.node.info().client_id

    async def sha3(self, _: CallContext, data: bytes) -> str:
        return hex_str(keccak256(data))

    async def get_envelope(self, _: CallContext, envelope_hash: bytes) -> str | None:
        """hush only: the pooled envelope's RLP (`hush watch --raw`), null once it is gone."""
        envelope = self.node.envelope(envelope_hash)
        return None if envelope is None else hex_str(envelope.encode())

    async def net_version(self, _: CallContext) -> str:
        return self._net_version

    async def peer_count(self, _: CallContext) -> str:
        return hex(len(self.node.peers()))

    async def listening(self, _: CallContext) -> bool:
        return True

    async def node_info(self, _: CallContext) -> dict[str, Any]:
        node = self.node
        status = node.info()
        enode = Enode.parse(node.enode)
        port = node.listen_port or 0
        record, discovery_port = node_record(node)  # geth's `enr`; the UDP port when it runs
        return {
            "id": keccak256(status.node_id).hex(),
            "name": status.client_id,
            "enode": node.enode,
            "enr": record,
            "ip": enode.ip,
            "ports": {
                "discovery": port if discovery_port is None else discovery_port,
                "listener": port,
            },
            "listenAddr": status.listen_address,
            "protocols": {
                "shh": {
                    "version": SHH_VERSION,
                    "maxMessageSize": node.max_message_size,
                    "minimumPoW": node.min_pow,
                    "bloom": hex_str(node.bloom) if node.bloom is not None else None,
                    "light": node.light,
                }
            },
        }

    async def peers(self, _: CallContext) -> list[dict[str, Any]]:
        return [_peer_json(peer) for peer in self.node.peers()]

    async def add_peer(self, _: CallContext, url: str) -> bool:
        with _enode_errors():
            self.node.add_peer(url)
        return True

    async def remove_peer(self, _: CallContext, url: str) -> bool:
        with _enode_errors():
            await self.node.remove_peer(url)
        return True

    async def add_trusted_peer(self, _: CallContext, url: str) -> bool:
        with _enode_errors():
            self.node.add_trusted_peer(url)
        return True

    async def modules(self, _: CallContext) -> dict[str, str]:
        return {"admin": "1.0", "net": "1.0", "rpc": "1.0", "shh": "1.0", "web3": "1.0"}

    def methods(self) -> list[Method]:
        return [
            Method("web3_clientVersion", self.client_version),
            Method("web3_sha3", self.sha3, (Param("data", as_hex),)),
            Method("hush_getEnvelope", self.get_envelope, (Param("hash", as_hex),)),
            Method("net_version", self.net_version),
            Method("net_peerCount", self.peer_count),
            Method("net_listening", self.listening),
            Method("admin_nodeInfo", self.node_info),
            Method("admin_peers", self.peers),
            Method("admin_addPeer", self.add_peer, (Param("enode", as_str),)),
            Method("admin_removePeer", self.remove_peer, (Param("enode", as_str),)),
            Method("admin_addTrustedPeer", self.add_trusted_peer, (Param("enode", as_str),)),
            Method("rpc_modules", self.modules),
        ]
