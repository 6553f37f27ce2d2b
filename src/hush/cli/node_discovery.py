"""`hush node`'s discovery: the dial policy handed to the node, and discovery v4 beside it.

Rules (discovery.md §3.3):
- Discovery runs when there is something to find or serve: `--bootnodes` (or a fleet's `boot`)
  or an explicit `--discovery-port` (a bootnode needs no bootnodes). `--nodiscover` turns it
  off, and so does `--light` (light nodes keep their 1–2 static full nodes) or `--listen off`.
- UDP binds the devp2p listen host, port `--discovery-port` (default: the devp2p port).
- The dial policy's caches and the table live in `<datadir>/discovery.json`.
- `--enrtree URL` (EIP-1459, read-only) also turns it on: each list is synced once at start,
  over the system's DNS (the one place hush uses DNS, and only when asked), bounded in entries
  and time; its nodes are pinged into the table and become dial candidates. A list that can't
  be fetched or verified is a warning, not a failure: the node runs on what else it has.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

import click

from hush.cli.node_settings import NodeSettings
from hush.discovery import load_fleet
from hush.discovery.dnsdisc import TxtResolver, parse_url, sync_tree
from hush.discovery.v4.protocol import Discv4Config
from hush.enode import Enode
from hush.errors import DecodeError, HushError, UsageError
from hush.net.discovery import DialPolicy, Discovery, DiscoveryConfig, load_state
from hush.net.discovery.dnstxt import SystemResolver
from hush.node import Node

__all__ = [
    "dial_policy",
    "discovery_enabled",
    "enrtree_nodes",
    "running_discovery",
    "with_discovery",
]


def discovery_enabled(settings: NodeSettings) -> bool:
    if settings.nodiscover or settings.light or settings.listen is None:
        return False
    return bool(settings.bootnodes) or bool(settings.enrtree) or settings.discovery_port is not None


def dial_policy(settings: NodeSettings) -> DialPolicy | None:
    """The node's peer source when discovery runs (its table is attached once it starts)."""
    if not discovery_enabled(settings):
        return None
    return DialPolicy(None, load_state(settings.datadir))


def with_discovery(settings: NodeSettings) -> NodeSettings:
    """Discovery settings checked, and a fleet file's nodes merged: `boot` into bootnodes,
    `static` and `mail` into static peers, `mail` into trusted peers too."""
    for url in settings.bootnodes:
        try:
            Enode.parse(url)
        except DecodeError as exc:
            raise UsageError(f"--bootnodes: {exc}") from None
    for url in settings.enrtree:
        try:
            parse_url(url)
        except DecodeError as exc:
            raise UsageError(f"--enrtree: {exc}") from None
    port = settings.discovery_port
    if port is not None and not 0 <= port <= 0xFFFF:
        raise UsageError(f"--discovery-port {port} out of range")
    if settings.fleet is None:
        return settings
    fleet = load_fleet(settings.fleet)
    return replace(
        settings,
        bootnodes=settings.bootnodes + tuple(str(e) for e in fleet.boot),
        peers=settings.peers + tuple(str(e) for e in (*fleet.static, *fleet.mail)),
        trusted=settings.trusted + tuple(str(e) for e in fleet.mail),
    )


ENRTREE_TIMEOUT = 30.0
"""Seconds one list's sync may take at start."""


async def enrtree_nodes(urls: tuple[str, ...], resolve: TxtResolver) -> list[Enode]:
    """The dialable nodes (ip and tcp) of every list; a list that fails is a warning."""
    found: dict[bytes, Enode] = {}
    for url in urls:
        try:
            async with asyncio.timeout(ENRTREE_TIMEOUT):
                _, records, _ = await sync_tree(url, resolve)
        except (HushError, OSError, TimeoutError) as exc:
            click.echo(f"warning: --enrtree {url[:80]}: {exc or 'timed out'}", err=True)
            continue
        for record in records:
            if record.ip is not None and record.tcp_port:
                enode = Enode(record.node_id, record.ip, record.tcp_port, record.udp_port)
                found[record.node_id] = enode
    return list(found.values())


@contextlib.asynccontextmanager
async def running_discovery(
    settings: NodeSettings,
    node: Node,
    policy: DialPolicy | None,
    resolve: TxtResolver | None = None,
) -> AsyncIterator[Discovery | None]:
    """Discovery for a started node, stopped (and its table saved) on the way out."""
    if policy is None or settings.listen is None:
        yield None
        return
    tcp_port = node.listen_port or 0
    udp_port = settings.discovery_port if settings.discovery_port is not None else tcp_port
    config = DiscoveryConfig(
        host=settings.listen[0],
        port=udp_port,
        advertise_ip=settings.nat,
        bootnodes=tuple(Enode.parse(url) for url in settings.bootnodes),
        protocol=Discv4Config(enr_shh=settings.enr_shh),
    )
    discovery = Discovery(
        node.node_key, tcp_port, config, datadir=settings.datadir, state=policy.state
    )
    await discovery.start()
    policy.nodes = discovery
    node.discovery = discovery
    click.echo(f"enr: {discovery.record.text()}")
    if settings.enrtree:
        listed = await enrtree_nodes(settings.enrtree, resolve or SystemResolver())
        policy.extra = (*policy.extra, *listed)
        for enode in listed:
            discovery.ping(enode)
        click.echo(f"enrtree: {len(listed)} node(s) from {len(settings.enrtree)} list(s)")
    try:
        yield discovery
    finally:
        policy.nodes = None
        node.discovery = None
        await discovery.stop()
