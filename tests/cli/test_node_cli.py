"""`hush node` and the client commands: settings, errors, and real nodes in subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hush.cli.main import main
from hush.cli.node import parse_address, settings_from
from hush.errors import UsageError

HUSH = (sys.executable, "-c", "from hush.cli.main import main; main()")


def test_parse_address() -> None:
    assert parse_address("8545") == ("127.0.0.1", 8545)
    assert parse_address("0.0.0.0:8546") == ("0.0.0.0", 8546)
    assert parse_address("[::1]:1") == ("::1", 1)
    with pytest.raises(UsageError):
        parse_address("host:port")


def test_settings_flags_override_toml(tmp_path: Path) -> None:
    config = tmp_path / "hush.toml"
    config.write_text(
        'datadir = "/tmp/x"\nlisten = "127.0.0.1:4000"\npeer = ["enode://a", "enode://b"]\n'
        'min-pow = 0.5\nhttp = "8545"\nhttp_corsdomain = "http://a,http://b"\nlight = true\n'
        "send-interval = 0.1\n"
    )
    flags: dict[str, Any] = {"min_pow": 0.3, "peers": (), "light": None, "ws": "9000"}
    settings = settings_from(flags, config)
    assert settings.datadir == Path("/tmp/x")
    assert settings.listen == ("127.0.0.1", 4000)
    assert settings.peers == ("enode://a", "enode://b")
    assert settings.min_pow == 0.3 and settings.light is True and settings.send_interval == 0.1
    assert settings.http == ("127.0.0.1", 8545) and settings.ws == ("127.0.0.1", 9000)
    assert settings.http_corsdomain == ("http://a", "http://b")
    config.write_text("bogus = 1\n")
    with pytest.raises(UsageError, match="unknown setting"):
        settings_from({}, config)


def test_unreachable_node_is_one_line() -> None:
    result = CliRunner().invoke(
        main, ["post", "--rpc", "http://127.0.0.1:9", "--password", "x", "hi"]
    )
    assert result.exit_code == 1
    assert result.output.startswith("hush: error: cannot reach hush node at http://127.0.0.1:9")
    assert "Traceback" not in result.output
    result = CliRunner().invoke(main, ["post", "hi"])
    assert result.exit_code == 1 and "exactly one of" in result.output


def test_keys_on_a_keystore_file(tmp_path: Path) -> None:
    passphrase = tmp_path / "pass"
    passphrase.write_text("secret\n")
    store = str(tmp_path / "keystore.json")
    common = ["--keystore", store, "--passphrase-file", str(passphrase)]
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", *common])
    assert created.exit_code == 0, created.output
    key_id, public = created.output.split()
    listed = runner.invoke(main, ["keys", "list", *common])
    assert f"pair {key_id} {public}" in listed.output
    exported = runner.invoke(main, ["keys", "export", *common, key_id])
    assert len(exported.output.strip()) == 66
    assert runner.invoke(main, ["keys", "delete", *common, key_id]).exit_code == 0
    assert key_id not in runner.invoke(main, ["keys", "list", *common]).output


# -- real nodes ------------------------------------------------------------------------------------


class NodeProcess:
    def __init__(self, datadir: Path, *extra: str):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hush.cli.main",
                "node",
                "--datadir",
                str(datadir),
                "--listen",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--ws",
                "127.0.0.1:0",
                "--verbosity",
                "3",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = {}
        assert self.process.stdout is not None
        while len(lines) < 3:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"node exited: {self.process.stderr.read()}")  # type: ignore[union-attr]
            kind, _, value = line.strip().partition(": ")
            lines[kind] = value
        self.enode, self.url, self.ws = lines["enode"], lines["http"], lines["ws"]

    def call(self, method: str, *params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        request = urllib.request.Request(
            self.url, body.encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            reply = json.loads(response.read())
        assert "error" not in reply, reply
        return reply["result"]

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=15)
        return self.process.returncode, err


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[NodeProcess]]:
    started: list[NodeProcess] = []
    yield started
    for node in started:
        if node.process.poll() is None:
            node.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.process.communicate(timeout=10)


def test_keystore_persists_across_restart(tmp_path: Path, nodes: list[NodeProcess]) -> None:
    passphrase = tmp_path / "pass"
    passphrase.write_text("pw\n")
    args = ("--keystore", "--passphrase-file", str(passphrase))
    first = NodeProcess(tmp_path / "a", *args)
    nodes.append(first)
    key_id = first.call("shh_newKeyPair")
    public = first.call("shh_getPublicKey", key_id)
    enode = first.enode
    code, _ = first.stop()
    assert code == 0
    assert (os.stat(tmp_path / "a" / "keystore.json").st_mode & 0o777) == 0o600
    second = NodeProcess(tmp_path / "a", *args)
    nodes.append(second)
    assert second.call("shh_getPublicKey", key_id) == public
    assert second.enode.split("@")[0] == enode.split("@")[0]  # same node key too


def test_two_nodes_post_and_watch(tmp_path: Path, nodes: list[NodeProcess]) -> None:
    a = NodeProcess(tmp_path / "a")
    b = NodeProcess(tmp_path / "b")
    nodes.extend([a, b])
    assert a.call("admin_addPeer", b.enode) is True
    deadline = time.monotonic() + 10
    while not (a.call("admin_peers") and b.call("admin_peers")):
        assert time.monotonic() < deadline, "peers did not connect"
        time.sleep(0.05)
    [peer] = a.call("admin_peers")
    assert peer["caps"] == ["shh/6"] and peer["network"]["inbound"] is False
    assert a.call("net_peerCount") == "0x1"
    for ws in (False, True):
        watcher = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hush.cli.main",
                "watch",
                "--rpc",
                b.url,
                "--password",
                "room",
                "--json",
                "--count",
                "1",
                "--timeout",
                "20",
                "--interval",
                "0.05",
                *(["--ws", b.ws] if ws else []),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5 if not ws else 2.0)  # the watcher installs its filter
        text = f"hello over {'ws' if ws else 'polling'}"
        posted = CliRunner().invoke(
            main, ["post", "--rpc", a.url, "--password", "room", "--ttl", "30", text]
        )
        assert posted.exit_code == 0, posted.output
        envelope_hash = posted.output.strip()
        out, err = watcher.communicate(timeout=25)
        assert watcher.returncode == 0, err
        message = json.loads(out.splitlines()[0])
        assert message["hash"] == envelope_hash
        assert bytes.fromhex(message["payload"][2:]).decode() == text
    result = CliRunner().invoke(main, ["info", "--rpc", a.url])
    assert result.exit_code == 0 and "1 peer(s)" in result.output
    code, log = a.stop()
    assert code == 0 and "peer joined" in log


def test_password_topic_is_wnodes() -> None:
    from hush.cli.client import wnode_topic

    assert wnode_topic("wwww") == "0x5a4ea131"  # tests/vectors/README.md


def _chat(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *HUSH[:1],
            "-m",
            "hush.cli.main",
            "chat",
            "--rpc",
            url,
            "--password",
            "room",
            "--interval",
            "0.05",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_chat_between_two_nodes(tmp_path: Path, nodes: list[NodeProcess]) -> None:
    a, b = NodeProcess(tmp_path / "a"), NodeProcess(tmp_path / "b")
    nodes.extend([a, b])
    assert a.call("admin_addPeer", b.enode) is True
    alice, bob = _chat(a.url), _chat(b.url)
    try:
        assert bob.stdout is not None and alice.stdin is not None
        assert "chatting on topic" in bob.stdout.readline()
        time.sleep(1.0)  # peers connected, filters installed
        alice.stdin.write("hi bob, it's alice\n")
        alice.stdin.flush()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = bob.stdout.readline()
            if "hi bob, it's alice" in line:
                break
        else:
            raise AssertionError("bob's chat never showed alice's line")
    finally:
        for chat in (alice, bob):
            chat.communicate(timeout=15)  # closes stdin: EOF ends a chat
    assert alice.returncode == 0 and bob.returncode == 0
