"""Tasks that run beside a charger's connection (its sessions, the work a CSMS
command starts), and how they end: cancelled together, failures reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any


async def cancel_and_wait(tasks: Sequence[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class BackgroundTasks:
    """One charger's background tasks; ``on_failure(error)`` hears of each that raised."""

    __slots__ = ("_tasks", "_on_failure")

    def __init__(self, on_failure: Callable[[BaseException], None]):
        self._tasks: set[asyncio.Task] = set()
        self._on_failure = on_failure

    def spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._on_failure(task.exception())

    async def cancel(self) -> None:
        await cancel_and_wait(list(self._tasks))
