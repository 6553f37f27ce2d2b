"""Every command in the README's shell blocks runs as written, in a fresh copy of the repository
(issue 14: "the README's commands all work exactly as written on a fresh clone").

The copy holds what `git ls-files` lists (the working tree's tracked and new files, nothing
built); its `.venv` is this checkout's, so `make run` finds it up to date instead of
installing for a minute (`test_make_targets_on_a_fresh_clone` runs the real first `make`, opt-in).
Each command must exit 0 and print no traceback. What cannot end by itself is started and stopped
here: `make run` and `hush node` (Ctrl-C, as in a terminal), `hush chat` (in a real terminal,
typing into it). What waits for a message (`hush watch`, `hush receive`) runs while the README's
next command, the one that sends it, is repeated until the waiting one has got it.

What differs from a reader's terminal, and only that: addresses move to free loopback ports
(every README port, `0.0.0.0` to `127.0.0.1`, `make run ARGS=...` for the ports it binds), `HOME`
and `/tmp/hush-b` to a tmp directory, the room password comes from `HUSH_PASSWORD` where no
terminal can ask, `HUSH_RPC` names node A (the README's default 127.0.0.1:8545), and the
placeholders `KEYID`/`ENODE` become what earlier commands printed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli_servers import free_port
from readme_blocks import ROOT, shell_blocks

ROOM = "our room"
SAFETY = 60.0  # only a command that would otherwise hang ever waits this long
WAITERS = ("hush watch", "hush receive")
"""Commands that wait for a message: the README's next command sends it."""
SETUP = (". ", "source ", "export ", "cd ")
"""Lines that change the shell for the lines after them."""


class Daemon:
    """A command that runs until stopped: its output collected by threads, stopped by SIGINT
    to its process group (Ctrl-C in a terminal)."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str]):
        self.command = command
        self.process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line)

    def facts(self, *kinds: str) -> dict[str, str]:
        """`kind: value` lines from stdout, once all `kinds` are there."""
        deadline = time.monotonic() + SAFETY
        while True:
            found = dict(
                line.strip().partition(": ")[::2] for line in list(self.out) if ": " in line
            )
            if all(kind in found for kind in kinds):
                return found
            assert self.process.poll() is None, f"{self.command} exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"{self.command}: no {kinds}:\n{self.output()}"
            time.sleep(0.02)

    def output(self) -> str:
        return "".join(self.out) + "".join(self.err)

    def stop(self) -> str:
        """Ctrl-C; what it printed, once it has exited."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(SAFETY)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
                raise AssertionError(f"{self.command} ignored Ctrl-C:\n{self.output()}") from None
        for reader in self._readers:
            reader.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return self.output()


@dataclass
class Session:
    """A copy of the repository, node A from `make run` and node B from the README's line."""

    copy: Path
    tmp: Path
    ports: dict[str, int]
    env: dict[str, str]
    a: Daemon | None = None
    b: Daemon | None = None
    facts: dict[str, dict[str, str]] = field(default_factory=dict)

    def rewrite(self, command: str, **ports: int) -> str:
        """The README's command with this session's addresses (see the module docstring);
        `ports` overrides some (`{"8545": ...}`) for a node of its own."""
        ports = {**self.ports, **ports}
        if "a" in self.facts:
            command = command.replace("enode://…@127.0.0.1:30303", self.facts["a"]["enode"])
        command = command.replace("/tmp/hush-b", str(self.tmp / "hush-b"))
        command = command.replace("0.0.0.0", "127.0.0.1")
        return re.sub(
            r"(?<![\w.])(30303|30304|8545|8546|8555)(?!\w)",
            lambda port: str(ports[port.group(1)]),
            command,
        )

    def daemon(self, command: str) -> Daemon:
        return Daemon(self.rewrite(command), self.copy, self.env)


def _block(first: str) -> list[str]:
    """The README's shell block whose first command starts with `first`."""
    found = [block for block in shell_blocks() if block and block[0].startswith(first)]
    assert len(found) == 1, (first, shell_blocks())
    return found[0]


BLOCKS = {
    "quick start": "make run",
    "two nodes": "make run",
    "other commands": ". .venv/bin/activate",
    "metrics": "hush node --http 8545 --metrics",
    "public": "hush node --http 0.0.0.0",
    "simulation": ".venv/bin/hush sim run",
    "archive": "hush node --datadir /tmp/hush-archive",
}
"""Each README shell block (by its first command) and the test below that runs it."""


def test_every_shell_block_is_run_here() -> None:
    blocks = shell_blocks()
    assert len(blocks) == len(BLOCKS), blocks  # a new block needs its runner here
    for block in blocks:
        assert any(block[0].startswith(first) for first in BLOCKS.values()), block


_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "*.so", ".hypothesis"
)


def _copy_of_the_repository(target: Path) -> None:
    """What a fresh clone holds: the files git lists (tracked and new, as in the working tree),
    or without git everything but what builds make, committed in a new repository there."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:  # not a checkout (an unpacked archive): copy the tree
        shutil.copytree(ROOT, target, ignore=_NOT_SOURCE, dirs_exist_ok=True)
    for name in filter(None, listed.stdout.split(b"\0") if listed.returncode == 0 else []):
        source = ROOT / os.fsdecode(name)
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            (target / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / os.fsdecode(name))  # mtimes kept: make compares them
    git = ["git", "-c", "user.name=readme", "-c", "user.email=readme@localhost"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "fresh clone"]):
        subprocess.run([*git, *step], cwd=target, check=True, capture_output=True)


def _env(home: Path) -> dict[str, str]:
    path = os.pathsep.join(
        part for part in os.environ.get("PATH", "").split(os.pathsep) if ".venv" not in part
    )  # `hush` is on PATH only once the README's `. .venv/bin/activate` puts it there
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUSH_", "VIRTUAL_ENV"))}
    return {**env, "PATH": path, "HOME": str(home), "HUSH_PASSWORD": ROOM, "MAKEFLAGS": ""}


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    venv = ROOT / ".venv"
    if not (venv / ".installed").exists():
        pytest.skip("needs the .venv that `make` builds in this checkout")
    tmp = tmp_path_factory.mktemp("readme")
    copy = tmp / "hush"
    copy.mkdir()
    _copy_of_the_repository(copy)
    (copy / ".venv").symlink_to(venv)
    (tmp / "home").mkdir()
    ports = {name: free_port() for name in ("30303", "30304", "8545", "8546", "8555")}
    session = Session(copy, tmp, ports, _env(tmp / "home"))
    fresh = subprocess.run(
        ["make", "-q", ".venv/.installed"], cwd=copy, env=session.env, check=False
    )
    if fresh.returncode != 0:  # make would reinstall: not into this checkout's venv
        pytest.fail("the .venv is older than pyproject.toml/setup.py: run `make .venv/.installed`")
    session.env["HUSH_RPC"] = f"http://127.0.0.1:{ports['8545']}"
    try:
        yield session
    finally:
        for name, daemon in (("b", session.b), ("a", session.a)):
            if daemon is not None:
                out = daemon.stop()
                _no_traceback(daemon.command, out)  # Ctrl-C stops a node cleanly, and
                assert not Path(session.facts[name]["ipc"]).exists(), out  # it tidies up


def _no_traceback(what: str, output: str) -> None:
    assert "Traceback" not in output and "Error:" not in output.replace("hush: error:", ""), (
        f"{what}:\n{output}"
    )


def _node_a(session: Session) -> Daemon:
    """`make run`, as the README's first line says, its ports moved by the ARGS it documents."""
    if session.a is None:
        quick_start, two_nodes = (b for b in shell_blocks() if b[0] == "make run")
        assert quick_start == ["make run", "make test"] and two_nodes[0] == "make run"
        ports = session.ports
        args = f"--listen 127.0.0.1:{ports['30303']} --http 127.0.0.1:{ports['8545']} "
        args += f"--ws 127.0.0.1:{ports['8546']}"
        session.a = Daemon(f"make run ARGS='{args}'", session.copy, session.env)
        session.facts["a"] = session.a.facts("enode", "http", "ws", "ipc")
    return session.a


def _node_b(session: Session) -> Daemon:
    if session.b is None:
        _node_a(session)
        line = [b for b in shell_blocks() if b[0] == "make run"][1][1]
        assert line.startswith(".venv/bin/hush node ") and "--peer enode://…@" in line
        session.b = session.daemon(line)
        session.facts["b"] = session.b.facts("enode", "http", "ipc")
    return session.b


def test_make_run_starts_a_node_that_says_each_fact_once_and_stops_on_ctrl_c(
    session: Session,
) -> None:
    a = _node_a(session)
    facts = session.facts["a"]
    assert facts["ipc"] == str(session.tmp / "home" / ".hush" / "hush.ipc")
    assert facts["http"] == f"http://127.0.0.1:{session.ports['8545']}"
    assert facts["ws"] == f"ws://127.0.0.1:{session.ports['8546']}"
    for value in facts.values():
        assert value not in "".join(a.err)  # on stdout, not again in the log
    _no_traceback("make run", a.output())


def test_make_test_target_resolves(session: Session) -> None:
    """`make test` itself is what runs this suite (CI's `.ci/run` is `make test`); here the copy
    must resolve it without rebuilding anything (its full run: the fresh-clone test below)."""
    assert shell_blocks()[0] == ["make run", "make test"]
    plan = subprocess.run(
        ["make", "-n", "test"],
        cwd=session.copy,
        env=session.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert plan.returncode == 0, plan.stderr
    assert "pip install" not in plan.stdout and "pytest" in plan.stdout and "mypy" in plan.stdout


def _run(session: Session, command: str, prefix: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", prefix + command],
        cwd=session.copy,
        env=session.env,
        capture_output=True,
        text=True,
        timeout=SAFETY,
        check=False,
    )
    assert done.returncode == 0, (
        f"{command!r} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    )
    _no_traceback(command, done.stdout + done.stderr)
    return done


def _until_done(waiter: Daemon, feed: Callable[[], object]) -> None:
    """Run `feed` (a command that sends a message) until `waiter` has got one and exited."""
    for _ in range(30):  # bounded: each try is one real post
        feed()
        try:
            waiter.process.wait(0.5)
            return
        except subprocess.TimeoutExpired:
            continue
    raise AssertionError(f"{waiter.command} never got its message:\n{waiter.stop()}")


def test_the_other_commands_run_as_written(session: Session) -> None:
    _node_b(session)
    commands = _block(BLOCKS["other commands"])
    keyid = ""
    prefix = ""
    ran: list[str] = []
    lines = iter(commands)
    for line in lines:
        command = session.rewrite(line.replace("ENODE", session.facts["b"]["enode"]))
        command = command.replace("KEYID", keyid)
        if line.startswith(SETUP):
            prefix += command + " && "
            ran.append(line)
            continue
        if line.startswith(WAITERS):
            feeder = next(lines)
            waiter = Daemon(prefix + command, session.copy, session.env)
            _until_done(waiter, functools.partial(_run, session, session.rewrite(feeder), prefix))
            out = waiter.stop()
            assert waiter.process.returncode == 0, f"{line}:\n{out}"
            _no_traceback(line, out)
            ran += [line, feeder]
            continue
        done = _run(session, command, prefix)
        if line == "hush keys create":
            keyid = done.stdout.split()[0]
        ran.append(line)
    assert ran == commands
    assert keyid and (session.copy / "my.key").read_text().strip().startswith("0x")
    saved = [p for p in session.copy.iterdir() if re.fullmatch(r"(0x)?[0-9a-f]{64}.*", p.name)]
    readme = (session.copy / "README.md").read_bytes()
    assert any(p.read_bytes() == readme for p in saved), saved  # receive saved send-file's file


def test_the_public_node_line_starts_and_stops(session: Session) -> None:
    [line] = _block(BLOCKS["public"])
    env = {**session.env, "HOME": str(session.tmp / "public-home")}  # its own ~/.hush
    port = free_port()
    moved = session.rewrite(line, **{"8545": port})
    node = Daemon(f"{session.copy / '.venv/bin'}/{moved} --listen 127.0.0.1:0", session.copy, env)
    facts = node.facts("enode", "http", "ipc")
    assert facts["http"] == f"http://127.0.0.1:{port}"
    out = node.stop()
    assert node.process.returncode == 0, out
    _no_traceback(line, out)


def _in_a_terminal(command: str, cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], list[bytes]]:  # fmt: skip
    """`command` with a pseudo-terminal for its output (a live view draws only on one), in its
    own process group; what it draws is collected by a thread."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"},
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    drawn: list[bytes] = []

    def read() -> None:
        with contextlib.suppress(OSError):  # EIO once the command has exited
            while chunk := os.read(controller, 65536):
                drawn.append(chunk)
        os.close(controller)

    threading.Thread(target=read, daemon=True).start()
    return process, drawn


def test_the_metrics_node_and_hush_top(session: Session) -> None:
    node_line, top_line = _block(BLOCKS["metrics"])
    assert top_line == "hush top"
    env = {**session.env, "HOME": str(session.tmp / "metrics-home")}  # its own ~/.hush
    ports = {"8545": free_port(), "9090": free_port()}
    moved = re.sub(r"(?<![\w.])9090(?!\w)", str(ports["9090"]), session.rewrite(node_line, **ports))
    node = Daemon(f"{session.copy / '.venv/bin'}/{moved} --listen 127.0.0.1:0", session.copy, env)
    try:
        facts = node.facts("enode", "http", "metrics")
        with urllib.request.urlopen(facts["metrics"], timeout=SAFETY) as response:
            assert b"hush_" in response.read()
        env["HUSH_RPC"] = facts["http"]  # `hush top`'s default address (:8545) is this node
        top, drawn = _in_a_terminal(f".venv/bin/{top_line}", session.copy, env)
        try:
            deadline = time.monotonic() + SAFETY
            while b"enode://" not in b"".join(drawn):  # its first frame
                assert top.poll() is None, b"".join(drawn)
                assert time.monotonic() < deadline, b"".join(drawn)
                time.sleep(0.05)
            os.killpg(top.pid, signal.SIGINT)  # Ctrl-C quits
            assert top.wait(SAFETY) in (0, 130), b"".join(drawn)
        finally:
            if top.poll() is None:
                os.killpg(top.pid, signal.SIGKILL)
                top.wait(10)
        _no_traceback(top_line, b"".join(drawn).decode(errors="replace"))
    finally:
        out = node.stop()
    assert node.process.returncode == 0, out
    _no_traceback(node_line, out)


def test_the_simulation_runs_as_written(session: Session) -> None:
    (line,) = _block(BLOCKS["simulation"])
    done = _run(session, line, "")
    _no_traceback(line, done.stdout + done.stderr)
    assert "ok   geth duplicate factor" in done.stdout, done.stdout
    assert (session.copy / "sim-results" / "quick" / "latency_cdf.png").exists()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_two_local_nodes_chatting(session: Session, tmp_path: Path) -> None:
    from test_chat_terminal import Terminal

    _node_b(session)
    [_, _, chat_a, chat_b] = [b for b in shell_blocks() if b[0] == "make run"][1]
    terminals = []
    try:
        for index, line in enumerate((chat_a, chat_b)):
            where = tmp_path / f"t{index}"
            where.mkdir()
            rpc = session.env["HUSH_RPC"]  # chat A's default address is node A
            command = f"cd {session.copy} && HUSH_RPC={rpc} HOME={session.tmp / 'home'} "
            command += f"exec {session.rewrite(line)}"
            terminal = Terminal(where, ["sh", "-c", command])
            terminals.append(terminal)
            terminal.wait_text("password")  # no HUSH_PASSWORD here: a terminal asks
            terminal.type(ROOM)
            terminal.keys("Enter")
            terminal.wait_prompt()
        first, second = terminals
        first.type("hi from node A")
        first.keys("Enter")
        second.wait_text(": hi from node A")  # through A, to B, into B's chat
        for terminal in terminals:
            terminal.keys("C-d")
            assert terminal.exit_status() == 0
        for terminal in terminals:
            _no_traceback("hush chat", "\n".join(terminal.screen()))
    finally:
        for terminal in terminals:
            terminal.close()


@pytest.mark.skipif(
    os.environ.get("HUSH_FRESH_CLONE") != "1",
    reason="minutes: set HUSH_FRESH_CLONE=1 to run the first `make run` and `make test`",
)
def test_make_targets_on_a_fresh_clone(tmp_path: Path) -> None:
    """The README's two commands on a copy with nothing built: `make run` creates the venv,
    builds the C extension and starts a node; `make test` then passes there."""
    copy = tmp_path / "hush"
    copy.mkdir()
    _copy_of_the_repository(copy)
    env = {k: v for k, v in _env(tmp_path / "home").items() if not k.startswith("HUSH_")}
    (tmp_path / "home").mkdir()
    args = "--listen 127.0.0.1:0 --http 127.0.0.1:0 --ws 127.0.0.1:0"
    node = Daemon(f"make run ARGS='{args}'", copy, env)
    deadline = time.monotonic() + 600
    while "ipc" not in dict(line.partition(": ")[::2] for line in list(node.out)):
        assert node.process.poll() is None, node.output()
        assert time.monotonic() < deadline, node.output()
        time.sleep(0.5)
    _no_traceback("make run", node.stop())
    done = subprocess.run(
        ["make", "test"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]


def test_the_archive_block_serves_catches_up_and_syncs(session: Session) -> None:
    """Two archive servers as the README starts them, history through node A (`HUSH_RPC`),
    shhext_requestMessages, then the second syncs from the first once trusted by it."""
    _node_a(session)
    lines = _block(BLOCKS["archive"])
    ports = {name: free_port() for name in ("30305", "30306", "8556", "8557")}
    facts: dict[str, str] = {}
    daemons: list[Daemon] = []

    def moved(line: str) -> str:
        line = line.replace("/tmp/hush-archive", str(session.tmp / "hush-archive"))
        line = line.replace("/tmp/hush-mirror", str(session.tmp / "hush-mirror"))
        line = re.sub(r"(?<![\w.])(30305|30306|8556|8557)(?!\w)", lambda m: str(ports[m[1]]), line)
        for name, value in facts.items():
            line = line.replace(name, value)
        line = session.rewrite(line)
        return f"{session.copy / '.venv/bin'}/{line}" if line.startswith("hush ") else line

    try:
        ran = []
        for line in lines:
            command = moved(line)
            if line.startswith("hush node"):
                daemon = Daemon(command, session.copy, session.env)
                daemons.append(daemon)
                name = "ENODE" if "ENODE" not in facts else "MIRROR"
                facts[name] = daemon.facts("enode", "http")["enode"]
            else:
                done = _run(session, command, "")
                if line.startswith("curl"):
                    reply = json.loads(done.stdout)
                    assert "error" not in reply, (line, reply)
                    if "shhext_syncMessages" in line:
                        assert reply["result"]["error"] == "" and reply["result"]["pages"] >= 1
            ran.append(line)
        assert ran == lines
    finally:
        for daemon in reversed(daemons):
            out = daemon.stop()
            assert daemon.process.returncode == 0, out
            _no_traceback(daemon.command, out)
