"""The dashboard's only code on the OCPP path: which chargers changed, pushed at most once a second.

A handler that learns something a staff member watches (a status, meter values, a session
starting or stopping, a socket opening or closing) calls `changed(charger pk)`: a clock read
and a set insertion, no I/O. One task per process then sends the "dashboard" group one update
per PUSH_INTERVAL_S for all the chargers that changed meanwhile, built by stations.dashboard in
one set of queries; twenty MeterValues of a charger within a second make at most two pushes.

Nobody watching, nothing is marked at all: dashboard sockets (stations.dashboard.DashboardConsumer,
in whichever process) renew a watch lease every WATCH_RENEW_S by sending `dashboard.watched`
to the group of every process's mailbox; a process keeps marking for WATCH_LEASE_S after the
last renewal. So a busy site with no dashboard open pays one clock read per frame, and a
process publishes only the chargers whose sockets it holds.
"""

import asyncio
import logging
import time
from collections import Counter

from channels.layers import get_channel_layer

from stations import dashboard
from stations.gateway import mailbox, writebehind
from stations.gateway.orm_pool import in_pool

logger = logging.getLogger(__name__)

PUSH_INTERVAL_S = 1.0  # at most one push per this many seconds per process, so per charger
TOTALS_EVERY_S = 10.0  # today's energy and revenue: a report query, so not every push
REJOIN_S = 3600.0  # group memberships expire after a day (channels' group_expiry)

_watched_until = 0.0  # time.monotonic() until which a dashboard is open somewhere
_dirty: set[int] = set()  # chargers changed since the last push
_connected: Counter = Counter()  # charger pk -> sockets of it open in this process
_totals_due = True
_totals_at = float("-inf")
_publisher: asyncio.Task | None = None
_member: asyncio.Task | None = None


def changed(charger_pk: int) -> None:
    """Something of this charger that the dashboard shows changed (already committed or buffered)."""
    if _watched_until < time.monotonic():
        return
    _dirty.add(charger_pk)
    _ensure_publisher()


def session_changed(charger_pk: int) -> None:
    """A session started or stopped: today's sessions and revenue moved, so the next push recomputes them."""
    global _totals_due
    _totals_due = True
    changed(charger_pk)


def connected(charger_pk: int) -> None:
    _connected[charger_pk] += 1
    _ensure_member()
    changed(charger_pk)


def disconnected(charger_pk: int) -> None:
    _connected[charger_pk] -= 1
    if _connected[charger_pk] <= 0:
        del _connected[charger_pk]
    changed(charger_pk)


def watched(event: dict) -> None:
    """A dashboard socket's lease (a mailbox event). A new lease refreshes every charger held here:
    what changed before it was not marked, and the socket's first snapshot may have missed it."""
    global _watched_until
    fresh = _watched_until < time.monotonic()
    _watched_until = time.monotonic() + dashboard.WATCH_LEASE_S
    if fresh:
        _dirty.update(_connected)
        if _dirty:
            _ensure_publisher()


mailbox.on_process_event(dashboard.WATCHED, watched)


def _ensure_publisher() -> None:
    global _publisher
    if _publisher is None or _publisher.done():
        _publisher = asyncio.get_running_loop().create_task(_publish_while_changing())


async def _publish_while_changing() -> None:
    """Push at once, then at most every PUSH_INTERVAL_S while chargers keep changing and someone watches."""
    while _dirty and _watched_until >= time.monotonic():
        charger_ids = list(_dirty)
        _dirty.clear()
        try:
            await _publish(charger_ids)
        except Exception:  # e.g. the database restarting: these chargers go with the next push
            logger.exception("pushing to the dashboard failed")
            _dirty.update(charger_ids)
        await asyncio.sleep(PUSH_INTERVAL_S)
    _dirty.clear()  # the lease ran out: the next dashboard gets a fresh snapshot anyway


async def _publish(charger_ids: list[int]) -> None:
    global _totals_due, _totals_at
    with_totals = _totals_due or time.monotonic() - _totals_at >= TOTALS_EVERY_S
    # What the handlers buffered (statuses, meter values) is stored before the rows are read.
    await writebehind.flush()
    update = await in_pool(dashboard.update)(charger_ids=charger_ids, with_totals=with_totals)
    if with_totals:
        _totals_due, _totals_at = False, time.monotonic()
    await get_channel_layer().group_send(dashboard.GROUP, update)


def _ensure_member() -> None:
    """Join the group dashboards renew their lease with, once per process and event loop."""
    global _member
    loop = asyncio.get_running_loop()
    if _member is None or _member.done() or _member.get_loop() is not loop:
        _member = loop.create_task(_stay_member())


async def _stay_member() -> None:
    layer = get_channel_layer()
    while True:
        try:
            await layer.group_add(dashboard.PUBLISHERS, await mailbox.address())
            # Dashboards open before this process joined renewed their lease where it could not hear.
            await layer.group_send(dashboard.GROUP, {"type": dashboard.RENEW})
        except Exception:  # e.g. Redis restarting: try again sooner
            logger.exception("joining the dashboard publishers failed")
            await asyncio.sleep(PUSH_INTERVAL_S * 10)
            continue
        await asyncio.sleep(REJOIN_S)
