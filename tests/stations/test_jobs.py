"""The background jobs that keep the site honest (stations.housekeeping, stations.tasks): chargers of a
dead server process shown disconnected, abandoned sessions flagged for staff, reservations expired, the
message log trimmed; each safe to run twice, and run by the server itself on the embedded default."""

import asyncio
import logging
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from stations import housekeeping, tasks
from stations.models import Charger, MessageLog, Reservation, ServerProcess, Transaction
from tests.conftest import ServerProcess as ServerUnderTest
from tests.conftest import server_env
from tests.factories import register_charger
from tests.ocpp_client import connected_charger, orm, wait_until

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
A, B = "specific.inmemory!process-a", "specific.inmemory!process-b"


def connected_through(charge_point_id: str, channel_name: str, connection_id: str, since=T0) -> Charger:
    return register_charger(
        charge_point_id,
        is_connected=True,
        channel_name=channel_name,
        connection_id=connection_id,
        connected_since=since,
    )


def connection_of(charge_point_id: str) -> tuple:
    return Charger.objects.values_list("is_connected", "channel_name").get(charge_point_id=charge_point_id)


# --- a server process that stopped beating -----------------------------------------------------------


def test_it_shows_the_chargers_of_a_process_that_stopped_beating_disconnected(db, time_machine):
    time_machine.move_to(T0, tick=False)
    housekeeping.beat(channel_name=A, open_connection_ids=["socket-1"])
    connected_through("CP-1", A, "socket-1")
    time_machine.move_to(T0 + timedelta(seconds=50), tick=False)
    housekeeping.beat(channel_name=B, open_connection_ids=["socket-2"])
    connected_through("CP-2", B, "socket-2")  # reconnected to a live process: its row names B now

    done = housekeeping.clear_gone_processes()

    assert done == {"processes": 1, "chargers": 1}
    assert connection_of("CP-1") == (False, "")
    assert Charger.objects.get(charge_point_id="CP-1").disconnected_at == T0 + timedelta(seconds=50)
    assert connection_of("CP-2") == (True, B)
    assert ServerProcess.objects.get(channel_name=A).gone_at == T0 + timedelta(seconds=50)


def test_it_leaves_a_process_that_beat_within_the_allowed_silence(db, time_machine, settings):
    time_machine.move_to(T0, tick=False)
    housekeeping.beat(channel_name=A, open_connection_ids=["socket-1"])
    connected_through("CP-1", A, "socket-1")
    time_machine.move_to(T0 + timedelta(seconds=settings.OCPP_PROCESS_GONE_SECONDS - 1), tick=False)

    assert housekeeping.clear_gone_processes() == {"processes": 0, "chargers": 0}
    assert connection_of("CP-1") == (True, A)


def test_it_claims_a_gone_process_once_whoever_runs_the_job(db, time_machine):
    time_machine.move_to(T0, tick=False)
    housekeeping.beat(channel_name=A, open_connection_ids=[])
    connected_through("CP-1", A, "socket-1")
    time_machine.move_to(T0 + timedelta(minutes=1), tick=False)
    process = ServerProcess.objects.get(channel_name=A)
    silent_since = timezone.now() - timedelta(seconds=45)

    assert process.declare_gone(silent_since=silent_since, at=timezone.now())
    assert not process.declare_gone(silent_since=silent_since, at=timezone.now())  # the other worker
    assert tasks.clear_gone_processes()["processes"] == 0  # claimed already: not cleared twice


def test_it_lets_the_last_beat_win_over_a_job_that_read_it_as_silent(db, time_machine):
    time_machine.move_to(T0, tick=False)
    housekeeping.beat(channel_name=A, open_connection_ids=[])
    read_by_the_job = ServerProcess.objects.get(channel_name=A)
    time_machine.move_to(T0 + timedelta(minutes=1), tick=False)
    housekeeping.beat(channel_name=A, open_connection_ids=[])  # the process beats between read and UPDATE

    assert not read_by_the_job.declare_gone(silent_since=T0 + timedelta(seconds=15), at=timezone.now())


def test_it_lets_a_process_taken_for_gone_take_back_the_sockets_it_still_holds(db, time_machine):
    time_machine.move_to(T0, tick=False)
    housekeeping.beat(channel_name=A, open_connection_ids=["socket-1", "socket-2"])
    connected_through("CP-1", A, "socket-1")
    connected_through("CP-2", A, "socket-2")
    time_machine.move_to(T0 + timedelta(minutes=1), tick=False)  # its beats stalled (a stuck disk)
    housekeeping.clear_gone_processes()
    connected_through("CP-3", B, "socket-3")
    Charger.objects.filter(charge_point_id="CP-2").update(
        is_connected=True, channel_name=B, connection_id="socket-2b"
    )  # CP-2 reconnected to B meanwhile

    assert housekeeping.beat(channel_name=A, open_connection_ids=["socket-1", "socket-2"]) == "revived"
    assert connection_of("CP-1") == (True, A)
    assert connection_of("CP-2") == (True, B)
    assert ServerProcess.objects.get(channel_name=A).gone_at is None
    assert housekeeping.beat(channel_name=A, open_connection_ids=[]) == "alive"


def test_it_clears_a_charger_naming_no_process_once_it_could_have_beaten(db, time_machine, settings):
    time_machine.move_to(T0, tick=False)
    connected_through("CP-1", "specific.inmemory!killed-before-its-first-beat", "socket-1", since=T0)
    time_machine.move_to(T0 + timedelta(seconds=settings.OCPP_PROCESS_GONE_SECONDS - 1), tick=False)
    assert housekeeping.clear_gone_processes()["chargers"] == 0

    time_machine.move_to(T0 + timedelta(seconds=settings.OCPP_PROCESS_GONE_SECONDS + 1), tick=False)
    assert housekeeping.clear_gone_processes()["chargers"] == 1
    assert connection_of("CP-1") == (False, "")


def test_it_says_in_one_line_what_the_job_did(db, time_machine, caplog):
    time_machine.move_to(T0, tick=False)
    housekeeping.beat(channel_name=A, open_connection_ids=[])
    connected_through("CP-1", A, "socket-1")
    time_machine.move_to(T0 + timedelta(minutes=1), tick=False)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="stations.housekeeping"):
        tasks.clear_gone_processes()

    assert [record.getMessage() for record in caplog.records] == [
        "cleared 1 chargers of 1 gone server processes"
    ]


# --- the same, for real: a killed `manage.py serve` ------------------------------------------------

BEATING_FAST = {"OCPP_PROCESS_BEAT_SECONDS": "1", "OCPP_PROCESS_GONE_SECONDS": "3"}


@pytest.fixture
def two_embedded_servers(transactional_db):
    first = ServerUnderTest(server_env(**BEATING_FAST))
    try:
        second = ServerUnderTest(server_env(**BEATING_FAST))
    except Exception:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


@pytest.mark.slow
def test_it_shows_no_charger_connected_once_its_server_process_is_killed(two_embedded_servers, settings):
    settings.OCPP_PROCESS_GONE_SECONDS = 3
    doomed, survivor = two_embedded_servers
    for charge_point_id in ("CP-KILLED", "CP-MOVES", "CP-STAYS"):
        register_charger(charge_point_id)

    async def scenario() -> tuple[str, dict]:
        async with (
            connected_charger(doomed.ws_url, "CP-KILLED") as killed,
            connected_charger(doomed.ws_url, "CP-MOVES") as moving,
            connected_charger(survivor.ws_url, "CP-STAYS") as staying,
        ):
            for cp in (killed, moving, staying):
                await cp.boot()
            doomed_address = await orm(lambda: connection_of("CP-KILLED")[1])
            assert await asyncio.to_thread(wait_until, lambda: beats(doomed_address), 10)
            doomed.process.kill()  # SIGKILL: no disconnect is ever recorded by it
            doomed.process.wait()
            async with connected_charger(survivor.ws_url, "CP-MOVES") as moved:
                await moved.boot()  # the charger came back, to the process still alive
                await asyncio.to_thread(wait_until, lambda: silent_for_long(doomed_address), 15)
                await orm(housekeeping.clear_gone_processes)
                # Read while the sockets to the survivor are still open.
                return doomed_address, await orm(
                    lambda: {cp: connection_of(cp) for cp in ("CP-KILLED", "CP-MOVES", "CP-STAYS")}
                )

    doomed_address, connections = asyncio.run(scenario())

    survivor_address = connections["CP-STAYS"][1]
    assert survivor_address and survivor_address != doomed_address
    assert connections == {
        "CP-KILLED": (False, ""),
        "CP-MOVES": (True, survivor_address),
        "CP-STAYS": (True, survivor_address),
    }
    assert ServerProcess.objects.get(channel_name=doomed_address).gone_at is not None
    assert ServerProcess.objects.get(channel_name=survivor_address).gone_at is None


def beats(channel_name: str) -> bool:
    """The process at `channel_name` has beaten at least once (read from a thread of the scenario)."""
    try:
        return ServerProcess.objects.filter(channel_name=channel_name).exists()
    finally:
        connection.close()


def silent_for_long(channel_name: str) -> bool:
    """The killed process's last beat is older than the allowed silence (the test process's setting)."""
    try:
        beat_at = ServerProcess.objects.values_list("beat_at", flat=True).get(channel_name=channel_name)
        return beat_at < timezone.now() - timedelta(seconds=django_settings.OCPP_PROCESS_GONE_SECONDS + 0.5)
    finally:
        connection.close()


@pytest.mark.slow
def test_it_runs_the_sites_jobs_in_the_server_process_without_redis(transactional_db):
    charger = register_charger("CP-1", last_boot_at=timezone.now())
    Transaction.objects.filter(pk=open_session(charger).pk).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    overdue = Reservation.objects.create(
        charger=charger,
        connector_id=1,
        id_tag="DANA-1",
        expires_at=timezone.now() - timedelta(minutes=1),
        status=Reservation.Status.ACTIVE,
    )
    server = ServerUnderTest(server_env())
    try:
        urllib.request.urlopen(f"{server.url}/login/", timeout=10).close()  # its scheduler starts with it

        assert wait_until(lambda: Transaction.objects.filter(flagged_at__isnull=False).exists(), timeout=15)
        assert wait_until(
            lambda: Reservation.objects.get(pk=overdue.pk).status == Reservation.Status.EXPIRED, timeout=15
        )
    finally:
        server.stop()


# --- sessions a charger left open ------------------------------------------------------------------------


def open_session(charger: Charger, *, connector_id: int = 1, started_at=None) -> Transaction:
    return Transaction.objects.create(
        charger=charger,
        connector_id=connector_id,
        id_tag="DANA-1",
        id_tag_status="Accepted",
        meter_start=1_000,
        started_at=started_at or timezone.now(),
    )


def test_it_flags_a_session_left_open_by_a_charger_that_rebooted(db, time_machine):
    time_machine.move_to(T0, tick=False)
    charger = register_charger("CP-1")
    before_the_boot = open_session(charger, started_at=T0 + timedelta(hours=5))  # the charger's clock is off
    time_machine.move_to(T0 + timedelta(minutes=5), tick=False)
    Charger.objects.filter(pk=charger.pk).update(last_boot_at=timezone.now())  # BootNotification
    time_machine.move_to(T0 + timedelta(minutes=6), tick=False)
    after_the_boot = open_session(charger, connector_id=2, started_at=T0 - timedelta(hours=5))

    assert tasks.flag_open_sessions() == {"charger_rebooted": 1, "charger_gone": 0}

    before_the_boot.refresh_from_db()
    assert (before_the_boot.flag_reason, before_the_boot.flagged_at) == ("charger_rebooted", timezone.now())
    assert before_the_boot.needs_attention
    assert before_the_boot.stopped_at is None and before_the_boot.meter_stop is None  # never closed
    assert not hasattr(before_the_boot, "charge")  # never priced
    assert Transaction.objects.get(pk=after_the_boot.pk).flagged_at is None


def test_it_flags_a_session_whose_charger_has_been_gone_for_the_set_time(db, time_machine, settings):
    settings.OCPP_OPEN_SESSION_STALE_HOURS = 24
    time_machine.move_to(T0, tick=False)
    gone = register_charger("CP-GONE", is_connected=False, disconnected_at=T0)
    back = register_charger("CP-BACK", is_connected=True, disconnected_at=T0)
    abandoned, still_going = open_session(gone), open_session(back)

    time_machine.move_to(T0 + timedelta(hours=23), tick=False)
    assert housekeeping.flag_open_sessions()["charger_gone"] == 0

    time_machine.move_to(T0 + timedelta(hours=25), tick=False)
    assert housekeeping.flag_open_sessions()["charger_gone"] == 1
    assert Transaction.objects.get(pk=abandoned.pk).flag_reason == "charger_gone"
    assert Transaction.objects.get(pk=still_going.pk).flagged_at is None


def test_it_flags_a_session_once_and_never_one_that_stopped(db, time_machine):
    time_machine.move_to(T0, tick=False)
    charger = register_charger("CP-1")
    flagged, stopped = open_session(charger), open_session(charger, connector_id=2)
    stopped.stop(meter_stop=2_000, stopped_at=T0, reason="Local", id_tag="", data=None)
    Charger.objects.filter(pk=charger.pk).update(last_boot_at=T0 + timedelta(minutes=1))
    time_machine.move_to(T0 + timedelta(minutes=2), tick=False)
    housekeeping.flag_open_sessions()
    time_machine.move_to(T0 + timedelta(minutes=3), tick=False)

    assert housekeeping.flag_open_sessions() == {"charger_rebooted": 0, "charger_gone": 0}
    assert Transaction.objects.get(pk=flagged.pk).flagged_at == T0 + timedelta(minutes=2)
    assert Transaction.objects.get(pk=stopped.pk).flagged_at is None
    assert list(Transaction.objects.flagged_open()) == [Transaction.objects.get(pk=flagged.pk)]


def test_it_shows_olga_the_flagged_sessions_on_the_dashboard_and_the_session_page(client, operator):
    charger = register_charger("CP-1", is_connected=True, last_seen_at=timezone.now())
    session = open_session(charger)
    Transaction.objects.filter(pk=session.pk).flag(
        reason=Transaction.Flag.CHARGER_REBOOTED, at=timezone.now()
    )
    register_charger("CP-2")
    client.force_login(operator)

    dashboard = client.get("/dashboard/").content.decode()
    detail = client.get(f"/sessions/{session.pk}/").content.decode()

    assert 'data-count="flagged">1<' in dashboard
    assert 'class="dash-flagged" data-flagged="1"' in dashboard
    assert "An open session to check" in dashboard and "to check" in dashboard
    assert 'id="session-flag"' in detail and "the charger rebooted during the session" in detail


def test_it_shows_no_flag_count_when_nothing_is_flagged(client, operator):
    open_session(register_charger("CP-1", is_connected=True))
    client.force_login(operator)

    page = client.get("/dashboard/").content.decode()

    assert 'data-count="flagged"' not in page and "dash-flagged" not in page


# --- reservations and the message log ----------------------------------------------------------------


def test_it_expires_overdue_reservations_once(db, time_machine):
    time_machine.move_to(T0, tick=False)
    charger = register_charger("CP-1")

    def reservation(status, expires_at):
        return Reservation.objects.create(
            charger=charger, connector_id=1, id_tag="DANA-1", expires_at=expires_at, status=status
        )

    overdue = reservation(Reservation.Status.ACTIVE, T0 - timedelta(seconds=1))
    waiting = reservation(Reservation.Status.REQUESTED, T0 - timedelta(minutes=5))
    used = reservation(Reservation.Status.USED, T0 - timedelta(minutes=5))
    later = reservation(Reservation.Status.ACTIVE, T0 + timedelta(minutes=5))

    assert tasks.expire_reservations() == 2
    assert tasks.expire_reservations() == 0  # the other worker, or the next minute
    statuses = dict(Reservation.objects.values_list("pk", "status"))
    assert statuses == {overdue.pk: "expired", waiting.pk: "expired", used.pk: "used", later.pk: "active"}


def test_it_trims_the_message_log_to_its_retention_in_bounded_batches(db, time_machine, monkeypatch):
    time_machine.move_to(T0, tick=False)
    monkeypatch.setattr(housekeeping, "MESSAGE_LOG_BATCH", 2)
    old = T0 - timedelta(days=91)
    for _ in range(5):
        MessageLog.objects.create(charge_point_id="CP-1", direction="in", payload="[]", created_at=old)
    kept = MessageLog.objects.create(charge_point_id="CP-1", direction="in", payload="[]", created_at=T0)

    with CaptureQueriesContext(connection) as queries:
        assert tasks.prune_message_log() == 5

    assert list(MessageLog.objects.all()) == [kept]
    assert sum(query["sql"].startswith("DELETE") for query in queries.captured_queries) == 3  # 2 + 2 + 1
    assert tasks.prune_message_log() == 0
