"""The threads that do the ORM work of OCPP traffic.

Channels runs every `database_sync_to_async` call of a process on one shared
thread, so a whole server's database work queued behind each round trip:
with a site's chargers starting sessions at once, a BootNotification waited
a second behind other chargers' authorizations. OCPP work runs on this pool
instead, one database connection per thread. A charger's own frames still
run one after another: its consumer handles one frame at a time.

Two lanes: what a charger waits on (handshakes, boots, authorizations,
session starts and stops: `in_session_lane`) has threads of its own, so it
never queues behind the write-behind's batches and the dashboard's queries
(`in_pool`).
"""

import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

_pool = ThreadPoolExecutor(max_workers=settings.OCPP_ORM_THREADS, thread_name_prefix="ocpp-orm")
_session_lane = (
    ThreadPoolExecutor(max_workers=settings.OCPP_SESSION_ORM_THREADS, thread_name_prefix="ocpp-orm-session")
    if settings.OCPP_SESSION_ORM_THREADS
    else _pool
)


def in_pool(function):
    """`function` as an awaitable run on the pool, keeping its thread's connection while it works."""
    return sync_to_async(_closing_broken_connections(function), thread_sensitive=False, executor=_pool)


def in_session_lane(function):
    """As in_pool, on the lane of what a charger waits on (handshake, boot, Authorize, Start, Stop)."""
    return sync_to_async(
        _closing_broken_connections(function), thread_sensitive=False, executor=_session_lane
    )


def _closing_broken_connections(function):
    """Close a thread's connection after a call only when it broke or outlived CONN_MAX_AGE.

    Channels' `database_sync_to_async` runs Django's request-end check before
    and after every call, and with CONN_HEALTH_CHECKS that check makes the
    next query pay a `SELECT 1` round trip first: one extra round trip per
    OCPP frame, a sixth of a server's time during a reconnect storm. Here the
    check runs only when it can find something: after a database error (say
    PostgreSQL restarted; that one call fails, the next reconnects) or once
    the connection is older than CONN_MAX_AGE.
    """

    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            for connection in connections.all(initialized_only=True):
                if connection.errors_occurred or _past_max_age(connection):
                    connection.close_if_unusable_or_obsolete()

    return run


def _past_max_age(connection) -> bool:
    return connection.close_at is not None and time.monotonic() >= connection.close_at


def close_connections(timeout: float = 5.0) -> None:
    """Close every pool thread's database connection (e.g. before a database is dropped).

    Each thread closes only its own connection, so one task per thread is
    needed: a barrier holds each task until every thread has taken one.
    """
    lanes = [(_pool, settings.OCPP_ORM_THREADS)]
    if _session_lane is not _pool:
        lanes.append((_session_lane, settings.OCPP_SESSION_ORM_THREADS))
    for executor, workers in lanes:
        barrier = threading.Barrier(workers, timeout=timeout)

        def close_own_connection(barrier=barrier):
            barrier.wait()
            connections.close_all()

        for done in [executor.submit(close_own_connection) for _ in range(workers)]:
            done.result(timeout=timeout)
