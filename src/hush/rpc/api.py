"""The shh, net, web3, admin and rpc namespaces: geth 1.9's JSON-RPC methods over the node facade.

Parameter shapes, field names, encodings and error strings follow whisper-v6.md §5 and what geth
1.9.7 answered (tests/vectors/rpc_*.json). Two deliberate additions over geth: polled filters
expire after `filter_timeout` seconds without a poll (geth's eth filters do, its shh filters leak),
`admin_peers` reports the peer's shh state instead of geth's `"unknown"`, and
`admin_nodeInfo.protocols.shh` adds `bloom` and `light` to geth's three fields (for `hush info`).

Limits geth doesn't have (`ApiLimits`): how many keys (pairs and symmetric together), polled
filters and subscriptions the node holds for its RPC clients, each refused past its cap with
`too many keys|filters|subscriptions (limit N)` before any work is done; one
shh_getFilterMessages answer is bounded by the request's response budget and keeps what did not
fit for the next poll; shh_setMaxMessageSize refuses null and 0 (geth stores 0: a node that
accepts nothing).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hush.crypto.keccak import keccak256
from hush.crypto.keys import CURVE_ORDER, public_key_from_bytes
from hush.enode import Enode, host_port
from hush.errors import DecodeError, InvalidKeyError, UsageError
from hush.node import Node, PeerInfo, PostRequest, Subscription
from hush.rpc.jsonrpc import CallContext, Method, Param, RpcError
from hush.rpc.params import (
    Criteria,
    NewMessage,
    as_criteria,
    as_float,
    as_hex,
    as_message_size,
    as_new_message,
    as_str,
)
from hush.shh.errors import ERR_INVALID_PUBLIC_KEY, ERR_MISSING_TOPIC, ERR_SYM_ASYM
from hush.shh.filters import Filter
from hush.shh.message import OpenedMessage
from hush.types import PublicKeyBytes, RandomBytes

__all__ = [
    "DEFAULT_FILTER_TIMEOUT",
    "KEY_EXPORT_METHODS",
    "SHH_VERSION",
    "ApiLimits",
    "ShhApi",
    "WsSubscriptions",
    "message_json",
]

log = logging.getLogger(__name__)

SHH_VERSION = "6.0"
DEFAULT_FILTER_TIMEOUT = 300.0
"""Seconds a polled filter lives without a poll (geth's eth filter timeout, 5 minutes)."""

KEY_EXPORT_METHODS = frozenset({"shh_getPrivateKey", "shh_getSymKey"})
"""Methods that hand out key material: off by default on an endpoint beyond loopback."""


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """What RPC clients may make the node hold; geth has no such caps."""

    max_keys: int = 10_000
    """Key pairs and symmetric keys together (~3 KB each with their crypto state)."""
    max_filters: int = 1_000
    """Polled filters (shh_newMessageFilter); each may keep up to 32 MiB until polled."""
    max_subscriptions: int = 1_000
    """Live shh_subscribe subscriptions, over every WebSocket connection."""
    filter_timeout: float = DEFAULT_FILTER_TIMEOUT
    """Seconds a polled filter lives without a poll."""

    def __post_init__(self) -> None:
        for name in ("max_keys", "max_filters", "max_subscriptions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} must be a positive integer, not {value!r}")
        if not (math.isfinite(self.filter_timeout) and self.filter_timeout > 0):
            raise UsageError(f"filter_timeout must be positive, not {self.filter_timeout!r}")


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


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def message_json(message: OpenedMessage) -> dict[str, Any]:
    """geth's whisperv6.Message: `sig` and `recipientPublicKey` omitted when empty."""
    out: dict[str, Any] = {}
    if message.signer:
        out["sig"] = _hex(message.signer)
    out["ttl"] = message.ttl
    out["timestamp"] = message.timestamp
    out["topic"] = _hex(message.topic)
    out["payload"] = _hex(message.payload)
    out["padding"] = _hex(message.padding)
    out["pow"] = message.pow
    out["hash"] = _hex(message.envelope_hash)
    if message.recipient_public_key:
        out["recipientPublicKey"] = _hex(message.recipient_public_key)
    return out


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
                "bloom": _hex(peer.bloom) if peer.bloom is not None else None,
                "light": peer.light,
            }
        },
    }


class WsSubscriptions:
    """One WebSocket connection's live subscriptions; each pushes from the node's async iterator."""

    def __init__(self) -> None:
        self._live: dict[str, tuple[Subscription, asyncio.Task[None]]] = {}

    def __len__(self) -> int:
        return len(self._live)

    def add(self, sub_id: str, subscription: Subscription, task: asyncio.Task[None]) -> None:
        self._live[sub_id] = (subscription, task)
        task.add_done_callback(lambda _: self._live.pop(sub_id, None))

    def remove(self, sub_id: str) -> bool:
        entry = self._live.pop(sub_id, None)
        if entry is None:
            return False
        subscription, task = entry
        subscription.close()
        task.cancel()
        return True

    async def close(self) -> None:
        entries = list(self._live.values())
        self._live.clear()
        for subscription, task in entries:
            subscription.close()
            task.cancel()
        await asyncio.gather(*(task for _, task in entries), return_exceptions=True)


async def _pump(
    sub_id: str,
    subscription: Subscription,
    context: CallContext,
    ready: asyncio.Event,
) -> None:
    notify = context.notify
    assert notify is not None
    try:
        await ready.wait()
        async for message in subscription:
            await notify(
                {
                    "jsonrpc": "2.0",
                    "method": "shh_subscription",
                    "params": {"subscription": sub_id, "result": message_json(message)},
                }
            )
    except (ConnectionError, RuntimeError) as exc:  # the socket went away under us
        log.debug("subscription %s ended: %s", sub_id, exc)
    finally:
        subscription.close()


class ShhApi:
    """The method table and the state behind it (polled filters' last use)."""

    def __init__(
        self,
        node: Node,
        *,
        filter_timeout: float | None = None,
        limits: ApiLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        random_bytes: RandomBytes = os.urandom,
        net_version: str = "1",
    ):
        self.node = node
        self.limits = limits or ApiLimits()
        self.filter_timeout = (
            self.limits.filter_timeout if filter_timeout is None else filter_timeout
        )
        self._clock = clock
        self._random_bytes = random_bytes
        self._net_version = net_version
        self._polled: dict[str, float] = {}
        self._live_subscriptions: set[str] = set()

    def _room_for_key(self) -> None:
        if len(self.node.keys) >= self.limits.max_keys:
            raise RpcError(f"too many keys (limit {self.limits.max_keys})")

    # -- polled filters --------------------------------------------------------------------------

    def expire_filters(self) -> list[str]:
        """Uninstall polled filters idle for longer than the timeout; returns their ids."""
        deadline = self._clock() - self.filter_timeout
        gone = [fid for fid, used in self._polled.items() if used < deadline]
        for fid in gone:
            del self._polled[fid]
            self.node.uninstall_filter(fid)
        return gone

    async def run_expiry(self, interval: float = 5.0) -> None:
        while True:
            await asyncio.sleep(interval)
            self.expire_filters()

    def _filter_from(self, criteria: Criteria, *, subscribe: bool) -> Filter:
        sym_given, asym_given = bool(criteria.sym_key_id), bool(criteria.private_key_id)
        if sym_given == asym_given:
            raise RpcError(ERR_SYM_ASYM)
        signer: PublicKeyBytes | None = None
        if criteria.sig:
            if len(criteria.sig) != 65 or criteria.sig[0] != 4:
                raise RpcError("invalid signing public key")
            try:
                public_key_from_bytes(criteria.sig)
            except InvalidKeyError:
                raise RpcError("invalid signing public key") from None
            signer = PublicKeyBytes(criteria.sig)
        sym_key = private_key = None
        if sym_given:
            if subscribe and not criteria.topics:
                raise RpcError(ERR_MISSING_TOPIC)
            sym_key = self.node.keys.sym_key(criteria.sym_key_id)
        else:
            try:
                private_key = self.node.keys.private_key(criteria.private_key_id)
            except UsageError:
                if subscribe:
                    raise RpcError(ERR_INVALID_PUBLIC_KEY) from None
                raise
        return Filter(
            sym_key=sym_key,
            private_key=private_key,
            topics=frozenset(criteria.topics),
            min_pow=criteria.min_pow,
            allow_p2p=criteria.allow_p2p,
            signer=signer,
        )

    # -- shh: node settings ----------------------------------------------------------------------

    async def version(self, _: CallContext) -> str:
        return SHH_VERSION

    async def info(self, _: CallContext) -> dict[str, Any]:
        node = self.node
        return {
            "memory": node.pool.bytes_used,
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

    # -- shh: keys -------------------------------------------------------------------------------

    async def new_key_pair(self, _: CallContext) -> str:
        self._room_for_key()
        return self.node.keys.new_key_pair()

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
        return self.node.keys.add_private_key(secret)

    async def delete_key_pair(self, _: CallContext, key_id: str) -> bool:
        if self.node.keys.delete_key_pair(key_id):
            return True
        raise RpcError(f"key pair {key_id} not found")

    async def has_key_pair(self, _: CallContext, key_id: str) -> bool:
        return self.node.keys.has_key_pair(key_id)

    async def get_public_key(self, _: CallContext, key_id: str) -> str:
        return _hex(self.node.keys.private_key(key_id).public_key)

    async def get_private_key(self, _: CallContext, key_id: str) -> str:
        return _hex(self.node.keys.private_key(key_id).secret)

    async def new_sym_key(self, _: CallContext) -> str:
        self._room_for_key()
        return self.node.keys.new_sym_key()

    async def add_sym_key(self, _: CallContext, secret: bytes) -> str:
        if len(secret) != 32:
            raise RpcError(f"wrong key size: {len(secret)}")
        self._room_for_key()
        return self.node.keys.add_sym_key(secret)

    async def generate_sym_key_from_password(self, _: CallContext, password: str) -> str:
        self._room_for_key()
        loop = asyncio.get_running_loop()  # PBKDF2, 65356 iterations: keep the loop free
        return await loop.run_in_executor(None, self.node.keys.sym_key_from_password, password)

    async def has_sym_key(self, _: CallContext, key_id: str) -> bool:
        return self.node.keys.has_sym_key(key_id)

    async def get_sym_key(self, _: CallContext, key_id: str) -> str:
        return _hex(self.node.keys.sym_key(key_id).secret)

    async def delete_sym_key(self, _: CallContext, key_id: str) -> bool:
        return self.node.keys.delete_sym_key(key_id)

    # -- shh: messages ---------------------------------------------------------------------------

    async def post(self, context: CallContext, message: NewMessage) -> str:
        if bool(message.sym_key_id) == bool(message.pub_key):
            raise RpcError(ERR_SYM_ASYM)
        request = PostRequest(
            payload=message.payload,
            topic=message.topic,
            sym_key_id=message.sym_key_id or None,
            public_key=message.pub_key or None,
            signer_id=message.sig or None,
            ttl=message.ttl,
            padding=message.padding or None,
            pow_time=message.pow_time,
            pow_target=message.pow_target,
            target_peer=message.target_peer or None,
        )
        # One WebSocket connection is one requester in the sealer's round-robin; HTTP requests
        # share one (the node's limits still apply per post).
        connection = context.connection
        requester = None if connection is None else id(connection)  # any object, hashable or not
        return _hex(await self.node.post(request, requester=requester))

    async def new_message_filter(self, _: CallContext, criteria: Criteria) -> str:
        if len(self._polled) >= self.limits.max_filters:
            raise RpcError(f"too many filters (limit {self.limits.max_filters})")
        filter_id = self.node.install_filter(self._filter_from(criteria, subscribe=False))
        self._polled[filter_id] = self._clock()
        return filter_id

    async def get_filter_messages(
        self, context: CallContext, filter_id: str
    ) -> list[dict[str, Any]]:
        # the oldest that fit the response budget; the rest wait for the next poll
        budget = max(0, context.response_budget - 128 - len(filter_id))
        messages = self.node.filter_messages(filter_id, budget, message_json_size)
        if filter_id in self._polled:
            self._polled[filter_id] = self._clock()
        return [message_json(m) for m in messages]

    async def delete_message_filter(self, _: CallContext, filter_id: str) -> bool:
        self._polled.pop(filter_id, None)
        if not self.node.uninstall_filter(filter_id):
            raise RpcError("Unsubscribe: Invalid ID")
        return True

    async def subscribe(self, context: CallContext, kind: str, criteria: Criteria) -> str:
        if context.notify is None or not isinstance(context.connection, WsSubscriptions):
            raise RpcError("notifications not supported")
        if kind != "messages":
            raise RpcError(f'no "{kind}" subscription in shh namespace')
        if len(self._live_subscriptions) >= self.limits.max_subscriptions:
            raise RpcError(f"too many subscriptions (limit {self.limits.max_subscriptions})")
        subscription = self.node.subscribe(self._filter_from(criteria, subscribe=True))
        sub_id = _hex(self._random_bytes(16))
        ready = asyncio.Event()
        task = asyncio.ensure_future(_pump(sub_id, subscription, context, ready))
        self._live_subscriptions.add(sub_id)
        task.add_done_callback(lambda _: self._live_subscriptions.discard(sub_id))
        context.connection.add(sub_id, subscription, task)
        context.after_reply.append(ready.set)
        return sub_id

    async def unsubscribe(self, context: CallContext, sub_id: str) -> bool:
        live = context.connection
        if not isinstance(live, WsSubscriptions) or not live.remove(sub_id):
            raise RpcError("subscription not found")
        self._live_subscriptions.discard(sub_id)  # now, not when its task has wound down
        return True

    # -- web3, net, admin, rpc -------------------------------------------------------------------

    async def client_version(self, _: CallContext) -> str:
        return self.node.config.client_id

    async def sha3(self, _: CallContext, data: bytes) -> str:
        return _hex(keccak256(data))

    async def get_envelope(self, _: CallContext, envelope_hash: bytes) -> str | None:
        """hush only: the pooled envelope's RLP (`hush watch --raw`), null once it is gone."""
        envelope = self.node.envelope(envelope_hash)
        return None if envelope is None else _hex(envelope.encode())

    async def net_version(self, _: CallContext) -> str:
        return self._net_version

    async def peer_count(self, _: CallContext) -> str:
        return hex(len(self.node.peers()))

    async def listening(self, _: CallContext) -> bool:
        return True

    async def node_info(self, _: CallContext) -> dict[str, Any]:
        node = self.node
        enode = Enode.parse(node.enode)
        port = node.listen_port or 0
        return {
            "id": keccak256(node.node_key.node_id).hex(),
            "name": node.config.client_id,
            "enode": node.enode,
            "ip": enode.ip,
            "ports": {"discovery": port, "listener": port},
            "listenAddr": host_port(node.config.listen_host, port),
            "protocols": {
                "shh": {
                    "version": SHH_VERSION,
                    "maxMessageSize": node.max_message_size,
                    "minimumPoW": node.min_pow,
                    "bloom": _hex(node.bloom) if node.bloom is not None else None,
                    "light": node.light,
                }
            },
        }

    async def peers(self, _: CallContext) -> list[dict[str, Any]]:
        return [_peer_json(peer) for peer in self.node.peers()]

    async def add_peer(self, _: CallContext, url: str) -> bool:
        try:
            self.node.add_peer(url)
        except DecodeError as exc:
            raise RpcError(f"invalid enode: {exc}") from None
        return True

    async def remove_peer(self, _: CallContext, url: str) -> bool:
        try:
            await self.node.remove_peer(url)
        except DecodeError as exc:
            raise RpcError(f"invalid enode: {exc}") from None
        return True

    async def add_trusted_peer(self, _: CallContext, url: str) -> bool:
        try:
            self.node.add_trusted_peer(url)
        except DecodeError as exc:
            raise RpcError(f"invalid enode: {exc}") from None
        return True

    async def modules(self, _: CallContext) -> dict[str, str]:
        return {"admin": "1.0", "net": "1.0", "rpc": "1.0", "shh": "1.0", "web3": "1.0"}

    # -- the table -------------------------------------------------------------------------------

    def methods(self) -> list[Method]:
        key_id = (Param("id", as_str),)
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
            Method("shh_newKeyPair", self.new_key_pair),
            Method("shh_addPrivateKey", self.add_private_key, (Param("key", as_hex),)),
            Method("shh_deleteKeyPair", self.delete_key_pair, key_id),
            Method("shh_hasKeyPair", self.has_key_pair, key_id),
            Method("shh_getPublicKey", self.get_public_key, key_id),
            Method("shh_getPrivateKey", self.get_private_key, key_id),
            Method("shh_newSymKey", self.new_sym_key),
            Method("shh_addSymKey", self.add_sym_key, (Param("key", as_hex),)),
            Method(
                "shh_generateSymKeyFromPassword",
                self.generate_sym_key_from_password,
                (Param("password", as_str),),
            ),
            Method("shh_hasSymKey", self.has_sym_key, key_id),
            Method("shh_getSymKey", self.get_sym_key, key_id),
            Method("shh_deleteSymKey", self.delete_sym_key, key_id),
            Method("shh_post", self.post, (Param("message", as_new_message),)),
            Method(
                "shh_newMessageFilter", self.new_message_filter, (Param("criteria", as_criteria),)
            ),
            Method("shh_getFilterMessages", self.get_filter_messages, key_id),
            Method("shh_deleteMessageFilter", self.delete_message_filter, key_id),
            Method(
                "shh_subscribe",
                self.subscribe,
                (Param("kind", as_str), Param("criteria", as_criteria)),
            ),
            Method("shh_unsubscribe", self.unsubscribe, key_id),
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
