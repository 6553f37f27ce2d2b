"""geth-compatible JSON-RPC (HTTP and WebSocket) over the node facade (whisper-v6.md §5)."""

from hush.rpc.api import ShhApi, message_json
from hush.rpc.jsonrpc import CallContext, Dispatcher, Method, Param, RpcError
from hush.rpc.server import DEFAULT_MAX_BODY, RpcConfig, RpcServer

__all__ = [
    "DEFAULT_MAX_BODY",
    "CallContext",
    "Dispatcher",
    "Method",
    "Param",
    "RpcConfig",
    "RpcError",
    "RpcServer",
    "ShhApi",
    "message_json",
]
