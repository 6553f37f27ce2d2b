"""The real selector under a `hush.vclock.VirtualEventLoop`: `select(timeout)` polls real I/O
without blocking and advances virtual time instead of sleeping (the loop's module doc has the
rules: how often a pure simulation polls its self-pipe, waiting in real time while outside
work is held, `VirtualDeadlock` after `idle_limit` real seconds of total idleness)."""

from __future__ import annotations

import selectors
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from hush.vclock import VirtualEventLoop

__all__ = ["POLL_EVERY", "VirtualDeadlock", "VirtualSelector"]

POLL_EVERY = 16
"""With only the self-pipe registered and nothing held, the real selector is polled every this
many turns (and before blocking): the pipe carries nothing a turn needs sooner."""


class VirtualDeadlock(RuntimeError):
    """Nothing is scheduled, ready or held, and no real event came for `idle_limit` seconds."""


class VirtualSelector(selectors.BaseSelector):
    """A real selector whose `select(timeout)` advances virtual time instead of sleeping."""

    def __init__(self, loop: VirtualEventLoop, real: selectors.BaseSelector) -> None:
        self._loop = loop
        self._real = real
        self.watched = 0
        """File objects registered (the loop's self-pipe is the first)."""
        self._countdown = POLL_EVERY

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = self._real.register(fileobj, events, data)
        self.watched += 1
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        key = self._real.unregister(fileobj)
        self.watched -= 1
        return key

    def poll_is_due(self) -> bool:
        """Whether the next turn's `select` polls the self-pipe (else: count the turn)."""
        if self._countdown <= 1:
            return True
        self._countdown -= 1
        return False

    def must_poll(self) -> bool:
        """Whether every turn polls the real selector: real I/O registered, or outside work held."""
        return self.watched > 1 or self._loop._holds > 0

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self._loop
        if timeout is not None and self.watched <= 1 and not loop._holds:
            # Only the self-pipe: poll it now and then (the module doc's rule).
            self._countdown -= 1
            if self._countdown <= 0:
                self._countdown = POLL_EVERY
                events = self._real.select(0)
                if events:
                    return events
            if timeout > 0 and not cast(Any, loop)._ready:  # call_soon_threadsafe: first
                loop._advance(timeout)
            return []
        events = self._real.select(0)
        if events or timeout == 0:
            return events
        if loop._holds:
            # Outside work in flight: wait for it in real time (a thread finishing wakes the
            # loop through the self-pipe), or for real I/O.
            return self._real.select(None)
        if timeout is None:
            # Nothing virtual can happen: only real I/O or another thread can wake us.
            events = self._real.select(loop.idle_limit)
            if not events and loop.idle_limit is not None:
                raise VirtualDeadlock(
                    f"virtual loop idle for {loop.idle_limit} s with nothing scheduled, ready "
                    "or held: the program waits for something that cannot happen"
                )
            return events
        loop._advance(timeout)
        return []
