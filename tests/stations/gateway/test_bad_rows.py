"""A charger's bad data costs only itself: never another charger's data, nor a StopTransaction.

The write-behind stores every charger's meter values, log lines, statuses and
handshakes of a batch together. Values no column can hold are refused at the
handler with a CALLERROR naming the field, or made storable; should a row get
past that all the same, the batch writer keeps the rest and the row as a
RefusedRecord. The socket tests put hostile but schema-valid frames into the
same batch as a good charger's session (the server flushes only when a
StopTransaction asks, its interval being a minute).
"""

import asyncio
import json
from decimal import Decimal

from django.utils import timezone
from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from stations.gateway import writebehind
from stations.models import MessageLog, MeterValue, RefusedRecord, Sample, StatusNotification, Transaction
from tests.conftest import own_server
from tests.factories import register_charger
from tests.ocpp_client import connected_charger

NOW = "2027-03-01T08:00:00Z"


server_process, server = own_server("server", OCPP_WRITE_BEHIND_MS="60000")


def sample(value: str, at: str = NOW, **fields) -> dict:
    return {"timestamp": at, "sampled_value": [{"value": value, **fields}]}


async def good_session(server, ready: asyncio.Event, hostile_done: asyncio.Event):
    """CP-GOOD charges and meters; it stops only after the hostile charger's records are buffered."""
    async with connected_charger(server.ws_url, "CP-GOOD") as cp:
        started = await cp.start_transaction(id_tag="GOOD-TAG", meter_start=1_000, timestamp=NOW)
        await cp.send(
            call.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[sample("1500", "2027-03-01T08:10:00Z")],
            )
        )
        ready.set()
        await asyncio.wait_for(hostile_done.wait(), 10)
        stopped = await cp.stop_transaction(started.transaction_id, 2_000, timestamp="2027-03-01T08:20:00Z")
        return started.transaction_id, stopped


HOSTILE = [
    call.MeterValues(connector_id=1, meter_value=[sample("1e30"), sample("42", "2027-03-01T08:01:00Z")]),
    call.StatusNotification(connector_id=1, error_code="NoError", status="Available", info="nul\u0000inside"),
    call.StatusNotification(
        connector_id=1, error_code="NoError", status="Available", info="lone \ud800 half"
    ),
    call.MeterValues(connector_id=2_147_483_648, meter_value=[sample("7")]),
    call.MeterValues(connector_id=1, meter_value=[sample("8", "9999-12-31T23:59:59-12:00")]),
    call.StatusNotification(
        connector_id=1, error_code="NoError", status="Faulted", timestamp="9999-12-31T23:59:59-12:00"
    ),
    call.StartTransaction(connector_id=1, id_tag="BAD\u0000TAG", meter_start=0, timestamp=NOW),
    call.StartTransaction(connector_id=1, id_tag="ß" * 20, meter_start=-(2**63) - 1, timestamp=NOW),
]


async def hostile_records(server, ready: asyncio.Event, hostile_done: asyncio.Event) -> list[str]:
    """CP-BAD sends what the columns cannot hold, each frame valid by the OCPP schema; returns its answers."""
    await asyncio.wait_for(ready.wait(), 10)
    answers = []
    async with connected_charger(server.ws_url, "CP-BAD") as cp:
        for payload in HOSTILE:
            try:
                await cp.send(payload)
                answers.append("answered")
            except OCPPError as refused:
                answers.append(refused.code)
        await cp._connection.send(json.dumps([2, "id-with-\u0000", "Heartbeat", {}]))
        await cp._connection.send(json.dumps([-1, "type-minus-one", "Heartbeat", {}]))
        await cp.send(call.Heartbeat())  # answered after the raw frames: the server has read them all
    hostile_done.set()
    return answers


def run_both(server):
    async def scenario():
        ready, hostile_done = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(
            good_session(server, ready, hostile_done), hostile_records(server, ready, hostile_done)
        )

    return asyncio.run(scenario())


def test_it_answers_and_stores_a_good_chargers_stop_whatever_another_charger_sent(server):
    register_charger("CP-GOOD"), register_charger("CP-BAD")

    (transaction_id, stopped), _ = run_both(server)

    assert stopped.id_tag_info is None or stopped.id_tag_info["status"]  # answered, not a CALLERROR
    session = Transaction.objects.get(pk=transaction_id)
    assert session.stopped_at is not None and session.meter_stop == 2_000
    assert list(MeterValue.objects.filter(transaction=session).values_list("value", flat=True)) == ["1500"]
    assert MessageLog.objects.filter(charge_point_id="CP-GOOD", action="StopTransaction").exists()


def test_it_refuses_each_value_no_column_holds_with_a_callerror_and_stores_the_rest(server):
    register_charger("CP-GOOD"), register_charger("CP-BAD")

    _, answers = run_both(server)

    assert answers == ["answered", "answered", "answered"] + ["PropertyConstraintViolation"] * 5
    bad = MeterValue.objects.filter(charger__charge_point_id="CP-BAD")
    assert sorted(bad.values_list("value", "numeric_value")) == [("1e30", None), ("42", Decimal("42"))]
    infos = StatusNotification.objects.filter(charger__charge_point_id="CP-BAD").values_list(
        "info", flat=True
    )
    assert sorted(infos) == ["lone ? half", "nul\ufffdinside"]
    assert not Transaction.objects.filter(charger__charge_point_id="CP-BAD").exists()
    logged = MessageLog.objects.filter(charge_point_id="CP-BAD", direction="in")
    assert logged.count() == len(HOSTILE) + 3, "every frame is logged, the odd ones made storable"
    assert not RefusedRecord.objects.exists()


def test_it_writes_the_rest_of_a_batch_and_keeps_each_row_the_database_refuses(db):
    good, bad = register_charger("CP-GOOD"), register_charger("CP-BAD")
    at = timezone.now()
    log = (("CP-GOOD", "in", 2, "m-1", "Heartbeat", "[2]", at), ("CP-BAD", "in", -1, "m-2", "", "[-1]", at))
    samples = [
        Sample(good.pk, 1, None, at, "5", Decimal(5)),
        Sample(bad.pk, 1, None, at, "half \ud800", None),
    ]

    writebehind._write(list(log), [], samples, [], {good.pk: at}, {})

    assert list(MessageLog.objects.values_list("charge_point_id", flat=True)) == ["CP-GOOD"]
    assert list(MeterValue.objects.values_list("value", flat=True)) == ["5"]
    good.refresh_from_db()
    assert good.last_heartbeat_at == at
    refused = RefusedRecord.objects.filter(charge_point_id="CP-BAD")
    assert sorted(refused.values_list("kind", flat=True)) == ["message log", "meter value"]
    assert all(record.error for record in refused)


def test_it_keeps_a_refused_row_as_text_any_database_can_store(db):
    charger = register_charger("CP-1")
    hostile = Sample(charger.pk, 1, None, "2027-03-01T08:00:00Z", "nul\u0000 and \udc80", None)

    RefusedRecord.keep(kind="meter value", row=hostile, error=ValueError("refused"))

    record = RefusedRecord.objects.get()
    assert record.charge_point_id == "CP-1"
    assert r"nul\u0000 and \udc80" in record.row and "\u0000" not in record.row  # JSON escapes: storable


def test_it_keeps_the_charger_pages_working_after_a_year_10000_timestamp(server, client, operator):
    register_charger("CP-GOOD"), register_charger("CP-BAD")
    run_both(server)
    client.force_login(operator)

    for page in (
        "/chargers/",
        "/chargers/CP-BAD/",
        "/admin/stations/statusnotification/",
        "/admin/stations/metervalue/",
    ):
        assert client.get(page).status_code in (200, 403), page  # never a 500 (403: not her permission)
    assert client.get("/chargers/CP-BAD/").status_code == 200
