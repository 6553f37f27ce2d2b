"""JSON-RPC 2.0 framing and dispatch, transport-free (geth 1.9's rpc package behaviour).

A body is one request object or a batch (array). Calls (with an id) get a response, notifications
(no id) don't; an empty batch is one `empty batch` error. Codes: -32700 parse error, -32600 invalid
request, -32601 `the method X does not exist/is not available`, -32602 invalid params (geth's
texts, see `hush.rpc.params`), -32000 for every error a method returns (geth's default code).
Methods are declared as data: a name, an async handler and one decoder per positional parameter.
Params and results are never logged: they carry keys and payloads.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hush.errors import HushError
from hush.rpc.params import ParamError

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "SERVER_ERROR",
    "CallContext",
    "Dispatcher",
    "Method",
    "Param",
    "RpcError",
    "encode",
    "error_response",
]

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
"""geth's code for an error returned by a method (rpc.defaultErrorCode)."""


class RpcError(Exception):
    """An error answer: code and message as they go on the wire."""

    def __init__(self, message: str, code: int = SERVER_ERROR):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class CallContext:
    """What a handler knows about the transport. `notify` is None where pushes are impossible."""

    notify: Callable[[dict[str, Any]], Awaitable[None]] | None = None
    after_reply: list[Callable[[], None]] = field(default_factory=list)
    """Run once the reply is written: a subscription starts pushing only after its id is sent."""
    connection: object | None = None
    """Per-connection state owned by the server (e.g. WebSocket subscriptions)."""


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    decode: Callable[[Any, str | None], Any]
    optional: bool = False


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Method:
    """One RPC method: `handler(context, *decoded_params)`."""

    name: str
    handler: Handler
    params: tuple[Param, ...] = ()

    def decode(self, raw: Any) -> list[Any]:
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise RpcError("non-array args", INVALID_PARAMS)
        if len(raw) > len(self.params):
            raise RpcError(f"too many arguments, want at most {len(self.params)}", INVALID_PARAMS)
        args = []
        for index, param in enumerate(self.params):
            if index >= len(raw):
                if not param.optional:
                    raise RpcError(f"missing value for required argument {index}", INVALID_PARAMS)
                args.append(param.decode(None, None))
                continue
            try:
                args.append(param.decode(raw[index], None))
            except ParamError as exc:
                raise RpcError(f"invalid argument {index}: {exc}", INVALID_PARAMS) from None
        return args


def error_response(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


class Dispatcher:
    def __init__(self, methods: Iterable[Method]):
        self.methods = {method.name: method for method in methods}

    async def handle_body(self, body: bytes | str, context: CallContext) -> Any:
        """The response to a raw body: a dict, a list (batch), or None (notifications only)."""
        try:
            message = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return error_response(None, PARSE_ERROR, f"parse error: {exc}")
        if isinstance(message, list):
            if not message:
                return error_response(None, INVALID_REQUEST, "empty batch")
            responses = [await self.handle_message(item, context) for item in message]
            answered = [r for r in responses if r is not None]
            return answered or None
        return await self.handle_message(message, context)

    async def handle_message(self, message: Any, context: CallContext) -> dict[str, Any] | None:
        if not isinstance(message, dict):
            return error_response(None, INVALID_REQUEST, "invalid request")
        has_id = "id" in message
        request_id = message.get("id")
        method_name = message.get("method")
        if (
            (has_id and not _valid_id(request_id))
            or not isinstance(method_name, str)
            or not method_name
        ):
            return error_response(
                request_id if has_id and _valid_id(request_id) else None,
                INVALID_REQUEST,
                "invalid request",
            )
        result = await self.call(method_name, message.get("params"), context)
        if not has_id:
            return None
        if isinstance(result, RpcError):
            return error_response(request_id, result.code, result.message)
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    async def call(self, name: str, raw_params: Any, context: CallContext) -> Any:
        """The method's result, or the RpcError to answer with."""
        method = self.methods.get(name)
        if method is None:
            return RpcError(f"the method {name} does not exist/is not available", METHOD_NOT_FOUND)
        try:
            args = method.decode(raw_params)
            return await method.handler(context, *args)
        except RpcError as exc:
            return exc
        except HushError as exc:
            return RpcError(str(exc))
        except Exception:
            log.exception("%s failed", name)  # params deliberately not logged
            return RpcError("internal error", INTERNAL_ERROR)


def encode(response: Any) -> bytes:
    """JSON as Go's encoding/json writes it, so answers match geth's byte for byte."""
    return _go_json(response).encode()


_HTML_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _go_json(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).translate(_HTML_ESCAPES)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, dict):
        items = (f"{_go_json(str(k))}:{_go_json(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_go_json(item) for item in value) + "]"
    return json.dumps(value)  # int, bool, None


def go_float(value: float) -> str:
    """A float64 as Go's encoding/json writes it: shortest digits; exponent form only below 1e-6
    or from 1e21 on, with "e-07" shortened to "e-7"; positional otherwise ("1", not "1.0")."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"json: unsupported value: {value}")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        mantissa, _, exponent = repr(value).partition("e")  # repr uses the exponent form here
        sign, digits = exponent[0], exponent[1:].lstrip("0") or "0"
        return f"{mantissa}e{sign}{digits if sign == '-' else digits.zfill(2)}"
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
