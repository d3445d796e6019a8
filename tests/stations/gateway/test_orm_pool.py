"""The ORM pool keeps its connections between frames and recovers when the database drops them; what a
charger waits on has a lane of its own."""

import asyncio
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from stations.gateway.orm_pool import close_connections, in_pool, in_session_lane


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def on_every_pool_thread(function) -> list:
    """`function()` once on each thread of the pool at the same time (a barrier keeps each to one call);
    what each returned, or the database error it raised."""
    barrier = threading.Barrier(settings.OCPP_ORM_THREADS, timeout=5)

    def call_then_wait():
        try:
            return function()
        except DatabaseError as error:
            return error
        finally:
            barrier.wait()

    async def all_threads():
        return await asyncio.gather(*(in_pool(call_then_wait)() for _ in range(settings.OCPP_ORM_THREADS)))

    return asyncio.run(all_threads())


def pids_of_every_pool_thread() -> set[int]:
    pids = on_every_pool_thread(backend_pid)
    assert all(isinstance(pid, int) for pid in pids), pids
    return set(pids)


@pytest.fixture
def postgresql_only(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs a database server that can drop a client's connection")
    yield
    close_connections()


def test_it_keeps_each_threads_connection_from_one_call_to_the_next(postgresql_only):
    first = pids_of_every_pool_thread()
    second = pids_of_every_pool_thread()

    assert len(first) == settings.OCPP_ORM_THREADS
    assert second == first


def test_it_reconnects_after_the_database_drops_its_connections(postgresql_only):
    # An operator restarts PostgreSQL: every pooled connection is dead at once.
    pool_pids = pids_of_every_pool_thread()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [list(pool_pids)])

    first_calls = on_every_pool_thread(backend_pid)  # each thread's first call after the restart may fail...

    assert any(isinstance(outcome, DatabaseError) for outcome in first_calls)
    assert pids_of_every_pool_thread().isdisjoint(pool_pids)  # ...and every thread's next call works


def test_it_answers_what_a_charger_waits_on_while_every_bulk_thread_is_busy():
    # A write-behind batch, the dashboard's queries: the bulk lane is taken, each call stuck on a slow statement.
    release = threading.Event()

    async def a_boot_meanwhile():
        bulk = [asyncio.ensure_future(in_pool(release.wait)(30)) for _ in range(settings.OCPP_ORM_THREADS)]
        try:
            # The guard only keeps a broken lane from hanging the test: sharing the pool, it waits 30 s.
            answer = await asyncio.wait_for(in_session_lane(lambda: "Accepted")(), timeout=10)
            return answer, sum(task.done() for task in bulk)
        finally:
            release.set()
            await asyncio.gather(*bulk)

    assert asyncio.run(a_boot_meanwhile()) == ("Accepted", 0)  # answered while all the bulk calls still ran


def test_it_appends_rows_exactly_as_given_whatever_they_contain(transactional_db):
    from stations.gateway.bulk_writers import append_rows
    from stations.models import MessageLog

    frames = [
        '[2,"a","Heartbeat",{}]',
        "tab\there, newline\nthere, backslash \\N, quote \"'",
        "ünïcødé ⚡",
        "",
    ]
    append_rows(
        MessageLog,
        [
            MessageLog(
                charge_point_id="CP-1", direction="in", message_type=None if not text else 2, payload=text
            )
            for text in frames
        ],
    )

    stored = list(MessageLog.objects.order_by("id").values_list("payload", "message_type", "created_at"))
    assert [payload for payload, _, _ in stored] == frames
    assert [kind for _, kind, _ in stored] == [2, 2, 2, None]
    assert all(created_at is not None for _, _, created_at in stored)


def test_it_skips_rows_already_stored_when_asked_to(transactional_db):
    from stations.gateway.bulk_writers import append_rows
    from stations.models import MeterValue
    from tests.factories import register_charger

    charger = register_charger("CP-1")
    at = timezone.now()

    def samples(*values):
        return [
            MeterValue(
                charger=charger,
                connector_id=1,
                timestamp=at + timedelta(seconds=v),
                value=str(v),
                numeric_value=v,
            )
            for v in values
        ]

    with transaction.atomic():
        append_rows(MeterValue, samples(1, 2), ignore_conflicts=True)
    with transaction.atomic():  # a replay of both, and a new one
        append_rows(MeterValue, samples(1, 2, 3), ignore_conflicts=True)

    assert list(MeterValue.objects.order_by("timestamp").values_list("value", flat=True)) == ["1", "2", "3"]


def test_it_appends_rows_given_as_plain_values(transactional_db):
    from stations.gateway.bulk_writers import append_values
    from stations.gateway.writebehind import LOG_FIELDS
    from stations.models import MessageLog

    at = timezone.now()
    append_values(
        MessageLog,
        LOG_FIELDS,
        [
            ("CP-1", "in", 2, "a", "Heartbeat", '[2,"a","Heartbeat",{}]', at),
            ("CP-1", "out", 3, "a", "", '[3,"a",{}]', at),
        ],
    )

    stored = list(
        MessageLog.objects.order_by("id").values_list("direction", "message_type", "action", "created_at")
    )
    assert stored == [("in", 2, "Heartbeat", at), ("out", 3, "", at)]
