"""`hush node` with discovery: flags and TOML keys, fleet files, a node started from the CLI
finding a bootnode, and admin_nodeInfo's `enr` and discovery port."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from hush.cli.main import main
from hush.cli.node import run_node, settings_from
from hush.cli.node_discovery import (
    dial_policy,
    discovery_enabled,
    running_discovery,
    with_discovery,
)
from hush.crypto import PrivateKey
from hush.discovery.v4 import enr
from hush.enode import Enode
from hush.errors import UsageError
from hush.net.discovery import DialPolicy, Discovery, DiscoveryConfig, DiscoveryState
from hush.node import Node, NodeConfig
from hush.rpc.admin import AdminMethods
from hush.rpc.server import RpcServer
from hush.rpc.stats import StatsMethods

from .test_dnsdisc import RECORDS, _zone
from .test_dnsdisc import URL as ENRTREE_URL
from .test_service import FAST, wait_for

BOOT = str(Enode(PrivateKey(b"\x07" * 32).node_id, "127.0.0.1", 30301))
OTHER = str(Enode(PrivateKey(b"\x08" * 32).node_id, "127.0.0.1", 30302))


def test_flags_and_defaults(tmp_path: Path) -> None:
    plain = settings_from({"datadir": str(tmp_path)}, None)
    assert plain.bootnodes == () and not discovery_enabled(plain)
    booted = settings_from({"datadir": str(tmp_path), "bootnodes": (f"{BOOT},{OTHER}",)}, None)
    assert booted.bootnodes == (BOOT, OTHER) and discovery_enabled(booted)
    bootnode = settings_from({"datadir": str(tmp_path), "discovery_port": 30399}, None)
    assert bootnode.discovery_port == 30399 and discovery_enabled(bootnode)
    for off in ({"nodiscover": True}, {"light": True}, {"listen": "off"}):
        flags = {"datadir": str(tmp_path), "bootnodes": (BOOT,), **off}
        assert not discovery_enabled(settings_from(flags, None))


def test_toml_keys(tmp_path: Path) -> None:
    config = tmp_path / "hush.toml"
    config.write_text(f'bootnodes = ["{BOOT}"]\nnodiscover = true\ndiscovery-port = 30400\n')
    settings = settings_from({"datadir": str(tmp_path)}, config)
    assert settings.bootnodes == (BOOT,) and settings.nodiscover
    assert settings.discovery_port == 30400


def test_fleet_file_joins_bootnodes_static_and_trusted(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(f'{{"boot": ["{BOOT}"], "static": ["{OTHER}"], "mail": {{"m": "{BOOT}"}}}}')
    settings = with_discovery(settings_from({"datadir": str(tmp_path), "fleet": str(fleet)}, None))
    assert settings.bootnodes == (BOOT,)
    assert settings.peers == (OTHER, BOOT) and settings.trusted == (BOOT,)


def test_bad_bootnode_is_one_line(tmp_path: Path) -> None:
    settings = settings_from({"datadir": str(tmp_path), "bootnodes": ("enode://nope",)}, None)
    with pytest.raises(UsageError, match="--bootnodes"):
        with_discovery(settings)
    result = CliRunner().invoke(
        main, ["node", "--datadir", str(tmp_path), "--bootnodes", "enode://nope"]
    )
    assert result.exit_code != 0 and "--bootnodes" in result.output
    assert "Traceback" not in result.output


async def test_a_cli_node_finds_the_bootnode(tmp_path: Path) -> None:
    boot = Discovery(PrivateKey.generate(os.urandom), 0, DiscoveryConfig(port=0, protocol=FAST))
    await boot.start()
    flags = {
        "datadir": str(tmp_path),
        "listen": "127.0.0.1:0",
        "bootnodes": (str(boot.enode),),
        "verbosity": 0,
    }
    stop = asyncio.Event()
    task = asyncio.ensure_future(run_node(settings_from(flags, None), stop))
    try:
        await wait_for(lambda: boot.table_size() == 1)
    finally:
        stop.set()
        await task
        await boot.stop()
    saved = (tmp_path / "discovery.json").read_text()
    assert boot.key.node_id.hex() in saved  # the table was persisted on the way out


async def test_admin_node_info_reports_enr_and_discovery_port() -> None:
    config = NodeConfig(datadir=None, listen_host="127.0.0.1", listen_port=0, pow_processes=1)
    policy = DialPolicy(None, DiscoveryState())
    async with Node(config, peer_source=policy) as node:
        admin = AdminMethods(node, "1")
        info = await admin.node_info(None)  # type: ignore[arg-type]
        plain = enr.from_text(info["enr"])  # without discovery: ip and tcp, no udp (as geth)
        assert plain.tcp_port == node.listen_port and plain.udp_port is None
        assert plain.node_id == node.node_key.node_id
        assert node.listen_port is not None
        discovery = Discovery(node.node_key, node.listen_port, DiscoveryConfig(port=0))
        assert "discport" not in node.enode
        async with discovery:
            policy.nodes = discovery
            node.discovery = discovery
            info = await admin.node_info(None)  # type: ignore[arg-type]
            assert info["ports"] == {"discovery": discovery.port, "listener": node.listen_port}
            record = enr.from_text(info["enr"])
            assert record == discovery.record and record.udp_port == discovery.port
            # geth's enode form: ?discport= when the UDP port differs from the TCP one
            assert discovery.port != node.listen_port
            assert node.enode.endswith(f"?discport={discovery.port}")
            assert Enode.parse(node.enode).udp_port == discovery.port
            assert info["enode"] == node.enode
        assert "discport" not in node.enode  # stopped: no discovery to advertise


async def test_hush_info_shows_the_table_size_and_shh_peers() -> None:
    def config() -> NodeConfig:
        return NodeConfig(datadir=None, listen_host="127.0.0.1", listen_port=0, pow_processes=1)

    boot = Discovery(PrivateKey.generate(os.urandom), 0, DiscoveryConfig(port=0, protocol=FAST))
    async with boot, Node(config()) as peer, Node(config()) as node:
        assert node.listen_port is not None
        stats = StatsMethods(node, None)
        assert (await stats.stats_method(None))["discovery"] is None  # type: ignore[arg-type]
        async with RpcServer(node) as server:
            await server.start("127.0.0.1", 0)
            url = server.url
            result = await asyncio.to_thread(CliRunner().invoke, main, ["info", "--rpc", url])
            assert result.exit_code == 0, result.output
            assert "shh peers: 0; discovery: off" in result.output
            config_ = DiscoveryConfig(port=0, protocol=FAST, bootnodes=(boot.enode,))
            async with Discovery(node.node_key, node.listen_port, config_) as discovery:
                node.discovery = discovery
                await wait_for(lambda: discovery.table_size() == 1)
                node.add_peer(peer.enode)
                await wait_for(lambda: len(node.peers()) == 1)
                answer = await stats.stats_method(None)  # type: ignore[arg-type]
                assert answer["discovery"] == {"udpPort": discovery.port, "tableSize": 1}
                args = ["info", "--rpc", url]
                result = await asyncio.to_thread(CliRunner().invoke, main, args)
                assert result.exit_code == 0, result.output
                expected = (
                    f"shh peers: 1; discovery: 1 node(s) in the table, UDP port {discovery.port}"
                )
                assert expected in result.output
                node.discovery = None


def test_enrtree_flag_and_toml(tmp_path: Path) -> None:
    flags = {"datadir": str(tmp_path), "enrtree": (ENRTREE_URL,)}
    settings = with_discovery(settings_from(flags, None))
    assert settings.enrtree == (ENRTREE_URL,) and discovery_enabled(settings)
    assert not settings.enr_shh
    assert settings_from({**flags, "enr_shh": True}, None).enr_shh
    config = tmp_path / "hush.toml"
    config.write_text(f'enrtree = ["{ENRTREE_URL}"]\n')
    assert settings_from({"datadir": str(tmp_path)}, config).enrtree == (ENRTREE_URL,)
    with pytest.raises(UsageError, match=r"^--enrtree: enrtree: URL must start"):
        with_discovery(settings_from({"datadir": str(tmp_path), "enrtree": ("dns://x",)}, None))
    result = CliRunner().invoke(
        main, ["node", "--datadir", str(tmp_path), "--enrtree", "enrtree://nope@x.org"]
    )
    assert result.exit_code != 0 and "--enrtree" in result.output
    assert "Traceback" not in result.output


async def test_enrtree_nodes_seed_discovery_and_the_dial_policy(tmp_path: Path) -> None:
    lister = Discovery(PrivateKey.generate(os.urandom), 0, DiscoveryConfig(port=0, protocol=FAST))
    async with lister:
        listed = enr.make_record(lister.key, 1, "127.0.0.1", udp_port=lister.port, tcp_port=30999)
        zone = _zone([*RECORDS[:3], listed], [])

        async def resolve(name: str) -> list[str]:
            return zone.get(name, [])

        async def broken(name: str) -> list[str]:
            raise OSError("network unreachable")

        flags = {"datadir": str(tmp_path), "listen": "127.0.0.1:0", "verbosity": 0}
        settings = settings_from({**flags, "enrtree": (ENRTREE_URL,)}, None)
        policy = dial_policy(settings)
        assert policy is not None
        config = NodeConfig(datadir=None, listen_host="127.0.0.1", listen_port=0, pow_processes=1)
        async with Node(config, peer_source=policy) as node:
            async with running_discovery(settings, node, policy, resolve) as found:
                assert found is not None
                ids = {e.node_id for e in policy.extra}
                assert ids == {r.node_id for r in (*RECORDS[:3], listed)}
                # the listed node was pinged: it answers and enters the table
                await wait_for(lambda: found.table_size() == 1)
            policy = DialPolicy(None, DiscoveryState())
            elsewhere = settings_from(
                {**flags, "enrtree": (ENRTREE_URL,), "discovery_port": 0}, None
            )
            async with running_discovery(elsewhere, node, policy, broken) as other:
                assert other is not None and policy.extra == ()  # a warning, no failure
