"""`hush top`: a live terminal view of a node, redrawn in place, read over JSON-RPC (`hush_stats`).

Rules:
- Everything comes from `hush_stats` (hush.rpc.stats), so it works against a remote node as
  well as a local one (beyond loopback the node must serve the `hush` namespace:
  `--http-api shh,net,web3,hush`). Rates are differences of two answers over their times.
- `render(snapshot, previous)` is pure: one frame as a rich renderable; `--once` prints one
  frame (with rates over `--interval`) and exits, for scripts and screenshots.
- A node that stops answering is shown in the frame and retried; Ctrl-C quits quietly. With
  `--once`, an unreachable node is one line and exit status 1, as for every client command.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from hush.cli.common import rpc_option, run
from hush.cli.rpcclient import RpcClient
from hush.errors import HushError

__all__ = ["command", "fetch", "live_view", "render"]

_MAX_FAILING_SHOWN = 10
_MAX_PEERS_SHOWN = 50


async def fetch(rpc: RpcClient) -> dict[str, Any]:
    """One hush_stats answer."""
    return await rpc.call("hush_stats", expect=dict)


def _size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover (the loop returns)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _get(data: Any, *path: str, default: float = 0) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data if data is not None else default


class _Rates:
    """Per-second differences between two snapshots (0 without a previous one)."""

    def __init__(self, now: dict[str, Any], before: dict[str, Any] | None):
        self.now = now
        self.before = before
        elapsed = _get(now, "time") - _get(before, "time") if before else 0
        self.elapsed = elapsed if elapsed > 0 else 0.0

    def of(self, *path: str) -> float:
        if not self.before or not self.elapsed:
            return 0.0
        delta = float(_get(self.now, *path)) - float(_get(self.before, *path))
        return max(0.0, delta / self.elapsed)


def _peer_rates(
    now: dict[str, Any], before: dict[str, Any] | None
) -> dict[str, tuple[float, float]]:
    rates: dict[str, tuple[float, float]] = {}
    if not before:
        return rates
    elapsed = _get(now, "time") - _get(before, "time")
    if elapsed <= 0:
        return rates
    earlier = {p.get("id"): p for p in before.get("peers") or [] if isinstance(p, dict)}
    for peer in now.get("peers") or []:
        old = earlier.get(peer.get("id"))
        if old is None:
            continue
        rates[peer["id"]] = (
            max(0.0, ((peer.get("bytesIn") or 0) - (old.get("bytesIn") or 0)) / elapsed),
            max(0.0, ((peer.get("bytesOut") or 0) - (old.get("bytesOut") or 0)) / elapsed),
        )
    return rates


def _header(snapshot: dict[str, Any]) -> Text:
    node = snapshot.get("node") or {}
    pool = snapshot.get("pool") or {}
    enode = str(node.get("enode", ""))
    short = enode[:24] + "…" + enode[enode.find("@") :] if "@" in enode else enode
    text = Text()
    text.append("hush top  ", style="bold")
    text.append(f"{short}  {node.get('name', '')}\n")
    text.append(
        f"up {_duration(snapshot.get('uptime'))}  peers {len(snapshot.get('peers') or [])}  "
        f"pool {pool.get('envelopes', 0)} envelopes, {_size(pool.get('bytes'))} of "
        f"{_size(pool.get('maxBytes'))}\nmin PoW {node.get('minPow', 0):g}  "
        f"filters {_get(snapshot, 'filters', 'sym')} sym / {_get(snapshot, 'filters', 'asym')} "
        f"asym  queued {snapshot.get('queuedMessages', 0)}"
        + ("  light" if node.get("light") else "")
    )
    return text


def _peers_table(snapshot: dict[str, Any], before: dict[str, Any] | None) -> Table:
    table = Table(title="peers", title_justify="left", expand=False, box=None, padding=(0, 1))
    for name, justify in (
        ("id", "left"),
        ("dir", "left"),
        ("kind", "left"),
        ("client", "left"),
        ("in/s", "right"),
        ("out/s", "right"),
        ("in", "right"),
        ("out", "right"),
        ("PoW", "right"),
        ("bloom", "right"),
        ("up", "right"),
    ):
        wide = name in ("id", "client")
        table.add_column(
            name,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=True,
            overflow="ellipsis" if name == "client" else "fold",
            min_width=16 if name == "id" else None,
            ratio=1 if wide else None,
        )
    rates = _peer_rates(snapshot, before)
    peers = snapshot.get("peers") or []
    for peer in peers[:_MAX_PEERS_SHOWN]:
        rate_in, rate_out = rates.get(peer.get("id"), (0.0, 0.0))
        table.add_row(
            str(peer.get("id", "")),
            "in" if peer.get("inbound") else "out",
            str(peer.get("kind", "")),
            str(peer.get("name", ""))[:32],
            _size(rate_in),
            _size(rate_out),
            _size(peer.get("bytesIn")),
            _size(peer.get("bytesOut")),
            f"{peer.get('powRequirement', 0):g}",
            f"{100 * float(peer.get('bloomFill', 1)):.0f}%",
            _duration(peer.get("connectedFor")),
        )
    if len(peers) > _MAX_PEERS_SHOWN:
        table.caption = f"… and {len(peers) - _MAX_PEERS_SHOWN} more"
    if not peers:
        table.caption = "no peers"
    return table


def _traffic(snapshot: dict[str, Any], rates: _Rates) -> Text:
    text = Text()
    if not snapshot.get("counters"):
        text.append("counters: this node keeps none (started without NodeStats)\n", style="dim")
        return text
    envelopes = snapshot.get("envelopes") or {}
    received = envelopes.get("received") or {}
    text.append("envelopes  ", style="bold")
    text.append(
        f"in {sum(rates.of('envelopes', 'received', k) for k in received):.1f}/s "
        f"(accepted {rates.of('envelopes', 'accepted'):.1f}/s, duplicate "
        f"{rates.of('envelopes', 'duplicate'):.1f}/s)  "
        f"totals: received {sum(received.values())}, accepted {envelopes.get('accepted', 0)}, "
        f"duplicate {envelopes.get('duplicate', 0)}, expired {envelopes.get('expired', 0)}, "
        f"delivered {_get(envelopes, 'delivered', 'pool')} + "
        f"{_get(envelopes, 'delivered', 'p2p')} p2p\n"
    )
    rejected = envelopes.get("rejected") or {}
    text.append("dropped    ", style="bold")
    if rejected:
        text.append(
            "  ".join(
                f"{reason} {count} ({rates.of('envelopes', 'rejected', reason):.1f}/s)"
                for reason, count in sorted(rejected.items())
            )
            + "\n"
        )
    else:
        text.append("none\n")
    text.append("packets    ", style="bold")
    text.append(
        f"in {rates.of('packets', 'in', 'count'):.1f}/s {_size(rates.of('packets', 'in', 'bytes'))}/s"
        f"  out {rates.of('packets', 'out', 'count'):.1f}/s "
        f"{_size(rates.of('packets', 'out', 'bytes'))}/s  "
        f"envelopes out {rates.of('bundles', 'sum'):.1f}/s\n"
    )
    sealing = snapshot.get("sealing") or {}
    decrypt = snapshot.get("decryptAttempts") or {}
    text.append("work       ", style="bold")
    text.append(
        f"sealed {sealing.get('count', 0)} in {float(sealing.get('sum', 0)):.1f}s  "
        f"decryptions sym {_get(decrypt, 'sym', 'ok')} ok / {_get(decrypt, 'sym', 'fail')} "
        f"fail, asym {_get(decrypt, 'asym', 'ok')} ok / {_get(decrypt, 'asym', 'fail')} fail\n"
    )
    return text


def _limits(snapshot: dict[str, Any]) -> Text:
    limits = snapshot.get("rateLimit") or {}
    text = Text()
    text.append("rate limit ", style="bold")
    checked = limits.get("checked") or {}
    text.append(
        f"{limits.get('mode', '?')}: checked {checked.get('packets', 0)} packets "
        f"{_size(checked.get('bytes', 0))}, exempt {limits.get('exempt', 0)}"
    )
    exceeded = limits.get("exceeded") or []
    if exceeded:
        text.append("; over: ")
        text.append(
            ", ".join(
                f"{e.get('scope')} {e.get('unit')} {e.get('action')} {e.get('count')}"
                for e in exceeded
            ),
            style="yellow",
        )
    text.append("\n")
    archive = snapshot.get("archive")
    if isinstance(archive, dict):
        text.append("archive    ", style="bold")
        requests = archive.get("requests") or {}
        text.append(
            f"requests {sum(requests.values())} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(requests.items()))})  "
            f"sent {archive.get('envelopesSent', 0)} envelopes "
            f"{_size(archive.get('bytesSent', 0))}  archived "
            f"{sum((archive.get('archived') or {}).values())}  errors "
            f"{sum((archive.get('errors') or {}).values())}  history requests "
            f"{sum((archive.get('history') or {}).values())}  pruned "
            f"{sum((archive.get('pruned') or {}).values())}\n"
        )
    return text


def _network(snapshot: dict[str, Any], rates: _Rates) -> Text:
    """Sockets and inbound connections, discovery, peer churn, delivery overflow, the relay's
    turns."""
    text = Text()
    text.append("network    ", style="bold")
    parts: list[str] = []
    inbound = snapshot.get("inbound")
    if isinstance(inbound, dict):
        refused = inbound.get("refused") or {}
        failed = inbound.get("handshakeFailures") or {}
        parts.append(
            f"sockets {inbound.get('connections', 0)} open, {inbound.get('pending', 0)} inbound "
            f"in handshake, refused {sum(refused.values())}, inbound handshakes failed "
            f"{sum(failed.values())}"
        )
    else:
        parts.append("not listening")
    discovery = snapshot.get("discovery")
    if isinstance(discovery, dict):
        parts.append(
            f"discovery udp {discovery.get('udpPort')} table {discovery.get('tableSize', 0)}"
        )
    events: dict[str, int] = {}
    for event in snapshot.get("peerEvents") or []:
        name = str(event.get("event", "?"))
        events[name] = events.get(name, 0) + int(event.get("count", 0))
    if events:
        parts.append("peers " + ", ".join(f"{k} {v}" for k, v in sorted(events.items())))
    text.append("  ".join(parts) + "\n")
    overflow = snapshot.get("deliveryOverflow") or {}
    turns = snapshot.get("broadcastTurns")
    work = [f"delivery overflow {overflow.get('normal', 0)} / {overflow.get('filter', 0)} filter"]
    if isinstance(turns, dict) and turns.get("count"):
        mean_ms = 1000 * float(turns.get("sum", 0)) / float(turns["count"])
        work.append(
            f"relay turns {rates.of('broadcastTurns', 'count'):.1f}/s, {mean_ms:.2f} ms mean"
        )
    text.append("           " + "  ".join(work) + "\n")
    return text


def _failing(snapshot: dict[str, Any]) -> Table | None:
    failing = snapshot.get("failingPeers") or []
    if not failing:
        return None
    table = Table(title="failing static peers", title_justify="left", box=None, padding=(0, 1))
    for name in ("id", "failures", "ago", "last error"):
        table.add_column(name)
    now = float(snapshot.get("time", time.time()))
    for peer in failing[:_MAX_FAILING_SHOWN]:
        table.add_row(
            str(peer.get("id", "")),
            str(peer.get("failures", 0)),
            _duration(now - float(peer.get("at", now))),
            Text(str(peer.get("lastError", ""))[:100], style="red"),
        )
    return table


def render(
    snapshot: dict[str, Any], previous: dict[str, Any] | None = None, error: str = ""
) -> RenderableType:
    """One frame: header, peers, envelope and packet rates, drops, the network (inbound,
    discovery, peer churn, overflow, relay turns), limits, failing peers."""
    rates = _Rates(snapshot, previous)
    parts: list[RenderableType] = [_header(snapshot), Text()]
    parts.append(_peers_table(snapshot, previous))
    parts.append(Text())
    parts.append(_traffic(snapshot, rates))
    parts.append(_network(snapshot, rates))
    parts.append(_limits(snapshot))
    failing = _failing(snapshot)
    if failing is not None:
        parts.append(failing)
    if error:
        parts.append(Text(error, style="bold red"))
    return Group(*parts)


async def _once(rpc_url: str, interval: float, console: Console) -> None:
    async with RpcClient(rpc_url, timeout=30) as rpc:
        first = await fetch(rpc)
        await asyncio.sleep(interval)
        console.print(render(await fetch(rpc), first))


async def live_view(rpc_url: str, interval: float, console: Console) -> None:
    """Redraw a frame every `interval` seconds until cancelled (or Ctrl-C)."""
    previous: dict[str, Any] | None = None
    async with RpcClient(rpc_url, timeout=max(5.0, 3 * interval)) as rpc:
        with Live(console=console, auto_refresh=False, screen=False) as live:
            while True:
                try:
                    snapshot = await fetch(rpc)
                except HushError as exc:
                    frame = render(previous or {}, None, f"{rpc_url}: {exc}; retrying")
                else:
                    frame, previous = render(snapshot, previous), snapshot
                live.update(frame, refresh=True)
                await asyncio.sleep(interval)


@click.command(
    name="top",
    epilog="""\b
Examples:
  hush top                       # the node at http://127.0.0.1:8545
  hush top --rpc 10.0.0.5:8545   # a remote node serving the hush namespace
  hush top --once                # one frame, then exit
""",
)
@rpc_option
@click.option(
    "--interval",
    type=click.FloatRange(0.2, 3600),
    default=1.0,
    show_default=True,
    help="Seconds between two reads of hush_stats.",
)
@click.option("--once", is_flag=True, help="Print one frame (rates over one interval) and exit.")
def command(rpc_url: str, interval: float, once: bool) -> None:
    """Watch a running node: peers, traffic, envelopes and drops, live."""
    console = Console()
    if once:
        run(_once(rpc_url, interval, console))
        return
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how one leaves top
        asyncio.run(live_view(rpc_url, interval, console))
