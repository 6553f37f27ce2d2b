"""Client commands against misbehaving servers, dying nodes and mistyped input: one line on stderr,
a non-zero exit status, never a traceback (issue 14 defects 5-7, 9; issue 7 item 5).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from cli_servers import BadServer, LiveNode, interrupt_a_sealing_post
from click.testing import CliRunner, Result

from hush.cli.main import main
from hush.rpc import RpcServer


def invoke(*argv: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(main, list(argv), env=env)
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    return result


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hush: error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def live() -> Iterator[LiveNode]:
    node = LiveNode()
    yield node
    node.close()


# -- servers that answer wrongly -------------------------------------------------------------------

BAD_REPLIES: dict[str, tuple[int, bytes, str]] = {
    "error is a string": (200, b'{"jsonrpc":"2.0","id":1,"error":"boom"}', '"boom"'),
    "code not an integer": (
        200,
        b'{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"it broke"}}',
        "it broke",
    ),
    "result null": (200, b'{"jsonrpc":"2.0","id":1,"result":null}', "with null, expected"),
    "no result": (200, b'{"jsonrpc":"2.0","id":1}', "neither result nor error"),
    "not json": (200, b"<html>hello</html>", "not a JSON-RPC endpoint"),
    "json list": (200, b"[1, 2]", "not a JSON-RPC endpoint"),
    "deep nesting": (200, b"[" * 100_000, "not a JSON-RPC endpoint"),
    "http 500": (500, b"Internal Server Error\n\nstack trace here", "HTTP 500"),
    "http 404": (404, b"", "HTTP 404"),
}

COMMANDS = {
    "post": ["post", "--sym-key", "k", "--topic", "01020304", "hi"],
    "info": ["info"],
    "keys create": ["keys", "create"],
    "keys export": ["keys", "export", "k"],
    "watch": ["watch", "--sym-key", "k", "--timeout", "5"],
    "peers list": ["peers", "list"],
}


@pytest.mark.parametrize("reply", list(BAD_REPLIES), ids=list(BAD_REPLIES))
@pytest.mark.parametrize("command", list(COMMANDS), ids=list(COMMANDS))
def test_bad_replies_are_one_line_errors(command: str, reply: str) -> None:
    status, body, fragment = BAD_REPLIES[reply]

    async def respond(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type="application/json")

    server = BadServer(respond)
    try:
        result = invoke(*COMMANDS[command], "--rpc", server.url)
    finally:
        server.close()
    assert_one_line_error(result, fragment)


def test_wrong_types_in_info_are_one_line() -> None:
    """`shh_info` answering a list where an object belongs, `admin_peers` with junk entries."""
    answers = {
        "admin_nodeInfo": {"name": 5, "protocols": []},
        "shh_info": {"memory": None},
        "admin_peers": ["junk", {"network": "x", "protocols": {"shh": 3}}],
    }

    async def respond(request: web.Request) -> web.Response:
        call = await request.json()
        return web.json_response({"jsonrpc": "2.0", "id": 1, "result": answers[call["method"]]})

    server = BadServer(respond)
    try:
        result = invoke("info", "--rpc", server.url)
        assert result.exit_code == 0 and "2 peer(s)" in result.stdout, result.output
        answers["shh_info"] = []  # type: ignore[assignment]
        assert_one_line_error(invoke("info", "--rpc", server.url), "expected an object")
    finally:
        server.close()


# -- the node dies: polling and WebSocket watch agree (defect 5) -----------------------------------


@pytest.mark.parametrize("push", [False, True], ids=["polling", "websocket"])
def test_watch_exits_1_when_the_node_dies(live: LiveNode, push: bool) -> None:
    argv = ["watch", "--rpc", live.url, "--password-file", os.devnull, "--interval", "0.05"]
    if push:
        argv += ["--ws", live.ws]
    results: list[Result] = []
    worker = threading.Thread(target=lambda: results.append(invoke(*argv, "--timeout", "30")))
    worker.start()
    deadline = time.monotonic() + 15
    while live.filters() == 0:  # the watch's filter or subscription is installed
        assert worker.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)
    live.stop()
    worker.join(20)
    [result] = results
    assert_one_line_error(result, "lost the connection to hush node at 127.0.0.1", str(live.port))


def test_ws_pointed_at_an_http_only_port_says_so(live: LiveNode) -> None:
    async def http_only() -> RpcServer:
        assert live.node is not None
        from hush.rpc import RpcConfig

        server = RpcServer(live.node, RpcConfig(ws=False))
        await server.start("127.0.0.1", 0)
        return server

    server = live.run(http_only())
    try:
        argv = ["--rpc", server.url, "--password-file", os.devnull, "--ws", str(server.port)]
        result = invoke("watch", *argv)
        assert_one_line_error(result, "not a WebSocket JSON-RPC endpoint", "--http")
    finally:
        live.run(server.stop())


# -- addresses (defect 7) --------------------------------------------------------------------------


def test_rpc_takes_host_port_and_bare_ports(live: LiveNode) -> None:
    for form in (f"127.0.0.1:{live.port}", str(live.port), live.url, f"localhost:{live.port}"):
        result = invoke("info", "--rpc", form, "--json")
        assert result.exit_code == 0, (form, result.output)
        assert "enode://" in json.loads(result.stdout)["node"]["enode"]
    result = invoke("info", env={"HUSH_RPC": str(live.port)})
    assert result.exit_code == 0, result.output


def test_rpc_given_a_websocket_url_says_what_is_wrong() -> None:
    result = invoke("info", "--rpc", "ws://127.0.0.1:8546")
    assert_one_line_error(result, "--rpc takes the node's HTTP address", "--ws")
    assert_one_line_error(invoke("info", "--rpc", "127.0.0.1:port"), "invalid address")


# -- reading commands create nothing (defect 6) ----------------------------------------------------


@pytest.mark.parametrize("command", ["list", "export", "delete"])
def test_reading_keystore_commands_never_create_files(tmp_path: Path, command: str) -> None:
    typo = tmp_path / "typo.json"
    passphrase = tmp_path / "pass"
    passphrase.write_text("pw\n")
    argv = ["keys", command, "--keystore", str(typo), "--passphrase-file", str(passphrase)]
    result = invoke(*argv, *([] if command == "list" else ["someid"]))
    assert_one_line_error(result, f"no keystore at {typo}")
    assert not typo.exists()


def test_unreadable_passphrase_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "pass"
    bad.write_bytes(b"\xff\xfe\n")
    result = invoke("keys", "list", "--keystore", str(bad), "--passphrase-file", str(bad))
    assert_one_line_error(result, "cannot read passphrase file")


# -- secrets never only on the command line (defect 10) --------------------------------------------


def test_passwords_from_file_and_environment(live: LiveNode, tmp_path: Path) -> None:
    room = tmp_path / "room"
    room.write_text("swordfish\n")
    env = {**os.environ, "HUSH_PASSWORD": "swordfish"}
    watch = ["watch", "--rpc", live.url, "--count", "1", "--timeout", "20"]  # key: $HUSH_PASSWORD
    # Its own process: a CliRunner on a thread shares sys.stdout with the `post` one below.
    watcher = subprocess.Popen(
        [sys.executable, "-c", "from hush.cli.main import main; main()", *watch, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 20
    while live.filters() == 0:
        assert watcher.poll() is None, watcher.communicate()
        assert time.monotonic() < deadline, "the watch never installed its filter"
        time.sleep(0.02)
    posted = invoke("post", "--rpc", live.url, "--password-file", str(room), "hello by file")
    assert posted.exit_code == 0, posted.output
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0 and "Traceback" not in err, err
    message = json.loads(out)
    assert message["hash"] == posted.stdout.strip()
    assert bytes.fromhex(message["payload"][2:]) == b"hello by file"
    assert live.filters() == 0  # the watch removed its filter on the way out


def test_no_key_and_no_terminal_says_where_a_password_can_come_from() -> None:
    result = invoke("post", "hi", env={"HUSH_PASSWORD": None})  # type: ignore[dict-item]
    assert_one_line_error(result, "exactly one of", "--password-file", "$HUSH_PASSWORD")


def test_keys_import_reads_the_secret_from_a_file(live: LiveNode, tmp_path: Path) -> None:
    generated = invoke("keys", "generate")
    assert generated.exit_code == 0
    secret = generated.stdout.split()[1]
    public = generated.stdout.split()[3]
    key_file = tmp_path / "bob.key"
    key_file.write_text(secret + "\n")
    result = invoke("keys", "import", "--rpc", live.url, "--secret-file", str(key_file))
    assert result.exit_code == 0, result.output
    key_id = result.stdout.strip()
    assert live.node is not None and live.node.keys.has_key_pair(key_id)
    assert "0x" + live.node.keys.private_key(key_id).public_key.hex() == public
    assert_one_line_error(invoke("keys", "import", "--rpc", live.url), "$HUSH_SECRET")


# -- Ctrl-C during post (defect 3) -----------------------------------------------------------------


def test_ctrl_c_during_post_withdraws_the_request() -> None:
    seen = threading.Event()
    dropped = threading.Event()

    async def respond(request: web.Request) -> web.Response:
        call = await request.json()
        if call["method"] != "shh_post":
            return web.json_response({"jsonrpc": "2.0", "id": call["id"], "result": True})
        seen.set()
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.01)  # "sealing" until the client hangs up
        dropped.set()
        return web.json_response({"jsonrpc": "2.0", "id": call["id"], "result": "0x00"})

    server = BadServer(respond)
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from hush.cli.main import main; main()",
                "post",
                "--rpc",
                server.url,
                "--sym-key",
                "k",
                "--topic",
                "01020304",
                "--quiet",
                "hi",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert seen.wait(20), "post never reached the server"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
        assert dropped.wait(10), "the request was not withdrawn"
    finally:
        server.close()
    assert process.returncode == 130, err
    assert out == ""
    assert "never retrieved" not in err and "Traceback" not in err, err
    assert err.startswith("hush: interrupted: the post was withdrawn"), err
    assert len(err.splitlines()) == 1


# -- one short id everywhere (defect 9) ------------------------------------------------------------


async def test_logs_and_info_show_the_same_peer_id(caplog: pytest.LogCaptureFixture) -> None:
    from hush.node import Node, NodeConfig
    from hush.rpc import RpcConfig

    def config() -> NodeConfig:
        return NodeConfig(datadir=None, listen_host="127.0.0.1", listen_port=0, pow_processes=1)

    caplog.set_level(logging.INFO)
    async with Node(config()) as a, Node(config()) as b:
        a.add_peer(b.enode)
        async with asyncio.timeout(10):
            while not (a.peers() and b.peers()):
                await asyncio.sleep(0.02)
        server = RpcServer(a, RpcConfig())
        await server.start("127.0.0.1", 0)
        try:
            loop = asyncio.get_running_loop()
            shown = await loop.run_in_executor(None, invoke, "peers", "list", "--rpc", server.url)
            info = await loop.run_in_executor(None, invoke, "info", "--rpc", server.url)
        finally:
            await server.stop()
    peer_id = shown.stdout.split()[0]
    assert len(peer_id) == 16 and peer_id in info.stdout
    logged = [r.getMessage() for r in caplog.records if "peer" in r.getMessage()]
    assert any(peer_id in line for line in logged if "peer joined" in line), logged
    assert any(peer_id in line for line in logged if "dialed peer" in line), logged  # net/dialer.py
    assert b.node_key.node_id.hex()[:16] not in " ".join(logged)


def test_ctrl_c_during_post_stops_the_nodes_sealing(live: LiveNode) -> None:
    """End to end over HTTP: Ctrl-C on `hush post` while a real node seals."""
    interrupt_a_sealing_post(live, live.url)
