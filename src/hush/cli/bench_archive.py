"""`hush bench archive`: the archive's targets (issue 11), each against a baseline in the same run.

- catch-up (H1): a store holding one day of 50,000 envelopes of 1 KiB over 5,000 topics; a client
  node wants 100 of the topics, which carry `--want-share` of the traffic (0.2: ≈ 10,000
  envelopes, the issue's figure; an even spread would give 1,000) and calls `shhext_requestMessagesSync` over HTTP with `followCursor`; timed from the call to its
  return, when every envelope is in the client's filter; `cpu_seconds` is the process's CPU time
  over the same span (server, client and both databases' threads all run in it). Baseline: the same request in geth
  wnode's raw form (bloom, one envelope per 127).
- page (H3): p50/p99 of 1,000-row pages for 100 random topics, from a store of `--rows`
  envelopes (50,000 a day over 5,000 topics), built in bulk and kept in `--data-dir` (SQLite) or
  the `--postgres` database for the next run; the merged plan against the single-scan plan
  (`hush.cli.bench_pages`).
- ingest (H4): `Node.inject` of pre-sealed envelopes with the archive observer, until the store
  has acknowledged them all; baseline: the same injections into a node without an archive.

Loopback only, bounded in count; sizes are flags so a run stays short on a shared machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import click

from hush.archive.admission import AdmissionConfig
from hush.archive.server import ArchiveConfig, ArchiveServer
from hush.archive.store import ArchivedEnvelope, open_store
from hush.cli.bench_pages import bench_pages, explain
from hush.crypto.symmetric import SymmetricKey
from hush.enode import Enode
from hush.node import Node, NodeConfig
from hush.node.ratelimit_config import Rate
from hush.rpc import RpcConfig, RpcServer, ShhApi
from hush.shh.filters import Filter
from hush.shh.message import wrap
from hush.types import Topic

__all__ = ["command"]

_DAY = 86400
_PASSWORD = "bench-archive"  # noqa: S105 - a throwaway benchmark key


def _topics(count: int) -> list[Topic]:
    return [Topic((0x10000000 + i * 7919).to_bytes(4, "big")) for i in range(count)]


def _node_config(**overrides: Any) -> NodeConfig:
    settings: dict[str, Any] = {
        "datadir": None,
        "listen_host": "127.0.0.1",
        "listen_port": 0,
        "min_pow": 0.0,
        "pow_processes": 1,
    }
    settings.update(overrides)
    return NodeConfig(**settings)


def _day(
    now: int,
    per_day: int,
    topics: list[Topic],
    wanted: int,
    share: float,
    key: SymmetricKey,
    size: int,
) -> list[ArchivedEnvelope]:
    """A day of envelopes; `share` of them on the first `wanted` topics (the busy chats)."""
    rng = random.Random(1)
    payload = bytes(size - 100)
    rows = []
    for i in range(per_day):
        sent = now - _DAY + i * _DAY // per_day
        pool = topics[:wanted] if rng.random() < share else topics[wanted:]
        envelope = wrap(payload, rng.choice(pool), sent, os.urandom, sym_key=key, ttl=60)
        rows.append(ArchivedEnvelope.of(envelope))
    return rows


async def _rpc(session: aiohttp.ClientSession, url: str, method: str, *params: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    async with session.post(url, json=body) as response:
        reply = await response.json()
    if "error" in reply:
        raise click.ClickException(reply["error"]["message"])
    return reply["result"]


async def _catch_up_once(
    session: aiohttp.ClientSession,
    url: str,
    client: Node,
    enode: str,
    key: SymmetricKey,
    wanted: list[Topic],
    now: int,
    mode: str,
    parallel: int = 2,
) -> dict[str, Any]:
    sym_id = await _rpc(session, url, "shh_generateSymKeyFromPassword", _PASSWORD)
    # Two filters: one holds at most DEFAULT_FILTER_CAPACITY (10,000) messages.
    halves = (wanted[: len(wanted) // 2], wanted[len(wanted) // 2 :])
    filter_ids = [
        client.install_filter(Filter(sym_key=key, topics=frozenset(half))) for half in halves
    ]
    request = {
        "mailServerPeer": enode,
        "from": now - _DAY,
        "to": now,
        "topics": ["0x" + t.hex() for t in wanted],
        "symKeyID": sym_id,
        "followCursor": True,
        "mode": mode,
        "timeout": 120,
        "parallel": parallel,
    }
    started, cpu = time.perf_counter(), time.process_time()
    reply = await _rpc(session, url, "shhext_requestMessagesSync", request)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    delivered = 0
    for filter_id in filter_ids:
        delivered += len(client.filter_messages(filter_id))
        client.uninstall_filter(filter_id)
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "envelopes": reply["envelopes"],
        "in_filter": delivered,
        "pages": reply["pages"],
        "error": reply["error"],
    }


@contextlib.contextmanager
def _slow_link(enode: str, rtt_ms: float, mbit: float) -> Iterator[str]:
    """The archive's enode behind a `hush.testing.link` proxy in a child process (its own
    interpreter: the link's timers don't wait for this process's event loop)."""
    parsed = Enode.parse(enode)
    with subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "hush.testing.link",
            "--target",
            f"{parsed.ip}:{parsed.tcp_port}",
            "--delay-ms",
            str(rtt_ms / 2),
            "--mbit",
            str(mbit),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            port = json.loads(child.stdout.readline())["port"]
            yield str(replace(parsed, tcp_port=port))
        finally:
            child.stdin.close()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a stuck child
                child.kill()


_CATCH_UP_RUNS = (("v2", 2, "v2"), ("v2", 1, "v2_sequential"))


async def bench_catch_up(
    db_url: str,
    per_day: int,
    want: int,
    share: float,
    size: int,
    repeat: int = 1,
    rtt_ms: float = 0,
    mbit: float = 0,
    raw: bool = True,
) -> dict[str, Any]:
    """`repeat` rounds of v2 (2 slices at once) and v2 one page at a time, alternating, then
    geth's raw form once; through a shaped link when `rtt_ms`/`mbit` are given."""
    now = int(time.time())
    key = SymmetricKey(os.urandom(32))
    topics = _topics(5000)
    wanted = topics[:want]
    store = open_store(db_url, None)
    store.put(_day(now, per_day, topics, want, share, key, size))
    # One client asks for every round's ~12 pages: admission's per-peer burst (20) would refuse
    # the third round. The bench measures serving, not admission (tests/archive covers that).
    unlimited = Rate(1000.0, 1000.0)
    admission = AdmissionConfig(peer_rate=unlimited, ip_rate=unlimited)
    config = ArchiveConfig(password=_PASSWORD, retention_days=0, admission=admission)
    server = ArchiveServer(store, config)
    runs: dict[str, list[dict[str, Any]]] = {}
    plan = [run for _ in range(repeat) for run in _CATCH_UP_RUNS]
    if raw:
        plan.append(("raw", 1, "raw"))
    async with server:
        archive = Node(_node_config(), observers=[server.observer], mail_handler=server.handle)
        client = Node(_node_config(listen=False, max_message_size=4 * 1024 * 1024))
        async with archive, client:
            with contextlib.ExitStack() as stack:
                enode = archive.enode
                if rtt_ms or mbit:
                    enode = stack.enter_context(_slow_link(enode, rtt_ms, mbit or 1e5))
                for mode, parallel, name in plan:
                    # A fresh RPC server each time: the shhext client deduplicates across requests.
                    rpc = RpcServer(client, RpcConfig(), api=ShhApi(client))
                    await rpc.start("127.0.0.1", 0)
                    try:
                        async with aiohttp.ClientSession() as session:
                            runs.setdefault(name, []).append(
                                await _catch_up_once(
                                    session,
                                    rpc.url,
                                    client,
                                    enode,
                                    key,
                                    wanted,
                                    now,
                                    mode,
                                    parallel,
                                )
                            )
                    finally:
                        await rpc.stop()
    results: dict[str, Any] = {}
    if rtt_ms or mbit:
        results["link"] = {"rtt_ms": rtt_ms, "mbit_per_s": mbit or None}
    for name, done in runs.items():
        whole = [r for r in done if r["error"] is None and r["in_filter"] == r["envelopes"]]
        if not whole:
            raise click.ClickException(f"catch-up {name}: no run completed: {done[0]['error']}")
        results[name] = {
            "seconds_median": round(statistics.median(r["seconds"] for r in whole), 3),
            "cpu_seconds_median": round(statistics.median(r["cpu_seconds"] for r in whole), 3),
            "failed_runs": len(done) - len(whole),
            "runs": done,
        }
    v2 = results["v2"]["seconds_median"]
    results["ratio_sequential_over_v2"] = round(results["v2_sequential"]["seconds_median"] / v2, 2)
    if raw:
        results["ratio_raw_over_v2"] = round(results["raw"]["seconds_median"] / v2, 2)
    return results


async def _inject_all(node: Node, envelopes: list[Any]) -> float:
    started = time.perf_counter()
    for envelope in envelopes:
        await node.inject(envelope)
    return time.perf_counter() - started


async def _inject_paced(node: Node, envelopes: list[Any], rate: float) -> float:
    """Offer `rate` envelopes/s in 10 ms ticks (the load a node would see from the network)."""
    started = time.perf_counter()
    for index, envelope in enumerate(envelopes):
        await node.inject(envelope)
        ahead = started + (index + 1) / rate - time.perf_counter()
        if ahead > 0.01:
            await asyncio.sleep(ahead)
    return time.perf_counter() - started


def _pg_cpu(url: str) -> float | None:
    """CPU seconds of the PostgreSQL server's processes (when it runs on this machine)."""
    if not url.startswith(("postgresql://", "postgres://")):
        return None
    import psycopg  # noqa: PLC0415 - optional

    with psycopg.connect(url, autocommit=True) as conn:
        pids = [int(p) for (p,) in conn.execute("SELECT pid FROM pg_stat_activity").fetchall()]
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def bench_ingest(db_url: str, count: int, size: int, rate: float = 0) -> dict[str, Any]:
    """`rate` 0: inject as fast as the node takes them (the writer's capacity: the queue is
    full of work); else offer `rate`/s and see whether the writer keeps up (queue bounded, no
    drops). Either way, the same injections into a node without an archive are the baseline."""
    now = int(time.time())
    key = SymmetricKey(os.urandom(32))
    topics = _topics(5000)
    rng = random.Random(4)
    payload = bytes(size - 100)
    envelopes = [
        wrap(payload, rng.choice(topics), now, os.urandom, sym_key=key, ttl=600)
        for _ in range(count)
    ]
    big_pool = 4 * count * size

    async def inject(node: Node) -> float:
        return await (
            _inject_paced(node, envelopes, rate) if rate else _inject_all(node, envelopes)
        )

    async with Node(_node_config(listen=False, pool_bytes=big_pool, pool_peer_share=1.0)) as plain:
        cpu = time.process_time()
        baseline = await inject(plain)
        baseline_cpu = time.process_time() - cpu
    server = ArchiveServer(open_store(db_url, None), ArchiveConfig(retention_days=0))
    async with server:
        node = Node(
            _node_config(listen=False, pool_bytes=big_pool, pool_peer_share=1.0),
            observers=[server.observer],
        )
        async with node:
            db_cpu = _pg_cpu(db_url)
            started, cpu = time.perf_counter(), time.process_time()
            injected = await inject(node)
            acknowledged_in_time = server.archived
            backlog = server.ingest.queued
            accepted = node.info().pooled
            await server.flush()
            total = time.perf_counter() - started
            cpu = time.process_time() - cpu
            db_end = _pg_cpu(db_url)
            stored = server.store.count()
    result: dict[str, Any] = {
        "envelopes": count,
        "offered_per_s": round(rate) if rate else "as fast as possible",
        "inject_per_s_without_archive": round(count / baseline),
        "inject_per_s_with_archive": round(count / injected),
        "relay_slowdown": round(injected / baseline, 2),
        "inject_cpu_s_without_archive": round(baseline_cpu, 3),
        "acknowledged_per_s": round(count / total),
        "acknowledged_while_offered": acknowledged_in_time,
        "backlog_at_end": backlog,
        "peak_queue_rows": server.ingest.peak_rows,
        "drain_s": round(total - injected, 3),
        "cpu_s": round(cpu, 3),
        "accepted": accepted,
        "stored": stored,
        "dropped": server.dropped,
    }
    if db_cpu is not None and db_end is not None:
        result["db_server_cpu_s"] = round(db_end - db_cpu, 2)
    return result


@click.command(name="archive")
@click.option("--per-day", type=int, default=50_000, show_default=True, help="Catch-up store size.")
@click.option("--want", type=int, default=100, show_default=True, help="Topics the client wants.")
@click.option(
    "--want-share",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of the day on the wanted topics (0.2: ~10,000 envelopes).",
)
@click.option("--rows", type=int, default=500_000, show_default=True, help="Page-bench store size.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the page bench's SQLite dataset here and reuse it (default: a temp dir).",
)
@click.option("--explain", "show_plans", is_flag=True, help="Add the page query plans.")
@click.option("--queries", type=int, default=200, show_default=True)
@click.option("--ingest", type=int, default=20_000, show_default=True)
@click.option(
    "--ingest-rate",
    type=float,
    default=0,
    show_default=True,
    help="Envelopes/s offered to the ingest bench (0: as fast as the node takes them).",
)
@click.option("--size", type=int, default=1024, show_default=True, help="Envelope bytes.")
@click.option(
    "--repeat",
    type=click.IntRange(1, 20),
    default=1,
    show_default=True,
    help="Catch-up rounds (v2 and v2 one page at a time, alternating).",
)
@click.option(
    "--link-rtt-ms",
    type=click.FloatRange(0, 2000),
    default=0,
    show_default=True,
    help="Catch-up through a userspace link with this round-trip time (H2: 100).",
)
@click.option(
    "--link-mbit",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    help="... and this rate each way, Mbit/s (H2: 20); 0: unshaped.",
)
@click.option("--no-raw", is_flag=True, help="Catch-up: leave out the wnode-form baseline.")
@click.option(
    "--postgres",
    metavar="URL",
    help="Also run the page and ingest benches there: a database of their own (they write into "
    "it; the page bench refuses one that already holds an archive).",
)
@click.option("--only", type=click.Choice(["catch-up", "page", "ingest"]), multiple=True)
@click.option("--json", "as_json", is_flag=True)
def command(
    per_day: int,
    want: int,
    want_share: float,
    rows: int,
    data_dir: Path | None,
    show_plans: bool,
    queries: int,
    ingest: int,
    ingest_rate: float,
    size: int,
    repeat: int,
    link_rtt_ms: float,
    link_mbit: float,
    no_raw: bool,
    postgres: str | None,
    only: tuple[str, ...],
    as_json: bool,
) -> None:
    """The archive's catch-up, page and ingest benchmarks (issue 11 targets)."""
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hush-bench-archive-") as tmp:
        base = Path(tmp)

        def sqlite(name: str) -> str:
            return str(base / f"{name}.sqlite")

        if not only or "catch-up" in only:
            report["catch_up_sqlite"] = asyncio.run(
                bench_catch_up(
                    sqlite("catch"),
                    per_day,
                    want,
                    want_share,
                    size,
                    repeat,
                    link_rtt_ms,
                    link_mbit,
                    not no_raw,
                )
            )
        if not only or "page" in only:
            pages = sqlite("pages")
            if data_dir is not None:
                data_dir.mkdir(parents=True, exist_ok=True)
                pages = str(data_dir / f"pages-{rows}-{size}.sqlite")
            for name, url in (("sqlite", pages), ("postgres", postgres)):
                if url:
                    report[f"page_{name}"] = bench_pages(url, rows, queries, size)
                    if show_plans:
                        report[f"plans_{name}"] = explain(url, rows)
        if not only or "ingest" in only:
            report["ingest_sqlite"] = asyncio.run(
                bench_ingest(sqlite("ingest"), ingest, size, ingest_rate)
            )
            if postgres:
                report["ingest_postgres"] = asyncio.run(
                    bench_ingest(postgres, ingest, size, ingest_rate)
                )
    click.echo(json.dumps(report, indent=None if as_json else 2))
