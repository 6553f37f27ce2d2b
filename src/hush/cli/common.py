"""What the client commands share: the `--rpc` option, secrets, running a coroutine, short ids.

Secrets (passwords, key material, keystore passphrases) are never only on the command line:
`--password-file FILE` reads the first line of a file; a command that needs a key and was given
none takes the password from `$HUSH_PASSWORD`, or asks for it on a terminal (as wnode does); a value
typed on an interactive command line still works but is warned about (it is visible in `ps` and
kept in shell history).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hush.cli.rpcclient import DEFAULT_RPC_URL, endpoint_url
from hush.enode import short_id
from hush.errors import UsageError

__all__ = [
    "passphrase",
    "read_secret_file",
    "resolve_secret",
    "rpc_option",
    "run",
    "secret_options",
    "short_name",
    "ws_option",
]

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])


def _url_callback(scheme: str, what: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        return None if value is None else endpoint_url(value, scheme, what)

    return callback


rpc_option = click.option(
    "--rpc",
    "rpc_url",
    default=DEFAULT_RPC_URL,
    envvar="HUSH_RPC",
    show_default=True,
    metavar="URL|HOST:PORT|PORT|PATH.ipc",
    callback=_url_callback("http", "--rpc"),
    help="The node's JSON-RPC HTTP address (`hush node --http`) or IPC socket path "
    "(~/.hush/hush.ipc, ipc:///path); env HUSH_RPC.",
)

ws_option = click.option(
    "--ws",
    "ws_url",
    metavar="URL|HOST:PORT|PORT|PATH.ipc",
    callback=_url_callback("ws", "--ws"),
    help="The node's WebSocket address (`hush node --ws`) or IPC socket path: subscribe "
    "instead of polling.",
)


def run(coroutine: Awaitable[_T], interrupted: str = "interrupted") -> _T:
    """Run `coroutine`; Ctrl-C cancels it (its cleanup runs) and exits 130 with `interrupted`."""

    async def wrapper() -> _T:
        return await coroutine

    try:
        return asyncio.run(wrapper())
    except KeyboardInterrupt:
        click.echo(f"hush: {interrupted}", err=True)
        raise click.exceptions.Exit(130) from None


def read_secret_file(path: Path, what: str) -> str:
    """The first line of `path`, without its line ending."""
    try:
        with path.open(encoding="utf-8") as file:
            line = file.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} file {path}: {exc}") from None
    return line.rstrip("\r\n")


def secret_options(name: str, what: str, help_text: str) -> Callable[[_F], _F]:
    """`--NAME VALUE` and `--NAME-file FILE` (its first line)."""

    def decorate(function: _F) -> _F:
        function = click.option(
            f"--{name}-file",
            f"{name.replace('-', '_')}_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help=f"Read the {what} from the first line of this file.",
        )(function)
        return click.option(f"--{name}", name.replace("-", "_"), help=help_text)(function)

    return decorate


def resolve_secret(
    value: str | None,
    file: Path | None,
    *,
    option: str,
    what: str,
    env: str | None = None,
    ask: bool = False,
) -> str | None:
    """The secret from `--X-file`, `--X`, then $ENV, then asked on a terminal; else None."""
    if file is not None:
        if value is not None:
            raise UsageError(f"give {option} or {option}-file, not both")
        return read_secret_file(file, what)
    if value is not None:
        if sys.stdin.isatty():
            click.echo(
                f"hush: warning: a {what} on the command line is visible in `ps` and shell "
                f"history; use {option}-file FILE"
                + (f" or ${env}, or leave it out to be asked" if env else ""),
                err=True,
            )
        return value
    if env is not None and env in os.environ:
        return os.environ[env]
    if ask and sys.stdin.isatty():
        secret: str = click.prompt(what, hide_input=True, err=True)
        return secret
    return None


def passphrase(file: Path | None) -> str:
    """A keystore passphrase: `--passphrase-file`, $HUSH_PASSPHRASE, or asked on the terminal."""
    if file is not None:
        return read_secret_file(file, "passphrase")
    from_env = os.environ.get("HUSH_PASSPHRASE")
    if from_env is not None:
        return from_env
    if not sys.stdin.isatty():
        raise UsageError("the keystore passphrase: give --passphrase-file FILE or $HUSH_PASSPHRASE")
    secret: str = click.prompt("keystore passphrase", hide_input=True, err=True)
    return secret


def short_name(public_key_hex: str) -> str:
    """The short id of a public key (0x04‖X‖Y or X‖Y hex): as hush's logs and `hush info` show."""
    raw = bytes.fromhex(public_key_hex.removeprefix("0x"))
    return short_id(raw[1:] if len(raw) == 65 else raw)
