"""shh_post: a NewMessage from an RPC client, sealed and sent by the node facade.

Exactly one of `symKeyID` and `pubKey` must be given (geth's `specify either a symmetric or an
asymmetric key`); the rest is the node's `PostRequest`, and the node's limits apply (payload
size, PoW time, the sealer's bounded queue). One WebSocket connection is one requester in the
sealer's round-robin; HTTP requests share one. A call whose client goes away is cancelled, and
its seal with it. The answer is the envelope's hash.
"""

from __future__ import annotations

from hush.node import Node, PostRequest
from hush.rpc.jsonrpc import CallContext, Method, Param, RpcError
from hush.rpc.params import NewMessage, as_new_message
from hush.rpc.shapes import hex_str
from hush.shh.errors import ERR_SYM_ASYM

__all__ = ["PostMethods"]


class PostMethods:
    """shh_post over the node facade."""

    def __init__(self, node: Node):
        self.node = node

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
        return hex_str(await self.node.post(request, requester=requester))

    def methods(self) -> list[Method]:
        return [Method("shh_post", self.post, (Param("message", as_new_message),))]
