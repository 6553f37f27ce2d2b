"""The archive store for servers that outgrow one machine: PostgreSQL (`postgresql://` URL),
through psycopg 3, with the same schema, triggers and queries as the SQLite store.

Writes are one statement per batch (`unnest` of arrays) and the triggers run once per statement
over its transition table: per-row plpgsql triggers and one INSERT per row made ingest ~10x
slower."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Sequence
from typing import Any

from hush.archive.store import ArchivedEnvelope, SqlStore, topic_ints
from hush.errors import UsageError
from hush.types import Topic

__all__ = ["PostgresStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS envelopes (
    sent BIGINT NOT NULL, hash BYTEA NOT NULL, topic BIGINT NOT NULL,
    expiry BIGINT NOT NULL, size INTEGER NOT NULL, raw BYTEA NOT NULL,
    PRIMARY KEY (sent, hash)
);
CREATE INDEX IF NOT EXISTS envelopes_topic ON envelopes (topic, sent, hash);
CREATE TABLE IF NOT EXISTS archive_stats (
    id INTEGER PRIMARY KEY CHECK (id = 0), count BIGINT NOT NULL, bytes BIGINT NOT NULL
);
INSERT INTO archive_stats VALUES (0, 0, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS archive_topics (
    topic BIGINT PRIMARY KEY, first_sent BIGINT NOT NULL, last_sent BIGINT NOT NULL
);
CREATE OR REPLACE FUNCTION hush_envelopes_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE archive_stats SET count = count + (SELECT count(*) FROM added),
        bytes = bytes + (SELECT coalesce(sum(size), 0) FROM added) WHERE id = 0;
    INSERT INTO archive_topics SELECT topic, min(sent), max(sent) FROM added GROUP BY topic
        ON CONFLICT (topic) DO UPDATE SET
            first_sent = LEAST(archive_topics.first_sent, EXCLUDED.first_sent),
            last_sent = GREATEST(archive_topics.last_sent, EXCLUDED.last_sent);
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION hush_envelopes_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE archive_stats SET count = count - (SELECT count(*) FROM removed),
        bytes = bytes - (SELECT coalesce(sum(size), 0) FROM removed) WHERE id = 0;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER envelopes_added AFTER INSERT ON envelopes
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION hush_envelopes_added();
CREATE OR REPLACE TRIGGER envelopes_removed AFTER DELETE ON envelopes
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION hush_envelopes_removed();
"""

_INSERT = (
    "INSERT INTO envelopes (sent, hash, topic, expiry, size, raw) SELECT * FROM unnest("
    "%b::bigint[], %b::bytea[], %b::bigint[], %b::bigint[], %b::int[], %b::bytea[])"
)
"""One statement per batch; `%b`: the arrays go in binary (text escaping of the raws took 5/6
of the writer's CPU)."""


@functools.lru_cache(maxsize=512)
def _numbered(text: str) -> tuple[str, tuple[str, ...]]:
    """`%(name)s` placeholders as PostgreSQL's `$n`, and the names in `$n` order. psycopg would
    parse a statement this long (100 terms: ~15 KB; it caches up to 4 KB) on every call, ~9 ms;
    its raw cursor takes `$n` as they are."""
    order: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        return order.setdefault(match.group(1), f"${len(order) + 1}")

    return _NAMED.sub(number, text), tuple(order)


_NAMED = re.compile(r"%\((\w+)\)s")


class PostgresStore(SqlStore):
    _placeholder = "%s"
    _named = "%({})s"
    backend = "postgresql"
    # Each term an index scan of `(topic, sent, hash)` that fetches its rows' raws as it goes
    # (no second lookup by key; no reliance on the visibility map, which lags for new rows).
    _merge_term = (
        "SELECT sent, hash, size, raw FROM envelopes "
        "WHERE topic = {topic} AND sent >= {lower} AND sent <= {upper}"
    )
    _merge_term_limit = True
    _merge_source = "({}) e"
    _explain = "EXPLAIN (ANALYZE, BUFFERS) "
    _insert_sql = (
        "INSERT INTO envelopes (sent, hash, topic, expiry, size, raw) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING"
    )

    def __init__(self, url: str):
        super().__init__()
        try:
            import psycopg  # noqa: PLC0415 - optional: only postgresql:// archives need it
        except ImportError as exc:
            raise UsageError(
                "a postgresql:// archive needs psycopg: pip install 'hush[postgres]'"
            ) from exc
        self._psycopg = psycopg
        self.url = url
        try:
            conn = self._conn()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(7162841)")  # one schema creator
                conn.execute(_SCHEMA)
            conn.commit()
        except psycopg.Error as exc:
            raise UsageError(f"cannot open the archive database: {exc}") from exc

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(self.url, connect_timeout=10)
        except self._psycopg.Error as exc:
            raise UsageError(f"cannot connect to the archive database: {exc}") from exc

    def _topic_filter(self, topics: Sequence[Topic]) -> tuple[str, Any]:
        return "topic = ANY(?)", topic_ints(topics)

    def _query(self, text: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        conn = self._conn()
        if isinstance(params, dict):  # the merged plan's named parameters
            numbered, order = _numbered(text)
            cursor = self._psycopg.RawCursor(conn)
            cursor.execute(numbered, [params[name] for name in order], binary=True)
        else:
            cursor = conn.execute(self._sql(text), params, binary=True)  # bytea unencoded
        rows = cursor.fetchall()
        conn.commit()
        return list(rows)

    def put(self, rows: Sequence[ArchivedEnvelope]) -> int:
        if not rows:
            return 0
        try:
            return self._put(rows)
        except self._psycopg.Error:
            self._drop_broken()
            raise

    def _drop_broken(self) -> None:
        """After a failed write: roll back, and forget a connection the server closed (the next
        call reconnects: the ingest queue retries its batch)."""
        conn = self._conn()
        if conn.broken or conn.closed:
            self._local.conn = None
            with self._lock, contextlib.suppress(ValueError):
                self._connections.remove(conn)
            with contextlib.suppress(Exception):
                conn.close()
        else:
            with contextlib.suppress(Exception):
                conn.rollback()

    def _put(self, rows: Sequence[ArchivedEnvelope]) -> int:
        """A plain INSERT first: ON CONFLICT's speculative insertion costs the server ~20 % more
        per row, and a batch rarely holds a known envelope (the pool deduplicates; after a
        restart or a sync it may). If one does, the batch goes again with ON CONFLICT."""
        conn = self._conn()
        params = (
            [row.sent for row in rows],
            [row.hash for row in rows],
            topic_ints(row.topic for row in rows),
            [row.expiry for row in rows],
            [len(row.raw) for row in rows],
            [row.raw for row in rows],
        )
        try:
            cursor = conn.execute(_INSERT, params)
        except self._psycopg.errors.UniqueViolation:
            conn.rollback()
            cursor = conn.execute(_INSERT + " ON CONFLICT DO NOTHING", params)
        inserted = int(cursor.rowcount)
        conn.commit()
        return inserted
