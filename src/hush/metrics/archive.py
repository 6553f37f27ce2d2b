"""The archive's counters: what the mail server and the history client call (hardening.md §5.2).

The archive (issue 11) gets this object as `NodeStats.archive` and calls one method per event;
nothing here knows how the archive works. Labels are bounded: a dialect or result outside the
vocabularies below counts as `other`, and at most `MAX_BACKENDS` backend names are kept.

Server side:
- `request(dialect, result, seconds=None, backend=...)` — one mail request (code 126) handled:
  `hush_mail_requests_total{dialect,result}`, and with `seconds` (request → last 125 sent)
  `hush_mail_request_duration_seconds{backend}`;
- `sent(envelopes, size)` — history envelopes sent to a requester;
- `query(backend, filter, seconds)` — one page query of the store (`filter`: topics or bloom);
- `archived(backend, count=1)`, `pruned(backend, count)`, `set_archived(backend, total)` —
  the archived-envelope gauge, kept incrementally (set once at start from the store's count);
- `archive_error(backend)` — a failed write.

Client side: `history(result, seconds=None)` — one history request page completed, failed or
expired, and how long it took.
"""

from __future__ import annotations

from hush.metrics.counters import DURATION_BUCKETS, Histogram

__all__ = ["DIALECTS", "FILTERS", "HISTORY_RESULTS", "MAX_BACKENDS", "RESULTS", "ArchiveStats"]

DIALECTS = frozenset({"raw", "status_v1", "status_v2", "waku", "direct"})
RESULTS = frozenset({"ok", "invalid", "rate_limited", "error"})
FILTERS = frozenset({"topics", "bloom"})
HISTORY_RESULTS = frozenset({"completed", "failed", "expired"})
MAX_BACKENDS = 8
_OTHER = "other"


def _pick(value: str, allowed: frozenset[str]) -> str:
    return value if value in allowed else _OTHER


class ArchiveStats:
    """Counters of the mail server and the history client (see the module's list)."""

    def __init__(self) -> None:
        self.used = False
        """Whether anything was counted (the exporter leaves the family out until then)."""
        self.requests: dict[tuple[str, str], int] = {}
        self.request_seconds: dict[str, Histogram] = {}
        self.envelopes_sent = 0
        self.bytes_sent = 0
        self.query_seconds: dict[tuple[str, str], Histogram] = {}
        self.archived_now: dict[str, int] = {}
        self.archived_total: dict[str, int] = {}
        """Envelopes written per backend since start (a counter; `archived_now` is the gauge)."""
        self.errors: dict[str, int] = {}
        self.pruned_total: dict[str, int] = {}
        self.history_requests: dict[str, int] = {}
        self.history_seconds = Histogram(DURATION_BUCKETS)
        self._backends: set[str] = set()

    def _backend(self, backend: str) -> str:
        name = backend[:32]
        if name not in self._backends:
            if len(self._backends) >= MAX_BACKENDS:
                return _OTHER
            self._backends.add(name)
        return name

    def request(
        self, dialect: str, result: str, seconds: float | None = None, backend: str = "sqlite"
    ) -> None:
        self.used = True
        key = (_pick(dialect, DIALECTS), _pick(result, RESULTS))
        self.requests[key] = self.requests.get(key, 0) + 1
        if seconds is not None:
            name = self._backend(backend)
            self.request_seconds.setdefault(name, Histogram(DURATION_BUCKETS)).observe(seconds)

    def sent(self, envelopes: int, size: int) -> None:
        self.used = True
        self.envelopes_sent += envelopes
        self.bytes_sent += size

    def query(self, backend: str, filter: str, seconds: float) -> None:
        self.used = True
        key = (self._backend(backend), _pick(filter, FILTERS))
        self.query_seconds.setdefault(key, Histogram(DURATION_BUCKETS)).observe(seconds)

    def set_archived(self, backend: str, total: int) -> None:
        self.used = True
        self.archived_now[self._backend(backend)] = total

    def archived(self, backend: str, count: int = 1) -> None:
        self.used = True
        name = self._backend(backend)
        self.archived_now[name] = self.archived_now.get(name, 0) + count
        self.archived_total[name] = self.archived_total.get(name, 0) + count

    def pruned(self, backend: str, count: int) -> None:
        self.used = True
        name = self._backend(backend)
        self.archived_now[name] = max(0, self.archived_now.get(name, 0) - count)
        self.pruned_total[name] = self.pruned_total.get(name, 0) + count

    def archive_error(self, backend: str) -> None:
        self.used = True
        name = self._backend(backend)
        self.errors[name] = self.errors.get(name, 0) + 1

    def history(self, result: str, seconds: float | None = None) -> None:
        self.used = True
        key = _pick(result, HISTORY_RESULTS)
        self.history_requests[key] = self.history_requests.get(key, 0) + 1
        if seconds is not None:
            self.history_seconds.observe(seconds)
