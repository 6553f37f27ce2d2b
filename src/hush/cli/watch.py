"""`hush watch` and what every command that follows incoming messages shares (`follow`).

Messages come from a subscription with `--ws` or when `--rpc` is an IPC socket, else from a
polled filter that is deleted when the command ends (also when interrupted); a node that goes
away is one line and exit status 1 either way. Following stops after `--count` messages or `--timeout` seconds. A
message prints as one line (time, topic, the signer's short id, the payload as text when it is
printable UTF-8), as JSON, or with `--raw` as its envelope's RLP from the node's pool
(`hush_getEnvelope`, hush nodes only).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import click

from hush.cli.common import rpc_option, run, short_name, ws_option
from hush.cli.room import (
    NO_KEY,
    forget,
    get_password,
    hex_arg,
    password_option,
    room_key,
    topic_arg,
    wnode_topic,
)
from hush.cli.rpcclient import RpcClient, Unreachable, ipc_path, lost, subscribe
from hush.errors import UsageError

__all__ = ["follow", "follow_options", "human", "messages", "sender_name", "watch"]


def _payload_text(payload_hex: object) -> str:
    if not isinstance(payload_hex, str):
        return repr(payload_hex)
    try:
        data = bytes.fromhex(payload_hex.removeprefix("0x"))
        text = data.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return payload_hex
    if all(c.isprintable() or c in "\n\t" for c in text):
        return text
    return payload_hex


def sender_name(message: dict[str, Any]) -> str:
    """The short id of a message's signer (as `hush info` and the logs show ids), or anonymous."""
    sender = message.get("sig")
    if not isinstance(sender, str):
        return "anonymous"
    try:
        return short_name(sender)
    except ValueError:
        return "invalid-signer"


def human(message: dict[str, Any], *, topic: bool = True) -> str:
    """One line: time, topic, sender's short id, payload as text when it is UTF-8."""
    stamp = message.get("timestamp")
    when = time.strftime("%H:%M:%S", time.localtime(stamp if isinstance(stamp, int) else 0))
    where = f" {message.get('topic')}" if topic else ""
    return f"[{when}]{where} {sender_name(message)}: {_payload_text(message.get('payload'))}"


async def messages(
    rpc: RpcClient,
    criteria: dict[str, Any],
    ws_url: str | None,
    interval: float,
) -> AsyncGenerator[dict[str, Any], None]:
    """Incoming messages: a WebSocket subscription if `ws_url`, a subscription over the IPC
    socket if `rpc` is one, else a polled filter.

    A node that goes away raises `lost(...)` either way (same message, exit status 1).
    """
    if ws_url or ipc_path(rpc.url):  # an IPC socket pushes, as a WebSocket does
        async for message in subscribe(ws_url or rpc.url, criteria):
            yield message
        return
    filter_id = await rpc.call("shh_newMessageFilter", criteria, expect=str)
    try:
        while True:
            try:
                found = await rpc.call("shh_getFilterMessages", filter_id, expect=list)
            except Unreachable as exc:
                raise lost(rpc.url, exc.reason) from None
            for message in found:
                if isinstance(message, dict):
                    yield message
            await asyncio.sleep(interval)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(rpc.call("shh_deleteMessageFilter", filter_id))


def follow_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options of a command that follows incoming messages (`watch`, `receive`)."""
    for option in reversed(
        [
            rpc_option,
            ws_option,
            click.option("--sym-key", metavar="KEYID", help="Id of a symmetric key on the node."),
            password_option,
            click.option(
                "--key", "private_key_id", help="Id of a key pair on the node (asymmetric)."
            ),
            click.option("--topic", "topics", multiple=True, help="Topic (repeatable)."),
            click.option(
                "--min-pow", type=float, default=0.0, help="Ignore messages with less PoW."
            ),
            click.option("--from", "sender", help="Only messages signed by this public key (hex)."),
            click.option("--count", type=int, help="Exit after this many messages."),
            click.option("--timeout", type=float, help="Exit after this many seconds."),
            click.option(
                "--interval", type=float, default=0.2, show_default=True, help="Poll interval, s."
            ),
        ]
    ):
        function = option(function)
    return function


def follow(
    handle: Callable[[dict[str, Any]], None],
    *,
    rpc_url: str,
    ws_url: str | None,
    sym_key: str | None,
    password: str | None,
    password_file: Path | None,
    private_key_id: str | None,
    topics: tuple[str, ...],
    min_pow: float,
    sender: str | None,
    count: int | None,
    timeout: float | None,
    interval: float,
    raw: bool = False,
) -> None:
    """`handle` each message for the key and topics as it arrives, until count or timeout.

    With `raw`, each message gets `envelope`: its envelope's RLP hex from the node's pool
    (`hush_getEnvelope`, hush nodes only), or None when it has already left the pool.
    """
    fallback = sym_key is None and private_key_id is None
    secret = get_password(password, password_file, fallback=fallback)
    if sum(x is not None for x in (sym_key, secret, private_key_id)) != 1:
        raise UsageError("give exactly one of --sym-key, --password, --key" + NO_KEY)
    topic_list = [topic_arg(t) for t in topics]
    if secret is not None and not topic_list:
        topic_list = [wnode_topic(secret)]

    async def go() -> None:
        async with RpcClient(rpc_url) as rpc:
            key = await room_key(rpc, sym_key, secret)
            criteria: dict[str, Any] = {"topics": topic_list, "minPow": min_pow}
            if key.sym_key_id:
                criteria["symKeyID"] = key.sym_key_id
            else:
                criteria["privateKeyID"] = private_key_id
            if sender:
                criteria["sig"] = hex_arg(sender, "sender key")
            seen = 0
            try:
                async with asyncio.timeout(timeout):
                    stream = messages(rpc, criteria, ws_url, interval)
                    async with contextlib.aclosing(stream):  # its filter goes while rpc is open
                        async for message in stream:
                            if raw:
                                message["envelope"] = await rpc.call(
                                    "hush_getEnvelope", message.get("hash")
                                )
                            handle(message)
                            seen += 1
                            if count is not None and seen >= count:
                                break
            except TimeoutError:
                pass
            finally:
                await forget(rpc, key)

    run(go())


@click.command(
    name="watch",
    epilog="""\b
Examples:
  hush watch --count 1 --timeout 60               # asked for the room password
  hush watch --key KEYID --ws 8546 --json          # asymmetric, pushed over WebSocket
  hush watch --raw --count 1 | hush envelope decode - --password-file room.txt
""",
)
@follow_options
@click.option("--json", "as_json", is_flag=True, help="One JSON message object per line.")
@click.option(
    "--raw",
    is_flag=True,
    help="Print each message's envelope as RLP hex, for `hush envelope decode` (hush nodes).",
)
def watch(as_json: bool, raw: bool, **options: Any) -> None:
    """Print messages for a topic and key as they arrive."""

    def show(message: dict[str, Any]) -> None:
        if as_json:
            click.echo(json.dumps(message))
        elif raw:
            envelope = message.get("envelope")
            if isinstance(envelope, str):
                click.echo(envelope)
            else:
                click.echo(f"hush: {message.get('hash')} has already left the pool", err=True)
        else:
            click.echo(human(message))
        sys.stdout.flush()

    follow(show, raw=raw, **options)
