"""The archive ("mail") server, its storage and the history client (archive.md, whisper-v6.md §6).

Pure cores: `request` (the code 126 dialects), `cursor`, `complete` (125 and 127 encodings), `page`
(bounds and paging). Storage: `store` (the interface and shared SQL), `sqlite_store` (default),
`postgres_store`. The asyncio server in the node: `server`.
"""

from hush.archive.complete import CompleteForm, RequestComplete, RequestFailed
from hush.archive.cursor import Cursor
from hush.archive.page import Page, PageQuery
from hush.archive.request import Dialect, HistoryRequest, RequestRefused
from hush.archive.store import ArchivedEnvelope, EnvelopeStore, open_store

__all__ = [
    "ArchivedEnvelope",
    "CompleteForm",
    "Cursor",
    "Dialect",
    "EnvelopeStore",
    "HistoryRequest",
    "Page",
    "PageQuery",
    "RequestComplete",
    "RequestFailed",
    "RequestRefused",
    "open_store",
]
