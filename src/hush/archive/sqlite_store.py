"""The default archive store: SQLite in the data directory (WAL), no other service needed.

A rowid table with a unique index on `(sent, hash)` (the key: SQLite's WITHOUT ROWID tables are
slow for rows of a kilobyte, measured 8k inserts/s here) and an index `(topic, sent, hash, size)`
(pages for topic lists read keys and sizes from it alone; it replaced `(topic, sent, hash)`,
which the schema script drops when it finds it: opening an older archive builds the new index
once, about a minute for 5,000,000 rows),
triggers keeping the counts and the distinct topics (see `hush.archive.store` for the rules both
backends follow).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hush.archive.page import Page, PageQuery, cut_page
from hush.archive.store import SqlStore, topic_ints
from hush.errors import UsageError
from hush.types import EnvelopeHash, Topic

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS envelopes (
    id INTEGER PRIMARY KEY, sent INTEGER NOT NULL, hash BLOB NOT NULL, topic INTEGER NOT NULL,
    expiry INTEGER NOT NULL, size INTEGER NOT NULL, raw BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS envelopes_key ON envelopes (sent, hash);
CREATE INDEX IF NOT EXISTS envelopes_by_topic ON envelopes (topic, sent, hash, size);
DROP INDEX IF EXISTS envelopes_topic;
CREATE TABLE IF NOT EXISTS archive_stats (
    id INTEGER PRIMARY KEY CHECK (id = 0), count INTEGER NOT NULL, bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO archive_stats VALUES (0, 0, 0);
CREATE TABLE IF NOT EXISTS archive_topics (
    topic INTEGER PRIMARY KEY, first_sent INTEGER NOT NULL, last_sent INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS envelopes_added AFTER INSERT ON envelopes BEGIN
    UPDATE archive_stats SET count = count + 1, bytes = bytes + NEW.size WHERE id = 0;
    INSERT INTO archive_topics VALUES (NEW.topic, NEW.sent, NEW.sent)
        ON CONFLICT (topic) DO UPDATE SET
            first_sent = min(first_sent, excluded.first_sent),
            last_sent = max(last_sent, excluded.last_sent);
END;
CREATE TRIGGER IF NOT EXISTS envelopes_removed AFTER DELETE ON envelopes BEGIN
    UPDATE archive_stats SET count = count - 1, bytes = bytes - OLD.size WHERE id = 0;
END;
"""


_RAWS = "SELECT id, raw FROM envelopes WHERE id IN (SELECT value FROM json_each(?))"


class SqliteStore(SqlStore):
    backend = "sqlite"
    _key_columns = "id"
    _key_join = "e.id = k.id"
    # A page by the merged plan takes two statements in one read transaction: the keys and sizes
    # from the topic index alone (it covers `(topic, sent, hash, size, id)`, and the merge yields
    # them in order: no sort), then the raws of the rows the byte budget lets in, by rowid. In
    # one statement the window sums would sort the joined raws twice (~half the page's CPU).
    _merge_term = (
        "SELECT id, sent, hash, size FROM envelopes INDEXED BY envelopes_by_topic "
        "WHERE topic = {topic} AND sent >= {lower} AND sent <= {upper}"
    )
    _merge_source = "{}"
    _insert_sql = (
        "INSERT INTO envelopes (sent, hash, topic, expiry, size, raw) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING"
    )

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            conn.commit()
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"cannot open the archive database {path}: {exc}") from exc

    def _connect(self) -> Any:
        conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a process crash
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def page(self, query: PageQuery, max_bytes: int = 0) -> Page:
        plan = self._plan(query)
        if plan is None or not self._merges(plan[0]):
            return super().page(query, max_bytes)
        topics, upper = plan
        assert topics is not None
        text, params = self._page_sql(query, topics, upper, max_bytes)
        conn = self._conn()
        if not conn.in_transaction:  # one snapshot for both statements: no prune between them
            conn.execute("BEGIN")
        try:
            keys = conn.execute(text, params).fetchall()
            taken, cursor = cut_page([(s, h, z) for _, s, h, z in keys], query.limit, max_bytes)
            ids = [key[0] for key in keys[: len(taken)]]
            raws = dict(conn.execute(_RAWS, (json.dumps(ids),)).fetchall())
        finally:
            conn.commit()
        if not taken:
            return Page([], None, None)
        return Page([raws[i] for i in ids], cursor, EnvelopeHash(taken[-1][1]))

    def _page_sql(
        self, query: PageQuery, topics: tuple[Topic, ...] | None, upper: int, max_bytes: int
    ) -> tuple[str, Any]:
        if topics is not None and self._merges(topics):  # the first of the two statements
            return self._merged_keys(query, topics, upper)
        return super()._page_sql(query, topics, upper, max_bytes)

    def _topic_filter(self, topics: Sequence[Topic]) -> tuple[str, Any]:
        return "topic IN (SELECT value FROM json_each(?))", json.dumps(topic_ints(topics))
