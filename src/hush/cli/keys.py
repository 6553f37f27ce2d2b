"""`hush keys …`: create, import, list, export and delete identities, over RPC or on a keystore file.

Reading commands (`list`, `export`, `delete`) never create a file: a keystore path that does not
exist is an error. `generate` needs neither a node nor a keystore (wnode's `-generatekey`). Key
material to import and keystore passphrases come from a file, an environment variable or the
terminal, never only the command line (hush.cli.common).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from hush.cli.common import passphrase, resolve_secret, rpc_option, run, secret_options
from hush.cli.room import get_password, hex_arg, password_option
from hush.cli.rpcclient import RpcClient
from hush.crypto.keys import PrivateKey
from hush.errors import UsageError
from hush.node.keyfile import PersistentKeyStore

__all__ = ["group"]


def _open(path: Path, passphrase_file: Path | None, *, create: bool) -> PersistentKeyStore:
    if not create and not path.exists():
        raise UsageError(f"no keystore at {path} (reading commands do not create one)")
    if path.exists() and not path.is_file():
        raise UsageError(f"keystore {path} is not a file")
    return PersistentKeyStore(path, passphrase(passphrase_file))


keystore_option = click.option(
    "--keystore",
    "keystore_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Work on this keystore file directly instead of over RPC (node stopped).",
)
passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keystore passphrase from this file (else $HUSH_PASSPHRASE, else asked).",
)


@click.group(name="keys")
def group() -> None:
    """Create, import, list, export and delete identities (over RPC, or on a keystore file)."""


@group.command(
    name="generate",
    epilog="\b\nExample:\n  hush keys generate > me.key   # then: hush keys import --secret-file me.key\n",
)
def keys_generate() -> None:
    """Print a new secp256k1 key pair: secret, then public key (no node or keystore needed)."""
    key = PrivateKey.generate(os.urandom)
    click.echo(f"secret 0x{key.secret.hex()}")
    click.echo(f"public 0x{key.public_key.hex()}")


@group.command(
    name="create",
    epilog="\b\nExamples:\n  hush keys create\n  hush keys create --password-file room.txt   # the room's key\n",
)
@rpc_option
@keystore_option
@passphrase_option
@click.option("--sym", is_flag=True, help="A symmetric key instead of a key pair.")
@password_option
def keys_create(
    rpc_url: str,
    keystore_path: Path | None,
    passphrase_file: Path | None,
    sym: bool,
    password: str | None,
    password_file: Path | None,
) -> None:
    """Create a key; prints its id (and public key for a key pair)."""
    secret = get_password(password, password_file)
    if keystore_path is not None:
        store = _open(keystore_path, passphrase_file, create=True)
        if secret is not None:
            click.echo(store.sym_key_from_password(secret))
        elif sym:
            click.echo(store.new_sym_key())
        else:
            key_id = store.new_key_pair()
            click.echo(f"{key_id} 0x{store.private_key(key_id).public_key.hex()}")
        return

    async def go() -> str:
        async with RpcClient(rpc_url) as rpc:
            if secret is not None:
                return await rpc.call("shh_generateSymKeyFromPassword", secret, expect=str)
            if sym:
                return await rpc.call("shh_newSymKey", expect=str)
            key_id = await rpc.call("shh_newKeyPair", expect=str)
            return f"{key_id} {await rpc.call('shh_getPublicKey', key_id, expect=str)}"

    click.echo(run(go()))


@group.command(
    name="import",
    epilog="\b\nExamples:\n  hush keys import --secret-file bob.key\n"
    "  HUSH_SECRET=0x… hush keys import --sym\n",
)
@rpc_option
@click.option("--sym", is_flag=True, help="The secret is a 32-byte symmetric key.")
@secret_options(
    "secret", "key secret (hex)", "The 32-byte secret, hex [default: $HUSH_SECRET, else asked]."
)
def keys_import(rpc_url: str, sym: bool, secret: str | None, secret_file: Path | None) -> None:
    """Add a private key (or with --sym a symmetric key) to the node; prints its id."""
    value = resolve_secret(
        secret, secret_file, option="--secret", what="key secret (hex)", env="HUSH_SECRET", ask=True
    )
    if value is None:
        raise UsageError("the key: give --secret-file FILE or $HUSH_SECRET, or run on a terminal")
    material = hex_arg(value, "key secret")

    async def go() -> str:
        async with RpcClient(rpc_url) as rpc:
            method = "shh_addSymKey" if sym else "shh_addPrivateKey"
            return await rpc.call(method, material, expect=str)

    click.echo(run(go()))


@group.command(
    name="list", epilog="\b\nExample:\n  hush keys list --keystore ~/.hush/keystore.json\n"
)
@keystore_option
@passphrase_option
def keys_list(keystore_path: Path | None, passphrase_file: Path | None) -> None:
    """List the identities of a keystore file (geth's RPC has no listing method)."""
    if keystore_path is None:
        raise UsageError("listing needs --keystore FILE (the JSON-RPC API cannot list keys)")
    store = _open(keystore_path, passphrase_file, create=False)
    for key_id, key in store.private_keys.items():
        click.echo(f"pair {key_id} 0x{key.public_key.hex()}")
    for key_id in store.sym_keys:
        click.echo(f"sym  {key_id}")


@group.command(
    name="export",
    epilog="\b\nExamples:\n  hush keys export KEYID\n  hush keys export KEYID --keystore ~/.hush/keystore.json\n",
)
@rpc_option
@keystore_option
@passphrase_option
@click.argument("key_id")
def keys_export(
    rpc_url: str, keystore_path: Path | None, passphrase_file: Path | None, key_id: str
) -> None:
    """Print a key's secret (hex). Handle with care."""
    if keystore_path is not None:
        store = _open(keystore_path, passphrase_file, create=False)
        if store.has_key_pair(key_id):
            click.echo("0x" + store.private_key(key_id).secret.hex())
        else:
            click.echo("0x" + store.sym_key(key_id).secret.hex())
        return

    async def go() -> str:
        async with RpcClient(rpc_url) as rpc:
            if await rpc.call("shh_hasKeyPair", key_id, expect=bool):
                return await rpc.call("shh_getPrivateKey", key_id, expect=str)
            return await rpc.call("shh_getSymKey", key_id, expect=str)

    click.echo(run(go()))


@group.command(name="delete", epilog="\b\nExample:\n  hush keys delete KEYID --rpc 8555\n")
@rpc_option
@keystore_option
@passphrase_option
@click.argument("key_id")
def keys_delete(
    rpc_url: str, keystore_path: Path | None, passphrase_file: Path | None, key_id: str
) -> None:
    """Delete a key pair or symmetric key."""
    if keystore_path is not None:
        store = _open(keystore_path, passphrase_file, create=False)
        if not (store.delete_key_pair(key_id) or store.delete_sym_key(key_id)):
            raise UsageError(f"no key {key_id}")
        return

    async def go() -> None:
        async with RpcClient(rpc_url) as rpc:
            if await rpc.call("shh_hasKeyPair", key_id, expect=bool):
                await rpc.call("shh_deleteKeyPair", key_id)
            elif not await rpc.call("shh_deleteSymKey", key_id, expect=bool):
                raise UsageError(f"no key {key_id}")

    run(go())
