"""`hush chat` in a real terminal (tmux): the input line stays put while messages arrive above it,
Ctrl-C and Ctrl-D quit at once, a node that goes away is shown, and a line typed meanwhile is
kept and sent when the node is back (issue 14, defect 2).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_servers import LiveNode
from click.testing import CliRunner

from hush.cli.main import main
from hush.enode import short_id

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

ROOM = "our room"


class Terminal:
    """One tmux session (private server socket) running a command in a 100x24 terminal."""

    def __init__(self, tmp_path: Path, argv: list[str]):
        self.socket = str(tmp_path / "tmux.sock")
        self.status = tmp_path / "status"
        command = f"{shlex.join(argv)}; echo $? > {shlex.quote(str(self.status))}"
        self._tmux(
            "new-session", "-d", "-x", "100", "-y", "24", "-s", "t", "sh", "-c", command,
            env_term=True,
        )  # fmt: skip

    def _tmux(self, *args: str, env_term: bool = False) -> str:
        env = {"PATH": "/usr/bin:/bin", "TERM": "xterm-256color", "LANG": "C.UTF-8"}
        done = subprocess.run(
            ["tmux", "-S", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            env=env if env_term else None,
        )
        return done.stdout

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "t", "-l", text)

    def screen(self) -> list[str]:
        return self._tmux("capture-pane", "-p", "-t", "t").rstrip("\n").split("\n")

    def wait_for(self, condition: Callable[[list[str]], bool], what: str, timeout: float = 20) -> list[str]:  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}; screen:\n" + "\n".join(screen))
            time.sleep(0.05)

    def wait_text(self, text: str, timeout: float = 20) -> list[str]:
        return self.wait_for(lambda s: any(text in line for line in s), f"no {text!r}", timeout)

    def wait_prompt(self) -> list[str]:
        """The banner is out and the input line is drawn: the terminal is in prompt_toolkit's
        raw mode, so keys sent now are read as keys."""
        self.wait_text("chatting on topic")
        return self.wait_for(
            lambda s: [line for line in s if line.strip()][-1].startswith(">"), "no prompt"
        )

    def exit_status(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while not self.status.exists() or not self.status.read_text().strip():
            assert time.monotonic() < deadline, "chat did not quit:\n" + "\n".join(self.screen())
            time.sleep(0.02)
        return int(self.status.read_text())

    def close(self) -> None:
        self._tmux("kill-server")


@pytest.fixture
def live() -> Iterator[LiveNode]:
    node = LiveNode(room=ROOM)
    yield node
    node.close()


@pytest.fixture
def chat(tmp_path: Path, live: LiveNode) -> Iterator[Terminal]:
    room = tmp_path / "room"
    room.write_text(ROOM + "\n")
    argv = [sys.executable, "-c", "from hush.cli.main import main; main()", "chat"]
    argv += ["--rpc", live.url, "--password-file", str(room), "--interval", "0.05", "--sign"]
    terminal = Terminal(tmp_path, argv)
    yield terminal
    terminal.close()


def _post(live: LiveNode, text: str) -> None:
    result = CliRunner().invoke(main, ["post", "--rpc", live.url, "--password", ROOM, text])
    assert result.exit_code == 0, result.output


def test_input_line_stays_put_and_ctrl_c_quits_at_once(chat: Terminal, live: LiveNode) -> None:
    chat.wait_prompt()
    chat.type("hello wor")
    chat.wait_text("> hello wor")
    _post(live, "a line from outside")
    chat.wait_text("anonymous: a line from outside")

    # The message went above the prompt; what was typed is still on the input line, last.
    # (Waited for, not read once: prompt_toolkit erases the input line, prints, then redraws it,
    # and a capture between the print and the redraw shows no input line yet.)
    def kept_below(screen: list[str]) -> bool:
        last = max(i for i, line in enumerate(screen) if line.strip())
        return screen[last].startswith("> hello wor") and any(
            "anonymous: a line from outside" in line for line in screen[:last]
        )

    chat.wait_for(kept_below, "the input line is not kept below the message")
    chat.type("ld")
    chat.keys("Enter")
    deadline = time.monotonic() + 20
    while b"hello world" not in live.room_messages():
        assert time.monotonic() < deadline, "the typed line never reached the node"
        time.sleep(0.05)
    chat.type("half a line")
    chat.keys("C-c")
    assert chat.exit_status() == 0


def test_ctrl_d_quits(chat: Terminal) -> None:
    chat.wait_prompt()
    chat.keys("C-d")
    assert chat.exit_status() == 0


def test_node_going_away_is_shown_and_typed_lines_are_kept(chat: Terminal, live: LiveNode) -> None:
    you = chat.wait_prompt()
    me = next(line for line in you if line.startswith("you are ")).split()[2].rstrip(";")
    live.stop()
    chat.wait_text("lost the connection to hush node")
    chat.type("sent while away")
    chat.keys("Enter")
    chat.wait_text("not sent yet")
    live.start(room=ROOM)  # a fresh node on the same port: keys and filters are gone
    chat.wait_text("node is back; sending 1 kept line(s)")
    deadline = time.monotonic() + 20
    while b"sent while away" not in live.room_messages():
        assert time.monotonic() < deadline, "the kept line never reached the node"
        time.sleep(0.05)
    # Signed by the identity the banner named, though the node (and its keys) is new.
    signer = live.room_messages()[b"sent while away"]
    assert signer is not None and short_id(signer[1:]) == me
    _post(live, "after restart")
    chat.wait_text("anonymous: after restart")
    chat.keys("C-c")
    assert chat.exit_status() == 0


def test_reconnecting_to_the_same_node_leaves_one_filter(chat: Terminal, live: LiveNode) -> None:
    chat.wait_prompt()
    assert live.filters() == 2  # the test's room filter and the chat's
    live.pause_rpc()
    chat.wait_text("lost the connection")
    live.resume_rpc()
    chat.wait_text("node is back")
    assert live.filters() == 2  # the old one was removed, not left behind
    chat.keys("C-c")
    assert chat.exit_status() == 0
    assert live.filters() == 1  # and the chat's own on quitting


def test_a_refusal_after_a_restart_is_shown_not_swallowed(tmp_path: Path, live: LiveNode) -> None:
    async def own_key() -> tuple[str, str]:
        assert live.node is not None
        key_id = live.node.keys.new_key_pair()
        return key_id, "0x" + live.node.keys.private_key(key_id).public_key.hex()

    key_id, public = live.run(own_key())
    argv = [sys.executable, "-c", "from hush.cli.main import main; main()", "chat"]
    argv += ["--rpc", live.url, "--pubkey", public, "--key", key_id, "--interval", "0.05"]
    chat = Terminal(tmp_path, argv)
    try:
        chat.wait_prompt()
        live.stop()
        chat.wait_text("lost the connection")
        live.start()  # a fresh node: our --key is not there any more
        chat.wait_text("the node refused:")
        chat.keys("C-c")
        assert chat.exit_status() == 0
    finally:
        chat.close()
