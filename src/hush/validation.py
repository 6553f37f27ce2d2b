"""Checks for settings, shared by the config dataclasses (`P2PConfig`, `NodeConfig`).

Each raises `UsageError` with one line naming the setting, what it must be, and what it was, so a
bad flag, TOML key or library argument is refused before anything starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from hush.errors import UsageError

__all__ = [
    "check_bool",
    "check_choice",
    "check_host",
    "check_int",
    "check_number",
    "check_text",
]

_SHOWN = 40


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" in {minimum}..{maximum}"
    if minimum is not None:
        return f" ≥ {minimum}"
    if maximum is not None:
        return f" ≤ {maximum}"
    return ""


def check_int(
    name: str, value: Any, minimum: int | None = None, maximum: int | None = None
) -> None:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        raise UsageError(
            f"invalid {name}: must be an integer{_range(minimum, maximum)}, got {_shown(value)}"
        )


def check_number(
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    positive: bool = False,
) -> None:
    """A finite int or float; `positive` excludes `minimum` itself (which should then be 0)."""
    bad = (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or (minimum is not None and (value <= minimum if positive else value < minimum))
        or (maximum is not None and value > maximum)
    )
    if bad:
        what = " > 0" if positive and minimum == 0 and maximum is None else _range(minimum, maximum)
        raise UsageError(f"invalid {name}: must be a finite number{what}, got {_shown(value)}")


def check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    """`value` must be one of `choices`."""
    choices = tuple(choices)
    if value not in choices:
        raise UsageError(f"invalid {name} {_shown(value)}: choose one of {', '.join(choices)}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise UsageError(f"invalid {name}: must be true or false, got {_shown(value)}")


def check_text(name: str, value: Any, max_length: int, *, empty: bool = False) -> None:
    """Printable text of at most `max_length` characters (and not empty unless `empty`)."""
    if (
        not isinstance(value, str)
        or len(value) > max_length
        or (not value and not empty)
        or not value.isprintable()
    ):
        raise UsageError(
            f"invalid {name}: must be printable text of 1..{max_length} characters, "
            f"got {_shown(value)}"
        )


def check_host(name: str, value: Any) -> None:
    """An IP address or host name as given to bind/connect: no spaces, at most 253 characters."""
    if not isinstance(value, str) or not value or len(value) > 253 or not value.isprintable():
        raise UsageError(f"invalid {name}: must be an IP address or host name, got {_shown(value)}")
    if any(c.isspace() or c in "/?#@" for c in value):
        raise UsageError(f"invalid {name}: must be an IP address or host name, got {_shown(value)}")
