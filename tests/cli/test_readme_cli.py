"""The README's `hush node` material runs as written: its TOML sample starts a node (only the
ports and data directory overridden, so tests don't collide), and `hush node` says each startup
fact once (issue 14, defect 11).
"""

from __future__ import annotations

import itertools
import re
import signal
import subprocess
import sys
from pathlib import Path

from readme_blocks import shell_commands

ROOT = Path(__file__).parent.parent.parent
HUSH = [sys.executable, "-c", "from hush.cli.main import main; main()"]


def _toml_sample() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```toml\n(.*?)```", readme, re.S)
    return block


def test_readme_toml_sample_starts_a_node_and_facts_are_said_once(tmp_path: Path) -> None:
    config = tmp_path / "hush.toml"
    config.write_text(_toml_sample())
    process = subprocess.Popen(
        [
            *HUSH,
            "node",
            "--config",
            str(config),
            "--datadir",
            str(tmp_path / "data"),
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--ws",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    facts = {}
    while len(facts) < 3:
        line = process.stdout.readline()
        assert line, f"node exited: {process.communicate(timeout=10)[1]}"
        kind, _, value = line.strip().partition(": ")
        facts[kind] = value
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert facts["ws"].startswith("ws://") and facts["http"].startswith("http://")
    for value in facts.values():
        assert value not in err, err  # on stdout, not again in the log


def _enode_of(*flags: str, tmp_path: Path) -> tuple[str, str]:
    process = subprocess.Popen(
        [*HUSH, "node", "--datadir", str(tmp_path / "data"), "--verbosity", "2", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=15)
    return line.strip(), err


def test_nat_extip_is_advertised_and_other_forms_refused(tmp_path: Path) -> None:
    line, err = _enode_of("--listen", "127.0.0.1:0", "--nat", "extip:192.0.2.7", tmp_path=tmp_path)
    assert line.startswith("enode: enode://") and "@192.0.2.7:" in line, (line, err)
    line, _ = _enode_of("--listen", "127.0.0.2:0", "--nat", "none", tmp_path=tmp_path)
    assert "@127.0.0.2:" in line  # a specific listen address is what peers dial
    for bad, says in (("upnp", "supports 'none' and 'extip:IP'"), ("extip:host", "not an IP")):
        result = subprocess.run(
            [*HUSH, "node", "--datadir", str(tmp_path / "d"), "--nat", bad],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 1 and says in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1


CLIENT_COMMANDS = [
    ["node"],
    ["post"], ["watch"], ["chat"], ["info"], ["keys", "create"], ["keys", "import"],
    ["keys", "list"], ["keys", "export"], ["keys", "delete"], ["keys", "generate"],
    ["peers", "list"], ["peers", "add"], ["peers", "remove"], ["envelope", "decode"],
]  # fmt: skip


def test_every_client_command_has_help_with_examples() -> None:
    from click.testing import CliRunner

    from hush.cli.main import main

    for argv in CLIENT_COMMANDS:
        result = CliRunner().invoke(main, [*argv, "--help"])
        assert result.exit_code == 0, (argv, result.output)
        assert "Example" in result.output, argv
        lines = [*result.output.splitlines(), ""]
        for line, after in itertools.pairwise(lines):  # every option says what it does
            parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            wrapped = len(parts) == 1 and after.startswith(" " * 10) and after.strip()[:1] != "["
            if (
                line.startswith("  --")
                and not wrapped
                and (len(parts) == 1 or parts[1].startswith("[default"))
            ):
                raise AssertionError(f"{argv}: option without help: {line}")


def _readme_command_lines() -> list[str]:
    """The `hush` commands of the README's shell blocks (test_readme_commands runs them all)."""
    commands = (command.removeprefix(".venv/bin/") for command in shell_commands())
    return [command for command in commands if command.startswith("hush ")]


def _commands_in(line: str) -> list[tuple[list[str], list[str]]]:
    """(subcommand path, options used) for each alternative of a README line (`a | b ARG`)."""
    first, *alternatives = line.split(" | ")
    words = first.split()[1:]
    path = list(itertools.takewhile(lambda w: re.fullmatch(r"[a-z][a-z-]*", w), words))
    found = [(path, [w.split("=")[0] for w in words if w.startswith("--")])]
    for alternative in alternatives:
        if alternative.startswith("hush "):  # a pipe into another command
            found.extend(_commands_in(alternative))
            continue
        words = alternative.split()
        found.append(([*path[:-1], words[0]], [w for w in words if w.startswith("--")]))
    return found


def test_readme_commands_and_their_options_exist() -> None:
    from click.testing import CliRunner

    from hush.cli.main import main

    lines = _readme_command_lines()
    assert len(lines) >= 10, lines
    for line in lines:
        for path, options in _commands_in(line):
            result = CliRunner().invoke(main, [*path, "--help"])
            assert result.exit_code == 0, (line, path, result.output)
            for option in options:
                assert f"{option} " in result.output or f"{option}," in result.output, (
                    line,
                    option,
                )
