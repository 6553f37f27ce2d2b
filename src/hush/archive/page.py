"""Page logic: a request's bounds resolved against `now`, and a store's rows cut into a page
(archive.md §1.2, §1.3, §1.7).

* `limit` 0 means 1000; above 1000 is refused. The store reads `limit + 1` rows: the page is the
  first `limit`, and the next cursor is given only when a row was left over, so the last page
  carries no cursor (status-go's always-cursor costs its clients one empty page).
* `upper` 0 means now + 60 s (status-go's `whisperTTLSafeThreshold`); wnode's 0xFFFFFFFF ("no upper
  limit") is the same open bound — geth's `upper + 1` overflows to 0 there and answers nothing.
* Topics, when given, win over the bloom; a bloom becomes a topic list through the store's distinct
  topics (`topics_for_bloom`), so queries are index lookups; a full bloom is no filter at all.
* Raw requests may be capped to a range (off by default: wnode asks for unbounded ranges).

Pure: `now` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hush.archive.cursor import Cursor
from hush.archive.request import Dialect, HistoryRequest, RequestRefused
from hush.shh.topic import FULL_BLOOM, bloom_matches, topic_to_bloom
from hush.types import Bloom, EnvelopeHash, Topic

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "OPEN_UPPER_SLACK",
    "Page",
    "PageQuery",
    "cut_page",
    "resolve",
    "topics_for_bloom",
]

MAX_LIMIT = 1000  # status-go MaxLimitInMessagesRequest / maxQueryLimit
DEFAULT_LIMIT = 1000
OPEN_UPPER_SLACK = 60  # status-go whisperTTLSafeThreshold
_OPEN_UPPERS = (0, 0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class PageQuery:
    """What a store is asked: rows with `lower ≤ sent ≤ upper`, strictly older than `cursor`,
    of `topics` (None: every topic), newest first, `limit` of them (the store reads one more)."""

    lower: int
    upper: int
    topics: tuple[Topic, ...] | None
    limit: int
    cursor: Cursor | None = None
    bloom: Bloom | None = None
    """Set instead of topics when the request gave a partial bloom: the caller turns it into
    topics with the store's distinct topics before querying."""


@dataclass(frozen=True, slots=True)
class Page:
    raw_envelopes: list[bytes]
    """Newest first, as stored."""
    next_cursor: Cursor | None
    last_hash: EnvelopeHash | None
    """Hash of the page's last (oldest) envelope."""


def resolve(request: HistoryRequest, now: int, raw_max_range: int = 0) -> PageQuery:
    """The store query a request asks for; `RequestRefused` for what the server won't serve."""
    limit = request.limit or DEFAULT_LIMIT
    if limit > MAX_LIMIT:
        raise RequestRefused(f"limit {limit} exceeds {MAX_LIMIT}")
    lower = request.lower
    upper = request.upper
    if upper in _OPEN_UPPERS:
        upper = min(now + OPEN_UPPER_SLACK, 0xFFFFFFFF)
    if lower > upper:
        raise RequestRefused(f"invalid time range: from {lower} is after to {upper}")
    if (
        raw_max_range
        and request.dialect in (Dialect.RAW, Dialect.RAW_PAGED)
        and upper - lower > raw_max_range
    ):
        raise RequestRefused(f"time range exceeds {raw_max_range} seconds")
    if request.topics:
        return PageQuery(lower, upper, request.topics, limit, request.cursor)
    if request.bloom == FULL_BLOOM:
        return PageQuery(lower, upper, None, limit, request.cursor)
    return PageQuery(lower, upper, None, limit, request.cursor, bloom=request.bloom)


def topics_for_bloom(candidates: Iterable[Topic], bloom: Bloom) -> tuple[Topic, ...]:
    """The candidate topics whose geth bloom (overwrite semantics) lies inside `bloom`."""
    return tuple(t for t in candidates if bloom_matches(bloom, topic_to_bloom(t)))


def cut_page(
    rows: Sequence[tuple[int, bytes, int]], limit: int, max_bytes: int = 0
) -> tuple[list[tuple[int, bytes]], Cursor | None]:
    """The keys of one page, and the next cursor. `rows` are `(sent, hash, size)`, newest first,
    at most `limit + 1` of them. A page also ends before `max_bytes` of envelopes (0: no cap),
    but takes at least one, so every page makes progress."""
    if len(rows) > limit + 1:
        raise ValueError("a store returned more than limit + 1 rows")
    taken: list[tuple[int, bytes]] = []
    total = 0
    for sent, envelope_hash, size in rows[:limit]:
        if max_bytes and taken and total + size > max_bytes:
            break
        taken.append((sent, envelope_hash))
        total += size
    cursor = None
    if len(rows) > len(taken) and taken:
        sent, envelope_hash = taken[-1]
        cursor = Cursor(sent, EnvelopeHash(envelope_hash))
    return taken, cursor
