"""`hush history`: catch up on missed messages from an archive server, page by page.

Each page is one `shhext_requestMessagesSync` call on the local node (which fetches from the
archive server and delivers to its filters), so the progress bar moves per page: pages,
envelopes and the rate. Times are unix seconds, `now`, an age (`24h`, `7d`, `90m`, `30s`) or an
ISO 8601 date. Without `--password` the request is encrypted to the server's node key.
"""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from hush.cli.common import rpc_option, run
from hush.cli.rpcclient import RpcClient
from hush.errors import UsageError
from hush.shh.topic import topic_from_hex

__all__ = ["command", "parse_time"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_PAGES = 100_000


def parse_time(text: str, now: int) -> int:
    """Unix seconds, `now`, an age like `24h`, or an ISO 8601 date (UTC unless it says)."""
    text = text.strip()
    if text == "now":
        return now
    if text.isdigit():
        return int(text)
    if len(text) > 1 and text[-1] in _UNITS and text[:-1].replace(".", "", 1).isdigit():
        return max(0, now - int(float(text[:-1]) * _UNITS[text[-1]]))
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"invalid time {text!r}: give unix seconds, now, an age (24h, 7d) or an ISO date"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp())


@click.command(
    name="history",
    epilog="\b\nExamples:\n  hush history --server ENODE --from 24h --topic 0xdeadbeef\n"
    "  hush history --server ENODE --from 2026-11-30 --to now --password status-offline-inbox\n",
)
@rpc_option
@click.option("--server", required=True, metavar="ENODE", help="The archive server.")
@click.option("--from", "from_", default="24h", show_default=True, help="Start of the window.")
@click.option("--to", default="now", show_default=True, help="End of the window.")
@click.option("--topic", "topics", multiple=True, help="Topic (repeatable); none: every topic.")
@click.option("--password", help="The server's password (else: its node key).")
@click.option("--limit", type=click.IntRange(1, 1000), default=1000, show_default=True)
@click.option(
    "--mode",
    type=click.Choice(["v2", "v1", "direct", "raw"]),
    default="v2",
    show_default=True,
    help="v2/v1/direct: hush and Status servers (paged); raw: geth wnode servers.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the totals as JSON.")
def command(
    rpc_url: str,
    server: str,
    from_: str,
    to: str,
    topics: tuple[str, ...],
    password: str | None,
    limit: int,
    mode: str,
    as_json: bool,
) -> None:
    """Fetch missed messages from an archive server into the node's filters."""
    now = int(time.time())
    lower, upper = parse_time(from_, now), parse_time(to, now)
    if lower > upper:
        raise UsageError("--from must not be after --to")
    topic_hex = ["0x" + topic_from_hex(t).hex() for t in topics]
    totals = run(_fetch(rpc_url, server, lower, upper, topic_hex, password, limit, mode, as_json))
    if as_json:
        click.echo(json.dumps(totals))
    elif totals["error"]:
        raise UsageError(f"history: {totals['error']}")


async def _fetch(
    rpc_url: str,
    server: str,
    lower: int,
    upper: int,
    topics: list[str],
    password: str | None,
    limit: int,
    mode: str,
    quiet: bool,
) -> dict[str, Any]:
    totals: dict[str, Any] = {"pages": 0, "envelopes": 0, "seconds": 0.0, "error": None}
    console = Console(stderr=True, quiet=quiet)
    async with RpcClient(rpc_url) as rpc:
        request: dict[str, Any] = {
            "mailServerPeer": server,
            "from": lower,
            "to": upper,
            "topics": topics,
            "limit": limit,
            "mode": mode,
        }
        if password is not None:
            request["symKeyID"] = await rpc.call(
                "shh_generateSymKeyFromPassword", password, expect=str
            )
        started = time.monotonic()
        columns = (
            SpinnerColumn(),
            TextColumn("[bold]history[/bold]"),
            BarColumn(bar_width=None),
            TextColumn("{task.fields[pages]} pages, {task.fields[envelopes]} envelopes"),
            TextColumn("{task.fields[rate]}/s"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("history", total=None, pages=0, envelopes=0, rate="0")
            for _ in range(_MAX_PAGES):
                result = await rpc.call("shhext_requestMessagesSync", request, expect=dict)
                totals["pages"] += int(result.get("pages") or 0)
                totals["envelopes"] += int(result.get("envelopes") or 0)
                elapsed = max(time.monotonic() - started, 1e-6)
                progress.update(
                    task,
                    pages=totals["pages"],
                    envelopes=totals["envelopes"],
                    rate=f"{totals['envelopes'] / elapsed:,.0f}",
                )
                cursor = result.get("cursor")
                if result.get("error"):
                    totals["error"] = str(result["error"])
                    break
                if not cursor or mode == "raw":
                    break
                request["cursor"] = cursor
            progress.update(task, total=1, completed=1)
        totals["seconds"] = round(time.monotonic() - started, 3)
    return totals
