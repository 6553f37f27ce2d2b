"""`hush bench archive --only page`: H3, a 1,000-row page for 100 topics (archive.md §1.7).

The dataset (archive.md H1/H3): `rows` envelopes of `size` bytes at 50,000 a day over 5,000
topics, oldest first as a server would have stored them, each raw a distinct incompressible slice
(an encrypted envelope does not compress: PostgreSQL must not get an easy TOAST case). It is
written straight into the store's own schema in bulk (the indexes and the insert trigger dropped
for the load and rebuilt after it; SQLite in big transactions without a journal, PostgreSQL by
binary COPY), then the counts and topics are set as the triggers would have. A table
`bench_dataset` records what was built, so a later run with the same shape reuses it.

The queries, as the server runs them (`EnvelopeStore.page` with the server's default byte cap):
random 100-topic lists, over a random 24 h window or the whole range, with or without a cursor
(a random point of the window), `--queries` of them in the four kinds in turn. Each is run by the
merged plan (per-topic range scans merged) and by the single-scan plan (the baseline: one scan of
the topic index over the list and a sort), in random order per query, and the two pages must be
identical. CPU per page: this thread's time (for SQLite the whole query); for PostgreSQL also the
server backend's CPU from /proc, as a mean (its clock ticks are 10 ms).
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hush.archive.config import ArchiveConfig
from hush.archive.cursor import Cursor
from hush.archive.page import PageQuery
from hush.archive.store import SqlStore, open_store
from hush.errors import UsageError
from hush.types import EnvelopeHash, Topic

__all__ = ["bench_pages", "build_dataset", "dataset_topics"]

DAY = 86400
PER_DAY = 50_000
TOPICS = 5000
NEWEST = 1_800_000_000
DATASET_VERSION = 1
_CHUNK = 50_000
_POOL = 1 << 22
_KINDS = (("day", False), ("day", True), ("whole", False), ("whole", True))


def dataset_topics() -> list[Topic]:
    return [Topic((0x10000000 + i * 7919).to_bytes(4, "big")) for i in range(TOPICS)]


def _oldest(rows: int) -> int:
    return NEWEST - (rows - 1) * DAY // PER_DAY


def _chunks(rows: int, size: int) -> Iterator[list[tuple[int, bytes, int, int, int, bytes]]]:
    """The dataset's rows `(sent, hash, topic, expiry, size, raw)`, oldest first."""
    rng = random.Random(2)
    pool = rng.randbytes(_POOL)
    topics = [int.from_bytes(t, "big") for t in dataset_topics()]
    first = _oldest(rows)
    for start in range(0, rows, _CHUNK):
        chunk = []
        for i in range(start, min(rows, start + _CHUNK)):
            sent = first + i * DAY // PER_DAY
            at = rng.randrange(_POOL - size)
            chunk.append(
                (sent, rng.randbytes(32), rng.choice(topics), sent + 60, size, pool[at : at + size])
            )
        yield chunk


_MARKER = "CREATE TABLE IF NOT EXISTS bench_dataset (version INTEGER, rows INTEGER, size INTEGER)"
_COUNTS = (
    "UPDATE archive_stats SET count = (SELECT count(*) FROM envelopes), "
    "bytes = (SELECT coalesce(sum(size), 0) FROM envelopes) WHERE id = 0"
)
_TOPICS = (
    "INSERT INTO archive_topics SELECT topic, min(sent), max(sent) FROM envelopes GROUP BY topic"
)


def _marker(url: str) -> tuple[list[tuple[Any, ...]] | None, int]:
    """What `bench_dataset` says was built (None: no such table, so no bench dataset), and how
    many envelopes the store holds."""
    store = open_store(url, None)
    try:
        count = store.count()
        try:
            found = store._query("SELECT version, rows, size FROM bench_dataset")
        except Exception:  # no such table (sqlite3 and psycopg errors alike)
            return None, count
        return [tuple(r) for r in found], count
    finally:
        store.close()


def _redacted(url: str) -> str:
    """The URL without a password (`postgresql://user:secret@host/db` → `user:…@`)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:…@{host}"))


def build_dataset(url: str, rows: int, size: int) -> float:
    """Builds the dataset in the store at `url` unless it is there already; returns the seconds
    the build took (0: reused). The build empties the store's tables first, so a store that
    holds envelopes but no bench dataset (a real archive) is refused."""
    found, count = _marker(url)
    if found == [(DATASET_VERSION, rows, size)]:
        return 0.0
    if found is None and count > 0:
        raise UsageError(
            f"refusing to build the page benchmark's dataset in {_redacted(url)}: it holds "
            f"{count} envelopes and no benchmark dataset (the build empties it); give a new "
            "or empty database"
        )
    started = time.perf_counter()
    if url.startswith(("postgresql://", "postgres://")):
        _build_postgres(url, rows, size)
    else:
        _build_sqlite(Path(url), rows, size)
    return time.perf_counter() - started


def _build_sqlite(path: Path, rows: int, size: int) -> None:
    from hush.archive.sqlite_store import _SCHEMA  # noqa: PLC0415

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")  # a build cut short is rebuilt: no marker yet
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-524288")  # 512 MiB for the index sorts
        conn.execute("DROP TABLE IF EXISTS bench_dataset")
        conn.execute("DROP TRIGGER IF EXISTS envelopes_added")
        conn.execute("DROP INDEX IF EXISTS envelopes_key")
        conn.execute("DROP INDEX IF EXISTS envelopes_by_topic")
        conn.execute("DROP INDEX IF EXISTS envelopes_topic")  # the index before envelopes_by_topic
        conn.execute("DELETE FROM envelopes")
        conn.execute("DELETE FROM archive_topics")
        insert = (
            "INSERT INTO envelopes (sent, hash, topic, expiry, size, raw) VALUES (?, ?, ?, ?, ?, ?)"
        )
        for n, chunk in enumerate(_chunks(rows, size)):
            if n % 20 == 0:
                conn.execute("BEGIN")
            conn.executemany(insert, chunk)
            if n % 20 == 19:
                conn.execute("COMMIT")
        if conn.in_transaction:
            conn.execute("COMMIT")
        conn.executescript(_SCHEMA)  # the indexes and the trigger, as the store creates them
        conn.execute("BEGIN")
        conn.execute(_COUNTS)
        conn.execute(_TOPICS)
        conn.execute(_MARKER)
        conn.execute("INSERT INTO bench_dataset VALUES (?, ?, ?)", (DATASET_VERSION, rows, size))
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def _build_postgres(url: str, rows: int, size: int) -> None:
    import psycopg  # noqa: PLC0415 - optional

    from hush.archive.postgres_store import _SCHEMA  # noqa: PLC0415

    with psycopg.connect(url) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("DROP TABLE IF EXISTS bench_dataset")
        conn.execute("DROP TRIGGER IF EXISTS envelopes_added ON envelopes")
        conn.execute("DROP INDEX IF EXISTS envelopes_topic")
        conn.execute("ALTER TABLE envelopes DROP CONSTRAINT IF EXISTS envelopes_pkey")
        conn.execute("TRUNCATE envelopes, archive_topics")
        copy_sql = (
            "COPY envelopes (sent, hash, topic, expiry, size, raw) FROM STDIN "
            "(FORMAT BINARY, FREEZE)"  # truncated in this transaction: no WAL at wal_level=minimal
        )
        with conn.cursor().copy(copy_sql) as copy:
            copy.set_types(["int8", "bytea", "int8", "int8", "int4", "bytea"])
            for chunk in _chunks(rows, size):
                for row in chunk:
                    copy.write_row(row)
        conn.execute("ALTER TABLE envelopes ADD PRIMARY KEY (sent, hash)")
        conn.execute(_SCHEMA)  # the topic index and the trigger, as the store creates them
        conn.execute(_COUNTS)
        conn.execute(_TOPICS)
        conn.execute(_MARKER)
        conn.execute("INSERT INTO bench_dataset VALUES (%s, %s, %s)", (DATASET_VERSION, rows, size))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE envelopes")  # what autovacuum does on a live server


def _queries(rows: int, count: int, seed: int) -> list[tuple[str, PageQuery]]:
    rng = random.Random(seed)
    topics = dataset_topics()
    days = max(1, rows // PER_DAY)
    result = []
    for q in range(count):
        kind, with_cursor = _KINDS[q % len(_KINDS)]
        wanted = tuple(rng.sample(topics, 100))
        if kind == "day":
            upper = NEWEST - rng.randrange(days) * DAY
            lower = upper - DAY + 1
        else:
            lower, upper = _oldest(rows), NEWEST
        cursor = None
        if with_cursor:
            cursor = Cursor(rng.randint(lower, upper), EnvelopeHash(rng.randbytes(32)))
        label = f"{kind}{'+cursor' if with_cursor else ''}"
        result.append((label, PageQuery(lower, upper, wanted, 1000, cursor)))
    return result


def _backend_cpu(store: SqlStore) -> Any:
    """A function giving the PostgreSQL backend's CPU seconds so far (None for SQLite)."""
    if getattr(store, "backend", "") != "postgresql":
        return None
    pid = int(store._query("SELECT pg_backend_pid()")[0][0])
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # not on this machine
            return None
        return (int(fields[11]) + int(fields[12])) / tick

    return cpu


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 2)


def bench_pages(url: str, rows: int, queries: int, size: int, warmup: int = 20) -> dict[str, Any]:
    """Builds (or reuses) the dataset at `url`, then times both plans, alternately."""
    build_seconds = build_dataset(url, rows, size)
    page_bytes = ArchiveConfig().page_bytes
    stores = {"merged": open_store(url, None), "scan": open_store(url, None)}
    stores["scan"].merge_topics = 0  # the baseline: one scan of the topic index and a sort
    try:
        backend = {name: _backend_cpu(store) for name, store in stores.items()}
        times: dict[str, dict[str, list[float]]] = {n: {} for n in stores}
        cpu: dict[str, list[float]] = {n: [] for n in stores}
        server_cpu = dict.fromkeys(stores, 0.0)
        got: list[int] = []
        mismatches = 0
        rng = random.Random(5)
        plan = list(stores)
        for i, (label, query) in enumerate(_queries(rows, warmup + queries, 3)):
            rng.shuffle(plan)
            pages = []
            for name in plan:
                server = backend[name]() if backend[name] else None
                start, start_cpu = time.perf_counter(), time.thread_time()
                page = stores[name].page(query, page_bytes)
                wall, used = time.perf_counter() - start, time.thread_time() - start_cpu
                pages.append(page)
                if i < warmup:
                    continue
                times[name].setdefault(label, []).append(wall)
                times[name].setdefault("overall", []).append(wall)
                cpu[name].append(used)
                after = backend[name]() if backend[name] else None
                if server is not None and after is not None:
                    server_cpu[name] += after - server
            mismatches += pages[0] != pages[1]
            if i >= warmup:
                got.append(len(pages[0].raw_envelopes))
        report: dict[str, Any] = {
            "rows": rows,
            "build_seconds": round(build_seconds, 1),
            "queries": queries,
            "warmup": warmup,
            "mismatches": mismatches,
            "rows_per_page_median": statistics.median(got),
        }
        for name in stores:
            entry: dict[str, Any] = {
                label: {"p50_ms": _ms(values, 0.5), "p99_ms": _ms(values, 0.99)}
                for label, values in times[name].items()
            }
            entry["cpu_p50_ms"] = _ms(cpu[name], 0.5)
            entry["cpu_p99_ms"] = _ms(cpu[name], 0.99)
            if backend[name]:
                entry["server_cpu_mean_ms"] = round(server_cpu[name] / queries * 1000, 2)
            report[name] = entry
        report["p99_ratio_merged_over_scan"] = round(
            report["merged"]["overall"]["p99_ms"] / report["scan"]["overall"]["p99_ms"], 3
        )
        return report
    finally:
        for store in stores.values():
            with contextlib.suppress(Exception):
                store.close()


def explain(url: str, rows: int) -> dict[str, list[str]]:
    """Both plans for one query of each kind (PostgreSQL: EXPLAIN ANALYZE)."""
    store = open_store(url, None)
    try:
        plans = {}
        for label, query in _queries(rows, len(_KINDS), 7):
            for name, merge in (("merged", SqlStore.merge_topics), ("scan", 0)):
                store.merge_topics = merge
                plans[f"{name} {label}"] = store.explain(query, ArchiveConfig().page_bytes)
        return plans
    finally:
        store.close()
