"""The archive's storage: one interface, SQLite (default) and PostgreSQL behind it (archive.md §1.6–1.7).

Rules, the same for both backends:

* One table of raw envelopes keyed `(sent, hash)`, with a composite index `(topic, sent, hash)`
  (SQLite: `(topic, sent, hash, size)`); replies send the stored bytes unchanged. Inserting a
  known envelope does nothing.
* Pages are keyset queries, newest first, strictly older than the cursor, `limit + 1` keys read
  from an index, then the raw bytes of those rows only. A topic list (up to `merge_topics`) is
  read by one backward range scan per topic, merged in key order and stopped after `limit + 1`
  rows (H3: 5,000,000 rows, 100 topics, any window); every topic, or a longer list, by one scan.
* Counts and bytes are kept incrementally by triggers in the same transaction as the rows
  (never a full scan), and so are the distinct topics with their first and last `sent`, which turn
  a bloom request into topic lookups.
* Retention deletes in batches (`prune`), an optional size cap drops the oldest (`shrink`).
* **Acknowledged** means `put` returned: its transaction committed. A process killed at any moment
  (SIGKILL) loses no acknowledged envelope (SQLite WAL with synchronous=NORMAL, PostgreSQL's
  default synchronous commit); an OS crash or power loss may, on SQLite, lose the last commits.

Every method blocks: the server calls them on its own threads, never the event loop. Each thread
gets its own connection.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hush.archive.page import Page, PageQuery, cut_page
from hush.errors import UsageError
from hush.shh.envelope import Envelope
from hush.types import EnvelopeHash, Topic

__all__ = ["ArchivedEnvelope", "EnvelopeStore", "SqlStore", "open_store"]

SQLITE_FILE = "archive.sqlite"


@dataclass(frozen=True, slots=True)
class ArchivedEnvelope:
    """One row: the envelope's key, what queries filter on, and its raw encoding."""

    sent: int
    hash: bytes
    topic: Topic
    expiry: int
    raw: bytes

    @classmethod
    def of(
        cls, envelope: Envelope, raw: bytes | None = None, envelope_hash: bytes | None = None
    ) -> ArchivedEnvelope:
        return cls(
            envelope.sent,
            envelope_hash or envelope.hash,
            envelope.topic,
            envelope.expiry,
            raw or envelope.encode(),
        )


class EnvelopeStore(Protocol):
    def put(self, rows: Sequence[ArchivedEnvelope]) -> int:
        """Store and commit `rows`; returns how many were new. Acknowledged when it returns."""
        ...

    def page(self, query: PageQuery, max_bytes: int = 0) -> Page:
        """One page for a query whose topics are resolved (`query.bloom` is None), its envelopes
        under `max_bytes` in all (0: no cap) but at least one."""
        ...

    def topics_between(self, lower: int, upper: int, limit: int) -> list[Topic]:
        """Distinct topics that may have envelopes with `lower ≤ sent ≤ upper` (a superset),
        at most `limit` of them."""
        ...

    def prune(self, before: int, batch: int) -> int:
        """Delete up to `batch` envelopes sent before `before`; returns how many went."""
        ...

    def shrink(self, max_bytes: int, batch: int) -> int:
        """Delete up to `batch` of the oldest envelopes while the raw bytes exceed `max_bytes`."""
        ...

    def count(self) -> int: ...

    def total_bytes(self) -> int: ...

    def close(self) -> None: ...


def _topic_int(topic: bytes) -> int:
    return int.from_bytes(topic, "big")


class SqlStore:
    """What both backends share: the queries, written once, in the `?` placeholder style."""

    _placeholder = "?"
    _named = ":{}"
    """A named parameter (the merged plan's)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._closed = False

    # Backend specifics.

    def _connect(self) -> Any:
        raise NotImplementedError

    def _topic_filter(self, topics: Sequence[Topic]) -> tuple[str, Any]:
        raise NotImplementedError

    _insert_sql = ""
    merge_topics = 200
    """Topic lists up to this long are read by `_merged_keys` (per-topic range scans merged);
    longer lists, and every list when 0, by `_scanned_keys` (one scan and a sort). SQLite allows
    500 terms in a compound SELECT; the plan's cost grows with its terms."""
    _merge_term = ""
    """One term of the merged plan: rows of topic `{topic}` with `{lower} <= sent <= {upper}`."""
    _merge_term_limit = False
    """Each term carries its own ORDER BY and LIMIT (PostgreSQL)."""
    _merge_source = ""
    """The FROM clause around the merged keys (`{}`), as `e`."""
    _key_columns = "sent, hash"
    """What the index part of a page query selects, and how the rows are joined back (`k`)."""
    _key_join = "e.sent = k.sent AND e.hash = k.hash"

    # Shared machinery.

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                if self._closed:
                    raise UsageError("archive store is closed")
                conn = self._connect()
                self._connections.append(conn)
            self._local.conn = conn
        return conn

    def _sql(self, text: str) -> str:
        return text if self._placeholder == "?" else text.replace("?", self._placeholder)

    def _query(self, text: str, params: Sequence[Any] = ()) -> list[Any]:
        conn = self._conn()
        cursor = conn.execute(self._sql(text), params)
        rows = cursor.fetchall()
        conn.commit()  # ends the read transaction (PostgreSQL would hold a snapshot otherwise)
        return list(rows)

    def put(self, rows: Sequence[ArchivedEnvelope]) -> int:
        if not rows:
            return 0
        conn = self._conn()
        before = self._count_in(conn)
        conn.cursor().executemany(
            self._sql(self._insert_sql),
            [
                (row.sent, row.hash, _topic_int(row.topic), row.expiry, len(row.raw), row.raw)
                for row in rows
            ],
        )
        after = self._count_in(conn)
        conn.commit()
        return int(after - before)

    def _count_in(self, conn: Any) -> int:
        return int(conn.execute("SELECT count FROM archive_stats WHERE id = 0").fetchone()[0])

    def page(self, query: PageQuery, max_bytes: int = 0) -> Page:
        plan = self._plan(query)
        if plan is None:
            return Page([], None, None)
        return self._page_of(
            self._query(*self._page_sql(query, *plan, max_bytes)), query, max_bytes
        )

    def explain(self, query: PageQuery, max_bytes: int = 0) -> list[str]:
        """The planner's plan for `page(query, max_bytes)` (its first statement), one line per
        step."""
        plan = self._plan(query)
        if plan is None:
            return []
        text, params = self._page_sql(query, *plan, max_bytes)
        return [str(line[-1]) for line in self._query(self._explain + text, params)]

    _explain = "EXPLAIN QUERY PLAN "

    def _plan(self, query: PageQuery) -> tuple[tuple[Topic, ...] | None, int] | None:
        """The distinct topics (None: all) and the effective upper bound; None when nothing
        can match."""
        if query.bloom is not None:
            raise UsageError("resolve the bloom into topics before querying")
        topics = None if query.topics is None else tuple(dict.fromkeys(query.topics))
        upper = query.upper
        if query.cursor is not None:  # (sent, hash) < cursor implies sent <= cursor.sent
            upper = min(upper, query.cursor.sent)
        if (topics is not None and not topics) or upper < query.lower:
            return None
        return topics, upper

    def _merges(self, topics: tuple[Topic, ...] | None) -> bool:
        return topics is not None and len(topics) <= self.merge_topics

    def _page_sql(
        self, query: PageQuery, topics: tuple[Topic, ...] | None, upper: int, max_bytes: int
    ) -> tuple[str, Any]:
        """The page's statement, returning `(sent, hash, size, raw or NULL)` newest first, and
        its parameters (a list for `?`, a dict for the merged plan's named ones)."""
        budget = max_bytes or 1 << 62
        if topics is not None and self._merges(topics):
            source, named = self._merged_keys(query, topics, upper)
            named |= {"limit": query.limit, "budget": budget}
            return self._windowed(source, self._name("limit"), self._name("budget")), named
        source, params = self._scanned_keys(query, topics)
        return self._windowed(source, "?", "?"), [query.limit, budget, *params]

    @staticmethod
    def _windowed(source: str, limit: str, budget: str) -> str:
        # One round trip: limit + 1 keys, then each row's size and, while the running size stays
        # within the page's byte budget (and never past `limit`), its raw bytes.
        return (
            f"SELECT sent, hash, size, CASE WHEN n <= {limit} AND (n = 1 OR running <= {budget}) "  # noqa: S608
            "THEN raw END FROM (SELECT e.sent, e.hash, e.size, e.raw, row_number() OVER w AS n, "
            f"sum(e.size) OVER w AS running FROM {source} "
            "WINDOW w AS (ORDER BY e.sent DESC, e.hash DESC)) t ORDER BY sent DESC, hash DESC"
        )

    @classmethod
    def _name(cls, name: str) -> str:
        return cls._named.format(name)

    @staticmethod
    def _page_of(rows: Sequence[Any], query: PageQuery, max_bytes: int) -> Page:
        keys, cursor = cut_page(
            [(int(sent), bytes(h), int(size)) for sent, h, size, _ in rows], query.limit, max_bytes
        )
        if not keys:
            return Page([], None, None)
        envelopes = [bytes(raw) for _, _, _, raw in rows[: len(keys)]]
        return Page(envelopes, cursor, EnvelopeHash(keys[-1][1]))

    def _scanned_keys(
        self, query: PageQuery, topics: tuple[Topic, ...] | None
    ) -> tuple[str, list[Any]]:
        """One scan for every topic: the `(sent, hash)` index newest first (all topics), or
        the topic index over the whole list and a sort of everything in the range."""
        where = ["sent >= ?", "sent <= ?"]
        params: list[Any] = [query.lower, query.upper]
        if topics is not None:
            clause, value = self._topic_filter(topics)
            where.append(clause)
            params.append(value)
        if query.cursor is not None:
            where.append("(sent, hash) < (?, ?)")
            params += [query.cursor.sent, query.cursor.hash]
        params.append(query.limit + 1)
        source = (
            f"envelopes e JOIN (SELECT {self._key_columns} FROM envelopes "  # noqa: S608
            f"WHERE {' AND '.join(where)} ORDER BY sent DESC, hash DESC LIMIT ?) k "
            f"ON {self._key_join}"
        )
        return source, params

    def _merged_keys(
        self, query: PageQuery, topics: tuple[Topic, ...], upper: int
    ) -> tuple[str, dict[str, Any]]:
        """One bounded backward range scan of the topic index per topic, merged by the
        planner in key order (SQLite: a compound SELECT's ordered merge of co-routines;
        PostgreSQL: Merge Append), stopped after `limit + 1` rows: at most `limit + 1` plus
        one look-ahead row per topic are read, however many rows the range holds. Named
        parameters: the bounds are bound once, not once per topic."""
        params: dict[str, Any] = {"lower": query.lower, "upper": upper, "rows": query.limit + 1}
        if query.cursor is not None:
            params |= {"csent": query.cursor.sent, "chash": query.cursor.hash}
        params |= {f"t{i}": topic for i, topic in enumerate(topic_ints(topics))}
        return self._merged_text(len(topics), query.cursor is not None), params

    @classmethod
    @functools.lru_cache(maxsize=1024)  # per backend, topic count and cursor
    def _merged_text(cls, count: int, cursor: bool) -> str:
        name = cls._name
        extra = f" AND (sent, hash) < ({name('csent')}, {name('chash')})" if cursor else ""
        ordered = f" ORDER BY sent DESC, hash DESC LIMIT {name('rows')}"
        terms = [
            cls._merge_term.format(topic=name(f"t{i}"), lower=name("lower"), upper=name("upper"))
            + extra
            for i in range(count)
        ]
        if count == 1:
            return cls._merge_source.format(terms[0] + ordered)
        if cls._merge_term_limit:
            terms = [f"({term}{ordered})" for term in terms]
        return cls._merge_source.format(" UNION ALL ".join(terms) + ordered)

    def topics_between(self, lower: int, upper: int, limit: int = 1_000_000) -> list[Topic]:
        rows = self._query(
            "SELECT topic FROM archive_topics WHERE last_sent >= ? AND first_sent <= ? LIMIT ?",
            (lower, upper, limit),
        )
        return [Topic(int(t).to_bytes(4, "big")) for (t,) in rows]

    def _delete_keys(self, select: str, params: Sequence[Any]) -> int:
        conn = self._conn()
        before = self._count_in(conn)
        text = f"DELETE FROM envelopes WHERE (sent, hash) IN ({select})"  # noqa: S608 - fixed SQL
        conn.execute(self._sql(text), params)
        after = self._count_in(conn)
        conn.commit()
        return int(before - after)

    def prune(self, before: int, batch: int) -> int:
        deleted = self._delete_keys(
            "SELECT sent, hash FROM envelopes WHERE sent < ? ORDER BY sent, hash LIMIT ?",
            (before, batch),
        )
        conn = self._conn()
        conn.execute(self._sql("DELETE FROM archive_topics WHERE last_sent < ?"), (before,))
        conn.commit()
        return deleted

    def shrink(self, max_bytes: int, batch: int) -> int:
        excess = self.total_bytes() - max_bytes
        if excess <= 0:
            return 0
        oldest = self._query(
            "SELECT sent, hash, size FROM envelopes ORDER BY sent, hash LIMIT ?", (batch,)
        )
        keys = []
        for sent, envelope_hash, size in oldest:
            if excess <= 0:
                break
            keys.append((sent, envelope_hash))
            excess -= size
        conn = self._conn()
        conn.cursor().executemany(
            self._sql("DELETE FROM envelopes WHERE sent = ? AND hash = ?"), keys
        )
        conn.commit()
        return len(keys)

    def count(self) -> int:
        return int(self._query("SELECT count FROM archive_stats WHERE id = 0")[0][0])

    def total_bytes(self) -> int:
        return int(self._query("SELECT bytes FROM archive_stats WHERE id = 0")[0][0])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(Exception):  # another thread's connection: best effort
                conn.close()


def open_store(url: str | None, data_dir: Path | None) -> SqlStore:
    """`postgresql://…` (or `postgres://…`): PostgreSQL; `sqlite:///path`, a path, or nothing:
    SQLite (nothing: `archive.sqlite` in the data directory)."""
    if url and url.startswith(("postgresql://", "postgres://")):
        from hush.archive.postgres_store import PostgresStore  # noqa: PLC0415 - psycopg is optional

        return PostgresStore(url)
    from hush.archive.sqlite_store import SqliteStore  # noqa: PLC0415 - (it imports this module)

    if url:
        path = Path(url.removeprefix("sqlite://")) if url.startswith("sqlite://") else Path(url)
    elif data_dir is not None:
        path = data_dir / SQLITE_FILE
    else:
        raise UsageError("an archive needs a data directory or a database URL")
    return SqliteStore(path)


def topic_ints(topics: Iterable[Topic]) -> list[int]:
    return [_topic_int(t) for t in topics]
