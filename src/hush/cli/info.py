"""`hush info`: a running node's identity, pool, PoW, bloom and peers (admin_* and shh_info).

Whatever the node answers is shown, never trusted: a missing field prints empty, a mistyped one
as text, and every string is escaped before rich renders it, so a peer's name can't inject
markup. With `--json` the answers are printed as they came (`stats`: hush_stats, null where the
node doesn't serve it).
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hush.cli.common import rpc_option, run
from hush.cli.rpcclient import BadReply, NodeError, RpcClient

__all__ = ["info"]


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def _stats(rpc: RpcClient) -> dict[str, Any] | None:
    """hush_stats, when the node serves it (geth doesn't; a node may not expose `hush`): an
    error or a junk answer leaves it out rather than failing the whole command."""
    try:
        return await rpc.call("hush_stats", expect=dict)
    except (NodeError, BadReply):
        return None


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
                "stats": await _stats(rpc),
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
    shh_peers = sum("shh" in _dict(_dict(peer).get("protocols")) for peer in data["peers"])
    stats = data["stats"]
    discovery = _dict(_dict(stats).get("discovery"))
    if discovery:
        where = _text(discovery.get("udpPort"))
        found = f"{_text(discovery.get('tableSize'))} node(s) in the table, UDP port {where}"
    else:
        found = "off" if isinstance(stats, dict) else "unknown (no hush_stats)"
    console.print(f"shh peers: {shh_peers}; discovery: {found}")
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
