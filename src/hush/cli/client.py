"""Commands that talk to a running node over JSON-RPC: `hush post`, `watch`, `chat`, `keys`, `info`.

They use only geth-compatible methods (whisper-v6.md §5), so they work against geth 1.9 too. A
password given with `--password` becomes a symmetric key on the node for the duration of the command
and is removed afterwards. Errors are one line (`hush: error: …`), never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from hush.cli.rpcclient import DEFAULT_RPC_URL, RpcClient, subscribe
from hush.errors import UsageError
from hush.node.keyfile import PersistentKeyStore

__all__ = ["chat", "commands", "info", "keys", "post", "wnode_topic", "watch"]

_T = TypeVar("_T")

rpc_option = click.option(
    "--rpc",
    "rpc_url",
    default=DEFAULT_RPC_URL,
    envvar="HUSH_RPC",
    show_default=True,
    help="JSON-RPC URL of the node.",
)


def _run(coroutine: Awaitable[_T]) -> _T:
    async def wrapper() -> _T:
        return await coroutine

    try:
        return asyncio.run(wrapper())
    except KeyboardInterrupt:
        raise click.exceptions.Exit(130) from None


def wnode_topic(password: str) -> str:
    """geth wnode's topic for a password: XOR-fold of PBKDF2-SHA512(pw, pw, 4096, 128) to 4 bytes."""
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), password.encode(), 4096, 128)
    topic = bytearray(4)
    for index, byte in enumerate(digest):
        topic[index % 4] ^= byte
    return "0x" + topic.hex()


def _topic(text: str) -> str:
    text = text.strip()
    if not text.startswith(("0x", "0X")):
        text = "0x" + text
    try:
        if len(bytes.fromhex(text[2:])) != 4:
            raise ValueError
    except ValueError:
        raise UsageError(f"invalid topic {text!r}: expected 4 bytes as 8 hex digits") from None
    return text.lower()


def _hex_arg(text: str, what: str) -> str:
    text = text.strip()
    if not text.startswith(("0x", "0X")):
        text = "0x" + text
    try:
        bytes.fromhex(text[2:])
    except ValueError:
        raise UsageError(f"invalid {what}: not hex") from None
    return text


@dataclass(slots=True)
class _Key:
    """A key for a filter or a post, and what to clean up on the node afterwards."""

    sym_key_id: str | None = None
    private_key_id: str | None = None
    temporary: str | None = None


async def _sym_key(rpc: RpcClient, sym_key: str | None, password: str | None) -> _Key:
    if sym_key:
        return _Key(sym_key_id=sym_key)
    if password is not None:
        key_id = await rpc.call("shh_generateSymKeyFromPassword", password)
        return _Key(sym_key_id=key_id, temporary=key_id)
    return _Key()


async def _forget(rpc: RpcClient, key: _Key) -> None:
    if key.temporary:
        with contextlib.suppress(Exception):
            await rpc.call("shh_deleteSymKey", key.temporary)


# -- post ----------------------------------------------------------------------------------------


async def _with_spinner(work: Awaitable[_T], label: str, quiet: bool) -> _T:
    """Await `work`; after one second show a live spinner on stderr until it is done."""
    task = asyncio.ensure_future(work)
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


@click.command(name="post")
@rpc_option
@click.option("--sym-key", help="Id of a symmetric key on the node.")
@click.option("--password", help="Derive the symmetric key from this password.")
@click.option("--pubkey", help="Recipient's public key (hex, 65 bytes): asymmetric encryption.")
@click.option("--topic", help="4-byte topic, hex (needed with a symmetric key).")
@click.option("--ttl", type=int, default=50, show_default=True, help="Seconds the message lives.")
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
    if sum(x is not None for x in (sym_key, password, pubkey)) != 1:
        raise UsageError("give exactly one of --sym-key, --password, --pubkey")
    text = sys.stdin.read() if payload is None else payload
    data = _hex_arg(text, "payload") if as_hex else "0x" + text.encode().hex()
    message: dict[str, Any] = {
        "ttl": ttl,
        "payload": data,
        "powTarget": pow_target,
        "powTime": pow_time,
    }
    if topic is not None:
        message["topic"] = _topic(topic)
    elif password is not None:
        message["topic"] = wnode_topic(password)
    if pubkey is not None:
        message["pubKey"] = _hex_arg(pubkey, "public key")
    if padding is not None:
        message["padding"] = _hex_arg(padding, "padding")
    if signer is not None:
        message["sig"] = signer

    async def go() -> str:
        async with RpcClient(rpc_url) as rpc:
            key = await _sym_key(rpc, sym_key, password)
            if key.sym_key_id:
                message["symKeyID"] = key.sym_key_id
            try:
                label = f"sealing: PoW {pow_target} within {pow_time} s"
                result: str = await _with_spinner(rpc.call("shh_post", message), label, quiet)
                return result
            finally:
                await _forget(rpc, key)

    click.echo(_run(go()))


# -- watch ---------------------------------------------------------------------------------------


def _payload_text(payload_hex: str) -> str:
    data = bytes.fromhex(payload_hex[2:])
    try:
        text = data.decode("utf-8")
        if text.isprintable() or all(c.isprintable() or c in "\n\t" for c in text):
            return text
    except UnicodeDecodeError:
        pass
    return payload_hex


def _human(message: dict[str, Any]) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(message.get("timestamp", 0)))
    sender = message.get("sig")
    who = f"{sender[4:12]}…" if sender else "anonymous"
    return f"[{when}] {message['topic']} {who}: {_payload_text(message['payload'])}"


async def _messages(
    rpc: RpcClient,
    criteria: dict[str, Any],
    ws_url: str | None,
    interval: float,
) -> Any:
    """Incoming messages: a WebSocket subscription if `ws_url`, else a polled filter."""
    if ws_url:
        async for message in subscribe(ws_url, criteria):
            yield message
        return
    filter_id = await rpc.call("shh_newMessageFilter", criteria)
    try:
        while True:
            for message in await rpc.call("shh_getFilterMessages", filter_id):
                yield message
            await asyncio.sleep(interval)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(rpc.call("shh_deleteMessageFilter", filter_id))


@click.command(name="watch")
@rpc_option
@click.option("--ws", "ws_url", help="WebSocket URL: subscribe instead of polling.")
@click.option("--sym-key", help="Id of a symmetric key on the node.")
@click.option("--password", help="Derive the symmetric key from this password.")
@click.option("--key", "private_key_id", help="Id of a key pair on the node (asymmetric).")
@click.option("--topic", "topics", multiple=True, help="Topic (repeatable).")
@click.option("--min-pow", type=float, default=0.0, help="Ignore messages with less PoW.")
@click.option("--from", "sender", help="Only messages signed by this public key (hex).")
@click.option("--json", "as_json", is_flag=True, help="One JSON message object per line.")
@click.option("--count", type=int, help="Exit after this many messages.")
@click.option("--timeout", type=float, help="Exit after this many seconds.")
@click.option("--interval", type=float, default=0.2, show_default=True, help="Poll interval, s.")
def watch(
    rpc_url: str,
    ws_url: str | None,
    sym_key: str | None,
    password: str | None,
    private_key_id: str | None,
    topics: tuple[str, ...],
    min_pow: float,
    sender: str | None,
    as_json: bool,
    count: int | None,
    timeout: float | None,
    interval: float,
) -> None:
    """Print messages for a topic and key as they arrive."""
    if sum(x is not None for x in (sym_key, password, private_key_id)) != 1:
        raise UsageError("give exactly one of --sym-key, --password, --key")
    topic_list = [_topic(t) for t in topics]
    if password is not None and not topic_list:
        topic_list = [wnode_topic(password)]

    async def go() -> None:
        async with RpcClient(rpc_url) as rpc:
            key = await _sym_key(rpc, sym_key, password)
            criteria: dict[str, Any] = {"topics": topic_list, "minPow": min_pow}
            if key.sym_key_id:
                criteria["symKeyID"] = key.sym_key_id
            else:
                criteria["privateKeyID"] = private_key_id
            if sender:
                criteria["sig"] = _hex_arg(sender, "sender key")
            seen = 0
            try:
                async with asyncio.timeout(timeout):
                    async for message in _messages(rpc, criteria, ws_url, interval):
                        click.echo(json.dumps(message) if as_json else _human(message))
                        sys.stdout.flush()
                        seen += 1
                        if count is not None and seen >= count:
                            break
            except TimeoutError:
                pass
            finally:
                await _forget(rpc, key)

    _run(go())


# -- chat ----------------------------------------------------------------------------------------


@click.command(name="chat")
@rpc_option
@click.option("--password", help="Room: everyone with this password (wnode-compatible topic).")
@click.option("--pubkey", help="Private conversation with this public key (hex).")
@click.option("--key", "own_key", help="Own key pair id for --pubkey (default: a new one).")
@click.option("--topic", help="Topic (default: derived from the password, or zero).")
@click.option("--pow", "pow_target", type=float, default=0.2, show_default=True)
@click.option("--pow-time", type=int, default=5, show_default=True)
@click.option("--ttl", type=int, default=30, show_default=True)
@click.option("--interval", type=float, default=0.2, show_default=True, help="Poll interval, s.")
def chat(
    rpc_url: str,
    password: str | None,
    pubkey: str | None,
    own_key: str | None,
    topic: str | None,
    pow_target: float,
    pow_time: int,
    ttl: int,
    interval: float,
) -> None:
    """Interactive chat: lines from stdin are posted, incoming messages printed (like wnode)."""
    if (password is None) == (pubkey is None):
        raise UsageError("give exactly one of --password, --pubkey")
    if password is not None:
        topic_hex = _topic(topic) if topic else wnode_topic(password)
    else:
        topic_hex = _topic(topic) if topic else "0x00000000"

    async def go() -> None:
        async with RpcClient(rpc_url) as rpc:
            key = await _sym_key(rpc, None, password)
            signer = await rpc.call("shh_newKeyPair")  # signs our lines; tells ours apart
            me = await rpc.call("shh_getPublicKey", signer)
            receiver = own_key
            if pubkey is not None and receiver is None:
                receiver = await rpc.call("shh_newKeyPair")
            criteria: dict[str, Any] = {"topics": [topic_hex]}
            if key.sym_key_id:
                criteria["symKeyID"] = key.sym_key_id
            else:
                criteria["privateKeyID"] = receiver
                criteria["topics"] = []
                click.echo(f"your public key: {await rpc.call('shh_getPublicKey', receiver)}")
            click.echo(f"chatting on topic {topic_hex}; type a line and press enter (EOF quits)")

            async def receive() -> None:
                async for message in _messages(rpc, criteria, None, interval):
                    if message.get("sig") != me:
                        click.echo(_human(message))

            receiver_task = asyncio.ensure_future(receive())
            loop = asyncio.get_running_loop()
            try:
                while True:
                    line = await loop.run_in_executor(None, sys.stdin.readline)
                    if not line or line.strip() in ("/quit", "/exit"):
                        break
                    text = line.rstrip("\n")
                    if not text:
                        continue
                    outgoing: dict[str, Any] = {
                        "ttl": ttl,
                        "topic": topic_hex,
                        "payload": "0x" + text.encode().hex(),
                        "powTarget": pow_target,
                        "powTime": pow_time,
                        "sig": signer,
                    }
                    if key.sym_key_id:
                        outgoing["symKeyID"] = key.sym_key_id
                    else:
                        outgoing["pubKey"] = _hex_arg(pubkey or "", "public key")
                    await rpc.call("shh_post", outgoing)
            finally:
                receiver_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await receiver_task
                with contextlib.suppress(Exception):
                    await rpc.call("shh_deleteKeyPair", signer)
                await _forget(rpc, key)

    _run(go())


# -- keys ----------------------------------------------------------------------------------------


def _open_keyfile(path: Path, passphrase_file: Path | None) -> PersistentKeyStore:
    if passphrase_file is not None:
        passphrase = passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")
    else:
        passphrase = click.prompt("keystore passphrase", hide_input=True, err=True)
    return PersistentKeyStore(path, passphrase)


keystore_option = click.option(
    "--keystore",
    "keystore_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Work on this keystore file directly instead of over RPC (node stopped).",
)
passphrase_option = click.option(
    "--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)


@click.group(name="keys")
def keys() -> None:
    """Create, list, export and delete identities (over RPC, or on a keystore file)."""


@keys.command(name="create")
@rpc_option
@keystore_option
@passphrase_option
@click.option("--sym", is_flag=True, help="A symmetric key instead of a key pair.")
@click.option("--password", help="A symmetric key derived from this password.")
def keys_create(
    rpc_url: str,
    keystore_path: Path | None,
    passphrase_file: Path | None,
    sym: bool,
    password: str | None,
) -> None:
    """Create a key; prints its id (and public key for a key pair)."""
    if keystore_path is not None:
        store = _open_keyfile(keystore_path, passphrase_file)
        if password is not None:
            click.echo(store.sym_key_from_password(password))
        elif sym:
            click.echo(store.new_sym_key())
        else:
            key_id = store.new_key_pair()
            click.echo(f"{key_id} 0x{store.private_key(key_id).public_key.hex()}")
        return

    async def go() -> str:
        async with RpcClient(rpc_url) as rpc:
            if password is not None:
                result: str = await rpc.call("shh_generateSymKeyFromPassword", password)
                return result
            if sym:
                result = await rpc.call("shh_newSymKey")
                return result
            key_id = await rpc.call("shh_newKeyPair")
            return f"{key_id} {await rpc.call('shh_getPublicKey', key_id)}"

    click.echo(_run(go()))


@keys.command(name="list")
@keystore_option
@passphrase_option
def keys_list(keystore_path: Path | None, passphrase_file: Path | None) -> None:
    """List the identities of a keystore file (geth's RPC has no listing method)."""
    if keystore_path is None:
        raise UsageError("listing needs --keystore FILE (the JSON-RPC API cannot list keys)")
    store = _open_keyfile(keystore_path, passphrase_file)
    for key_id, key in store.private_keys.items():
        click.echo(f"pair {key_id} 0x{key.public_key.hex()}")
    for key_id in store.sym_keys:
        click.echo(f"sym  {key_id}")


@keys.command(name="export")
@rpc_option
@keystore_option
@passphrase_option
@click.argument("key_id")
def keys_export(
    rpc_url: str, keystore_path: Path | None, passphrase_file: Path | None, key_id: str
) -> None:
    """Print a key's secret (hex). Handle with care."""
    if keystore_path is not None:
        store = _open_keyfile(keystore_path, passphrase_file)
        if store.has_key_pair(key_id):
            click.echo("0x" + store.private_key(key_id).secret.hex())
        else:
            click.echo("0x" + store.sym_key(key_id).secret.hex())
        return

    async def go() -> str:
        async with RpcClient(rpc_url) as rpc:
            if await rpc.call("shh_hasKeyPair", key_id):
                result: str = await rpc.call("shh_getPrivateKey", key_id)
            else:
                result = await rpc.call("shh_getSymKey", key_id)
            return result

    click.echo(_run(go()))


@keys.command(name="delete")
@rpc_option
@keystore_option
@passphrase_option
@click.argument("key_id")
def keys_delete(
    rpc_url: str, keystore_path: Path | None, passphrase_file: Path | None, key_id: str
) -> None:
    """Delete a key pair or symmetric key."""
    if keystore_path is not None:
        store = _open_keyfile(keystore_path, passphrase_file)
        if not (store.delete_key_pair(key_id) or store.delete_sym_key(key_id)):
            raise UsageError(f"no key {key_id}")
        return

    async def go() -> None:
        async with RpcClient(rpc_url) as rpc:
            if await rpc.call("shh_hasKeyPair", key_id):
                await rpc.call("shh_deleteKeyPair", key_id)
            elif not await rpc.call("shh_deleteSymKey", key_id):
                raise UsageError(f"no key {key_id}")

    _run(go())


# -- info ----------------------------------------------------------------------------------------


@click.command(name="info")
@rpc_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(rpc_url: str, as_json: bool) -> None:
    """Peers, pool, PoW and bloom of a running node."""

    async def go() -> dict[str, Any]:
        async with RpcClient(rpc_url) as rpc:
            return {
                "node": await rpc.call("admin_nodeInfo"),
                "shh": await rpc.call("shh_info"),
                "peers": await rpc.call("admin_peers"),
            }

    data = _run(go())
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    console = Console()
    node, shh = data["node"], data["shh"]
    shh_node = node.get("protocols", {}).get("shh", {})
    console.print(f"[bold]{node.get('name')}[/bold]  {node.get('enode')}")
    bloom = shh_node.get("bloom")
    bloom_text = "full node" if not bloom or set(bloom[2:]) == {"f"} else f"{bloom[:18]}…"
    console.print(
        f"pool: {shh['memory']} bytes, queued {shh['messages']}; min PoW {shh['minPow']}; "
        f"max message {shh['maxMessageSize']} bytes; bloom: {bloom_text}"
        + ("; light client" if shh_node.get("light") else "")
    )
    table = Table(title=f"{len(data['peers'])} peer(s)")
    for column in ("id", "name", "remote", "dir", "trusted", "PoW req", "bloom"):
        table.add_column(column)
    for peer in data["peers"]:
        network, peer_shh = peer.get("network", {}), peer.get("protocols", {}).get("shh", {})
        peer_shh = peer_shh if isinstance(peer_shh, dict) else {}
        table.add_row(
            peer.get("id", "")[:16],
            peer.get("name", ""),
            network.get("remoteAddress", ""),
            "in" if network.get("inbound") else "out",
            "yes" if network.get("trusted") else "",
            str(peer_shh.get("powRequirement", "")),
            "full" if not peer_shh.get("bloom") else "set",
        )
    console.print(table)


commands: tuple[click.Command, ...] = (post, watch, chat, keys, info)
"""Registered into the `hush` group by hush.cli.main."""
