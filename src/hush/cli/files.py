"""`hush send-file` and `hush receive --save-dir`: wnode's `-fileexchange`, over JSON-RPC.

Like wnode, a file travels as the raw payload of one message (no name, no framing, so wnode and
hush interoperate) and the receiver names it by the envelope hash. Before anything is sent, the
envelope the file would become is sized exactly (whisper-v6.md §2.1-2.6: flags, size field,
payload, padding to 256, signature, then AES-GCM's 28 or ECIES's 113 bytes, plus the envelope's 20)
and compared with the node's `maxMessageSize`, so an oversized file is one clear line, not minutes
of proof of work and a refusal.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from hush.cli.common import run
from hush.cli.post import with_spinner
from hush.cli.room import address, forget, room_key, send_options, sending_secret
from hush.cli.rpcclient import RpcClient
from hush.cli.watch import follow, follow_options, sender_name
from hush.crypto.ecies import ECIES_OVERHEAD
from hush.crypto.keys import SIGNATURE_LENGTH
from hush.crypto.symmetric import AES_NONCE_LENGTH, GCM_TAG_LENGTH
from hush.errors import UsageError
from hush.shh.envelope import ENVELOPE_HEADER_LENGTH
from hush.shh.message import PADDING_ALIGNMENT

__all__ = ["envelope_size", "largest_payload", "receive", "send_file"]


def envelope_size(payload: int, *, signed: bool, asymmetric: bool) -> int:
    """geth's nominal size of the envelope for a payload of this many bytes (random padding)."""
    width = max(1, (payload.bit_length() + 7) // 8)
    head = 1 + width + payload + (SIGNATURE_LENGTH if signed else 0)
    plain = (head // PADDING_ALIGNMENT + 1) * PADDING_ALIGNMENT
    overhead = ECIES_OVERHEAD if asymmetric else GCM_TAG_LENGTH + AES_NONCE_LENGTH
    return ENVELOPE_HEADER_LENGTH + plain + overhead


def largest_payload(limit: int, *, signed: bool, asymmetric: bool) -> int:
    """The largest payload whose envelope fits in `limit` bytes (-1 if not even an empty one)."""
    low, high = -1, max(0, limit)
    while low < high:
        middle = (low + high + 1) // 2
        if envelope_size(middle, signed=signed, asymmetric=asymmetric) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


@click.command(
    name="send-file",
    epilog="""\b
Examples:
  hush send-file report.pdf                        # to a room; asked for its password
  hush send-file key.asc --pubkey 0x04… --rpc 8555
""",
)
@send_options
@click.option("--sign", "signer", metavar="KEYID", help="Sign with this key pair (id on the node).")
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def send_file(
    rpc_url: str,
    sym_key: str | None,
    password: str | None,
    password_file: Path | None,
    pubkey: str | None,
    topic: str | None,
    ttl: int,
    pow_target: float,
    pow_time: int,
    signer: str | None,
    quiet: bool,
    path: Path,
) -> None:
    """Send a file as one message; prints the envelope hash."""
    secret = sending_secret(sym_key, password, password_file, pubkey)
    message: dict[str, Any] = {"ttl": ttl, "powTarget": pow_target, "powTime": pow_time}
    address(message, secret, topic, pubkey)
    if signer is not None:
        message["sig"] = signer
    shape = {"signed": signer is not None, "asymmetric": pubkey is not None}

    async def go() -> str:
        async with RpcClient(rpc_url) as rpc:
            info = await rpc.call("shh_info", expect=dict)
            limit = info.get("maxMessageSize")
            if not isinstance(limit, int) or isinstance(limit, bool):
                raise UsageError(f"hush node at {rpc_url} reports no maxMessageSize")
            largest = largest_payload(limit, **shape)
            try:
                with path.open("rb") as file:
                    data = file.read(largest + 1)  # never more than can be sent
            except OSError as exc:
                raise UsageError(f"cannot read {path}: {exc}") from None
            if len(data) > largest:
                size = os.stat(path).st_size
                raise UsageError(
                    f"{path} is {size} bytes; the node takes messages up to {limit} bytes, "
                    f"which holds a file of at most {largest} bytes"
                )
            message["payload"] = "0x" + data.hex()
            key = await room_key(rpc, sym_key, secret)
            if key.sym_key_id:
                message["symKeyID"] = key.sym_key_id
            try:
                envelope = envelope_size(len(data), **shape)
                label = (
                    f"sending {path.name} ({len(data)} bytes, envelope {envelope} of {limit}): "
                    f"sealing PoW {pow_target} within {pow_time} s"
                )
                return await with_spinner(rpc.call("shh_post", message, expect=str), label, quiet)
            finally:
                await forget(rpc, key)

    click.echo(run(go(), "interrupted: the file was withdrawn before the node answered"))


@click.command(
    name="receive",
    epilog="""\b
Examples:
  hush receive --save-dir ./inbox --count 1        # asked for the room password
  hush receive --save-dir ./inbox --key KEYID --ws 8546
""",
)
@click.option(
    "--save-dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, writable=True, path_type=Path),
    help="Existing directory; each message's payload is saved there, named by its hash.",
)
@follow_options
def receive(save_dir: Path, **options: Any) -> None:
    """Save each incoming message's payload as a file (wnode's -savedir); prints each path."""

    def save(message: dict[str, Any]) -> None:
        envelope_hash, payload = message.get("hash"), message.get("payload")
        if not isinstance(envelope_hash, str) or not isinstance(payload, str):
            return
        name = envelope_hash.removeprefix("0x")
        try:
            if len(name) != 64 or not all(c in "0123456789abcdef" for c in name):
                raise ValueError
            data = bytes.fromhex(payload.removeprefix("0x"))
        except ValueError:
            click.echo(
                "hush: warning: skipped a message with a malformed hash or payload", err=True
            )
            return
        target = save_dir / name
        partial = save_dir / f".{name}.partial"
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            partial.replace(target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise UsageError(f"cannot save to {save_dir}: {exc}") from None
        click.echo(f"{target} {len(data)} bytes from {sender_name(message)}")
        sys.stdout.flush()

    follow(save, **options)
