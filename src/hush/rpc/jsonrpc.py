"""JSON-RPC 2.0 framing and dispatch, transport-free (geth 1.9's rpc package behaviour).

A body is one request object or a batch (array). Calls (with an id) get a response, notifications
(no id) don't; an empty batch is one `empty batch` error. Codes: -32700 parse error, -32600 invalid
request, -32601 `the method X does not exist/is not available`, -32602 invalid params (geth's
texts, see `hush.rpc.params`), -32000 for every error a method returns (geth's default code).
Methods are declared as data: a name, an async handler and one decoder per positional parameter.
Params and results are never logged: they carry keys and payloads.

Limits, as later geth versions have them (rpc/handler.go): a batch of more than `max_batch` items
is answered with one `batch too large` error (-32600) carrying the first call's id; once a batch's
answers pass `max_response` bytes, its remaining calls get `response too large` (-32003), and
once it has run `batch_timeout` seconds, `request timed out` (-32002). Each
call sees the bytes left in `CallContext.response_budget`, so a handler with a large answer
(shh_getFilterMessages) returns what fits and keeps the rest. Batch items run one at a time and
the dispatcher yields to the event loop between them, so one batch cannot freeze the node.
Parsing follows Go's: NaN and Infinity are not JSON (parse error), numbers beyond float64 stay
text (`BigNumber`: an id echoes verbatim, a parameter is refused), and nesting deeper than the
parser's recursion limit is a parse error. Error messages are cut to `MAX_ERROR_MESSAGE`
characters so that a 4 MB method name is not echoed back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hush.errors import HushError
from hush.rpc.params import BigNumber, ParamError, parse_float, parse_int

__all__ = [
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_RESPONSE",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "MAX_ERROR_MESSAGE",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "RESPONSE_TOO_LARGE",
    "SERVER_ERROR",
    "TIMED_OUT",
    "CallContext",
    "Dispatcher",
    "Method",
    "Param",
    "RpcError",
    "encode",
    "error_response",
    "loads",
]

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
"""geth's code for an error returned by a method (rpc.defaultErrorCode)."""
RESPONSE_TOO_LARGE = -32003
"""geth's errcodeResponseTooLarge."""
TIMED_OUT = -32002
"""geth's errcodeTimeout."""

DEFAULT_MAX_BATCH = 1000
"""geth's BatchRequestLimit default (1.12 on)."""
DEFAULT_MAX_RESPONSE = 25_000_000
"""geth's BatchResponseMaxSize default, in bytes of JSON."""
MAX_ERROR_MESSAGE = 256
"""Longest error message sent; longer ones (echoed hostile input) are cut."""


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
    response_budget: int = DEFAULT_MAX_RESPONSE
    """Bytes of JSON this call's answer may take; the dispatcher sets it before each call."""


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
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or (
        isinstance(value, str | int | BigNumber) and not isinstance(value, bool)
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def loads(body: bytes | str) -> Any:
    """JSON as Go's decoder reads it (see the module docstring); ValueError when it isn't."""
    try:
        return json.loads(
            body,
            parse_float=parse_float,
            parse_int=parse_int,
            parse_constant=_refuse_constant,
        )
    except RecursionError:
        raise ValueError("exceeded max depth") from None


def _clip(message: str) -> str:
    if len(message) <= MAX_ERROR_MESSAGE:
        return message
    return message[: MAX_ERROR_MESSAGE - 3] + "..."


@dataclass(slots=True)
class _Reply:
    value: Any
    encoded: bytes


class Dispatcher:
    def __init__(
        self,
        methods: Iterable[Method],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_response: int = DEFAULT_MAX_RESPONSE,
        batch_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.methods = {method.name: method for method in methods}
        self.max_batch = max_batch
        self.max_response = max_response
        self.batch_timeout = batch_timeout
        self._clock = clock

    async def handle_body(self, body: bytes | str, context: CallContext) -> Any:
        """The response to a raw body: a dict, a list (batch), or None (notifications only)."""
        reply = await self._reply(body, context)
        return None if reply is None else reply.value

    async def handle_raw(self, body: bytes | str, context: CallContext) -> bytes | None:
        """The response to a raw body as the bytes to send, or None (notifications only)."""
        reply = await self._reply(body, context)
        return None if reply is None else reply.encoded

    async def handle_value(self, message: Any, context: CallContext) -> bytes | None:
        """The response to a body already parsed (by `loads`), as the bytes to send."""
        reply = await self._reply_to(message, context)
        return None if reply is None else reply.encoded

    async def _reply(self, body: bytes | str, context: CallContext) -> _Reply | None:
        try:
            message = loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _encoded(error_response(None, PARSE_ERROR, _clip(f"parse error: {exc}")))
        return await self._reply_to(message, context)

    async def _reply_to(self, message: Any, context: CallContext) -> _Reply | None:
        if not isinstance(message, list):
            context.response_budget = self.max_response
            response = await self.handle_message(message, context)
            return None if response is None else _encoded(response)
        if not message:
            return _encoded(error_response(None, INVALID_REQUEST, "empty batch"))
        if len(message) > self.max_batch:
            first_id = next(
                (
                    item["id"]
                    for item in message
                    if isinstance(item, dict) and "id" in item and _valid_id(item["id"])
                ),
                None,
            )
            return _encoded([error_response(first_id, INVALID_REQUEST, "batch too large")])
        return await self._batch(message, context)

    async def _batch(self, items: list[Any], context: CallContext) -> _Reply | None:
        values: list[dict[str, Any]] = []
        parts: list[bytes] = []
        size = 0
        deadline = None if self.batch_timeout is None else self._clock() + self.batch_timeout
        refusal: tuple[int, str] | None = None
        for index, item in enumerate(items):
            if index:
                await asyncio.sleep(0)  # let peers, timers and other clients in between items
            if refusal is None and size > self.max_response:
                refusal = (RESPONSE_TOO_LARGE, "response too large")
            if refusal is None and deadline is not None and self._clock() >= deadline:
                refusal = (TIMED_OUT, "request timed out")
            if refusal is not None:  # geth: every call left gets the error, notifications none
                if isinstance(item, dict) and "id" in item and _valid_id(item["id"]):
                    response = error_response(item["id"], *refusal)
                    values.append(response)
                    parts.append(encode(response))
                continue
            context.response_budget = self.max_response - size
            answer = await self.handle_message(item, context)
            if answer is None:
                continue
            reply = _encoded(answer)
            values.append(reply.value)
            parts.append(reply.encoded)
            size += len(reply.encoded)
        if not values:
            return None
        return _Reply(values, b"[" + b",".join(parts) + b"]")

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
            return error_response(request_id, result.code, _clip(result.message))
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    async def call(self, name: str, raw_params: Any, context: CallContext) -> Any:
        """The method's result, or the RpcError to answer with."""
        method = self.methods.get(name)
        if method is None:
            return RpcError(
                f"the method {_clip(name)} does not exist/is not available", METHOD_NOT_FOUND
            )
        try:
            args = method.decode(raw_params)
            return await method.handler(context, *args)
        except RpcError as exc:
            return exc
        except HushError as exc:
            return RpcError(str(exc))
        except Exception as exc:  # a bug: one line, the traceback only at debug level
            log.error("%s failed: %s", name, type(exc).__name__)  # params deliberately not logged
            log.debug("%s failed", name, exc_info=True)
            return RpcError("internal error", INTERNAL_ERROR)


def _encoded(response: Any) -> _Reply:
    """A response and its bytes; one whose result JSON cannot hold becomes an internal error."""
    try:
        return _Reply(response, encode(response))
    except (TypeError, ValueError) as exc:
        log.error("unencodable result: %s", exc)
        request_id = response.get("id") if isinstance(response, dict) else None
        fallback = error_response(request_id, INTERNAL_ERROR, "internal error")
        return _Reply(fallback, encode(fallback))


def encode(response: Any) -> bytes:
    """JSON as Go's encoding/json writes it, so answers match geth's byte for byte."""
    text = _go_json(response)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate from a client's "\ud800": Go has U+FFFD there
        return re.sub("[\ud800-\udfff]", "\ufffd", text).encode()


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
    if isinstance(value, BigNumber):
        return value.text  # an id no float64 holds: echoed as it came, like geth's RawMessage
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
