"""`hush post`: one message to a running node's shh_post; prints the envelope hash.

Exactly one key: `--sym-key`, a password (wnode's topic unless `--topic`) or `--pubkey`. The
payload is the argument or standard input, text unless `--hex`. Sealing shows a spinner on
stderr after one second (unless `--quiet`); interrupting it withdraws the post by closing the
connection, and says that a node which had sealed it already may still publish it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from hush.cli.common import run
from hush.cli.room import address, forget, hex_arg, room_key, send_options, sending_secret
from hush.cli.rpcclient import RpcClient

__all__ = ["post", "with_spinner"]

_T = TypeVar("_T")


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
@send_options
@click.option("--padding", help="Explicit padding (hex); default random to 256 bytes.")
@click.option(
    "--sign",
    "signer",
    metavar="KEYID",
    help="Sign with this key pair (id on the node); unsigned unless given. Every holder of the "
    "decryption key can then recover that public key and prove you sent it.",
)
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
    secret = sending_secret(sym_key, password, password_file, pubkey)
    text = sys.stdin.read() if payload is None else payload
    data = hex_arg(text, "payload") if as_hex else "0x" + text.encode().hex()
    message: dict[str, Any] = {
        "ttl": ttl,
        "payload": data,
        "powTarget": pow_target,
        "powTime": pow_time,
    }
    address(message, secret, topic, pubkey)
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
