"""The threads that do the ORM work of OCPP traffic.

Channels runs every `database_sync_to_async` call of a process on one shared
thread, so a whole server's database work queued behind each round trip:
with a site's chargers starting sessions at once, a BootNotification waited
a second behind other chargers' authorizations. OCPP work runs on this pool
instead, one database connection per thread. A charger's own frames still
run one after another: its consumer handles one frame at a time.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connections

_pool = ThreadPoolExecutor(max_workers=settings.OCPP_ORM_THREADS, thread_name_prefix="ocpp-orm")


def in_pool(function):
    """`function` as an awaitable run on the pool, with stale connections closed around it."""
    return database_sync_to_async(function, thread_sensitive=False, executor=_pool)


def close_connections(timeout: float = 5.0) -> None:
    """Close every pool thread's database connection (e.g. before a database is dropped).

    Each thread closes only its own connection, so one task per thread is
    needed: a barrier holds each task until every thread has taken one.
    """
    workers = settings.OCPP_ORM_THREADS
    barrier = threading.Barrier(workers, timeout=timeout)

    def close_own_connection():
        barrier.wait()
        connections.close_all()

    for done in [_pool.submit(close_own_connection) for _ in range(workers)]:
        done.result(timeout=timeout)
