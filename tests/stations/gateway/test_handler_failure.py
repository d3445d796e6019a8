"""A handler that fails answers its CALL with InternalError, and nothing else is lost.

The failure is a real one: PostgreSQL drops the server's database connection (a restart,
a failover, an administrator ending sessions) while chargers are connected. The next
handler that needs the database fails on the dead connection; its charger gets a CALLERROR
InternalError, the connection is replaced for the next call, and the meter values and log
rows that this charger and another one sent before and after it are all stored.

The server here has one ORM thread (so the failing handler is surely the one on the dead
connection) and writes its batches only every ten minutes (so they are written once the
chargers leave, after the failure, on the replaced connection).
"""

import asyncio
import json
import uuid

import pytest
from django.db import connection
from ocpp.exceptions import InternalError
from ocpp.v16 import call

from stations.models import DataTransferMessage, MessageLog, MeterValue
from tests.conftest import database_url, own_server
from tests.factories import register_charger
from tests.ocpp_client import connected_charger, orm, wait_until

APPLICATION_NAME = f"csms-handler-failure-{uuid.uuid4().hex[:8]}"  # the server's connections, to end them

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a database connection dropped under a running server is PostgreSQL's failure; the embedded "
    "SQLite file has no connection to lose. CI (.ci/run) runs this on PostgreSQL.",
)


def server_database_url() -> str:
    """The test database, under a name of its own: end_server_connections finds the server's sessions by it."""
    return f"{database_url(connection.settings_dict)}?application_name={APPLICATION_NAME}"


csms_process, csms = own_server(
    "csms", DATABASE_URL=server_database_url, OCPP_ORM_THREADS="1", OCPP_WRITE_BEHIND_MS="600000"
)


def end_server_connections() -> int:
    """What a PostgreSQL restart does to the server: its sessions end (waiting until they have)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = %s",
            [APPLICATION_NAME],
        )
        return sum(1 for (ended,) in cursor.fetchall() if ended)


def energy_at(minute: int, wh: int):
    return call.MeterValues(
        connector_id=1,
        meter_value=[
            {
                "timestamp": f"2027-03-01T08:{minute:02d}:00Z",
                "sampledValue": [
                    {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                ],
            }
        ],
    )


def test_it_answers_internal_error_and_keeps_what_was_sent_around_it(csms):
    register_charger("CP-1")
    register_charger("CP-2")

    async def scenario():
        async with (
            connected_charger(csms.ws_url, "CP-1") as cp1,
            connected_charger(csms.ws_url, "CP-2") as cp2,
        ):
            await cp1.boot()
            await cp2.boot()
            await cp1.send(energy_at(1, 1_000))
            await cp2.send(energy_at(1, 2_000))
            # A call on the ORM pool's thread (the boots run on the session lane's), so that the next
            # one finds that thread's connection ended.
            await cp1.send(call.DataTransfer(vendor_id="com.example", message_id="before", data="0"))
            ended = await orm(end_server_connections)
            with pytest.raises(InternalError):
                await cp1.send(call.DataTransfer(vendor_id="com.example", message_id="lost", data="a"))
            await cp2.send(energy_at(2, 2_500))
            await cp1.send(energy_at(2, 1_500))
            kept = await cp1.send(call.DataTransfer(vendor_id="com.example", message_id="kept", data="b"))
            return ended, kept

    ended, kept = asyncio.run(scenario())

    assert ended >= 1, "the server had no database connection to end"
    assert kept.status == "UnknownVendorId"  # answered (stored, no vendor extension): a new connection
    assert sorted(DataTransferMessage.objects.values_list("message_id", flat=True)) == ["before", "kept"]
    logged = MessageLog.objects.filter(charge_point_id__in=["CP-1", "CP-2"])
    samples = MeterValue.objects.order_by("charger__charge_point_id", "timestamp")
    assert wait_until(lambda: logged.count() == 18 and samples.count() == 4), "written when the chargers left"
    assert [(s.charger.charge_point_id, s.timestamp.minute, int(s.numeric_value)) for s in samples] == [
        ("CP-1", 1, 1_000),
        ("CP-1", 2, 1_500),
        ("CP-2", 1, 2_000),
        ("CP-2", 2, 2_500),
    ]
    failed = logged.get(direction="in", action="DataTransfer", payload__contains='"lost"')
    answer = logged.get(direction="out", message_id=failed.message_id)
    assert json.loads(answer.payload)[:3] == [4, failed.message_id, "InternalError"]
