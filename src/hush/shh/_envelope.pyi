from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from hush.shh.envelope import Envelope

_T = TypeVar("_T")

class SlotBuilder(Generic[_T]):
    def __init__(self, cls: type[_T], slot_names: tuple[str, ...]) -> None: ...
    def __call__(self, *values: object) -> _T: ...

def bind(cls: type[Envelope], slot_names: tuple[str, ...]) -> None: ...

class CopyIndex:
    """Pooled entries by their encoding (see copies_run)."""

    @property
    def capacity(self) -> int: ...
    def __len__(self) -> int: ...
    def add(self, entry: object, /) -> None: ...
    def discard(self, entry: object, /) -> None: ...
    def get(self, raw: bytes, /) -> Any: ...
    def entries(self) -> list[Any]: ...

def bind_entry(
    cls: type[object],
    slot_names: tuple[str, ...],
    bucket_cls: type[object],
    bucket_slot_names: tuple[str, ...],
) -> None: ...
def mark_known_by(
    known: dict[Any, None],
    pooled: dict[Any, Any],
    entries: Iterable[object],
    usage: dict[Any, int],
    rank_bytes: dict[int, int],
    cost: int,
    pinned: int,
) -> int: ...
def decode(raw: bytes) -> Envelope | None: ...
def decode_run(payload: bytes, pos: int, stop: int, limit: int) -> tuple[list[Envelope], int]: ...
def check_run(payload: bytes, pos: int, stop: int, limit: int) -> tuple[int, int]: ...
def copies_run(
    payload: bytes,
    pos: int,
    stop: int,
    limit: int,
    entries: CopyIndex | None,  # the pool's entries by encoding; None: no copies
    now: int,
    max_size: int,
    min_pow: float,
    bloom: bytes | None,
) -> tuple[list[Any], int, Envelope | None]: ...
