"""A real `hush node` at a low open-file limit, flooded with idle connections (issue 7 item 5).

The node runs in a subprocess whose RLIMIT_NOFILE (soft and hard) is set to 128 before hush is
imported, so it cannot raise it. More idle TCP connections than that are opened to its p2p port and
held open. The node must stay up, log a bounded number of lines (no accept-error flood), keep
answering JSON-RPC, and admit an honest peer once the idle handshakes time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hush.crypto import PrivateKey
from hush.enode import Enode
from hush.net import P2PConfig, PeerDisconnected, dial

LIMIT = 128
IDLE = 400
CHILD = (
    "import resource, sys\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))\n"
    "from hush.cli.main import main\n"
    "main(sys.argv[1:])\n"
)


def start_node(datadir: Path, soft: int, hard: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD.format(soft=soft, hard=hard),
            "node",
            "--datadir",
            str(datadir),
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--verbosity",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: dict[str, str] = {}
    while len(lines) < 2:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"node exited: {process.communicate()[1]}")
        kind, _, value = line.strip().partition(": ")
        lines[kind] = value
    return process, lines


@pytest.fixture
def node_process() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=10)


def rpc(url: str, method: str, timeout: float) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    return reply["result"]


def open_idle(port: int, count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))  # EINPROGRESS: the kernel completes it
        sockets.append(sock)
    return sockets


async def dial_until_admitted(enode: Enode, deadline: float) -> None:
    config = P2PConfig(handshake_timeout=2.0)
    key = PrivateKey.generate(os.urandom)
    while True:
        try:
            peer = await dial(key, enode, config)
        except PeerDisconnected:
            assert time.monotonic() < deadline, "an honest peer was never admitted"
            await asyncio.sleep(0.2)
            continue
        peer.close()
        return


def test_idle_flood_at_a_low_fd_limit(
    tmp_path: Path, node_process: list[subprocess.Popen[str]]
) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < IDLE + 64:
        pytest.skip(f"this test needs {IDLE + 64} open files, the limit is {soft}")
    process, lines = start_node(tmp_path / "node", LIMIT, LIMIT)
    node_process.append(process)
    enode = Enode.parse(lines["enode"])
    idle = open_idle(enode.tcp_port, IDLE)
    try:
        # JSON-RPC keeps working while the idle connections are held open ...
        deadline = time.monotonic() + 20
        while True:
            try:
                assert isinstance(rpc(lines["http"], "shh_info", timeout=2), dict)
                break
            except OSError:
                assert time.monotonic() < deadline, "JSON-RPC never answered"
        # ... and an honest peer gets in once the idle handshakes have timed out.
        asyncio.run(dial_until_admitted(enode, time.monotonic() + 30))
        assert isinstance(rpc(lines["http"], "shh_info", timeout=5), dict)
    finally:
        for sock in idle:
            sock.close()
    assert process.poll() is None, "the node died"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert err.count("out of system resource") <= 1, err[-3000:]
    # Startup, one summary line per kind of refusal per minute, the honest peer, shutdown.
    assert len(err.splitlines()) <= 25, err[-3000:]


def test_soft_fd_limit_raised_to_hard(
    tmp_path: Path, node_process: list[subprocess.Popen[str]]
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= LIMIT:
        pytest.skip("needs a finite hard open-file limit above 128")
    process, _ = start_node(tmp_path / "node", LIMIT, hard)
    node_process.append(process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert f"raised the open-file limit from {LIMIT} to {hard}" in err
