"""The shh key methods: key pairs and symmetric keys in the node's key store.

Error strings are geth 1.9's (go-ethereum crypto.ToECDSA's for a bad private key, `wrong key
size` for a symmetric key that isn't 32 bytes). Each method that creates a key first checks
`ApiLimits.max_keys` (pairs and symmetric keys together) and answers `too many keys (limit N)`
before any work is done. Password-derived keys (PBKDF2, 65356 iterations) are computed off the
event loop. `KEY_EXPORT_METHODS` hand out key material: an endpoint beyond loopback serves them
only when they are named (`hush.rpc.access`). Keys are never logged.
"""

from __future__ import annotations

import asyncio

from hush.crypto.keys import CURVE_ORDER
from hush.node import Node
from hush.rpc.config import ApiLimits
from hush.rpc.jsonrpc import CallContext, Method, Param, RpcError
from hush.rpc.params import as_hex, as_str
from hush.rpc.shapes import ID_PARAM, hex_str

__all__ = ["KEY_EXPORT_METHODS", "KeyMethods"]

KEY_EXPORT_METHODS = frozenset({"shh_getPrivateKey", "shh_getSymKey"})
"""Methods that hand out key material: off by default on an endpoint beyond loopback."""


class KeyMethods:
    """shh_newKeyPair … shh_deleteSymKey over the node facade's key methods."""

    def __init__(self, node: Node, limits: ApiLimits):
        self.node = node
        self.limits = limits

    def _room_for_key(self) -> None:
        if self.node.key_count() >= self.limits.max_keys:
            raise RpcError(f"too many keys (limit {self.limits.max_keys})")

    async def new_key_pair(self, _: CallContext) -> str:
        self._room_for_key()
        return self.node.new_key_pair()

    async def add_private_key(self, _: CallContext, secret: bytes) -> str:
        # go-ethereum crypto.ToECDSA's messages
        if len(secret) != 32:
            raise RpcError("invalid length, need 256 bits")
        scalar = int.from_bytes(secret, "big")
        if scalar >= CURVE_ORDER:
            raise RpcError("invalid private key, >=N")
        if scalar == 0:
            raise RpcError("invalid private key, zero or negative")
        self._room_for_key()
        return self.node.add_private_key(secret)

    async def delete_key_pair(self, _: CallContext, key_id: str) -> bool:
        if self.node.delete_key_pair(key_id):
            return True
        raise RpcError(f"key pair {key_id} not found")

    async def has_key_pair(self, _: CallContext, key_id: str) -> bool:
        return self.node.has_key_pair(key_id)

    async def get_public_key(self, _: CallContext, key_id: str) -> str:
        return hex_str(self.node.private_key(key_id).public_key)

    async def get_private_key(self, _: CallContext, key_id: str) -> str:
        return hex_str(self.node.private_key(key_id).secret)

    async def new_sym_key(self, _: CallContext) -> str:
        self._room_for_key()
        return self.node.new_sym_key()

    async def add_sym_key(self, _: CallContext, secret: bytes) -> str:
        if len(secret) != 32:
            raise RpcError(f"wrong key size: {len(secret)}")
        self._room_for_key()
        return self.node.add_sym_key(secret)

    async def generate_sym_key_from_password(self, _: CallContext, password: str) -> str:
        self._room_for_key()
        loop = asyncio.get_running_loop()  # PBKDF2, 65356 iterations: keep the loop free
        return await loop.run_in_executor(None, self.node.sym_key_from_password, password)

    async def has_sym_key(self, _: CallContext, key_id: str) -> bool:
        return self.node.has_sym_key(key_id)

    async def get_sym_key(self, _: CallContext, key_id: str) -> str:
        return hex_str(self.node.sym_key(key_id).secret)

    async def delete_sym_key(self, _: CallContext, key_id: str) -> bool:
        return self.node.delete_sym_key(key_id)

    def methods(self) -> list[Method]:
        return [
            Method("shh_newKeyPair", self.new_key_pair),
            Method("shh_addPrivateKey", self.add_private_key, (Param("key", as_hex),)),
            Method("shh_deleteKeyPair", self.delete_key_pair, ID_PARAM),
            Method("shh_hasKeyPair", self.has_key_pair, ID_PARAM),
            Method("shh_getPublicKey", self.get_public_key, ID_PARAM),
            Method("shh_getPrivateKey", self.get_private_key, ID_PARAM),
            Method("shh_newSymKey", self.new_sym_key),
            Method("shh_addSymKey", self.add_sym_key, (Param("key", as_hex),)),
            Method(
                "shh_generateSymKeyFromPassword",
                self.generate_sym_key_from_password,
                (Param("password", as_str),),
            ),
            Method("shh_hasSymKey", self.has_sym_key, ID_PARAM),
            Method("shh_getSymKey", self.get_sym_key, ID_PARAM),
            Method("shh_deleteSymKey", self.delete_sym_key, ID_PARAM),
        ]
