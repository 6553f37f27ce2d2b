"""The node's tasks: one `asyncio.TaskGroup`, open from the node's start to its stop.

The group lives in a task of its own (the node is started and stopped by calls, not by one
`async with`), so a caller of `start` is never the group's parent: closing cancels that task,
and the group cancels every task of the node and waits for them. A node task that fails is
logged and never takes the group — the node — down; once closed, `spawn` runs nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["NodeTasks"]

log = logging.getLogger(__name__)


class NodeTasks:
    def __init__(self) -> None:
        self._group: asyncio.TaskGroup | None = None
        self._owner: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._group is not None

    async def open(self) -> None:
        if self._owner is not None:
            return
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._owner = asyncio.ensure_future(self._hold(ready))
        await ready

    async def close(self) -> None:
        """Cancel every task and wait until all have ended."""
        owner, self._owner = self._owner, None
        if owner is not None:
            owner.cancel()
            await asyncio.gather(owner, return_exceptions=True)

    async def _hold(self, ready: asyncio.Future[None]) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                ready.set_result(None)
                await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self._group = None

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        """Run a task in the group; None (and the coroutine closed) when the group is closed."""
        group = self._group
        if group is None:
            coroutine.close()
            return None
        try:
            return group.create_task(_logged(coroutine))
        except RuntimeError:  # the group is shutting down
            coroutine.close()
            return None


async def _logged(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        await coroutine
    except Exception:
        log.exception("node task failed")
