"""asyncio handles built slot by slot, for `hush.vclock.VirtualEventLoop`: asyncio's
`Handle.__init__` costs two Python frames and a `get_debug()` call per callback, and a
simulation makes hundreds of thousands. Only where the slots are the ones set here (CPython
3.11-3.13: `FAST_HANDLES`); elsewhere, and in debug mode, the loop takes the constructors."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any, cast

__all__ = ["FAST_HANDLES", "new_handle", "new_timer"]

_SLOTS = ("_callback", "_args", "_cancelled", "_loop", "_source_traceback", "_repr")
FAST_HANDLES = set(asyncio.Handle.__slots__) - {"__weakref__", "_context"} == set(_SLOTS) and set(
    asyncio.TimerHandle.__slots__
) == {"_scheduled", "_when"}

_new = object.__new__
_copy_context = contextvars.copy_context


def _fill(
    handle: Any,
    loop: asyncio.AbstractEventLoop,
    callback: Callable[..., object],
    args: Any,
    context: contextvars.Context | None,
) -> None:
    handle._context = _copy_context() if context is None else context
    handle._loop = loop
    handle._callback = callback
    handle._args = args
    handle._cancelled = False
    handle._repr = None
    handle._source_traceback = None


def new_handle(
    loop: asyncio.AbstractEventLoop,
    callback: Callable[..., object],
    args: Any,
    context: contextvars.Context | None,
) -> asyncio.Handle:
    """`asyncio.Handle(callback, args, loop, context)` outside debug mode."""
    handle: Any = _new(asyncio.Handle)
    _fill(handle, loop, callback, args, context)
    return cast(asyncio.Handle, handle)


def new_timer(
    loop: asyncio.AbstractEventLoop,
    when: float,
    callback: Callable[..., object],
    args: Any,
    context: contextvars.Context | None,
) -> asyncio.TimerHandle:
    """`asyncio.TimerHandle(when, callback, args, loop, context)` outside debug mode (not yet
    scheduled: the loop sets `_scheduled` once it is on its heap)."""
    timer: Any = _new(asyncio.TimerHandle)
    _fill(timer, loop, callback, args, context)
    timer._when = when
    return cast(asyncio.TimerHandle, timer)
