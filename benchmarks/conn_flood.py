"""Idle-connection flood against a `hush node` at a low open-file limit (issue 7 item 5).

A node runs in a child process with RLIMIT_NOFILE (soft and hard) set to `--fd-limit`. First the
baseline: `--probes` JSON-RPC `shh_info` calls with no load. Then `--idle` TCP connections are
opened to its p2p port and held, and for `--seconds` the same call is repeated (1 s timeout each);
meanwhile an honest peer dials until it is admitted. Reported: RPC successes and median latency in
both phases, seconds until the honest peer got in, and the node's stderr (lines, accept errors).

Usage: .venv/bin/python benchmarks/conn_flood.py [--fd-limit 128] [--idle 400] [--seconds 20]
Loopback only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any

from hush.crypto import PrivateKey
from hush.enode import Enode
from hush.net import P2PConfig, PeerDisconnected, dial

CHILD = (
    "import resource, sys\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit}))\n"
    "from hush.cli.main import main\n"
    "main(sys.argv[1:])\n"
)


def rpc_latency(url: str) -> float | None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "shh_info", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            json.loads(response.read())
    except OSError:
        return None
    return time.perf_counter() - started


async def admitted_after(enode: Enode, limit: float) -> float | None:
    key = PrivateKey.generate(os.urandom)
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            peer = await dial(key, enode, P2PConfig(handshake_timeout=2.0))
        except PeerDisconnected:
            await asyncio.sleep(0.2)
            continue
        peer.close()
        return time.monotonic() - started
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fd-limit", type=int, default=128)
    parser.add_argument("--idle", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--probes", type=int, default=20)
    args = parser.parse_args()
    datadir = tempfile.mkdtemp(prefix="hush-flood-")
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD.format(limit=args.fd_limit),
            "node",
            "--datadir",
            datadir,
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--verbosity",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    lines = dict(child.stdout.readline().strip().partition(": ")[::2] for _ in range(2))
    url, enode = lines["http"], Enode.parse(lines["enode"])
    baseline = [rpc_latency(url) for _ in range(args.probes)]
    idle = []
    for _ in range(args.idle):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", enode.tcp_port))
        idle.append(sock)
    admitted: list[float | None] = []
    dialer = threading.Thread(
        target=lambda: admitted.append(asyncio.run(admitted_after(enode, args.seconds)))
    )
    dialer.start()
    flood: list[float | None] = []
    started = time.monotonic()
    while time.monotonic() - started < args.seconds:
        flood.append(rpc_latency(url))
        time.sleep(0.25)
    dialer.join()
    for sock in idle:
        sock.close()
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)

    def summary(samples: list[float | None]) -> dict[str, Any]:
        ok = [s for s in samples if s is not None]
        return {
            "ok": len(ok),
            "failed": len(samples) - len(ok),
            "median_ms": round(statistics.median(ok) * 1000, 2) if ok else None,
        }

    print(
        json.dumps(
            {
                "fd_limit": args.fd_limit,
                "idle_connections": args.idle,
                "rpc_baseline": summary(baseline),
                "rpc_during_flood": summary(flood),
                "honest_peer_admitted_after_s": round(admitted[0], 2) if admitted[0] else None,
                "node_stderr_lines": len(err.splitlines()),
                "accept_errors_logged": err.count("out of system resource"),
                "tracebacks": err.count("Traceback"),
                "exit_code": child.returncode,
                "stderr_tail": err.splitlines()[-6:],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
