"""The `hush` console entry point: one click group; command groups come from submodules.

Adding a group (`hush node`, `hush post`, …): write `hush/cli/<name>.py` exposing a click group
named `group`, and add it to `_GROUPS` below. Every command may raise `HushError` or a click
exception for bad input; `main` turns both into one line on stderr and a non-zero exit status,
never a traceback. Tests call `main(argv)` (or click's CliRunner) directly.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from hush import __version__
from hush.cli import (
    bench,
    bench_archive,
    bench_rpc,
    chat,
    client,
    envelope,
    files,
    history,
    keys,
    node,
    peers,
    sim,
    top,
)
from hush.errors import HushError

__all__ = ["EXIT_HUSH_ERROR", "EXIT_USAGE", "main"]

EXIT_HUSH_ERROR = 1
"""Input that hush could not process (malformed envelope, invalid key, …)."""
EXIT_USAGE = 2
"""A command line click could not parse (unknown option, missing argument, …)."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _HushGroup(click.Group):
    """A click group whose errors are one line on stderr, in and out of standalone mode."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args, prog_name or "hush", complete_var, standalone_mode=False, **extra
            )
            code = result if isinstance(result, int) else 0
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.ClickException as exc:
            click.echo(f"hush: error: {_one_line(exc.format_message())}", err=True)
            code = exc.exit_code
        except HushError as exc:
            click.echo(f"hush: error: {_one_line(str(exc))}", err=True)
            code = EXIT_HUSH_ERROR
        except click.Abort:
            click.echo("hush: aborted", err=True)
            code = EXIT_HUSH_ERROR
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(cls=_HushGroup)
@click.version_option(__version__, prog_name="hush")
def main() -> None:
    """hush: a Whisper v6 (shh/6) node and tools, wire-compatible with geth 1.9."""


_GROUPS: tuple[click.Group, ...] = (
    envelope.group,
    keys.group,
    peers.group,
    bench.group,
    sim.group,
)
"""Every command group, in `hush --help` order; add new ones here."""

for _group in _GROUPS:
    main.add_command(_group)
for _command in (
    node.command,
    client.post,
    client.watch,
    chat.command,
    files.send_file,
    files.receive,
    client.info,
    top.command,
    history.command,
):
    main.add_command(_command)
bench.group.add_command(bench_rpc.command)
bench.group.add_command(bench_archive.command)


if __name__ == "__main__":
    main()
