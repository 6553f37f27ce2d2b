"""The archive store for servers that outgrow one machine: PostgreSQL (`postgresql://` URL),
through psycopg 3, with the same schema, triggers and queries as the SQLite store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hush.archive.store import SqlStore, topic_ints
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
CREATE OR REPLACE FUNCTION hush_envelope_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE archive_stats SET count = count + 1, bytes = bytes + NEW.size WHERE id = 0;
    INSERT INTO archive_topics VALUES (NEW.topic, NEW.sent, NEW.sent)
        ON CONFLICT (topic) DO UPDATE SET
            first_sent = LEAST(archive_topics.first_sent, EXCLUDED.first_sent),
            last_sent = GREATEST(archive_topics.last_sent, EXCLUDED.last_sent);
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION hush_envelope_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE archive_stats SET count = count - 1, bytes = bytes - OLD.size WHERE id = 0;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER envelopes_added AFTER INSERT ON envelopes
    FOR EACH ROW EXECUTE FUNCTION hush_envelope_added();
CREATE OR REPLACE TRIGGER envelopes_removed AFTER DELETE ON envelopes
    FOR EACH ROW EXECUTE FUNCTION hush_envelope_removed();
"""


class PostgresStore(SqlStore):
    _placeholder = "%s"
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

    def _keys(self, conditions: str, params: list[Any]) -> list[tuple[int, bytes, int, Any]]:
        text = (
            "SELECT e.sent, e.hash, e.size FROM envelopes e JOIN ("  # noqa: S608
            f"SELECT sent, hash FROM envelopes WHERE {conditions} "
            "ORDER BY sent DESC, hash DESC LIMIT ?) k ON e.sent = k.sent AND e.hash = k.hash "
            "ORDER BY e.sent DESC, e.hash DESC"
        )
        rows = self._query(text, params)
        return [(int(s), bytes(h), int(n), (int(s), bytes(h))) for s, h, n in rows]

    def _raws(self, row_ids: list[Any]) -> list[bytes | None]:
        found = {
            (int(s), bytes(h)): bytes(r)
            for s, h, r in self._query(
                "SELECT e.sent, e.hash, e.raw FROM envelopes e JOIN unnest(?::bigint[], ?::bytea[])"
                " AS k(sent, hash) ON e.sent = k.sent AND e.hash = k.hash",
                ([s for s, _ in row_ids], [h for _, h in row_ids]),
            )
        }
        return [found.get(key) for key in row_ids]
