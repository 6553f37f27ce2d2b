"""`hush peers add|remove|list`: manage a running node's peers over geth's `admin_*` JSON-RPC.

An enode is checked here first (hush.enode's rules, geth 1.9's) so a typo is one clear line before
any request; `add --trusted` also marks the peer trusted (its direct p2p messages are accepted).
"""

from __future__ import annotations

import json

import click

from hush.cli.common import rpc_option, run
from hush.cli.rpcclient import RpcClient
from hush.enode import Enode

__all__ = ["group"]


def _enode(ctx: click.Context, param: click.Parameter, value: str) -> str:
    enode = Enode.parse(value)  # DecodeError (a HushError): one line, exit 1
    del enode
    return value.strip()


@click.group(name="peers")
def group() -> None:
    """List, add and remove a running node's peers (admin_peers/addPeer/removePeer)."""


@group.command(name="list", epilog="\b\nExamples:\n  hush peers list\n  hush peers list --json\n")
@rpc_option
@click.option("--json", "as_json", is_flag=True, help="The admin_peers objects, as JSON.")
def peers_list(rpc_url: str, as_json: bool) -> None:
    """One line per connected peer: short id, direction, remote address, client name."""

    async def go() -> list[object]:
        async with RpcClient(rpc_url) as rpc:
            return await rpc.call("admin_peers", expect=list)

    peers = run(go())
    if as_json:
        click.echo(json.dumps(peers, indent=2))
        return
    for peer in peers:
        if not isinstance(peer, dict):
            continue
        network = peer.get("network") if isinstance(peer.get("network"), dict) else {}
        assert isinstance(network, dict)
        ident = str(peer.get("id", ""))[:16]  # keccak256(node id): hush.enode.short_id's form
        direction = "in " if network.get("inbound") else "out"
        click.echo(f"{ident} {direction} {network.get('remoteAddress', '')} {peer.get('name', '')}")


@group.command(
    name="add", epilog="\b\nExample:\n  hush peers add enode://<128 hex>@127.0.0.1:30304\n"
)
@rpc_option
@click.option("--trusted", is_flag=True, help="Also a trusted peer (admin_addTrustedPeer).")
@click.argument("enode", callback=_enode)
def peers_add(rpc_url: str, trusted: bool, enode: str) -> None:
    """Add a static peer: dialled now and redialled with backoff."""

    async def go() -> None:
        async with RpcClient(rpc_url) as rpc:
            await rpc.call("admin_addPeer", enode, expect=bool)
            if trusted:
                await rpc.call("admin_addTrustedPeer", enode, expect=bool)

    run(go())


@group.command(
    name="remove", epilog="\b\nExample:\n  hush peers remove enode://<128 hex>@127.0.0.1:30304\n"
)
@rpc_option
@click.argument("enode", callback=_enode)
def peers_remove(rpc_url: str, enode: str) -> None:
    """Disconnect a peer and stop redialling it."""

    async def go() -> None:
        async with RpcClient(rpc_url) as rpc:
            await rpc.call("admin_removePeer", enode, expect=bool)

    run(go())
