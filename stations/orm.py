"""The threads that do the ORM work of OCPP traffic.

Channels runs every `database_sync_to_async` call of a process on one shared
thread, so a whole server's database work queued behind each round trip:
with a site's chargers starting sessions at once, a BootNotification waited
a second behind other chargers' authorizations. OCPP work runs on this pool
instead, one database connection per thread. A charger's own frames still
run one after another: its consumer handles one frame at a time.
"""

from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings

_pool = ThreadPoolExecutor(max_workers=settings.OCPP_ORM_THREADS, thread_name_prefix="ocpp-orm")


def in_pool(function):
    """`function` as an awaitable run on the pool, with stale connections closed around it."""
    return database_sync_to_async(function, thread_sensitive=False, executor=_pool)
