"""`hush top` draws a frame from a live node's hush_stats (real nodes, real JSON-RPC)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket

from click.testing import CliRunner
from node.conftest import connect, wait_for
from rich.console import Console

from hush.cli.main import main
from hush.cli.rpcclient import RpcClient
from hush.cli.top import fetch, live_view, render
from hush.crypto import PrivateKey
from hush.enode import Enode, short_id
from hush.node import PostRequest
from hush.rpc import RpcConfig, RpcServer, ShhApi

from .conftest import KEY, TOPIC, StatsNodeFactory


def text_of(frame: object, width: int = 160) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(frame)
    return console.export_text()


async def test_a_frame_from_a_live_node(stats_node: StatsNodeFactory) -> None:
    a, sa = await stats_node()
    b, _ = await stats_node()
    await connect(a, b)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = PrivateKey.generate(os.urandom).node_id
        a.add_peer(Enode(dead, "127.0.0.1", closed.getsockname()[1]))
        await wait_for(lambda: dead in sa.failing)
    server = RpcServer(a, RpcConfig(), api=ShhApi(a, stats=sa))
    await server.start("127.0.0.1", 0)
    try:
        async with RpcClient(server.url) as rpc:
            first = await fetch(rpc)
            key = a.keys.add_sym_key(KEY.secret)
            await a.post(PostRequest(b"top", TOPIC, sym_key_id=key, pow_target=0.05))
            await wait_for(lambda: sa.bundles.sum >= 1)
            second = await fetch(rpc)
        frame = text_of(render(second, first))
        runner = CliRunner()
        result = await asyncio.to_thread(
            runner.invoke, main, ["top", "--once", "--interval", "0.2", "--rpc", server.url]
        )
    finally:
        await server.stop()
    assert "hush top" in frame and "pool 1 envelopes" in frame
    peer_line = next(line for line in frame.splitlines() if short_id(b.node_key.node_id) in line)
    assert " out " in peer_line and "static" in peer_line and b.config.client_id[:20] in peer_line
    assert "100%" in peer_line  # b is a full node: its bloom is all ones
    assert "failing static peers" in frame and short_id(dead) in frame
    assert "connect" in frame.split("failing static peers", 1)[1]
    assert "accepted" in frame and "rate limit observe" in frame
    network = next(line for line in frame.splitlines() if line.startswith("network"))
    assert "sockets 1 open, 0 inbound in handshake" in network  # the link to b
    assert "connect 1" in network and "handshake_fail 1" in network  # b up, the dead one not
    assert "relay turns" in frame and "delivery overflow 0 / 0 filter" in frame
    assert result.exit_code == 0, result.output
    assert short_id(b.node_key.node_id) in result.output and "dropped" in result.output


def test_an_unreachable_node_is_one_line() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        result = CliRunner().invoke(main, ["top", "--once", "--rpc", str(port)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "hush: error:" in result.output


async def test_the_live_view_redraws_and_survives_the_node_going_away(
    stats_node: StatsNodeFactory,
) -> None:
    node, stats = await stats_node()
    server = RpcServer(node, RpcConfig(), api=ShhApi(node, stats=stats))
    await server.start("127.0.0.1", 0)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    live = asyncio.ensure_future(live_view(server.url, 0.2, console))
    try:
        await wait_for(lambda: screen.getvalue().count("hush top") >= 2)  # redrawn in place
        await server.stop()  # the node's RPC goes away: shown, and retried
        await wait_for(lambda: "retrying" in screen.getvalue())
        assert not live.done()
    finally:
        live.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await live
        await server.stop()
