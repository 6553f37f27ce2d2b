"""`hush peers add|remove|list` against two real nodes on loopback."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner, Result

from hush.cli.main import main
from hush.node import Node, NodeConfig
from hush.rpc import RpcConfig, RpcServer


def _config() -> NodeConfig:
    return NodeConfig(datadir=None, listen_host="127.0.0.1", listen_port=0, pow_processes=1)


async def _hush(*argv: str) -> Result:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, CliRunner().invoke, main, list(argv))


async def _until(condition: object) -> None:
    async with asyncio.timeout(10):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def test_peers_add_list_remove() -> None:
    async with Node(_config()) as a, Node(_config()) as b:
        server = RpcServer(a, RpcConfig())
        await server.start("127.0.0.1", 0)
        try:
            rpc = str(server.port)  # a bare port works as --rpc
            added = await _hush("peers", "add", "--rpc", rpc, "--trusted", b.enode)
            assert added.exit_code == 0, added.output
            await _until(a.peers)
            listed = await _hush("peers", "list", "--rpc", rpc)
            assert listed.exit_code == 0 and len(listed.stdout.splitlines()) == 1
            assert listed.stdout.split()[1] == "out" and "hush/" in listed.stdout
            removed = await _hush("peers", "remove", "--rpc", rpc, b.enode)
            assert removed.exit_code == 0, removed.output
            await _until(lambda: not a.peers())
            bad = await _hush("peers", "add", "--rpc", rpc, "enode://1234@127.0.0.1:1")
            assert bad.exit_code == 1 and bad.stderr.startswith("hush: error: enode")
            assert len(bad.stderr.splitlines()) == 1
        finally:
            await server.stop()


def test_chat_without_a_terminal_sends_stdin_lines(tmp_path: object) -> None:
    from cli_servers import LiveNode

    live = LiveNode(room="piped room")
    try:
        result = CliRunner().invoke(
            main,
            ["chat", "--rpc", live.url, "--interval", "0.05"],
            input="first line\n\nsecond line\n/quit\nnever sent\n",
            env={"HUSH_PASSWORD": "piped room"},
        )
        assert result.exit_code == 0, result.output
        assert "chatting on topic" in result.stdout
        caught = live.room_messages()
        assert set(caught) == {b"first line", b"second line"}
        assert len({signer for signer in caught.values()}) == 1  # one identity for the session
    finally:
        live.close()


def test_private_chat_without_a_terminal() -> None:
    from cli_servers import LiveNode

    from hush.shh.filters import Filter

    live = LiveNode()
    try:

        async def bob() -> tuple[str, str]:
            assert live.node is not None
            key_id = live.node.keys.new_key_pair()
            private = live.node.keys.private_key(key_id)
            filter_id = live.node.install_filter(Filter(private_key=private))
            return "0x" + private.public_key.hex(), filter_id

        public, filter_id = live.run(bob())
        result = CliRunner().invoke(
            main,
            ["chat", "--rpc", live.url, "--pubkey", public, "--interval", "0.05"],
            input="psst, bob\n",
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("your public key: 0x04")

        async def inbox() -> list[bytes]:
            assert live.node is not None
            return [m.payload for m in live.node.filter_messages(filter_id)]

        assert live.run(inbox()) == [b"psst, bob"]
    finally:
        live.close()
