"""How a client command names its room: a key id, a password or a key pair, and a topic.

A password is wnode-compatible: it derives both the topic (`wnode_topic`) and a symmetric key,
which `room_key` creates on the node for the duration of the command and `forget` removes
afterwards. The password comes from `--password`, `--password-file`, or, when no key is given at
all, from `$HUSH_PASSWORD` or a terminal prompt (`hush.cli.common.resolve_secret`). Topics are 4
bytes as 8 hex digits; hex arguments may omit `0x`; a bad one is a one-line UsageError.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from hush.cli.common import resolve_secret, rpc_option, secret_options
from hush.cli.rpcclient import RpcClient
from hush.errors import UsageError

__all__ = [
    "DEFAULT_TTL",
    "NO_KEY",
    "Key",
    "address",
    "forget",
    "get_password",
    "hex_arg",
    "password_option",
    "room_key",
    "send_options",
    "sending_secret",
    "topic_arg",
    "wnode_topic",
]

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


def send_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that posts shares (`post`, `send-file`): node, key, topic, TTL,
    PoW."""
    for option in reversed(
        [
            rpc_option,
            click.option("--sym-key", metavar="KEYID", help="Id of a symmetric key on the node."),
            password_option,
            click.option(
                "--pubkey", help="Recipient's public key (hex, 65 bytes): asymmetric encryption."
            ),
            click.option("--topic", help="4-byte topic, hex (needed with a symmetric key)."),
            click.option(
                "--ttl",
                type=click.IntRange(1),
                default=DEFAULT_TTL,
                show_default=True,
                help="Seconds it lives.",
            ),
            click.option(
                "--pow",
                "pow_target",
                type=float,
                default=0.2,
                show_default=True,
                help="PoW target.",
            ),
            click.option(
                "--pow-time",
                type=int,
                default=5,
                show_default=True,
                help="Seconds allowed for PoW.",
            ),
        ]
    ):
        function = option(function)
    return function


def sending_secret(
    sym_key: str | None, password: str | None, password_file: Path | None, pubkey: str | None
) -> str | None:
    """The password of a post's room, if that is its key; UsageError unless exactly one key."""
    secret = get_password(password, password_file, fallback=sym_key is None and pubkey is None)
    if sum(x is not None for x in (sym_key, secret, pubkey)) != 1:
        raise UsageError("give exactly one of --sym-key, --password, --pubkey" + NO_KEY)
    return secret


def address(
    message: dict[str, Any], secret: str | None, topic: str | None, pubkey: str | None
) -> None:
    """Set a NewMessage's `topic` (given, else the password's) and `pubKey` (when given)."""
    if topic is not None:
        message["topic"] = topic_arg(topic)
    elif secret is not None:
        message["topic"] = wnode_topic(secret)
    if pubkey is not None:
        message["pubKey"] = hex_arg(pubkey, "public key")
