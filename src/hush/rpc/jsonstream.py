"""A byte stream cut into JSON values, the way geth's IPC codec reads one (a Go json.Decoder).

geth's IPC framing is no framing: JSON values (objects, arrays) written one after another, with
or without whitespace between them (geth itself ends each with a newline). A value may be
pretty-printed, arrive in many reads, or share a read with the next ones. `JsonSplitter` finds
where each value ends without parsing it, so the dispatcher parses each value exactly once.

Rules:
- An object or array ends at the bracket that closes its first one, brackets inside strings
  (with their escapes) not counted; a top-level string at its closing quote; any other top-level
  token (a number, `true`, …) at the next whitespace or structural character, or at the end of
  the stream. The value's bytes are returned as they came; whether they are valid JSON is the
  parser's business.
- A byte between values that no JSON value starts with is `JsonStreamError`: the stream cannot
  be resynchronised (geth answers a parse error and closes the connection).
- A value longer than `max_value` bytes is `JsonStreamError` as soon as that many bytes of it
  are buffered: an incomplete value never holds more than `max_value` plus one read.
- Pure: no I/O, no clock. Scanning resumes where the last call stopped, so a value that arrives
  in n reads costs O(its size), not O(n × size).
"""

from __future__ import annotations

import re

from hush.errors import HushError

__all__ = ["JsonSplitter", "JsonStreamError"]


class JsonStreamError(HushError):
    """The stream holds something that is not a JSON value, or a value over the size limit."""


_SPACE = re.compile(rb"[ \t\r\n]*")
_STRUCTURE = re.compile(rb'[\[\]{}"]')
_STRING_END = re.compile(rb'["\\]')
_TOKEN_END = re.compile(rb'[ \t\r\n\[\]{}",:]')
_TOKEN_START = frozenset(b"-0123456789tfn")

_BETWEEN, _NESTED, _STRING, _TOKEN = range(4)


class JsonSplitter:
    """`receive_data(bytes)`, then `next_value()` until it returns None; `end()` at EOF."""

    def __init__(self, max_value: int):
        self.max_value = max_value
        self._buffer = bytearray()
        self._start = 0  # where the current value (or the whitespace before it) begins
        self._scan = 0  # how far the current value has been scanned
        self._state = _BETWEEN
        self._depth = 0
        self._in_string = False
        self._ended = False

    @property
    def in_value(self) -> bool:
        """Part of a value is buffered (its end has not arrived yet)."""
        return self._state != _BETWEEN

    @property
    def buffered(self) -> int:
        """Bytes held: values not yet taken and the incomplete one."""
        return len(self._buffer) - self._start

    def receive_data(self, data: bytes) -> None:
        if self._start:  # drop what was taken once per read, not once per value
            del self._buffer[: self._start]
            self._scan -= self._start
            self._start = 0
        self._buffer += data

    def end(self) -> None:
        """The stream ended: a top-level number or literal still buffered is complete."""
        self._ended = True

    def next_value(self) -> bytes | None:
        """The next complete value's bytes, or None until more data arrives."""
        buffer = self._buffer
        if self._state == _BETWEEN:
            start = _SPACE.match(buffer, self._start)
            assert start is not None  # `*` always matches
            self._start = start.end()
            if self._start == len(buffer):
                return None
            first = buffer[self._start]
            if first in b"{[":
                self._state, self._depth = _NESTED, 1
            elif first == ord('"'):
                self._state, self._in_string = _STRING, True
            elif first in _TOKEN_START:
                self._state = _TOKEN
            else:
                raise JsonStreamError(
                    f"invalid character {chr(first)!r} looking for beginning of value"
                )
            self._scan = self._start + 1
        end = self._find_end()
        if end is None:
            if len(buffer) - self._start > self.max_value:
                raise JsonStreamError(f"message too large (more than {self.max_value} bytes)")
            return None
        if end - self._start > self.max_value:
            raise JsonStreamError(f"message too large (more than {self.max_value} bytes)")
        value = bytes(buffer[self._start : end])
        self._start = self._scan = end
        self._state = _BETWEEN
        return value

    def _find_end(self) -> int | None:
        """Where the current value ends (exclusive), scanning on from `_scan`; None: not yet."""
        buffer = self._buffer
        if self._state == _TOKEN:
            token_end = _TOKEN_END.search(buffer, self._scan)
            if token_end is not None:
                return token_end.start()
            self._scan = len(buffer)
            return len(buffer) if self._ended else None
        while True:
            if self._in_string:
                found = _STRING_END.search(buffer, self._scan)
                if found is None:
                    self._scan = len(buffer)
                    return None
                if buffer[found.start()] == ord("\\"):
                    if found.start() + 1 >= len(buffer):  # the escaped byte is still to come
                        self._scan = found.start()
                        return None
                    self._scan = found.start() + 2
                    continue
                self._scan = found.end()
                self._in_string = False
                if self._state == _STRING:
                    return self._scan
                continue
            found = _STRUCTURE.search(buffer, self._scan)
            if found is None:
                self._scan = len(buffer)
                return None
            self._scan = found.end()
            char = buffer[found.start()]
            if char == ord('"'):
                self._in_string = True
            elif char in b"{[":
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    return self._scan
