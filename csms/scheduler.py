"""One schedule, two runners: the periodic jobs of a site with Redis or of a small one without.

CELERY_BEAT_SCHEDULE is the one list of the site's periodic jobs. With Redis, Celery beat runs it
on the workers. On the embedded default (no Redis: Celery eager, no worker, no beat) every server
process runs it itself, here, with the same intervals; the jobs are claim-safe, so two processes
running one at once move nothing twice. Whatever the broker, each server process also runs
SERVER_PROCESS_SCHEDULE: what only it can do (its liveness beat, its payments' budget watch).

The scheduler starts with the process's first request or socket (`with_scheduler`, csms.asgi), on
the server's event loop: a job runs on a thread of that loop (sync_to_async), so a command it sends
reaches a socket through the in-memory channel layer (billing.tasks.in_this_process uses the loop).
Each job has a thread of its own: a long prune never delays the liveness beat.
"""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

FIRST_RUN_AFTER_S = 2.0  # soon after a (re)start: what a crash interrupted is finished first


@dataclass(frozen=True)
class Job:
    name: str
    every_s: float
    function: Callable[[], object]


def jobs() -> list[Job]:
    """What this server process runs: its own jobs, and the site's too when no beat runs them."""
    own = [_job(name, entry, "function") for name, entry in settings.SERVER_PROCESS_SCHEDULE.items()]
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        return own
    # A beat entry names a Celery task by its import path (shared_task's default name): called
    # directly, the task runs here, synchronously.
    return own + [_job(name, entry, "task") for name, entry in settings.CELERY_BEAT_SCHEDULE.items()]


def _job(name: str, entry: dict, key: str) -> Job:
    every = entry["schedule"]
    if isinstance(every, timedelta):
        every = every.total_seconds()
    if not isinstance(every, (int, float)) or every <= 0:
        raise TypeError(f"schedule of {name!r}: seconds or a timedelta, not {every!r}")
    return Job(name, float(every), import_string(entry[key]))


# The runner -------------------------------------------------------------------------------------------

_loop: asyncio.AbstractEventLoop | None = None
_running: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks


def server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of this server process, once the scheduler runs on it (None elsewhere)."""
    return _loop


def start() -> None:
    """Run every job of `jobs()` on this loop, each every its interval, until stop()."""
    global _loop
    if _loop is not None:
        return
    _loop = asyncio.get_running_loop()
    for job in jobs():
        task = _loop.create_task(_run_forever(job), name=f"job {job.name}")
        _running.add(task)


def stop() -> None:
    """Cancel the jobs (a test's loop ends; a server simply exits)."""
    global _loop
    for task in _running:
        task.cancel()
    _running.clear()
    _loop = None


async def _run_forever(job: Job) -> None:
    thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"job-{job.name}")
    run = sync_to_async(run_once, thread_sensitive=False, executor=thread)
    await asyncio.sleep(min(job.every_s, FIRST_RUN_AFTER_S))
    while True:
        await run(job)
        await asyncio.sleep(job.every_s)


def run_once(job: Job) -> None:
    """One run; a job that fails is logged and runs again at its next time, it never stops the others."""
    try:
        job.function()
    except Exception:
        logger.exception("job %s failed", job.name)
    finally:
        connections.close_all()  # this thread's own: nothing held open between runs minutes apart


def with_scheduler(application):
    """The ASGI application, starting the scheduler with the first request or socket it serves."""

    async def serve(scope, receive, send):
        if _loop is None:
            start()
        return await application(scope, receive, send)

    return serve
