"""The shhext namespace: history from archive servers, with Status's names (archive.md §1.5).

* `shhext_requestMessages({mailServerPeer, from, to, limit, cursor, topic, topics, symKeyID,
  timeout, force})` returns the request ID (hex of the first request envelope's hash) at once and
  fetches in the background; envelopes reach the node's filters and subscriptions as they come.
* `shhext_requestMessagesSync([retryConfig,] request)` waits and returns `{cursor, error}` as
  Status does, plus `requestId`, `lastEnvelopeHash`, `envelopes`, `pages`. `retryConfig`
  (`{BaseTimeout, StepTimeout, MaxRetries}`) retries an expired request with a longer timeout.

Over WebSocket (and IPC), `shhext_requestMessages` also pushes how the request ended, once its
envelopes are in the filters (status-im/whisper #27), after the reply with its ID:
`{"method": "shhext_subscription", "params": {"subscription": <request ID>, "result": {"type":
"mailserver.request.completed", "event": {"requestID", "lastEnvelopeHash", "cursor",
"errorMessage"}}}}` (Status's `MailServerResponseSignal`), or `"type":
"mailserver.request.expired"` with `"event": {"hash": <request ID>}` when no answer came in time.

* `shhext_syncMessages({mailServerPeer, from, to, limit, cursor, followCursor, topics})`: this
  node's archive server fetches the range from another archive server over 123/124 into its
  store (archive.md §1.5; an empty topic list means every topic). The peer is marked trusted
  and dialled if not connected; it must trust this node too. Returns Status's `{cursor, error}`
  plus `envelopes` (new to the store), `received`, `pages` and `limited` (the sync stopped at the
  archive's per-sync caps: go on from `cursor`).

hush additions to the request object: `followCursor` (fetch every page; default false, as
Status's client pages itself), `overlap` (seconds `from` moves earlier, default TTL + 20 s = 70:
late arrivals inside the previous window still come; what an earlier request delivered is not
delivered again), `mode` ("v2", "v1", "direct" for dialect E, or "raw" for geth
wnode servers), `powTarget` and `parallel` (with `followCursor`: the window is fetched as
this many slices at once: 1 or 2, default 2; hush servers answer 2 requests of a peer at
a time).
Defaults: `from` now − 24 h, `to` now, `limit` 1000, `timeout` 10 s; `force` is accepted and
ignored (hush has no debounce). The server is marked trusted, as Status does. Background fetches
are bounded (`MAX_IN_FLIGHT`); a bad parameter is an invalid-params error, a failed fetch the
`error` string.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hush.archive.client import (
    DEFAULT_OVERLAP,
    HistoryClient,
    HistoryQuery,
    HistoryResult,
    RecentHashes,
)
from hush.archive.cursor import Cursor
from hush.enode import Enode
from hush.errors import DecodeError, HushError
from hush.metrics.archive import ArchiveStats
from hush.node import Node
from hush.rpc.jsonrpc import INVALID_PARAMS, CallContext, Method, Param, RpcError
from hush.rpc.params import ParamError, as_float, as_str, as_topic, as_uint32
from hush.rpc.shapes import hex_str
from hush.shh.topic import FULL_BLOOM, aggregate_blooms, topic_to_bloom
from hush.types import Topic

if TYPE_CHECKING:
    from hush.archive.server import ArchiveServer

__all__ = ["MAX_IN_FLIGHT", "ShhextMethods"]

MAX_IN_FLIGHT = 8
_DAY = 86400
_MODES = ("v2", "v1", "direct", "raw")


def _field(value: dict[str, Any], name: str, decode: Callable[[Any, str | None], Any]) -> Any:
    return decode(value.get(name), name)


def _history_query(node: Node, value: Any, now: int) -> tuple[Enode, HistoryQuery]:
    if not isinstance(value, dict):
        raise ParamError("request must be an object")
    peer = _field(value, "mailServerPeer", as_str)
    if not peer:
        raise ParamError("mailServerPeer is required (the archive server's enode)")
    try:
        enode = Enode.parse(peer)
    except DecodeError as exc:
        raise ParamError(f"invalid mailServerPeer: {exc}") from None
    upper = _field(value, "to", as_uint32) or now
    lower = _field(value, "from", as_uint32) if "from" in value else max(0, upper - _DAY)
    limit = _field(value, "limit", as_uint32) or 1000
    if limit > 1000:
        raise ParamError("limit must be at most 1000")
    cursor = _cursor(value.get("cursor"))
    topics: list[Topic] = []
    if value.get("topic") is not None:
        topics.append(_field(value, "topic", as_topic))
    raw_topics = value.get("topics") or []
    if not isinstance(raw_topics, list) or len(raw_topics) > 1000:
        raise ParamError("topics must be a list of at most 1000 topics")
    topics += [as_topic(t, "topics") for t in raw_topics]
    sym_key = None
    key_id = _field(value, "symKeyID", as_str)
    if key_id:
        try:
            sym_key = node.sym_key(key_id)
        except HushError as exc:
            raise ParamError(f"symKeyID: {exc}") from None
    timeout = _field(value, "timeout", as_float) or 10.0
    mode = _field(value, "mode", as_str) or "v2"
    if mode not in _MODES:
        raise ParamError(f"mode must be one of {', '.join(_MODES)}")
    query = HistoryQuery(
        lower=lower,
        upper=upper,
        topics=tuple(dict.fromkeys(topics)),
        limit=limit,
        cursor=cursor,
        follow_cursor=bool(value.get("followCursor", False)),
        sym_key=sym_key,
        mode=mode,
        timeout=min(timeout, 300.0),
        pow_target=_field(value, "powTarget", as_float) if "powTarget" in value else 0.2,
        overlap=_field(value, "overlap", as_uint32) if "overlap" in value else DEFAULT_OVERLAP,
        parallel=min(_field(value, "parallel", as_uint32) or 2, 2),
    )
    return enode, query


def _cursor(value: Any) -> Cursor | None:
    """Status's cursor: 36 bytes in hex, with or without 0x (its responses have none)."""
    if not value:
        return None
    if not isinstance(value, str):
        raise ParamError("cursor must be a hex string")
    try:
        return Cursor.decode(bytes.fromhex(value.removeprefix("0x")))
    except (ValueError, DecodeError) as exc:
        raise ParamError(f"invalid cursor: {exc}") from None


def _request(node: Node, value: Any, now: int) -> tuple[Enode, HistoryQuery]:
    try:
        return _history_query(node, value, now)
    except ParamError as exc:
        raise RpcError(str(exc), INVALID_PARAMS) from None


def _result_json(result: HistoryResult) -> dict[str, Any]:
    return {
        "requestId": hex_str(result.request_id) if result.request_id else None,
        "cursor": result.cursor.encode().hex() if result.cursor else "",
        "lastEnvelopeHash": hex_str(result.last_envelope_hash)
        if result.last_envelope_hash
        else None,
        "envelopes": result.envelopes,
        "pages": result.pages,
        "error": result.error,
    }


def _signal(result: HistoryResult) -> dict[str, Any]:
    """Status's signal for a finished request (`mailserver.request.completed|expired`)."""
    request_id = hex_str(result.request_id)
    if result.expired:
        return {"type": "mailserver.request.expired", "event": {"hash": request_id}}
    last = result.last_envelope_hash
    return {
        "type": "mailserver.request.completed",
        "event": {
            "requestID": request_id,
            "lastEnvelopeHash": hex_str(last) if last else hex_str(bytes(32)),
            "cursor": result.cursor.encode().hex() if result.cursor else "",
            "errorMessage": result.error or "",
        },
    }


_NOTIFY_WAIT = 10.0  # seconds a notification waits for its request's reply to be written


class ShhextMethods:
    def __init__(
        self,
        node: Node,
        clock: Callable[[], float] = time.time,
        stats: ArchiveStats | None = None,
        archive: ArchiveServer | None = None,
    ):
        self.node = node
        self.archive = archive
        """This node's archive server, which `shhext_syncMessages` fills."""
        self._clock = clock
        self._client = HistoryClient(node.deliver_archived, stats=stats, recent=RecentHashes())
        self._in_flight: set[asyncio.Task[HistoryResult]] = set()
        self._notifying: set[asyncio.Task[None]] = set()

    def _start(
        self, enode: Enode, query: HistoryQuery
    ) -> tuple[asyncio.Task[HistoryResult], asyncio.Future[bytes]]:
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            raise RpcError(f"too many history requests in flight (at most {MAX_IN_FLIGHT})")
        self.node.add_trusted_peer(enode)
        started: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        def progress(result: HistoryResult) -> None:
            if result.request_id and not started.done():
                started.set_result(result.request_id)

        async def fetch() -> HistoryResult:
            try:
                return await self._client.fetch(enode, query, progress)
            finally:
                if not started.done():
                    started.set_result(b"")

        task = asyncio.create_task(fetch())
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return task, started

    async def request_messages(self, context: CallContext, request: Any) -> str:
        enode, query = _request(self.node, request, int(self._clock()))
        task, started = self._start(enode, query)
        request_id = await asyncio.shield(started)
        if not request_id:  # failed before its first request went out
            result = await task
            raise RpcError(result.error or "history request failed")
        if context.notify is not None:
            replied = asyncio.Event()
            context.after_reply.append(replied.set)
            notifier = asyncio.create_task(self._notify(context, replied, task))
            self._notifying.add(notifier)
            notifier.add_done_callback(self._notifying.discard)
        return hex_str(request_id)

    async def _notify(
        self, context: CallContext, replied: asyncio.Event, task: asyncio.Task[HistoryResult]
    ) -> None:
        """Push the request's end once it ended and its ID was sent (bounded by the fetch's
        own timeouts; a connection gone meanwhile ends it quietly)."""
        notify = context.notify
        assert notify is not None
        with contextlib.suppress(TimeoutError, HushError):
            result = await task
            async with asyncio.timeout(_NOTIFY_WAIT):
                await replied.wait()
            note = {"subscription": hex_str(result.request_id), "result": _signal(result)}
            with contextlib.suppress(ConnectionError, RuntimeError):
                await notify({"jsonrpc": "2.0", "method": "shhext_subscription", "params": note})

    async def request_messages_sync(self, _: CallContext, first: Any, second: Any = None) -> Any:
        retry: dict[str, Any] = {}
        request = first
        if second is not None:
            if not isinstance(first, dict):
                raise RpcError("retry config must be an object", INVALID_PARAMS)
            retry, request = first, second
        enode, query = _request(self.node, request, int(self._clock()))
        try:
            base = as_float(retry.get("BaseTimeout"), "BaseTimeout") or query.timeout
            step = as_float(retry.get("StepTimeout"), "StepTimeout")
            retries = min(as_uint32(retry.get("MaxRetries"), "MaxRetries"), 5)
        except ParamError as exc:
            raise RpcError(str(exc), INVALID_PARAMS) from None
        result = HistoryResult()
        for attempt in range(retries + 1):
            attempt_query = replace(query, timeout=min(base + attempt * step, 300.0))
            with contextlib.suppress(HushError):
                result = await self._start(enode, attempt_query)[0]
            if not result.expired:
                break
        return _result_json(result)

    async def sync_messages(self, _: CallContext, request: Any) -> dict[str, Any]:
        if self.archive is None:
            raise RpcError("no archive server here (start the node with --archive)")
        enode, query = _request(self.node, request, int(self._clock()))
        follow = bool(request.get("followCursor", False))
        self.node.add_trusted_peer(enode)
        node_id = enode.node_id
        if not any(p.node_id == node_id for p in self.node.peers()):
            self.node.add_peer(enode)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(query.timeout):
                    while not any(p.node_id == node_id for p in self.node.peers()):
                        await asyncio.sleep(0.05)
            if not any(p.node_id == node_id for p in self.node.peers()):
                raise RpcError("cannot reach mailServerPeer")
        bloom = (
            aggregate_blooms(*(topic_to_bloom(t) for t in query.topics))
            if query.topics
            else FULL_BLOOM
        )
        try:
            result = await self.archive.sync_from(
                self.node,
                node_id,
                query.lower,
                query.upper,
                bloom,
                limit=query.limit,
                cursor=query.cursor,
                follow_cursor=follow,
                timeout=query.timeout,
            )
        except HushError as exc:
            raise RpcError(str(exc)) from None
        return {
            "cursor": result.cursor.encode().hex() if result.cursor else "",
            "error": result.error or "",
            "envelopes": result.archived,
            "received": result.received,
            "pages": result.pages,
            "limited": result.limited,
        }

    def methods(self) -> list[Method]:
        return [
            Method("shhext_syncMessages", self.sync_messages, (Param("request", _any),)),
            Method("shhext_requestMessages", self.request_messages, (Param("request", _any),)),
            Method(
                "shhext_requestMessagesSync",
                self.request_messages_sync,
                (Param("first", _any), Param("second", _any, optional=True)),
            ),
        ]


def _any(value: Any, _: str | None = None) -> Any:
    return value
