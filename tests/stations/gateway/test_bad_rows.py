"""A row the database refuses costs only itself: never another charger's data, nor a StopTransaction.

The write-behind stores every charger's meter values, log lines, statuses and
handshakes of a batch together. These tests put hostile but schema-valid
records into the same batch as a good charger's session (the server flushes
only when a StopTransaction asks, its interval being a minute), then check the
good charger's stop is answered, its samples priced, and each refused row kept
as a RefusedRecord with its error.
"""

import asyncio
import json

import pytest
from ocpp.v16 import call

from stations.models import MessageLog, MeterValue, RefusedRecord, StatusNotification, Transaction
from tests.conftest import ServerProcess, flush_after_server_writes, server_env
from tests.factories import register_charger
from tests.ocpp_client import connected_charger

NOW = "2027-03-01T08:00:00Z"


@pytest.fixture(scope="module")
def batching_server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        server = ServerProcess(server_env(OCPP_WRITE_BEHIND_MS="60000"))
    yield server
    server.stop()


@pytest.fixture
def server(batching_server, transactional_db):
    yield batching_server
    flush_after_server_writes()


def sample(value: str, at: str = NOW, **fields) -> dict:
    return {"timestamp": at, "sampled_value": [{"value": value, **fields}]}


async def good_session(server, ready: asyncio.Event, hostile_done: asyncio.Event):
    """CP-GOOD charges and meters; it stops only after the hostile charger's records are buffered."""
    async with connected_charger(server.ws_url, "CP-GOOD") as cp:
        started = await cp.start_transaction(id_tag="GOOD-TAG", meter_start=1_000, timestamp=NOW)
        await cp.send(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                       meter_value=[sample("1500", "2027-03-01T08:10:00Z")]))
        ready.set()
        await asyncio.wait_for(hostile_done.wait(), 10)
        stopped = await cp.stop_transaction(started.transaction_id, 2_000, timestamp="2027-03-01T08:20:00Z")
        return started.transaction_id, stopped


async def hostile_records(server, ready: asyncio.Event, hostile_done: asyncio.Event):
    """CP-BAD sends what the columns cannot hold, each frame valid by the OCPP schema."""
    await asyncio.wait_for(ready.wait(), 10)
    async with connected_charger(server.ws_url, "CP-BAD") as cp:
        await cp.send(call.MeterValues(connector_id=1, meter_value=[
            sample("1e30"), sample("42", "2027-03-01T08:01:00Z"),  # a number no meter column holds, then a good one
        ]))
        await cp.send(call.StatusNotification(connector_id=1, error_code="NoError", status="Available",
                                              info="nul\u0000inside"))
        await cp.send(call.StatusNotification(connector_id=1, error_code="NoError", status="Available",
                                              info="lone \ud800 surrogate"))
        await cp.send(call.MeterValues(connector_id=2_147_483_648, meter_value=[sample("7")]))
        await cp._connection.send(json.dumps([2, "id-with-\u0000", "Heartbeat", {}]))
        await cp.send(call.Heartbeat())  # answered after the raw frame: the server has read both
    hostile_done.set()


def run_both(server):
    async def scenario():
        ready, hostile_done = asyncio.Event(), asyncio.Event()
        good, _ = await asyncio.gather(good_session(server, ready, hostile_done),
                                       hostile_records(server, ready, hostile_done))
        return good

    return asyncio.run(scenario())


def test_it_answers_and_stores_a_good_chargers_stop_whatever_another_charger_sent(server):
    register_charger("CP-GOOD"), register_charger("CP-BAD")

    transaction_id, stopped = run_both(server)

    assert stopped.id_tag_info is None or stopped.id_tag_info["status"]  # answered, not a CALLERROR
    session = Transaction.objects.get(pk=transaction_id)
    assert session.stopped_at is not None and session.meter_stop == 2_000
    assert list(MeterValue.objects.filter(transaction=session).values_list("value", flat=True)) == ["1500"]
    assert MessageLog.objects.filter(charge_point_id="CP-GOOD", action="StopTransaction").exists()


def test_it_keeps_the_rest_of_a_bad_chargers_batch_and_each_refused_row_with_its_error(server):
    register_charger("CP-GOOD"), register_charger("CP-BAD")

    run_both(server)

    refused = RefusedRecord.objects.filter(charge_point_id="CP-BAD")
    assert refused.exists() and all(record.error for record in refused)
    stored_values = set(MeterValue.objects.filter(charger__charge_point_id="CP-BAD").values_list("value", flat=True))
    refused_samples = [record.row for record in refused.filter(kind="meter value")]
    assert "42" in stored_values, "the good sample of the same frame is stored"
    for value in ("1e30", "42", "7"):  # each sample is stored or kept as refused: none silently lost
        assert value in stored_values or any(f'"value": "{value}"' in row for row in refused_samples), value
    statuses = StatusNotification.objects.filter(charger__charge_point_id="CP-BAD").count()
    assert statuses + refused.filter(kind="status notification").count() == 2
    logged = MessageLog.objects.filter(charge_point_id="CP-BAD", direction="in").count()
    refused_in = refused.filter(kind="message log", row__contains='"direction": "in"').count()
    assert logged + refused_in == 6


def test_it_keeps_a_refused_row_as_text_any_database_can_store(db):
    charger = register_charger("CP-1")
    hostile = MeterValue(charger=charger, connector_id=1, timestamp="2027-03-01T08:00:00Z",
                         value="nul\u0000 and \udc80", numeric_value=None)

    RefusedRecord.keep(kind="meter value", row=hostile, error=ValueError("refused"))

    record = RefusedRecord.objects.get()
    assert record.charge_point_id == "CP-1"
    assert r"nul\u0000 and \udc80" in record.row and "\u0000" not in record.row  # JSON escapes: storable
