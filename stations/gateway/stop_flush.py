"""What a session stop waits for: the batch holding its charger's buffered meter values and events.

A stop is answered only once the session's earlier meter values are committed
(docs/architecture.md, "Durable before the reply"). A charger's frames are
handled one at a time, so when its stop arrives every sample it sent before is
in a numbered batch of the write-behind (writebehind.batch_of):
- already committed, as it usually is (the last MeterValues came a flush
  interval or more before): the stop waits for nothing;
- being written: it waits for that flush only;
- still collecting: it joins the next flush, shared by every stop arriving
  meanwhile.

Before, every stop flushed everything and waited for two flushes of every
charger's records, one after another under the write-behind's lock: at 20
stops a second the stops queued for seconds (`manage.py bench --scenario
tail`, docs/performance.md).
"""

import asyncio
from collections.abc import Awaitable, Callable

from stations.gateway import writebehind

_running: asyncio.Task | None = None  # the shared flush under way: its batch may be taken already
_next: asyncio.Task | None = None  # the shared flush every stop arriving now joins: it takes its batch later


async def flush_for_stop(charger_pk: int) -> None:
    """Return once the charger's buffered meter values and events are committed (raises a failed flush's error)."""
    while (batch := writebehind.batch_of(charger_pk)) is not None:
        writing = writebehind.writing(batch)
        if writing is None:
            await shared_flush()
        else:  # a failed flush put its records back into the collecting batch: the next turn flushes them
            await asyncio.shield(writing)


async def shared_flush(flush: Callable[[], Awaitable[None]] = writebehind.flush) -> None:
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
