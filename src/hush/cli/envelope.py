"""`hush envelope …`: inspect raw envelopes (whisper-v6.md §1, §2, §3.6).

`decode` shows what geth would see: the envelope's fields, hash, nominal size and PoW, judged
against the current time (or `--now UNIX`: geth's future-dated divisor `ttl + sent − now + 1` and
the verdict of its time checks), and, when a key opens it, the message under geth's RPC `Message`
field names, 0x-hex encoded, plus `text` when the payload is UTF-8. A key that does not open the
envelope is an error (exit 1), after the envelope is shown. Keys and passwords can come from a
file (`--sym-key-file`, `--password-file`, `--private-key-file`).
"""

from __future__ import annotations

import json
import string
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from hush.cli.common import resolve_secret, secret_options
from hush.crypto.keys import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.errors import DecodeError, HushError, UsageError
from hush.shh.envelope import Envelope
from hush.shh.errors import ERR_FUTURE, ERR_TOO_OLD
from hush.shh.message import OpenedMessage, open_asymmetric, open_symmetric
from hush.shh.pool import Timing, envelope_timing
from hush.shh.topic import topic_to_hex

__all__ = ["decode_hex", "describe", "group"]

_HEX_DIGITS = frozenset(string.hexdigits)


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def decode_hex(text: str, what: str = "input") -> bytes:
    """Bytes from hex text: optional 0x, whitespace anywhere ignored."""
    compact = "".join(text.split())
    if compact[:2] in ("0x", "0X"):
        compact = compact[2:]
    if not compact:
        raise DecodeError(f"{what}: no hex digits")
    if len(compact) % 2 or not _HEX_DIGITS.issuperset(compact):
        raise DecodeError(f"{what}: not valid hex")
    return bytes.fromhex(compact)


def _read_stdin() -> str:
    try:
        return sys.stdin.read()
    except UnicodeDecodeError as exc:
        raise DecodeError("envelope: stdin is not hex text") from exc


def _utf8(payload: bytes) -> str | None:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if all(c.isprintable() or c in "\n\t" for c in text) else None


_VERDICTS = {
    Timing.CURRENT: "accepted",
    Timing.AHEAD: "accepted (future-dated within the allowance)",
    Timing.TOO_FAR_AHEAD: f"rejected: {ERR_FUTURE}",
    Timing.EXPIRED: "dropped silently (expired)",
    Timing.TOO_OLD: f"rejected: {ERR_TOO_OLD}",
}
_STATUS = {Timing.TOO_FAR_AHEAD: "future", Timing.TOO_OLD: "expired"}


def _time_status(envelope: Envelope, now: int) -> tuple[str, str, int]:
    """(status, geth's verdict, diff) for an envelope arriving at `now`: the pool's time window
    (`hush.shh.pool.envelope_timing`, geth `add`, §3.6)."""
    timing, diff = envelope_timing(envelope, now)
    return _STATUS.get(timing, timing.value), _VERDICTS[timing], diff


def describe(
    envelope: Envelope,
    *,
    now: int | None = None,
    sym_key: SymmetricKey | None = None,
    private_key: PrivateKey | None = None,
) -> dict[str, Any]:
    """The envelope (and the message, if the key opens it) as a JSON-ready dict."""
    diff = 0
    info: dict[str, Any] = {
        "expiry": envelope.expiry,
        "ttl": envelope.ttl,
        "timestamp": envelope.sent,
        "topic": topic_to_hex(envelope.topic),
        "hash": _hex(envelope.hash),
        "size": envelope.size(),
        "rlpSize": len(envelope.encode()),
        "nonce": envelope.nonce,
        "bloom": _hex(envelope.bloom()),
    }
    if now is not None:
        status, verdict, diff = _time_status(envelope, now)
        info.update(now=now, status=status, verdict=verdict)
    pow_value = envelope.pow(diff)
    info["pow"] = pow_value
    opened: OpenedMessage | None = None
    if sym_key is not None:
        opened = open_symmetric(envelope, sym_key, pow_value, envelope.hash)
    elif private_key is not None:
        opened = open_asymmetric(envelope, private_key, pow_value, envelope.hash)
    info["opened"] = opened is not None
    if opened is not None:
        info["payload"] = _hex(opened.payload)
        text = _utf8(opened.payload)
        if text is not None:
            info["text"] = text
        info["padding"] = _hex(opened.padding)
        if opened.signer is not None:
            info["sig"] = _hex(opened.signer)
        if opened.recipient_public_key is not None:
            info["recipientPublicKey"] = _hex(opened.recipient_public_key)
        if opened.sym_key_hash is not None:
            info["symKeyHash"] = _hex(opened.sym_key_hash)
    return info


def _render(info: dict[str, Any]) -> None:
    table = Table(title="Whisper v6 envelope", show_header=False, title_justify="left")
    table.add_column("field", style="bold cyan")
    table.add_column("value", overflow="fold")
    for name, value in info.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float):
            text = repr(value)
        else:
            text = str(value)
        table.add_row(name, text)
    Console(soft_wrap=False).print(table)


@click.group(name="envelope")
def group() -> None:
    """Inspect Whisper envelopes."""


@group.command(
    name="decode",
    epilog="""\b
Examples:
  hush envelope decode 0xf8…                      # fields, hash, PoW, validity now
  hush envelope decode - --password-file room.txt < env.hex
  hush envelope decode 0xf8… --sym-key-file room.key --json
""",
)
@click.argument("envelope_hex", metavar="HEX|-")
@secret_options("sym-key", "symmetric key (hex)", "32-byte symmetric key, hex.")
@secret_options("password", "password", "Password; key = PBKDF2 as shh_generateSymKeyFromPassword.")
@secret_options("private-key", "private key (hex)", "32-byte secp256k1 key it was sent to.")
@click.option(
    "--now",
    type=int,
    metavar="UNIX",
    help="Judge expiry/PoW as geth would at this time [default: now].",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def decode_command(
    envelope_hex: str,
    sym_key: str | None,
    sym_key_file: Path | None,
    password: str | None,
    password_file: Path | None,
    private_key: str | None,
    private_key_file: Path | None,
    now: int | None,
    as_json: bool,
) -> None:
    """Decode an RLP envelope given as hex (or `-` to read it from stdin)."""
    given = [
        (sym_key, sym_key_file, "--sym-key", "symmetric key (hex)"),
        (password, password_file, "--password", "password"),
        (private_key, private_key_file, "--private-key", "private key (hex)"),
    ]
    if sum(value is not None or file is not None for value, file, *_ in given) > 1:
        raise UsageError("give at most one of --sym-key, --password, --private-key")
    text = _read_stdin() if envelope_hex == "-" else envelope_hex
    envelope = Envelope.decode(decode_hex(text, "envelope"))
    secrets = [
        resolve_secret(value, file, option=option, what=what) for value, file, option, what in given
    ]
    symmetric: SymmetricKey | None = None
    asymmetric: PrivateKey | None = None
    if secrets[0] is not None:
        symmetric = SymmetricKey(decode_hex(secrets[0], "--sym-key"))
    elif secrets[1] is not None:
        symmetric = SymmetricKey.from_password(secrets[1])
    elif secrets[2] is not None:
        asymmetric = PrivateKey(decode_hex(secrets[2], "--private-key"))
    when = int(time.time()) if now is None else now
    info = describe(envelope, now=when, sym_key=symmetric, private_key=asymmetric)
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        _render(info)
    if (symmetric is not None or asymmetric is not None) and not info["opened"]:
        raise HushError("the key does not open this envelope")
