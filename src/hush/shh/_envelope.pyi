from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from hush.shh.envelope import Envelope

_T = TypeVar("_T")
_E = TypeVar("_E")

class SlotBuilder(Generic[_T]):
    def __init__(self, cls: type[_T], slot_names: tuple[str, ...]) -> None: ...
    def __call__(self, *values: object) -> _T: ...

def bind(cls: type[Envelope], slot_names: tuple[str, ...]) -> None: ...
def bind_entry(cls: type[object], slot_names: tuple[str, ...]) -> None: ...
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
    entries: Mapping[bytes, _E],  # keyed by each entry's encoding
    now: int,
    max_size: int,
    min_pow: float,
    bloom: bytes | None,
) -> tuple[list[_E], int, Envelope | None]: ...
