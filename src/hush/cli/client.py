"""Commands that talk to a running node over JSON-RPC: `hush post`, `watch` and `info`.

They use only geth-compatible methods (whisper-v6.md §5), so they work against geth 1.9 too. A
password becomes a symmetric key on the node for the duration of the command and is removed
afterwards. Errors are one line (`hush: error: …`), never a traceback, whatever the server answers
(hush.cli.rpcclient). `hush keys` lives in hush.cli.keys, `hush chat` in hush.cli.chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hush.cli.common import resolve_secret, rpc_option, run, secret_options, short_name, ws_option
from hush.cli.rpcclient import RpcClient, Unreachable, lost, subscribe
from hush.errors import UsageError

__all__ = [
    "DEFAULT_TTL",
    "NO_KEY",
    "Key",
    "follow",
    "follow_options",
    "forget",
    "hex_arg",
    "room_key",
    "sender_name",
    "human",
    "info",
    "messages",
    "get_password",
    "password_option",
    "post",
    "topic_arg",
    "watch",
    "with_spinner",
    "wnode_topic",
]

_T = TypeVar("_T")

DEFAULT_TTL = 50
"""Seconds a posted message lives, for `post` and `chat` alike (geth's shh_post default for 0)."""

password_option = secret_options(
    "password",
    "password",
    "Password: derives the symmetric key and topic (wnode-compatible). With no key option: "
    "$HUSH_PASSWORD, else asked on a terminal.",
)
NO_KEY = (
    " (a password can also come from --password-file or $HUSH_PASSWORD, or be asked for when "
    "run on a terminal)"
)


def get_password(
    password: str | None, password_file: Path | None, *, fallback: bool = False
) -> str | None:
    """The password given; with `fallback` (no other key given), from $HUSH_PASSWORD or asked."""
    return resolve_secret(
        password,
        password_file,
        option="--password",
        what="password",
        env="HUSH_PASSWORD" if fallback else None,
        ask=fallback,
    )


def wnode_topic(password: str) -> str:
    """geth wnode's topic for a password: XOR-fold of PBKDF2-SHA512(pw, pw, 4096, 128) to 4 bytes."""
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), password.encode(), 4096, 128)
    topic = bytearray(4)
    for index, byte in enumerate(digest):
        topic[index % 4] ^= byte
    return "0x" + topic.hex()


def topic_arg(text: str) -> str:
    text = text.strip()
    if not text.startswith(("0x", "0X")):
        text = "0x" + text
    try:
        if len(bytes.fromhex(text[2:])) != 4:
            raise ValueError
    except ValueError:
        raise UsageError(f"invalid topic {text!r}: expected 4 bytes as 8 hex digits") from None
    return text.lower()


def hex_arg(text: str, what: str) -> str:
    text = text.strip()
    if not text.startswith(("0x", "0X")):
        text = "0x" + text
    try:
        bytes.fromhex(text[2:])
    except ValueError:
        raise UsageError(f"invalid {what}: not hex") from None
    return text


@dataclass(slots=True)
class Key:
    """A key for a filter or a post, and what to clean up on the node afterwards."""

    sym_key_id: str | None = None
    private_key_id: str | None = None
    temporary: str | None = None


async def room_key(rpc: RpcClient, key_id: str | None, password: str | None) -> Key:
    if key_id:
        return Key(sym_key_id=key_id)
    if password is not None:
        new_id = await rpc.call("shh_generateSymKeyFromPassword", password, expect=str)
        return Key(sym_key_id=new_id, temporary=new_id)
    return Key()


async def forget(rpc: RpcClient, key: Key) -> None:
    if key.temporary:
        with contextlib.suppress(Exception):
            await rpc.call("shh_deleteSymKey", key.temporary)


# -- post ----------------------------------------------------------------------------------------


async def with_spinner(work: Awaitable[_T], label: str, quiet: bool) -> _T:
    """Await `work`; after one second show a live spinner on stderr until it is done.

    Cancelling this cancels `work` and waits for it, so nothing is left running unobserved.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=1.0)
        if done or quiet:
            return await task
        console = Console(stderr=True)
        started = time.monotonic() - 1.0
        with console.status(label) as status:
            while not task.done():
                status.update(f"{label} ({time.monotonic() - started:.1f} s)")
                await asyncio.wait({task}, timeout=0.1)
        return await task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


_POST_INTERRUPTED = (
    "interrupted: the post was withdrawn before the node answered (its connection is closed); "
    "a node that does not stop sealing on disconnect, or had sealed it already, may still "
    "publish it"
)


@click.command(
    name="post",
    epilog="""\b
Examples:
  hush post "hello room"                    # asked for the room password
  hush post --password-file room.txt "hi all"
  hush post --pubkey 0x04… --rpc 8555 "hi bob"   # asymmetric, to bob's key
""",
)
@rpc_option
@click.option("--sym-key", metavar="KEYID", help="Id of a symmetric key on the node.")
@password_option
@click.option("--pubkey", help="Recipient's public key (hex, 65 bytes): asymmetric encryption.")
@click.option("--topic", help="4-byte topic, hex (needed with a symmetric key).")
@click.option(
    "--ttl",
    type=click.IntRange(1),
    default=DEFAULT_TTL,
    show_default=True,
    help="Seconds it lives.",
)
@click.option("--pow", "pow_target", type=float, default=0.2, show_default=True, help="PoW target.")
@click.option("--pow-time", type=int, default=5, show_default=True, help="Seconds allowed for PoW.")
@click.option("--padding", help="Explicit padding (hex); default random to 256 bytes.")
@click.option("--sign", "signer", metavar="KEYID", help="Sign with this key pair (id on the node).")
@click.option("--hex", "as_hex", is_flag=True, help="PAYLOAD is hex, not text.")
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.argument("payload", required=False)
def post(
    rpc_url: str,
    sym_key: str | None,
    password: str | None,
    password_file: Path | None,
    pubkey: str | None,
    topic: str | None,
    ttl: int,
    pow_target: float,
    pow_time: int,
    padding: str | None,
    signer: str | None,
    as_hex: bool,
    quiet: bool,
    payload: str | None,
) -> None:
    """Post a message; prints the envelope hash. PAYLOAD defaults to standard input."""
    secret = get_password(password, password_file, fallback=sym_key is None and pubkey is None)
    if sum(x is not None for x in (sym_key, secret, pubkey)) != 1:
        raise UsageError("give exactly one of --sym-key, --password, --pubkey" + NO_KEY)
    text = sys.stdin.read() if payload is None else payload
    data = hex_arg(text, "payload") if as_hex else "0x" + text.encode().hex()
    message: dict[str, Any] = {
        "ttl": ttl,
        "payload": data,
        "powTarget": pow_target,
        "powTime": pow_time,
    }
    if topic is not None:
        message["topic"] = topic_arg(topic)
    elif secret is not None:
        message["topic"] = wnode_topic(secret)
    if pubkey is not None:
        message["pubKey"] = hex_arg(pubkey, "public key")
    if padding is not None:
        message["padding"] = hex_arg(padding, "padding")
    if signer is not None:
        message["sig"] = signer

    async def go() -> str:
        async with RpcClient(rpc_url) as rpc:
            key = await room_key(rpc, sym_key, secret)
            if key.sym_key_id:
                message["symKeyID"] = key.sym_key_id
            try:
                label = f"sealing: PoW {pow_target} within {pow_time} s"
                return await with_spinner(rpc.call("shh_post", message, expect=str), label, quiet)
            finally:
                await forget(rpc, key)

    click.echo(run(go(), _POST_INTERRUPTED))


# -- watch ---------------------------------------------------------------------------------------


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
    """Incoming messages: a WebSocket subscription if `ws_url`, else a polled filter.

    A node that goes away raises `lost(...)` either way (same message, exit status 1).
    """
    if ws_url:
        async for message in subscribe(ws_url, criteria):
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


# -- info ----------------------------------------------------------------------------------------


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return escape(value if isinstance(value, str) else "" if value is None else str(value))


@click.command(name="info", epilog="\b\nExamples:\n  hush info\n  hush info --rpc 8555 --json\n")
@rpc_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(rpc_url: str, as_json: bool) -> None:
    """Peers, pool, PoW and bloom of a running node."""

    async def go() -> dict[str, Any]:
        async with RpcClient(rpc_url) as rpc:
            return {
                "node": await rpc.call("admin_nodeInfo", expect=dict),
                "shh": await rpc.call("shh_info", expect=dict),
                "peers": await rpc.call("admin_peers", expect=list),
            }

    data = run(go())
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    console = Console()
    node, shh = data["node"], data["shh"]
    shh_node = _dict(_dict(node.get("protocols")).get("shh"))
    console.print(f"[bold]{_text(node.get('name'))}[/bold]  {_text(node.get('enode'))}")
    bloom = shh_node.get("bloom")
    full = not isinstance(bloom, str) or set(bloom[2:]) <= {"f"}
    bloom_text = "full node" if full else f"{str(bloom)[:18]}…"
    console.print(
        f"pool: {_text(shh.get('memory'))} bytes, queued {_text(shh.get('messages'))}; "
        f"min PoW {_text(shh.get('minPow'))}; max message {_text(shh.get('maxMessageSize'))} "
        f"bytes; bloom: {_text(bloom_text)}" + ("; light client" if shh_node.get("light") else "")
    )
    table = Table(title=f"{len(data['peers'])} peer(s)")
    table.add_column("id", no_wrap=True, min_width=16)
    for column in ("name", "remote", "dir", "trusted", "PoW req", "bloom"):
        table.add_column(column)
    for peer in data["peers"]:
        peer = _dict(peer)
        network, peer_shh = _dict(peer.get("network")), _dict(peer.get("protocols"))
        peer_shh = _dict(peer_shh.get("shh"))
        table.add_row(
            _text(peer.get("id"))[:16],  # geth's id, keccak256(pubkey): short_id's form
            _text(peer.get("name")),
            _text(network.get("remoteAddress")),
            "in" if network.get("inbound") else "out",
            "yes" if network.get("trusted") else "",
            _text(peer_shh.get("powRequirement")),
            "full" if not peer_shh.get("bloom") else "set",
        )
    console.print(table)
