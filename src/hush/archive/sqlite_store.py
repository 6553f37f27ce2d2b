"""The default archive store: SQLite in the data directory (WAL), no other service needed.

A rowid table with a unique index on `(sent, hash)` (the key: SQLite's WITHOUT ROWID tables are
slow for rows of a kilobyte, measured 8k inserts/s here) and an index `(topic, sent, hash)`,
triggers keeping the counts and the distinct topics (see `hush.archive.store` for the rules both
backends follow).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hush.archive.store import SqlStore, topic_ints
from hush.errors import UsageError
from hush.types import Topic

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS envelopes (
    id INTEGER PRIMARY KEY, sent INTEGER NOT NULL, hash BLOB NOT NULL, topic INTEGER NOT NULL,
    expiry INTEGER NOT NULL, size INTEGER NOT NULL, raw BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS envelopes_key ON envelopes (sent, hash);
CREATE INDEX IF NOT EXISTS envelopes_topic ON envelopes (topic, sent, hash);
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


class SqliteStore(SqlStore):
    backend = "sqlite"
    _key_columns = "id"
    _key_join = "e.id = k.id"
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

    def _topic_filter(self, topics: Sequence[Topic]) -> tuple[str, Any]:
        return "topic IN (SELECT value FROM json_each(?))", json.dumps(topic_ints(topics))
