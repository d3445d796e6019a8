"""The write-behind flush a session stop waits for, shared by every stop that arrives meanwhile.

A stop is answered only once the session's earlier meter values are committed
(docs/architecture.md, "Durable before the reply"), so it flushes the
write-behind first. One flush per stop, one after another under the
write-behind's lock, let a site's stops queue behind each other's batches: at
20 stops a second and a flush of 50 ms or more, without end (StopTransaction
p50 2 s and more in `manage.py bench --scenario tail`). Here a stop joins the
next flush instead: at most one runs and one waits, and the waiting one serves
every stop that arrived before it began. It begins only after the stops that
joined it had their samples buffered (a charger's frames are handled one at a
time), so each stop's samples are in a batch committed before its answer.
"""

import asyncio
from collections.abc import Awaitable, Callable

from stations.gateway import writebehind

_running: asyncio.Task | None = None  # the flush under way: its batch may be taken already
_next: asyncio.Task | None = None  # the flush every stop arriving now joins: it takes its batch later


async def flush_for_stop(flush: Callable[[], Awaitable[None]] = writebehind.flush) -> None:
    """Return once everything buffered before this call is committed (raises what that flush raised)."""
    global _next
    if _next is None:
        _next = asyncio.ensure_future(_after(_running, flush))
    await asyncio.shield(_next)


async def _after(previous: asyncio.Task | None, flush) -> None:
    global _running, _next
    if previous is not None and not previous.done() and previous.get_loop() is asyncio.get_running_loop():
        await asyncio.wait([previous])  # its outcome is its own stops'
    _running, _next = _next, None  # from here on, a stop that arrives joins the flush after this one
    await flush()
