"""A normal stop (SIGTERM: systemd stop, an upgrade) loses nothing a charger was answered for.

Meter values and the message log wait in the write-behind for up to
OCPP_WRITE_BEHIND_MS; the server here waits a minute, so only the stop's own
flush can have written them. (kill -9 losing at most one batch window is the
documented trade-off, docs/architecture.md.)
"""

import asyncio

from ocpp.v16 import call

from stations.models import MessageLog, MeterValue
from tests.conftest import ServerProcess, server_env
from tests.factories import register_charger
from tests.ocpp_client import connected_charger


def test_it_writes_every_answered_frame_before_it_stops(transactional_db):
    register_charger("CP-1")
    server = ServerProcess(server_env(OCPP_WRITE_BEHIND_MS="60000"))

    async def meter():
        async with connected_charger(server.ws_url, "CP-1") as cp:
            for minute in range(5):
                await cp.send(
                    call.MeterValues(
                        connector_id=1,
                        meter_value=[
                            {
                                "timestamp": f"2027-03-01T08:0{minute}:00Z",
                                "sampled_value": [{"value": str(minute)}],
                            }
                        ],
                    )
                )
            server.stop()  # SIGTERM while the charger is still connected; waits for the process to exit

    asyncio.run(meter())

    assert sorted(MeterValue.objects.values_list("value", flat=True)) == ["0", "1", "2", "3", "4"]
    assert MessageLog.objects.filter(action="MeterValues", direction="in").count() == 5
    assert MessageLog.objects.filter(direction="out").count() == 5
