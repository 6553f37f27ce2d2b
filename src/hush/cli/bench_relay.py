"""`hush bench relay`: one node between real loopback peers, doing what a relay does all day.

The relay is a hush `Node` in a child process (its own interpreter; `--loop uvloop` runs it on
uvloop where installed). In this process one source and `--peers` sinks dial it over real
devp2p/RLPx on 127.0.0.1: raw connections, not nodes, so that they only send and count. The
source sends pre-built 256-byte envelopes (min PoW 0: sealing is `hush bench pow`'s) in
`messages` packets of `--batch` as fast as the relay takes them; each sink counts what reaches
it. After a warm-up packet has reached every sink (an explicit signal, no sleep), the clock runs
from the first packet to the last envelope at the last sink: envelopes/s received once and
forwarded to every sink, and the relay process's CPU seconds (from /proc) per 1,000
of them. The peers' own CPU is reported too: on a shared machine it says whether the relay or
its peers were the limit. `--profile` runs the relay under cProfile and returns its top entries.
Bounded: `--envelopes` at most 200,000, and the run gives up after `--timeout` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import click

from hush import rlp
from hush.crypto import PrivateKey
from hush.enode import Enode
from hush.errors import UsageError
from hush.net import P2PConfig, PeerConnection, PeerDisconnected, dial
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.packets import PacketCode, Status
from hush.types import Topic

__all__ = ["bench_relay", "command", "relay_envelopes"]

_SIZE = 256
_TTL = 600
_WARMUP = 16
_PEER_CONFIG = P2PConfig(client_id="hush-bench-relay", capabilities=(("shh", 6, 128),))


def relay_envelopes(count: int, now: int) -> list[bytes]:
    """`count` distinct envelopes of exactly 256 encoded bytes, current at `now`."""
    expiry = now + _TTL
    probe = Envelope(expiry, _TTL, Topic(b"\x00\x00\x00\x00"), b"", nonce=1 << 40)
    data_length = _SIZE - len(probe.encode()) - 2  # a 2-byte string header (56..255 bytes)
    if data_length < 56:
        raise UsageError("envelope size below the long-string form")  # pragma: no cover
    out = []
    for index in range(count):
        topic = Topic(index.to_bytes(4, "big"))
        envelope = Envelope(expiry, _TTL, topic, os.urandom(data_length), nonce=(1 << 40) + index)
        raw = envelope.encode()
        if len(raw) != _SIZE:
            raise UsageError(f"bench envelope is {len(raw)} bytes, not {_SIZE}")  # pragma: no cover
        out.append(raw)
    return out


# -- the relay: a child process ------------------------------------------------------------------


_CHILD = """
import asyncio, cProfile, importlib, io, json, os, pstats, sys
from hush.node import Node, NodeConfig

loop, profile = sys.argv[1], sys.argv[2] == "1"
archive_url = sys.argv[3] if len(sys.argv) > 3 else ""

async def relay(observers=(), mail_handler=None):
    config = NodeConfig(
        datadir=None, listen_host="127.0.0.1", listen_port=0, min_pow=0.0, pow_processes=1,
        max_peers=64, max_peers_per_ip=64, target_peers=0,
    )
    async with Node(config, observers=list(observers), mail_handler=mail_handler) as node:
        print(json.dumps({"enode": node.enode, "pid": os.getpid()}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

async def main():
    if not archive_url:
        await relay()
        return
    from hush.archive.server import ArchiveConfig, ArchiveServer
    from hush.archive.store import open_store
    server = ArchiveServer(open_store(archive_url, None), ArchiveConfig(retention_days=0))
    async with server:
        await relay([server.observer], server.handle)
        await server.flush()
        archive = {"archived": server.archived, "dropped": server.dropped,
                   "peak_queue_rows": server.ingest.peak_rows}
    print(json.dumps({"archive": archive}), flush=True)

profiler = cProfile.Profile() if profile else None
if profiler is not None:
    profiler.enable()
if loop == "uvloop":
    importlib.import_module("uvloop").run(main())
else:
    asyncio.run(main())
if profiler is not None:
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
    print(json.dumps({"profile": text.getvalue()}), flush=True)
"""
"""The relay: one node until stdin closes; its first stdout line is its enode and pid. Only
public Node API, so a baseline checkout's node can be measured with this driver (`src`)."""


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process, all its threads: nanoseconds from /proc/PID/task/*/schedstat where
    the kernel has it, else utime + stime from /proc/PID/stat (10 ms ticks, too coarse for a short
    run). Linux only."""
    try:
        total = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as schedstat:
                total += int(schedstat.read().split()[0])
        if total:  # all zeros where the kernel keeps no scheduler statistics
            return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the peers: this process ---------------------------------------------------------------------


class _Sink:
    def __init__(self, connection: PeerConnection):
        self.connection = connection
        self.received = 0
        self.reached = asyncio.Event()
        self.want = 0

    def expect(self, count: int) -> None:
        self.want = count
        self.reached.clear()
        if self.received >= count:
            self.reached.set()

    async def run(self) -> None:
        with contextlib.suppress(PeerDisconnected):
            while True:
                _, code, payload = await self.connection.read_message()
                if code != PacketCode.MESSAGES:
                    continue
                start, stop = rlp.list_bounds(payload)  # every envelope is 256 bytes
                self.received += (stop - start) // _SIZE
                if self.received >= self.want:
                    self.reached.set()


async def _connect(enode: Enode) -> PeerConnection:
    connection = await dial(PrivateKey.generate(os.urandom), enode, _PEER_CONFIG)
    await connection.send_message("shh", PacketCode.STATUS, packets.encode_status(Status()))
    return connection


async def _drain(connection: PeerConnection) -> None:
    with contextlib.suppress(PeerDisconnected):
        while True:
            await connection.read_message()


def _packets(envelopes: list[bytes], batch: int) -> Iterator[bytes]:
    for start in range(0, len(envelopes), batch):
        yield packets.encode_messages(envelopes[start : start + batch])


async def _drive(
    enode: Enode, pid: int, count: int, peers: int, batch: int, timeout: float
) -> dict[str, Any]:
    envelopes = relay_envelopes(_WARMUP + count, int(time.time()))
    warmup, load = envelopes[:_WARMUP], list(_packets(envelopes[_WARMUP:], batch))
    source = await _connect(enode)
    sinks = [_Sink(await _connect(enode)) for _ in range(peers)]
    tasks = [asyncio.ensure_future(sink.run()) for sink in sinks]
    tasks.append(asyncio.ensure_future(_drain(source)))
    try:
        async with asyncio.timeout(timeout):
            # The relay may still be reading a sink's status: resend the warm-up until all have it.
            for sink in sinks:
                sink.expect(_WARMUP)
            while not all(sink.reached.is_set() for sink in sinks):
                payload = packets.encode_messages(warmup)
                await source.send_message("shh", PacketCode.MESSAGES, payload)
                waits = [asyncio.ensure_future(s.reached.wait()) for s in sinks]
                _, pending = await asyncio.wait(waits, timeout=0.5)
                for wait in pending:
                    wait.cancel()
            for sink in sinks:
                sink.expect(_WARMUP + count)
            cpu0, own0, t0 = _cpu_seconds(pid), time.process_time(), time.perf_counter()
            for payload in load:
                await source.send_message("shh", PacketCode.MESSAGES, payload)
            await asyncio.gather(*(sink.reached.wait() for sink in sinks))
            elapsed = time.perf_counter() - t0
            cpu, own = _cpu_seconds(pid) - cpu0, time.process_time() - own0
    finally:
        for task in tasks:
            task.cancel()
        for connection in [source, *(sink.connection for sink in sinks)]:
            connection.close()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "envelopes": count,
        "peers": peers,
        "batch": batch,
        "envelope_bytes": _SIZE,
        "seconds": elapsed,
        "envelopes_per_s": count / elapsed,
        "relay_cpu_s_per_1000": cpu / count * 1000,
        "relay_cpu_share": cpu / elapsed,
        "peers_cpu_s_per_1000": own / count * 1000,
    }


def bench_relay(
    count: int,
    peers: int,
    batch: int,
    loop: str = "asyncio",
    profile: bool = False,
    timeout: float = 120.0,
    src: str | None = None,
    archive: str | None = None,
) -> dict[str, Any]:
    """`src`: run the relay node from another checkout's source tree (a baseline); `archive`: a
    store URL (a SQLite path or postgresql://): the relay also archives what it takes in."""
    if loop == "uvloop":
        try:
            importlib.import_module("uvloop")
        except ImportError:
            raise UsageError("uvloop is not installed (pip install 'hush-whisper[fast]')") from None
    env = dict(os.environ, PYTHONPATH=src) if src else None
    with subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", _CHILD, loop, "1" if profile else "0", archive or ""],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            hello = json.loads(child.stdout.readline())
            result = asyncio.run(
                _drive(Enode.parse(hello["enode"]), hello["pid"], count, peers, batch, timeout)
            )
        finally:
            child.stdin.close()  # the relay stops, prints its profile if asked, and exits
            output = child.stdout.read()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover - a stuck child
                child.kill()
    result["loop"] = loop
    for line in output.splitlines():
        if line.startswith("{"):
            result.update(json.loads(line))
    result["targets"] = {"envelopes_per_s": 20_000}
    return result


@click.command(name="relay")
@click.option(
    "--envelopes", "count", type=click.IntRange(100, 200_000), default=20_000, show_default=True
)
@click.option("--peers", type=click.IntRange(1, 32), default=8, show_default=True)
@click.option(
    "--batch",
    type=click.IntRange(1, 4000),
    default=256,
    show_default=True,
    help="Envelopes per messages packet from the source.",
)
@click.option(
    "--loop", type=click.Choice(["asyncio", "uvloop"]), default="asyncio", show_default=True
)
@click.option(
    "--profile", is_flag=True, help="Run the relay under cProfile; print its top entries."
)
@click.option("--timeout", type=click.FloatRange(1), default=120.0, show_default=True)
@click.option(
    "--archive",
    metavar="URL",
    help="The relay also runs an archive server on this store (SQLite path or postgresql://).",
)
@click.option("--json", "as_json", is_flag=True)
def command(
    count: int,
    peers: int,
    batch: int,
    loop: str,
    profile: bool,
    timeout: float,
    archive: str | None,
    as_json: bool,
) -> None:
    """Envelopes/s a relay node takes in and forwards to --peers peers, and its CPU per 1,000."""
    result = bench_relay(count, peers, batch, loop, profile, timeout, archive=archive)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    report = result.pop("profile", None)
    for name, value in result.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        click.echo(f"{name}: {shown}")
    if report:
        click.echo(report)
