"""Chargers that went silent (stations.housekeeping.mark_silent_chargers_offline): marked connected but
unheard for OCPP_OFFLINE_AFTER_HEARTBEATS heartbeat intervals, they are shown offline and the process
holding the socket closes it (code 4001); the charger reconnects and is admitted as usual. Safe to run
twice, or in two processes at once."""

import asyncio
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from django.utils import timezone
from ocpp.v16 import call
from rest_framework.test import APIClient

from stations import housekeeping, tasks
from stations.models import Charger
from tests.conftest import ROOT, own_server
from tests.factories import register_charger
from tests.ocpp_client import connected_charger, orm

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
A, B = "specific.inmemory!process-a", "specific.inmemory!process-b"
SILENT_CLOSE_CODE = 4001


@pytest.fixture
def heartbeat_every_300s(settings):
    """Offline once unheard for 3 × 300 s + 30 s (last_seen_at is written at most every 30 s)."""
    settings.OCPP_HEARTBEAT_INTERVAL, settings.OCPP_OFFLINE_AFTER_HEARTBEATS = 300, 3
    settings.OCPP_LAST_SEEN_RESOLUTION = 30
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def connected_through(charge_point_id: str, channel_name: str, connection_id: str, last_seen_at) -> Charger:
    return register_charger(
        charge_point_id,
        is_connected=True,
        channel_name=channel_name,
        connection_id=connection_id,
        connected_since=T0,
        last_seen_at=last_seen_at,
    )


def connection_of(charge_point_id: str) -> tuple:
    return Charger.objects.values_list("is_connected", "channel_name").get(charge_point_id=charge_point_id)


def next_notice(channel_name: str) -> dict:
    """What the process at `channel_name` was told (the test process's in-memory channel layer)."""
    return async_to_sync(get_channel_layer().receive)(channel_name)


def nothing_more_for(channel_name: str) -> bool:
    """No other notice waits for `channel_name`: a marker sent now is the next one received."""
    async_to_sync(get_channel_layer().send)(channel_name, {"type": "test.marker"})
    return next_notice(channel_name) == {"type": "test.marker"}


# --- the job ---------------------------------------------------------------------------------------


def test_it_marks_a_charger_unheard_for_three_heartbeat_intervals_offline(db, heartbeat_every_300s):
    connected_through("CP-1", A, "socket-1", last_seen_at=T0)

    marked = housekeeping.mark_silent_chargers_offline(now=T0 + timedelta(seconds=931))

    assert marked == 1
    assert connection_of("CP-1") == (False, "")
    assert next_notice(A) == {"type": "ocpp.silent", "connection_id": "socket-1"}


def test_it_allows_for_last_seen_being_written_at_most_every_resolution(db, heartbeat_every_300s):
    connected_through("CP-1", A, "socket-1", last_seen_at=T0)

    # Three intervals and 29 s: its last frame may have come 29 s after the last_seen_at written.
    assert housekeeping.mark_silent_chargers_offline(now=T0 + timedelta(seconds=929)) == 0
    assert connection_of("CP-1") == (True, A)
    assert nothing_more_for(A)


def test_it_leaves_a_charger_that_keeps_heartbeating(db, heartbeat_every_300s, time_machine):
    time_machine.move_to(T0, tick=False)
    connected_through("CP-BEATING", A, "socket-1", last_seen_at=T0)
    connected_through("CP-QUIET", A, "socket-2", last_seen_at=T0)
    for beat in range(1, 5):
        time_machine.move_to(T0 + timedelta(seconds=300 * beat), tick=False)
        Charger.objects.filter(charge_point_id="CP-BEATING").update(last_seen_at=timezone.now())
        housekeeping.mark_silent_chargers_offline(held_by=A)  # as its process runs it, each interval

    assert connection_of("CP-BEATING") == (True, A)
    assert connection_of("CP-QUIET") == (False, "")


def test_it_marks_a_charger_once_however_many_runs(db, heartbeat_every_300s):
    connected_through("CP-1", A, "socket-1", last_seen_at=T0)
    later = T0 + timedelta(hours=1)

    assert housekeeping.mark_silent_chargers_offline(now=later) == 1
    assert housekeeping.mark_silent_chargers_offline(now=later) == 0  # the next run, or another worker

    assert next_notice(A)["type"] == "ocpp.silent"
    assert nothing_more_for(A)  # one close asked for, by the run that marked it


def test_it_lets_a_reconnect_or_a_frame_win_over_a_run_that_read_the_charger_silent(db, heartbeat_every_300s):
    connected_through("CP-1", A, "socket-1", last_seen_at=T0)
    connected_through("CP-2", A, "socket-2", last_seen_at=T0)
    heard_since = T0 + timedelta(minutes=10)
    read_by_the_job = {charger.charge_point_id: charger for charger in Charger.objects.all()}
    # Between the job's read and its UPDATE: CP-1 reconnected to B, CP-2's frame was written.
    Charger.objects.filter(charge_point_id="CP-1").update(
        channel_name=B, connection_id="socket-1b", last_seen_at=heard_since + timedelta(seconds=1)
    )
    Charger.objects.filter(charge_point_id="CP-2").update(last_seen_at=heard_since + timedelta(seconds=1))

    for charge_point_id, connection_id in (("CP-1", "socket-1"), ("CP-2", "socket-2")):
        charger = read_by_the_job[charge_point_id]
        assert not charger.mark_offline_if_silent(connection_id=connection_id, heard_since=heard_since)
    assert connection_of("CP-1") == (True, B)
    assert connection_of("CP-2") == (True, A)


def test_it_takes_only_the_sockets_of_the_process_it_can_reach(db, heartbeat_every_300s):
    connected_through("CP-HERE", A, "socket-1", last_seen_at=T0)
    connected_through("CP-ELSEWHERE", B, "socket-2", last_seen_at=T0)

    assert housekeeping.mark_silent_chargers_offline(now=T0 + timedelta(hours=1), held_by=A) == 1

    assert connection_of("CP-HERE") == (False, "")
    assert connection_of("CP-ELSEWHERE") == (True, B)  # its process would never hear it: left to that one


def test_it_marks_nothing_from_a_process_without_sockets_on_the_in_memory_layer(db, heartbeat_every_300s):
    connected_through("CP-1", A, "socket-1", last_seen_at=T0)

    assert housekeeping.sockets_closable_here() == ""  # the test process holds no socket
    assert tasks.mark_silent_chargers_offline() == 0
    assert connection_of("CP-1") == (True, A)


def test_it_never_marks_a_charger_when_switched_off(db, heartbeat_every_300s, settings):
    settings.OCPP_OFFLINE_AFTER_HEARTBEATS = 0
    connected_through("CP-1", A, "socket-1", last_seen_at=T0)

    assert housekeeping.mark_silent_chargers_offline(now=T0 + timedelta(days=1)) == 0
    assert connection_of("CP-1") == (True, A)


def test_it_says_in_one_line_what_the_run_did(db, heartbeat_every_300s, caplog):
    connected_through("CP-1", A, "socket-1", last_seen_at=T0)
    connected_through("CP-2", A, "socket-2", last_seen_at=T0 + timedelta(minutes=30))

    with caplog.at_level(logging.INFO, logger="stations.housekeeping"):
        housekeeping.mark_silent_chargers_offline(now=T0 + timedelta(minutes=20))

    assert [record.getMessage() for record in caplog.records] == [
        "marked 1 chargers offline, unheard for 930 s"
    ]


def test_it_shows_olga_a_charger_marked_offline_with_when_it_was_last_seen(
    db, heartbeat_every_300s, operator
):
    charger = connected_through("CP-1", A, "socket-1", last_seen_at=T0)
    housekeeping.mark_silent_chargers_offline(now=T0 + timedelta(hours=1))
    client = Client()
    client.force_login(operator)
    api = APIClient()
    api.force_authenticate(operator)

    answer = api.get("/api/v1/chargers/CP-1/").json()
    dashboard = client.get("/dashboard/").content.decode()
    page = client.get("/chargers/CP-1/").content.decode()

    assert (answer["connected"], answer["state"]) == (False, "offline")
    assert answer["last_seen_at"] == "2026-11-21T10:00:00Z"
    assert f'id="dash-charger-{charger.pk}" data-state="offline"' in dashboard
    assert "Last seen" in dashboard
    assert "offline since" in page and "2026-11-21 10:00:00" in page  # its last seen


@pytest.mark.parametrize(
    ("value", "refusal"),
    [("1", "0 (never) or 2+"), ("-1", "at least 0"), ("3x", "not an integer")],
)
def test_it_refuses_a_setting_it_does_not_understand(value, refusal):
    checked = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "csms.settings", "OCPP_OFFLINE_AFTER_HEARTBEATS": value},
        capture_output=True,
        text=True,
    )

    assert checked.returncode != 0
    assert "OCPP_OFFLINE_AFTER_HEARTBEATS" in checked.stderr and refusal in checked.stderr


# --- for real: a server process and chargers over WebSockets -----------------------------------------

# The server runs the job itself (no Redis), every second: silent after 3 × 1 s.
quiet_process, quiet = own_server(
    "quiet", OCPP_HEARTBEAT_INTERVAL="1", OCPP_OFFLINE_AFTER_HEARTBEATS="3", OCPP_LAST_SEEN_RESOLUTION="0"
)


async def closed_by_the_server(cp) -> int:
    """The close code the server closed this charger's socket with (waits for it, 30 s at most)."""
    await asyncio.wait_for(cp._connection.wait_closed(), timeout=30)
    return cp._connection.close_code


async def heartbeat_forever(cp) -> None:
    while True:
        await cp.send(call.Heartbeat())
        await asyncio.sleep(0.2)


@pytest.mark.slow
def test_it_closes_the_socket_of_a_silent_charger_and_shows_it_offline(quiet, operator):
    register_charger("CP-SILENT")
    register_charger("CP-BEATING")
    api = APIClient()
    api.force_authenticate(operator)

    def shown(charge_point_id: str) -> tuple:
        answer = api.get(f"/api/v1/chargers/{charge_point_id}/").json()
        return answer["connected"], answer["state"]

    async def scenario() -> dict:
        async with (
            connected_charger(quiet.ws_url, "CP-SILENT") as silent,
            connected_charger(quiet.ws_url, "CP-BEATING") as beating,
        ):
            await silent.boot()
            await beating.boot()
            beats = asyncio.create_task(heartbeat_forever(beating))
            try:
                code = await closed_by_the_server(silent)  # it sent nothing since its boot
                seen = {cp: await orm(shown, cp) for cp in ("CP-SILENT", "CP-BEATING")}
            finally:
                beats.cancel()
        async with connected_charger(quiet.ws_url, "CP-SILENT") as back:
            await back.boot()  # the charger reconnects and is admitted as usual
            return {"code": code, "seen": seen, "back": await orm(shown, "CP-SILENT")}

    outcome = asyncio.run(scenario())

    assert outcome["code"] == SILENT_CLOSE_CODE
    assert outcome["seen"] == {"CP-SILENT": (False, "offline"), "CP-BEATING": (True, "online")}
    assert outcome["back"] == (True, "online")


@pytest.mark.slow
def test_it_closes_a_silent_socket_once_when_two_workers_run_the_job_at_once(remote_csms):
    """The server on Redis (its jobs are Celery's), the job run here twice at once, as two workers
    would: the charger is marked once and the server holding its socket closes it."""
    register_charger("CP-1")

    def job_an_hour_later() -> int:
        later = timezone.now() + timedelta(hours=1)
        return housekeeping.mark_silent_chargers_offline(
            now=later, held_by=housekeeping.sockets_closable_here()
        )

    async def scenario() -> tuple:
        async with connected_charger(remote_csms.ws_url, "CP-1") as cp:
            await cp.boot()
            marked = await asyncio.gather(orm(job_an_hour_later), orm(job_an_hour_later))
            return sorted(marked), await closed_by_the_server(cp), await orm(connection_of, "CP-1")

    marked, code, connection = asyncio.run(scenario())

    assert marked == [0, 1]
    assert code == SILENT_CLOSE_CODE
    assert connection == (False, "")
