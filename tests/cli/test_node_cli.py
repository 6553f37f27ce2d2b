"""`hush node` and the client commands: settings, errors, and real nodes in subprocesses."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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
        # A filter sees only what arrives after it is installed: post until the watcher has one.
        text = f"hello over {'ws' if ws else 'polling'}"
        posted: list[str] = []
        deadline = time.monotonic() + 20
        while watcher.poll() is None:
            assert time.monotonic() < deadline, "the watcher never saw a message"
            result = CliRunner().invoke(
                main, ["post", "--rpc", a.url, "--password", "room", "--ttl", "30", text]
            )
            assert result.exit_code == 0, result.output
            posted.append(result.output.strip())
            with contextlib.suppress(subprocess.TimeoutExpired):
                watcher.wait(timeout=1.0)
        out, err = watcher.communicate(timeout=25)
        assert watcher.returncode == 0, err
        message = json.loads(out.splitlines()[0])
        assert message["hash"] in posted
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


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's stdout lines as they come (read and closed on a thread, so waits can have
    deadlines); "" once it closes."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def pump() -> None:
        with stdout:
            for line in iter(stdout.readline, ""):
                lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _next_line(process: subprocess.Popen[str], lines: queue.Queue[str], deadline: float) -> str:
    try:
        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        raise AssertionError("no line from the chat in time") from None
    assert line, f"the chat quit: {process.stderr.read() if process.stderr else ''}"
    return line


def test_chat_between_two_nodes(tmp_path: Path, nodes: list[NodeProcess]) -> None:
    a, b = NodeProcess(tmp_path / "a"), NodeProcess(tmp_path / "b")
    nodes.extend([a, b])
    assert a.call("admin_addPeer", b.enode) is True
    alice, bob = _chat(a.url), _chat(b.url)
    try:
        assert alice.stdin is not None
        alice_says, bob_sees = _lines(alice), _lines(bob)
        deadline = time.monotonic() + 30
        # Each chat's banner comes once its keys and filter are on its node; then the peers.
        for chat, lines in ((alice, alice_says), (bob, bob_sees)):
            assert "chatting on topic" in _next_line(chat, lines, deadline)
        while not (a.call("admin_peers") and b.call("admin_peers")):
            assert time.monotonic() < deadline, "peers did not connect"
            time.sleep(0.05)
        alice.stdin.write("hi bob, it's alice\n")
        alice.stdin.flush()
        while "hi bob, it's alice" not in _next_line(bob, bob_sees, deadline):
            pass
    finally:
        for chat in (alice, bob):  # (stdout is the pump's: no communicate())
            assert chat.stdin is not None
            chat.stdin.close()  # EOF ends a chat
            chat.wait(timeout=15)
            if chat.stderr is not None:
                chat.stderr.close()
    assert alice.returncode == 0 and bob.returncode == 0


# -- `hush node` refuses bad settings and reports startup failures in one line ---------------------


@pytest.fixture
def hush_node(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """`main(["node", ...])` in this process; the node's logging setup is undone afterwards, and
    a node that starts despite the bad input is stopped by SIGINT rather than hanging the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    timer = threading.Timer(60, os.kill, (os.getpid(), signal.SIGINT))

    def run(*args: str, datadir: Path | None = None) -> Any:
        argv = ["node", "--datadir", str(datadir or tmp_path / "node"), "--verbosity", "0", *args]
        if "--listen" not in args:
            argv += ["--listen", "off"]
        if not timer.is_alive():
            timer.start()
        return CliRunner().invoke(main, argv)

    yield run
    timer.cancel()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def one_line_error(result: Any, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("hush: error: ")]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    ("flags", "setting"),
    [
        (("--min-pow", "nan"), "min_pow"),
        (("--min-pow", "inf"), "min_pow"),
        (("--min-pow", "-1"), "min_pow"),
        (("--max-message-size", "-5"), "max_message_size"),
        (("--max-message-size", "20000000"), "max_message_size"),
        (("--max-peers", "-1"), "max_peers"),
        (("--max-pending-peers", "0"), "max_pending_peers"),
    ],
)
def test_bad_settings_refused_at_start(
    hush_node: Callable[..., Any], flags: tuple[str, ...], setting: str
) -> None:
    one_line_error(hush_node(*flags), f"invalid {setting}: must be")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('max-peers = "ten"', "max_peers: expected an integer, got 'ten'"),
        ("max_peers = 2.5", "max_peers: expected an integer, got 2.5"),
        ('light = "false"', "light: expected true or false, got 'false'"),
        ("min-pow = true", "min_pow: expected a number, got True"),
        ("peer = [1, 2]", "peers: expected a string or a list of strings"),
        ("min-pow = nan", "invalid min_pow: must be a finite number"),
        ("maxpeers = 3", "unknown setting(s): maxpeers"),
    ],
)
def test_bad_toml_values_name_the_key(
    hush_node: Callable[..., Any], tmp_path: Path, toml: str, message: str
) -> None:
    config = tmp_path / "hush.toml"
    config.write_text(toml + "\n")
    one_line_error(hush_node("--config", str(config)), message)


def test_busy_p2p_port_names_the_port_and_the_flag(hush_node: Callable[..., Any]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = hush_node("--listen", f"127.0.0.1:{port}")
    one_line_error(result, f"127.0.0.1:{port}", f"port {port} is already in use", "--listen")


def test_listen_on_a_foreign_address(hush_node: Callable[..., Any]) -> None:
    result = hush_node("--listen", "192.0.2.1:30303")  # TEST-NET-1: never this machine's
    one_line_error(result, "192.0.2.1 is not an address of this machine", "--listen")


@pytest.mark.parametrize("flag", ["--http", "--ws"])
def test_busy_rpc_port_names_the_port_and_the_flag(
    hush_node: Callable[..., Any], flag: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = hush_node("--listen", "127.0.0.1:0", flag, f"127.0.0.1:{port}")
    one_line_error(result, f"port {port} is already in use", flag)


def test_datadir_that_cannot_be_created(hush_node: Callable[..., Any]) -> None:
    one_line_error(hush_node(datadir=Path("/proc/x")), "cannot create node key", "/proc/x")


def _sealed_keystore(path: Path, passphrase: str, inner: bytes, **outer: Any) -> None:
    """A keystore file as hush writes it (scrypt + AES-256-GCM), with `inner` as the content."""
    salt, nonce, n = os.urandom(16), os.urandom(12), 1 << 4
    key = hashlib.scrypt(passphrase.encode(), salt=salt, n=n, r=8, p=1, dklen=32)
    ciphertext = AESGCM(key).encrypt(nonce, inner, b"hush-keystore")
    document = {
        "version": 1,
        "kdf": "scrypt",
        "n": n,
        "r": 8,
        "p": 1,
        "salt": salt.hex(),
        "cipher": "aes-256-gcm",
        "nonce": nonce.hex(),
        "ciphertext": ciphertext.hex(),
        **outer,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("inner", "outer", "message"),
    [
        (b"{}", {"nonce": ""}, "damaged (salt 16 bytes, nonce 0 bytes"),
        (b"[1, 2]", {}, "the decrypted content is not a list of keys"),
        (b'{"keyPairs": [1]}', {}, "the decrypted content is not a list of keys"),
        (b"\xff\xfe", {}, "the decrypted content is not a list of keys"),
        (b"{}", {"n": 1 << 40}, "unsupported scrypt parameters"),
        (b"{}", {"salt": "zz"}, "cannot read keystore"),
    ],
)
def test_broken_keystore_is_one_line(
    hush_node: Callable[..., Any],
    tmp_path: Path,
    inner: bytes,
    outer: dict[str, Any],
    message: str,
) -> None:
    passphrase = tmp_path / "pass"
    passphrase.write_text("pw\n")
    _sealed_keystore(tmp_path / "node" / "keystore.json", "pw", inner, **outer)
    result = hush_node("--keystore", "--passphrase-file", str(passphrase))
    one_line_error(result, message)


def test_non_utf8_passphrase_file(hush_node: Callable[..., Any], tmp_path: Path) -> None:
    passphrase = tmp_path / "pass"
    passphrase.write_bytes(b"\xff\xfe secret")
    result = hush_node("--keystore", "--passphrase-file", str(passphrase))
    one_line_error(result, "is not UTF-8 text")
