"""The store suite, run against both backends with real databases (SQLite file, PostgreSQL server)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from hush.archive.cursor import Cursor
from hush.archive.page import PageQuery
from hush.archive.store import ArchivedEnvelope, SqlStore
from hush.errors import UsageError
from hush.types import EnvelopeHash, Topic

T = [Topic(i.to_bytes(4, "big")) for i in (1, 2, 0xFFFFFFFF)]


def row(sent: int, topic: Topic, tag: int = 0, size: int = 10) -> ArchivedEnvelope:
    digest = hashlib.sha256(f"{sent}/{topic.hex()}/{tag}".encode()).digest()
    raw = b"\xc0" + digest[:1] * (size - 1)
    return ArchivedEnvelope(sent, digest, topic, sent + 50, raw)


def all_pages(store: SqlStore, query: PageQuery) -> list[list[bytes]]:
    pages = []
    cursor: Cursor | None = None
    for _ in range(100):
        page = store.page(PageQuery(query.lower, query.upper, query.topics, query.limit, cursor))
        pages.append(page.raw_envelopes)
        cursor = page.next_cursor
        if cursor is None:
            return pages
    raise AssertionError("paging did not end")


def test_put_is_idempotent_and_counted(make_store: Callable[[], SqlStore]) -> None:
    store = make_store()
    rows = [row(100 + i, T[i % 3], i) for i in range(30)]
    assert store.put(rows) == 30
    assert store.put([*rows[:10], row(500, T[0])]) == 1
    assert store.count() == 31
    assert store.total_bytes() == 31 * 10
    reopened = make_store()  # a restart: counts come back, no scan
    assert reopened.count() == 31


def test_pages_newest_first_exclusive_cursor_no_duplicates(
    make_store: Callable[[], SqlStore],
) -> None:
    store = make_store()
    # Several rows share a second: the cursor must split a second without loss or repeats.
    rows = [row(1000 + i // 4, T[i % 2], i) for i in range(50)]
    store.put(rows)
    pages = all_pages(store, PageQuery(0, 0xFFFFFFFF, None, 7))
    assert [len(p) for p in pages] == [7] * 7 + [1]
    flat = [raw for page in pages for raw in page]
    expected = [r.raw for r in sorted(rows, key=lambda r: (r.sent, r.hash), reverse=True)]
    assert flat == expected
    exact = all_pages(store, PageQuery(0, 0xFFFFFFFF, None, 25))
    assert [len(p) for p in exact] == [25, 25]  # the last full page carries no cursor
    capped = store.page(PageQuery(0, 0xFFFFFFFF, None, 25), max_bytes=35)
    assert capped.raw_envelopes == expected[:3] and capped.next_cursor is not None


def test_topics_and_bounds(make_store: Callable[[], SqlStore]) -> None:
    store = make_store()
    rows = [row(2000 + i, T[i % 3], i) for i in range(60)]
    store.put(rows)
    page = store.page(PageQuery(2010, 2030, (T[2], T[0]), 1000))
    want = [r for r in rows if 2010 <= r.sent <= 2030 and r.topic in (T[0], T[2])]
    assert page.raw_envelopes == [r.raw for r in sorted(want, key=lambda r: r.sent, reverse=True)]
    assert page.next_cursor is None
    assert page.last_hash == min(want, key=lambda r: r.sent).hash
    assert store.page(PageQuery(2010, 2030, (), 10)).raw_envelopes == []
    assert store.page(PageQuery(5000, 6000, None, 10)).raw_envelopes == []
    with pytest.raises(UsageError):
        store.page(PageQuery(0, 1, None, 10, bloom=b"\x00" * 64))  # type: ignore[arg-type]


def test_topics_between_is_kept_incrementally(make_store: Callable[[], SqlStore]) -> None:
    store = make_store()
    store.put([row(100, T[0]), row(200, T[1]), row(300, T[1]), row(400, T[2])])
    assert sorted(store.topics_between(150, 250)) == [T[1]]
    assert sorted(store.topics_between(0, 1000)) == sorted(T)
    assert store.topics_between(500, 600) == []


def test_prune_in_batches_and_size_cap(make_store: Callable[[], SqlStore]) -> None:
    store = make_store()
    store.put([row(100 + i, T[0], i) for i in range(25)])
    assert store.prune(110, 4) == 4
    assert store.prune(110, 100) == 6
    assert store.prune(110, 100) == 0
    assert store.count() == 15
    assert store.page(PageQuery(0, 109, None, 100)).raw_envelopes == []
    store.put([row(50, T[2])])  # pruned topics go once their last envelope is old
    store.prune(110, 100)
    assert T[2] not in store.topics_between(0, 10_000)
    assert store.shrink(100, 3) == 3  # 150 bytes over a 100-byte cap: the 3 oldest first
    assert store.page(PageQuery(0, 112, None, 100)).raw_envelopes == []
    assert store.shrink(100, 100) == 2
    assert store.shrink(100, 100) == 0
    assert store.total_bytes() == 100


def test_open_store_refuses_what_it_cannot_open(tmp_path: object) -> None:
    from pathlib import Path

    from hush.archive.store import open_store

    assert isinstance(tmp_path, Path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot open"):
        open_store(str(blocker / "sub" / "archive.sqlite"), None)
    with pytest.raises(UsageError, match="data directory"):
        open_store(None, None)
    with pytest.raises(UsageError, match="cannot connect"):
        open_store("postgresql://nobody@/nodb?host=/nonexistent-dir", None)


def test_merged_plan_pages_exactly_as_the_single_scan(make_store: Callable[[], SqlStore]) -> None:
    """The per-topic merged plan against the plan it replaced (one scan and a sort), on a random
    store with many rows per second (ties in `sent`, split by the hash): every page, cursor and
    last hash the same, for lists with repeated topics, byte caps and cursors inside ties."""
    rng = random.Random(11)
    topics = [Topic(rng.randbytes(4)) for _ in range(12)]
    rows = [
        row(1000 + rng.randrange(120), rng.choice(topics), i, size=rng.randrange(5, 60))
        for i in range(800)
    ]
    merged, scanned = make_store(), make_store()
    assert merged.put(rows) == len(rows)
    scanned.merge_topics = 0
    keys = sorted(((r.sent, r.hash) for r in rows), reverse=True)
    checked = 0
    for _ in range(40):
        wanted = tuple(rng.choice(topics) for _ in range(rng.randrange(1, 8)))
        lower = rng.randrange(990, 1100)
        upper = rng.randrange(lower, 1130)
        limit = rng.choice([2, 17, 100, 1000])
        max_bytes = rng.choice([0, 0, 50, 400])
        sent, digest = rng.choice(keys)
        cursor = rng.choice([None, Cursor(sent, EnvelopeHash(digest))])
        for _ in range(10):  # follow the cursor (to the end of the range, mostly)
            query = PageQuery(lower, upper, wanted, limit, cursor)
            got, want = merged.page(query, max_bytes), scanned.page(query, max_bytes)
            assert got == want
            checked += len(got.raw_envelopes)
            cursor = got.next_cursor
            if cursor is None:
                break
    assert checked > 800


def test_merged_plan_is_the_plan_for_topic_lists(make_store: Callable[[], SqlStore]) -> None:
    store = make_store()
    store.put([row(100 + i, T[i % 3], i) for i in range(30)])
    query = PageQuery(0, 1000, (T[0], T[1]), 10)
    merged = "\n".join(store.explain(query))
    store.merge_topics = 0
    scanned = "\n".join(store.explain(query))
    if store.backend == "sqlite":
        assert "MERGE (UNION ALL)" in merged and "COVERING INDEX envelopes_by_topic" in merged
        assert "USE TEMP B-TREE" not in merged  # the merge yields keys in order
        assert "MERGE" not in scanned
    else:
        assert "Merge Append" in merged
        assert "Merge Append" not in scanned


def test_sqlite_archive_with_the_old_topic_index_is_migrated_on_open(tmp_path: Path) -> None:
    import sqlite3

    from hush.archive.store import open_store

    path = tmp_path / "archive.sqlite"
    store = open_store(str(path), None)
    rows = [row(100 + i, T[i % 3], i) for i in range(20)]
    store.put(rows)
    store.close()
    with sqlite3.connect(path) as conn:  # the schema before envelopes_by_topic
        conn.execute("DROP INDEX envelopes_by_topic")
        conn.execute("CREATE INDEX envelopes_topic ON envelopes (topic, sent, hash)")
    reopened = open_store(str(path), None)
    indexes = reopened._query("SELECT name FROM sqlite_master WHERE type = 'index'")
    assert sorted(name for (name,) in indexes) == ["envelopes_by_topic", "envelopes_key"]
    page = reopened.page(PageQuery(0, 1000, (T[1],), 100))
    assert page.raw_envelopes == [
        r.raw for r in sorted(rows, key=lambda r: -r.sent) if r.topic == T[1]
    ]
    reopened.close()
