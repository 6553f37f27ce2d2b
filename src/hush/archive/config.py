"""The archive server's settings (`hush node --archive …`; archive.md §1.3). `ArchiveServer`
(hush.archive.server) and its parts (`ingest`, `serving`) read them; nothing else here."""

from __future__ import annotations

from dataclasses import dataclass, field

from hush.archive.admission import AdmissionConfig
from hush.archive.complete import CompleteForm

__all__ = ["ArchiveConfig"]


@dataclass(frozen=True, slots=True)
class ArchiveConfig:
    """The archive server's settings (`hush node --archive …`)."""

    db_url: str | None = None
    """`postgresql://…`, a SQLite path, or None: `archive.sqlite` in the data directory."""
    password: str | None = None
    """Requests may be encrypted with the key derived from this password (PBKDF2, like geth)."""
    accept_node_key: bool = True
    """Requests may be encrypted to the node's key."""
    accept_direct: bool = True
    """Direct `MessagesRequest`s (dialect E: unencrypted, unsigned, as status-im/whisper
    accepts them) are served; False: refused."""
    min_request_pow: float = 0.0
    complete_form: CompleteForm = CompleteForm.BYTES
    raw_max_range: int = 0
    """Seconds a raw (wnode) request may span; 0: no cap."""
    raw_max_envelopes: int = 10_000
    """A raw request has no limit field: the server follows its own cursor up to this many."""
    max_bloom_topics: int = 1000
    """A bloom request is answered by topic lookups when at most this many topics match (and
    the range has at most 10x as many); beyond, by reading the range and filtering."""
    max_request_bytes: int = 65_536
    page_bytes: int = 8 * 1024 * 1024
    admission: AdmissionConfig = field(default_factory=AdmissionConfig)
    queue_deadline: float = 10.0
    """Seconds a request may wait for a worker before it is answered "server busy"."""
    workers: int = 4
    """Requests served at once (each on its own reader thread)."""
    flush_interval: float = 0.1
    """Seconds queued envelopes wait at most before the writer commits them (group commit)."""
    flush_rows: int = 500
    """Queued envelopes that wake the writer at once."""
    commit_rows: int = 5000
    """At most this many envelopes per transaction (a slow database gets batches up to this)."""
    ingest_rows: int = 100_000
    ingest_bytes: int = 64 * 1024 * 1024
    """The ingest queue's bounds: rows, and memory (raw size + `ROW_OVERHEAD` per row, rows in a
    commit included). Past them a new envelope is dropped and counted, never queued."""
    retention_days: float = 30.0
    """0: keep forever (geth's mailserver)."""
    max_db_bytes: int = 0
    """0: no size cap."""
    sync_max_pages: int = 1000
    """Server↔server sync (`sync_from`): at most this many 124 pages per sync…"""
    sync_max_envelopes: int = 1_000_000
    """…and this many envelopes received…"""
    sync_seconds: float = 600.0
    """…within this many seconds; past any of them the sync stops where it got to (its cursor
    says where to go on)."""
    prune_interval: float = 3600.0
    prune_batch: int = 5000
