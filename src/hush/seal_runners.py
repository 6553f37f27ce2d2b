"""How a sealing worker hashes its slices: in its own thread, or in a child interpreter.

* `ThreadRunner` hashes in the worker thread itself: the C nonce loop runs without the GIL, so
  threads use every core and no worker process re-imports the embedding script. It also hashes a
  batch of small seals in one C call, so that a worker needs the GIL once per batch.
* `ChildRunner` is the fallback where the C loop was not built (the Python loop holds the GIL):
  each worker thread drives a child interpreter that imports hush only (`child_main`, not the
  embedding script, unlike multiprocessing's spawn and forkserver), over its stdin and stdout.
  A request is one slice: the envelope's short RLP (sent once per seal), start, count and target
  bits (-1: best); the reply: found, nonce, bits. A child that dies surfaces as OSError/EOFError.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from typing import IO, Protocol

from hush.shh.pow import NonceSearch, SearchResult

__all__ = ["ChildRunner", "Runner", "ThreadRunner", "child_main"]


class Runner(Protocol):
    """Runs slices: `find` when `bits` ≥ 1, `best` when `bits` is None."""

    def __call__(
        self, search: NonceSearch, start: int, count: int, bits: int | None
    ) -> SearchResult | None: ...

    def close(self) -> None: ...


class ThreadRunner:
    """Hashes in the worker thread itself: the C loop releases the GIL."""

    def __call__(
        self, search: NonceSearch, start: int, count: int, bits: int | None
    ) -> SearchResult | None:
        return search.best(start, count) if bits is None else search.find(start, count, bits)

    def many(self, slices: list[tuple[NonceSearch, int, int, int]]) -> list[SearchResult | None]:
        # One release of the GIL for a batch of small seals: a worker thread that needs the GIL
        # less often waits less for it while the event loop is busy (and slows it less).
        return NonceSearch.find_many(slices)

    def close(self) -> None:
        pass


# A slice for a child: short's length (0: the same short as the last request), start, count, bits
# (-1: best); the reply: found, nonce, bits.
_REQUEST = struct.Struct(">IQQh")
_REPLY = struct.Struct(">?QH")


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("sealing worker process closed its pipe")
    return data


def child_main() -> None:  # pragma: no cover - runs in the child interpreter
    """A fallback worker process: serves slices over stdin/stdout until stdin closes."""
    import signal  # noqa: PLC0415 - only the child needs it

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    search: NonceSearch | None = None
    runner = ThreadRunner()
    while header := stdin.read(_REQUEST.size):
        length, start, count, bits = _REQUEST.unpack(header)
        if length or search is None:
            search = NonceSearch(_read_exact(stdin, length))
        found = runner(search, start, count, None if bits < 0 else bits)
        stdout.write(
            _REPLY.pack(found is not None, found.nonce if found else 0, found.bits if found else 0)
        )
        stdout.flush()


class ChildRunner:
    """Hashes in a child interpreter that imports hush only (not the embedding script, unlike
    multiprocessing's spawn and forkserver), for builds without the C loop."""

    def __init__(self) -> None:
        code = f"import sys; sys.path[:0] = {sys.path!r}; from hush.seal_runners import child_main; child_main()"
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._last: NonceSearch | None = None

    def __call__(
        self, search: NonceSearch, start: int, count: int, bits: int | None
    ) -> SearchResult | None:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        short = b"" if search is self._last else search.short
        stdin.write(_REQUEST.pack(len(short), start, count, -1 if bits is None else bits) + short)
        stdin.flush()
        self._last = search
        found, nonce, got = _REPLY.unpack(_read_exact(stdout, _REPLY.size))
        return SearchResult(nonce, got) if found else None

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(1.0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
