"""Crash safety: a writer killed with SIGKILL mid-ingest loses no envelope it had acknowledged.

"Acknowledged" = `EnvelopeStore.put` returned (its transaction committed). The child prints the
hashes of each batch only after `put` returns; the parent kills it the moment it has read enough
acknowledgements, while the child is writing the next batch, then reopens the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from hush.archive.store import SqlStore, open_store

CHILD = r"""
import hashlib, sys
from hush.archive.store import ArchivedEnvelope, open_store
from hush.types import Topic
store = open_store(sys.argv[1], None)
print("ready", flush=True)
n = 0
while True:
    rows = []
    for _ in range(200):
        digest = hashlib.sha256(n.to_bytes(8, "big")).digest()
        rows.append(ArchivedEnvelope(1000 + n // 7, digest, Topic(digest[:4]), 2000, b"\xc0" * 300))
        n += 1
    store.put(rows)
    print(" ".join(r.hash.hex() for r in rows), flush=True)
"""


def _kill_after(child_code: str, store_url: str, lines: int) -> list[str]:
    """Run `child_code`, read `lines` lines of acknowledged hashes after its "ready", SIGKILL it
    while it works on the next ones; the hashes it had acknowledged."""
    child = subprocess.Popen(
        [sys.executable, "-c", child_code, store_url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    acknowledged: list[str] = []
    try:
        assert child.stdout.readline().strip() == "ready"
        for _ in range(lines):
            line = child.stdout.readline()
            assert line, "the child died early"
            acknowledged += line.split()
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return acknowledged


def _stored(store: SqlStore) -> tuple[set[str], int]:
    """The hashes stored, and how many rows."""
    conn = store._conn()
    stored = {bytes(h).hex() for (h,) in conn.execute("SELECT hash FROM envelopes").fetchall()}
    (rows,) = conn.execute("SELECT count(*) FROM envelopes").fetchone()
    conn.commit()
    return stored, rows


def test_sigkill_mid_ingest_loses_nothing_acknowledged(store_url: str) -> None:
    acknowledged = _kill_after(CHILD, store_url, 15)  # killed while it writes the next batch
    store = open_store(store_url, None)
    try:
        stored, rows = _stored(store)
        assert set(acknowledged) <= stored
        assert store.count() == rows  # the incremental count is exact after the crash
    finally:
        store.close()


SERVER_CHILD = r"""
import asyncio, os, sys, time
from hush.archive.server import ArchiveConfig, ArchiveServer
from hush.archive.store import open_store
from hush.node import Node, NodeConfig
from hush.shh.envelope import Envelope
from hush.types import Topic

async def main():
    server = ArchiveServer(open_store(sys.argv[1], None), ArchiveConfig(retention_days=0))
    config = NodeConfig(datadir=None, listen=False, min_pow=0.0, pow_processes=1)
    async with server:
        async with Node(config, observers=[server.observer]) as node:
            print("ready", flush=True)
            n = 0
            while True:
                injected = []
                for _ in range(300):
                    now = int(time.time())
                    envelope = Envelope(now + 60, 60, Topic(n.to_bytes(4, "big")), os.urandom(200), n)
                    await node.inject(envelope)
                    injected.append(envelope.hash.hex())
                    n += 1
                await asyncio.sleep(0)  # the flush loop commits meanwhile, on its own
                await server.flush()  # returned: all injected so far are acknowledged
                print(" ".join(injected), flush=True)

asyncio.run(main())
"""


def test_sigkill_of_an_archive_node_loses_nothing_acknowledged(store_url: str) -> None:
    """The same through the node and the ingest queue: acknowledged = `ArchiveServer.flush()`
    returned (the queue's rows committed); the flush loop keeps committing on its own too."""
    acknowledged = _kill_after(SERVER_CHILD, store_url, 8)  # while it injects and commits more
    store = open_store(store_url, None)
    try:
        stored, _ = _stored(store)
        assert len(acknowledged) == 8 * 300
        assert set(acknowledged) <= stored
        assert store.count() == len(stored)
    finally:
        store.close()
