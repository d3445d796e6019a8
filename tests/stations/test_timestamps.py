"""A charger's timestamp without an offset is taken as UTC (OCPP's times are), whatever the site's time zone.

The server here runs for a site in Berlin (SITE_TIME_ZONE): Django would read a time without
an offset as Berlin time, an hour off in March, so only the CSMS's own reading as UTC stores
"2027-03-01T08:00:00" as 08:00 UTC. A time with an offset keeps its offset.
"""

import asyncio
from datetime import UTC, datetime

from ocpp.v16 import call

from stations.models import MeterValue, StatusNotification, Transaction
from tests.conftest import own_server
from tests.factories import register_charger
from tests.ocpp_client import connected_charger, wait_until

csms_process, csms = own_server("csms", SITE_TIME_ZONE="Europe/Berlin")


def utc(hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 3, 1, hour, minute, tzinfo=UTC)


def test_it_stores_times_without_an_offset_as_utc(csms):
    register_charger("CP-1")

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-1") as cp:
            await cp.send(
                call.StatusNotification(
                    connector_id=1, error_code="NoError", status="Preparing", timestamp="2027-03-01T07:59:00"
                )
            )
            started = await cp.start_transaction(meter_start=0, timestamp="2027-03-01T08:00:00")
            session = started.transaction_id
            await cp.send(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=session,
                    meter_value=[
                        {
                            "timestamp": "2027-03-01T08:30:00",
                            "sampledValue": [{"value": "4000", "unit": "Wh"}],
                        }
                    ],
                )
            )
            await cp.stop_transaction(session, meter_stop=8000, timestamp="2027-03-01T10:00:00+01:00")
            return session

    transaction_id = asyncio.run(scenario())

    session = Transaction.objects.get(pk=transaction_id)
    assert (session.started_at, session.stopped_at) == (utc(8), utc(9))
    assert wait_until(lambda: MeterValue.objects.exists() and StatusNotification.objects.exists())
    assert list(MeterValue.objects.values_list("timestamp", flat=True)) == [utc(8, 30)]
    assert StatusNotification.objects.get().timestamp == utc(7, 59)
