"""One schedule, two runners (csms.scheduler): Celery beat with Redis, the server process itself without."""

import asyncio
import threading
from datetime import timedelta

import pytest
from celery.schedules import crontab

from csms import scheduler

runs: list[str] = []


def count_a_run() -> None:
    runs.append(threading.current_thread().name)


def fail_every_time() -> None:
    runs.append("failed")
    raise RuntimeError("a job that always fails")


@pytest.fixture(autouse=True)
def fresh_scheduler():
    runs.clear()
    yield
    scheduler.stop()


def test_it_runs_the_sites_schedule_and_its_own_in_the_server_without_redis(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the embedded default: no worker, no beat

    names = {job.name for job in scheduler.jobs()}

    assert names == set(settings.CELERY_BEAT_SCHEDULE) | set(settings.SERVER_PROCESS_SCHEDULE)
    assert {"prune-message-log", "expire-reservations", "flag-open-sessions", "clear-gone-processes"} <= names
    assert {"sweep-payments", "beat", "refresh-budgets"} <= names


def test_it_leaves_the_sites_schedule_to_celery_beat_with_redis(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False

    assert {job.name for job in scheduler.jobs()} == set(settings.SERVER_PROCESS_SCHEDULE)


def test_it_calls_the_celery_task_a_beat_entry_names(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from stations.tasks import expire_reservations

    by_name = {job.name: job for job in scheduler.jobs()}

    assert by_name["expire-reservations"].function is expire_reservations
    assert by_name["expire-reservations"].every_s == 60


def test_it_runs_each_job_on_its_own_thread_every_its_interval_and_past_a_failure(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.SERVER_PROCESS_SCHEDULE = {
        "counting": {"function": "tests.csms.test_scheduler.count_a_run", "schedule": 0.02},
        "failing": {
            "function": "tests.csms.test_scheduler.fail_every_time",
            "schedule": timedelta(seconds=0.02),
        },
    }

    async def while_serving():
        scheduler.start()
        assert scheduler.server_loop() is asyncio.get_running_loop()
        async with asyncio.timeout(10):
            while runs.count("failed") < 3 or len(runs) - runs.count("failed") < 3:
                await asyncio.sleep(0.01)

    asyncio.run(while_serving())

    counted = [name for name in runs if name != "failed"]
    assert len(counted) >= 3 and all(name.startswith("job-counting") for name in counted)
    scheduler.stop()
    assert scheduler.server_loop() is None


def test_it_refuses_a_schedule_it_cannot_run(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_BEAT_SCHEDULE = {
        "nightly": {"task": "stations.tasks.prune_message_log", "schedule": crontab(hour=3)}
    }

    with pytest.raises(TypeError, match="schedule of 'nightly'"):
        scheduler.jobs()
