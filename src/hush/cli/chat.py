"""`hush chat`: a wnode-style chat room (password) or private conversation (public key).

On a terminal it is a small full-line UI (prompt_toolkit): the input line stays at the bottom,
messages and notices are printed above it, Ctrl-C or Ctrl-D quit at once, `/quit` too. Without a
terminal (a pipe) it reads lines from stdin and prints messages to stdout, EOF quits.

The session's identity is a key pair made here and imported into the node (`shh_addPrivateKey`,
over the same connection that carries the room password), so the sender name (its short id, the
form hush's logs and `hush info` use) stays the same when the node restarts.
When the node goes away, chat says so, keeps what was typed (up to `MAX_PENDING` lines), and
re-creates its keys and filter and sends the kept lines once the node answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from hush.cli.common import rpc_option, run, short_name
from hush.cli.room import (
    DEFAULT_TTL,
    NO_KEY,
    get_password,
    hex_arg,
    password_option,
    topic_arg,
    wnode_topic,
)
from hush.cli.rpcclient import BadReply, NodeError, RpcClient, Unreachable, lost
from hush.cli.watch import human
from hush.crypto.keys import PrivateKey
from hush.errors import HushError, UsageError

__all__ = ["MAX_PENDING", "command"]

MAX_PENDING = 100
"""Lines kept while the node is unreachable; older ones are dropped (and said so)."""
RETRY_SECONDS = 1.0
_OWN_HASHES = 1024  # our lines' hashes remembered to hide their echo
SIGN_HELP = (
    "Sign each line with this chat's own fresh key, so others see one name for you. A "
    "signature is inside the encryption, but everyone holding the room's key can recover the "
    "signing public key and prove you wrote the line (it is non-repudiable); unsigned lines "
    "show as anonymous."
)
_QUIT = ("/quit", "/exit")


@dataclass(slots=True)
class _Room:
    """What the chat needs on the node; re-created there after the node restarts."""

    rpc: RpcClient
    topic: str
    password: str | None
    pubkey: str | None
    own_key: str | None
    signer: PrivateKey
    receiver: PrivateKey | None
    post_params: dict[str, Any]
    sym_key_id: str | None = None
    signer_id: str | None = None
    receiver_id: str | None = None
    filter_id: str | None = None
    made: list[tuple[str, str]] = field(default_factory=list)
    sign: bool = False
    """Sign lines (with this chat's own fresh key): off unless asked, see `SIGN_HELP`."""
    sent: deque[str] = field(default_factory=lambda: deque(maxlen=_OWN_HASHES))
    """Hashes of our recent lines, so they are not shown twice."""
    in_flight: str | None = None
    """The payload being posted (its echo may be polled before the post returns its hash)."""

    @property
    def me(self) -> str:
        return "0x" + self.signer.public_key.hex()

    async def connect(self) -> None:
        """Keys and filter on the node (again: what an earlier connection made is removed first,
        in case the node only blinked, so reconnecting does not pile up filters there)."""
        if self.made:
            await self.cleanup()
        self.made.clear()
        rpc = self.rpc
        if self.sign:
            self.signer_id = await rpc.call(
                "shh_addPrivateKey", "0x" + self.signer.secret.hex(), expect=str
            )
            self.made.append(("shh_deleteKeyPair", self.signer_id))
        criteria: dict[str, Any] = {"topics": [self.topic]}
        if self.password is not None:
            self.sym_key_id = await rpc.call(
                "shh_generateSymKeyFromPassword", self.password, expect=str
            )
            self.made.append(("shh_deleteSymKey", self.sym_key_id))
            criteria["symKeyID"] = self.sym_key_id
        else:
            if self.own_key is not None:
                self.receiver_id = self.own_key
            else:
                assert self.receiver is not None
                self.receiver_id = await rpc.call(
                    "shh_addPrivateKey", "0x" + self.receiver.secret.hex(), expect=str
                )
                self.made.append(("shh_deleteKeyPair", self.receiver_id))
            criteria = {"privateKeyID": self.receiver_id, "topics": []}
        self.filter_id = await rpc.call("shh_newMessageFilter", criteria, expect=str)
        self.made.append(("shh_deleteMessageFilter", self.filter_id))

    async def poll(self) -> list[dict[str, Any]]:
        found = await self.rpc.call("shh_getFilterMessages", self.filter_id, expect=list)
        return [
            m
            for m in found
            if isinstance(m, dict)
            and m.get("sig") != self.me
            and m.get("hash") not in self.sent
            and m.get("payload") != self.in_flight
        ]

    async def send(self, text: str) -> None:
        outgoing = dict(self.post_params, payload="0x" + text.encode().hex())
        if self.sign:
            outgoing["sig"] = self.signer_id
        if self.sym_key_id:
            outgoing["symKeyID"] = self.sym_key_id
        else:
            outgoing["pubKey"] = self.pubkey
        self.in_flight = outgoing["payload"]
        try:
            self.sent.append(await self.rpc.call("shh_post", outgoing, expect=str))
        finally:
            self.in_flight = None

    async def cleanup(self) -> None:
        """Remove what we made on the node, within a second whatever the node does."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                for method, key_id in reversed(self.made):
                    with contextlib.suppress(HushError):
                        await self.rpc.call(method, key_id)


_LOST = (Unreachable, BadReply)


class _Chat:
    """The receive loop, the send queue and the connection state, shared by both front ends."""

    def __init__(self, room: _Room, show: Callable[[str], None], interval: float):
        self.room, self.show, self.interval = room, show, interval
        self.connected = False
        self.pending: deque[str] = deque()
        self.wake = asyncio.Event()

    def _lost(self, exc: Exception) -> None:
        if self.connected:
            what = (
                str(lost(self.room.rpc.url, "")).removesuffix(" ()")
                if isinstance(exc, Unreachable)
                else str(exc)
            )
            self.show(f"* {what}; retrying every {RETRY_SECONDS:.0f} s, typed lines are kept")
        self.connected = False

    async def _connect(self, first: bool) -> None:
        await self.room.connect()
        self.connected = True
        if not first:
            kept = len(self.pending)
            self.show("* node is back" + (f"; sending {kept} kept line(s)" if kept else ""))
        self.wake.set()

    async def receive(self, first_error: Callable[[Exception], None]) -> None:
        """Poll for messages; reconnect (re-creating keys and filter) whenever that fails.

        Only a failure before the first connection ends it (through `first_error`); later ones
        are shown once each and retried every `RETRY_SECONDS`.
        """
        first = True
        refused = ""
        while True:
            try:
                if not self.connected:
                    await self._connect(first)
                    first, refused = False, ""
                for message in await self.room.poll():
                    self.show(human(message, topic=False))
                await asyncio.sleep(self.interval)
            except HushError as exc:
                if first:
                    first_error(exc)
                    return
                if isinstance(exc, NodeError) and "filter not found" in str(exc):
                    self._lost(BadReply("the node restarted (our filter is gone)"))
                    continue  # reconnect at once
                if isinstance(exc, NodeError):
                    if str(exc) != refused:
                        refused = str(exc)
                        self.show(
                            f"* the node refused: {exc}; retrying every {RETRY_SECONDS:.0f} s"
                        )
                    self.connected = False
                else:
                    self._lost(exc)
                await asyncio.sleep(RETRY_SECONDS)

    def submit(self, text: str) -> None:
        if len(self.pending) >= MAX_PENDING:
            self.pending.popleft()
            self.show(f"* more than {MAX_PENDING} lines kept: dropped the oldest")
        self.pending.append(text)
        if not self.connected:
            self.show("* not sent yet: the node is unreachable; kept, sent when it is back")
        self.wake.set()

    async def send_loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.pending and self.connected:
                try:
                    await self.room.send(self.pending[0])
                except _LOST as exc:
                    self._lost(exc)
                    break
                except NodeError as exc:
                    self.show(f"* not sent: {exc}")
                self.pending.popleft()


async def _terminal(chat: _Chat, banner: list[str]) -> None:
    # Imported here, not at the top: every `hush` command (`hush node` too) loads this module,
    # and only chat on a terminal needs prompt_toolkit (~6 MiB of RSS).
    from prompt_toolkit import PromptSession, print_formatted_text  # noqa: PLC0415
    from prompt_toolkit.patch_stdout import patch_stdout  # noqa: PLC0415

    def show(text: str) -> None:
        print_formatted_text(text)

    chat.show = show
    session: PromptSession[str] = PromptSession()
    with patch_stdout(raw=True):
        for line in banner:
            show(line)
        while True:
            try:
                text = await session.prompt_async("> ")
            except (KeyboardInterrupt, EOFError):
                return
            text = text.strip()
            if text in _QUIT:
                return
            if text:
                chat.submit(text)


def _streamable(stream: object) -> bool:
    """A pipe, socket or character device: something the event loop can read as it comes."""
    try:
        mode = os.fstat(stream.fileno()).st_mode  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


async def _pipe(chat: _Chat, banner: list[str]) -> None:
    for line in banner:
        chat.show(line)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    if not _streamable(sys.stdin):  # a regular file (or no descriptor): read it whole
        lines = sys.stdin.read().splitlines()
        for text in lines:
            if text.strip() in _QUIT:
                break
            if text.strip():
                chat.submit(text.strip())
        await _drain(chat)
        return
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        while True:
            raw = await reader.readline()
            text = raw.decode("utf-8", "replace").strip()
            if not raw or text in _QUIT:
                break
            if text:
                chat.submit(text)
        await _drain(chat)
    finally:
        transport.close()


async def _drain(chat: _Chat) -> None:
    """Before quitting on EOF: let typed lines go out while the node is there (bounded)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            while chat.pending and chat.connected:
                await asyncio.sleep(0.05)


def _echo(text: str) -> None:
    click.echo(text)
    sys.stdout.flush()


@click.command(
    name="chat",
    epilog="""\b
Examples:
  hush chat                                 # a room; asked for its password
  hush chat --password-file room.txt --rpc 8555
  hush chat --pubkey 0x04…                  # private, to one public key
Type a line and press Enter to send it; /quit, Ctrl-D or Ctrl-C quit.
""",
)
@rpc_option
@password_option
@click.option("--pubkey", help="Private conversation with this public key (hex).")
@click.option("--key", "own_key", help="Own key pair id for --pubkey (default: a new one).")
@click.option("--topic", help="Topic (default: derived from the password, or zero).")
@click.option(
    "--pow",
    "pow_target",
    type=float,
    default=0.2,
    show_default=True,
    help="PoW target of the messages sent (the network's minimum is usually 0.2).",
)
@click.option(
    "--pow-time",
    type=int,
    default=5,
    show_default=True,
    help="Seconds the node may spend sealing each message.",
)
@click.option(
    "--ttl",
    type=click.IntRange(1),
    default=DEFAULT_TTL,
    show_default=True,
    help="Seconds a line lives.",
)
@click.option("--sign/--no-sign", default=False, show_default=True, help=SIGN_HELP)
@click.option("--interval", type=float, default=0.2, show_default=True, help="Poll interval, s.")
def command(
    rpc_url: str,
    password: str | None,
    password_file: Path | None,
    pubkey: str | None,
    own_key: str | None,
    topic: str | None,
    pow_target: float,
    pow_time: int,
    ttl: int,
    sign: bool,
    interval: float,
) -> None:
    """Interactive chat: a room by password (wnode-compatible) or a private conversation."""
    secret = get_password(password, password_file, fallback=pubkey is None)
    if (secret is None) == (pubkey is None):
        raise UsageError("give exactly one of --password, --pubkey" + NO_KEY)
    if secret is not None:
        topic_hex = topic_arg(topic) if topic else wnode_topic(secret)
    else:
        topic_hex = topic_arg(topic) if topic else "0x00000000"
    receiver = PrivateKey.generate(os.urandom) if pubkey is not None and own_key is None else None
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    post_params = {"ttl": ttl, "topic": topic_hex, "powTarget": pow_target, "powTime": pow_time}

    async def go() -> None:
        async with RpcClient(rpc_url) as rpc:
            room = _Room(
                rpc,
                topic_hex,
                secret,
                hex_arg(pubkey, "public key") if pubkey else None,
                own_key,
                PrivateKey.generate(os.urandom),
                receiver,
                post_params,
                sign=sign,
            )
            chat = _Chat(room, _echo, interval)
            failed: list[Exception] = []

            def first_error(exc: Exception) -> None:
                failed.append(exc)

            receiving = asyncio.ensure_future(chat.receive(first_error))
            sending = asyncio.ensure_future(chat.send_loop())
            try:
                while not chat.connected and not failed:  # the node answers before we start
                    await asyncio.sleep(0.02)
                if failed:
                    raise failed[0]
                who = short_name(room.me) if sign else "anonymous (unsigned; --sign to sign)"
                banner = [f"you are {who}; chatting on topic {topic_hex}"]
                if room.receiver_id is not None:
                    own = await rpc.call("shh_getPublicKey", room.receiver_id, expect=str)
                    banner.insert(0, f"your public key: {own}")
                banner.append("type a line and press Enter; /quit, Ctrl-D or Ctrl-C quit")
                if interactive:
                    await _terminal(chat, banner)
                else:
                    await _pipe(chat, banner)
            finally:
                for task in (receiving, sending):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, HushError):
                        await task
                await room.cleanup()

    run(go(), "chat closed")
