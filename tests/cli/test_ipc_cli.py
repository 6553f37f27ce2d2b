"""The CLI over IPC: every command's `--rpc` takes the node's socket path (`/path/hush.ipc`,
`ipc:///path`), `hush watch` subscribes over it, Ctrl-C on `hush post` cancels the node's
sealing through it; `hush node` serves `<datadir>/hush.ipc` (0600) unless `--ipcdisable`, and
refuses a socket another node is serving (issue 14, IPC)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_servers import HUSH, LiveNode, interrupt_a_sealing_post
from click.testing import CliRunner

from hush.cli.main import main
from hush.cli.rpcclient import endpoint_url

ROOM = "ipc room"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveNode]:
    node = LiveNode(room=ROOM)
    assert node.server is not None
    node.run(node.server.start_ipc(tmp_path / "hush.ipc"))
    yield node
    node.close()


def test_socket_paths_are_rpc_addresses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    socket = str(tmp_path / "hush.ipc")
    for given in (socket, f"ipc://{socket}", "./hush.ipc", "hush.ipc"):
        assert endpoint_url(given) == f"ipc://{socket}"
        assert endpoint_url(given, "ws", "--ws") == f"ipc://{socket}"
    assert endpoint_url("~/x.ipc") == f"ipc://{Path.home() / 'x.ipc'}"
    assert endpoint_url("localhost:8545") == "http://localhost:8545"  # not a path


def test_info_and_post_over_the_socket(live: LiveNode, tmp_path: Path) -> None:
    socket = str(tmp_path / "hush.ipc")
    for address in (socket, f"ipc://{socket}"):
        result = CliRunner().invoke(main, ["info", "--rpc", address, "--json"])
        assert result.exit_code == 0, result.output
        assert '"enode": "enode://' in result.output
    posted = CliRunner().invoke(main, ["post", "--rpc", socket, "--password", ROOM, "over ipc"])
    assert posted.exit_code == 0, posted.output
    deadline = time.monotonic() + 20
    while b"over ipc" not in live.room_messages():
        assert time.monotonic() < deadline, "the post never reached the node's filter"
        time.sleep(0.02)


def test_watch_subscribes_over_the_socket(live: LiveNode, tmp_path: Path) -> None:
    socket = str(tmp_path / "hush.ipc")
    env = {**os.environ, "HUSH_PASSWORD": ROOM}
    watcher = subprocess.Popen(
        [*HUSH, "watch", "--rpc", socket, "--count", "1", "--timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        while live.filters() < 2:  # the room filter and the watch's subscription
            assert watcher.poll() is None, watcher.communicate()
            assert time.monotonic() < deadline, "watch never subscribed"
            time.sleep(0.02)
        posted = CliRunner().invoke(main, ["post", "--rpc", socket, "--password", ROOM, "pushed"])
        assert posted.exit_code == 0, posted.output
        out, err = watcher.communicate(timeout=20)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, err
    assert "pushed" in out and err == ""


def test_unusable_sockets_are_one_line(tmp_path: Path) -> None:
    import socket as sockets

    dead = tmp_path / "dead.ipc"
    with sockets.socket(sockets.AF_UNIX) as sock:
        sock.bind(str(dead))  # closed without listening: a node that died
    for path, says in ((tmp_path / "none.ipc", "no such socket"), (dead, "nothing listens")):
        result = CliRunner().invoke(main, ["info", "--rpc", str(path)])
        assert result.exit_code == 1 and "Traceback" not in result.output
        [line] = result.output.splitlines()
        assert (
            line.startswith(f"hush: error: cannot reach hush node at ipc://{path}") and says in line
        )


def test_ctrl_c_during_post_over_ipc_stops_the_nodes_sealing(live: LiveNode, tmp_path: Path) -> None:  # fmt: skip
    interrupt_a_sealing_post(live, str(tmp_path / "hush.ipc"))


class NodeProcess:
    """`hush node` in a subprocess, its stdout facts read up to `until`."""

    def __init__(self, *flags: str, until: str):
        self.process = subprocess.Popen(
            [*HUSH, "node", "--listen", "off", "--verbosity", "2", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.facts: dict[str, str] = {}
        assert self.process.stdout is not None
        while until not in self.facts:
            line = self.process.stdout.readline()
            assert line, f"node exited: {self.process.communicate(timeout=10)}"
            kind, _, value = line.strip().partition(": ")
            self.facts[kind] = value

    def stop(self) -> tuple[str, str]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=15)
        assert self.process.returncode == 0, err
        return out, err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=10)


def test_hush_node_serves_ipc_in_its_datadir(tmp_path: Path) -> None:
    datadir = tmp_path / "d"
    node = NodeProcess("--datadir", str(datadir), until="ipc")
    try:
        socket = datadir / "hush.ipc"
        assert node.facts["ipc"] == str(socket)
        assert stat.S_IMODE(os.stat(socket).st_mode) == 0o600
        result = CliRunner().invoke(main, ["info", "--rpc", str(socket), "--json"])
        assert result.exit_code == 0 and node.facts["enode"] in result.output, result.output
        second = subprocess.run(
            [*HUSH, "node", "--datadir", str(datadir), "--listen", "off", "--verbosity", "0"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert second.returncode == 1 and "Traceback" not in second.stderr
        assert f"{socket} is in use by a running node" in second.stderr
        assert "--ipcdisable" in second.stderr
        node.stop()
    finally:
        node.kill()
    assert not socket.exists()  # removed on the way out


def test_ipcdisable_and_a_default_path_too_long(tmp_path: Path) -> None:
    off = NodeProcess("--datadir", str(tmp_path / "off"), "--ipcdisable", until="enode")
    try:
        out, _ = off.stop()
    finally:
        off.kill()
    assert "ipc:" not in out and not (tmp_path / "off" / "hush.ipc").exists()
    deep = tmp_path / ("d" * 120)
    long = NodeProcess("--datadir", str(deep), until="enode")  # still runs, without IPC
    try:
        out, err = long.stop()
    finally:
        long.kill()
    assert "ipc:" not in out and "Traceback" not in err
    assert "a Unix socket path may have" in err and "IPC is off" in err
    given = subprocess.run(
        [*HUSH, "node", "--datadir", str(deep), "--listen", "off", "--ipc", str(deep / "x.ipc")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert given.returncode == 1 and "Traceback" not in given.stderr
    assert "give a shorter --ipc PATH" in given.stderr.splitlines()[-1]


async def test_the_client_reconnects_when_the_node_is_back(tmp_path: Path) -> None:
    """A command that outlives its node (chat) gets one Unreachable, then works again."""
    from hush.cli.rpcclient import RpcClient, Unreachable
    from hush.node import Node, NodeConfig
    from hush.rpc import RpcServer

    path = tmp_path / "hush.ipc"
    async with Node(NodeConfig(listen=False, datadir=None, pow_processes=1)) as node:
        server = RpcServer(node)
        await server.start_ipc(path)
        async with RpcClient(endpoint_url(str(path))) as rpc:
            assert await rpc.call("shh_version", expect=str) == "6.0"
            await server.stop()
            with pytest.raises(Unreachable, match="no such socket"):
                await rpc.call("shh_version")
            server = RpcServer(node)
            await server.start_ipc(path)
            assert await rpc.call("shh_version", expect=str) == "6.0"
        await server.stop()
