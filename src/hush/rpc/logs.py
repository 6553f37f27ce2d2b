"""Logging for the JSON-RPC server: one line per aborted request or connection, no tracebacks.

aiohttp logs a client's malformed request or vanished connection with its traceback, at ERROR.
`OneLineLogger` wraps the server's logger for aiohttp: the exception's type and a message of at
most 200 characters become part of the line, and errors that are the client's doing
(`HttpProcessingError`, `ConnectionError`) drop to INFO. Keys and plaintext are never logged.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

__all__ = ["OneLineLogger"]


class OneLineLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger without tracebacks: the exception becomes part of the line."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc_info = kwargs.pop("exc_info", None)
        kwargs.pop("stack_info", None)
        exc = exc_info if isinstance(exc_info, BaseException) else None
        if exc_info is True:
            exc = sys.exc_info()[1]
        if exc is not None:
            msg, args = f"{msg}: %s: %s", (*args, type(exc).__name__, _short(exc))
            if isinstance(exc, HttpProcessingError | ConnectionError):  # the client's doing
                level = min(level, logging.INFO)
        self.logger.log(level, msg, *args, **kwargs)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return msg, kwargs


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())  # aiohttp's messages span lines
    return text if len(text) <= 200 else text[:197] + "..."
