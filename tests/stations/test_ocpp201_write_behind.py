"""OCPP 2.0.1 TransactionEvents in seqNo order cost what their 1.6 counterparts cost.

An Updated that is the next event of a session and carries no idToken is answered at once and
written behind, as a 1.6 MeterValues; a Started's session is committed before its answer and its row
written behind, as a 1.6 StartTransaction stores no sample; an Ended is committed before its answer and
flushes the write-behind first, so the price is made from every sample. The server here
writes its batches only every ten minutes: within a test, nothing but a flush of its own stores what
was written behind. Out of order, sent again or over a new socket, events still count once.
"""

import asyncio
from datetime import UTC, datetime, time
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import LedgerEntry, SessionCharge
from stations.gateway import writebehind
from stations.models import Charger, MeterValue, RefusedRecord, Transaction, TransactionEvent
from stations.transaction_events import EventReport, record_transaction_event, written_behind
from tests.billing.builders import balance, default_tariff, driver, peak_window, prepaid_card
from tests.conftest import own_server
from tests.factories import register_charger
from tests.ocpp_client import TestCharger201, connected_charger, orm
from tests.stations.test_ocpp201_transactions import energy, event, started, updated

WRITE_BEHIND_MS = "600000"  # ten minutes: within a test, only the server's own flushes store its batches
csms_process, csms = own_server("csms", OCPP_WRITE_BEHIND_MS=WRITE_BEHIND_MS)

# A Monday. 16:00-17:00 off-peak, 17:00-18:00 in the peak window (17:00-21:00).
PEAK_BEGINS, STOP = "2027-03-01T17:00:00Z", "2027-03-01T18:00:00Z"


def at_minute(minute: int) -> str:
    return f"2027-03-01T16:{minute:02}:00Z"


def ended_at(seq_no: int, wh: int = 13_000, at: str = STOP):
    return event(
        "Ended",
        at,
        "EVCommunicationLost",
        seq_no,
        meter_value=[energy(at, wh, "Transaction.End")],
        stopped_reason="EVDisconnected",
    )


def dana_with_twenty_euros():
    register_charger("CP-201")
    return prepaid_card("DANA-1", balance="20.00", owner=driver())


def stored_seq_nos() -> list[int]:
    return list(TransactionEvent.objects.order_by("seq_no").values_list("seq_no", flat=True))


def run(csms, *events) -> list:
    async def scenario():
        async with connected_charger(csms.ws_url, "CP-201", cls=TestCharger201) as cp:
            return [await cp.send(each) for each in events]

    return asyncio.run(scenario())


def test_it_answers_an_updated_before_storing_it_and_prices_its_sample_at_the_ended(csms):
    tariff = default_tariff(price_per_kwh=Decimal("0.3000"))
    peak_window(tariff, start=time(17), end=time(21), price_per_kwh="0.5000")
    card = dana_with_twenty_euros()

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-201", cls=TestCharger201) as cp:
            await cp.send(started())
            # 10 kWh before the peak window opens, 2 kWh inside it: only this sample says so.
            await cp.send(updated(seq_no=1, wh=11_000, at=PEAK_BEGINS))
            stored_before_the_ended = await orm(stored_seq_nos)
            open_before_the_ended = await orm(Transaction.objects.filter(stopped_at=None).count)
            await cp.send(ended_at(seq_no=2))
            return stored_before_the_ended, open_before_the_ended

    stored_before_the_ended, open_before_the_ended = asyncio.run(scenario())

    # The Started's session committed; its row and the Updated still written behind.
    assert (stored_before_the_ended, open_before_the_ended) == ([], 1)
    session = Transaction.objects.get(charger_transaction_id="tx-1")
    assert list(session.events.values_list("seq_no", flat=True)) == [0, 1, 2]
    assert MeterValue.objects.filter(transaction=session).count() == 3
    charge = SessionCharge.objects.get(transaction=session)
    # Priced without the Updated's sample, the 12 kWh would spread evenly: 6 × 0.30 + 6 × 0.50.
    assert [(line["label"], line["quantity"], line["amount"]) for line in charge.breakdown] == [
        ("Energy", "10.000", "3.00"),
        ("Energy (Peak)", "2.000", "1.00"),
    ]
    assert balance(card) == Decimal("16.00")


def test_it_stores_an_updated_sent_again_once(csms):
    default_tariff(price_per_kwh=Decimal("0.3000"))
    card = dana_with_twenty_euros()
    first = updated(seq_no=1, wh=4_000, at=at_minute(20))

    answers = run(
        csms, started(), first, first, updated(seq_no=2, wh=8_000, at=at_minute(40)), ended_at(3, wh=11_000)
    )

    assert [answer.id_token_info for answer in answers] == [{"status": "Accepted"}, None, None, None, None]
    session = Transaction.objects.get(charger_transaction_id="tx-1")
    assert stored_seq_nos() == [0, 1, 2, 3]
    assert MeterValue.objects.filter(transaction=session).count() == 4
    assert (session.meter_start, session.meter_stop) == (1_000, 11_000)
    assert LedgerEntry.objects.filter(kind="session_charge").count() == 1
    assert balance(card) == Decimal("17.00")


def test_it_applies_updated_events_out_of_order_among_written_behind_ones_once(csms):
    default_tariff(price_per_kwh=Decimal("0.3000"))
    card = dana_with_twenty_euros()
    readings = {1: 2_000, 2: 4_000, 3: 6_000, 4: 8_000}
    sample = {
        seq_no: updated(seq_no=seq_no, wh=wh, at=at_minute(10 * seq_no)) for seq_no, wh in readings.items()
    }

    run(csms, started(), sample[1], sample[3], sample[2], sample[4], ended_at(5, wh=11_000))

    session = Transaction.objects.get(charger_transaction_id="tx-1")
    assert list(session.events.values_list("seq_no", flat=True)) == [0, 1, 2, 3, 4, 5]
    assert sorted(MeterValue.objects.filter(transaction=session).values_list("numeric_value", flat=True)) == [
        1_000,
        2_000,
        4_000,
        6_000,
        8_000,
        11_000,
    ]
    assert (session.meter_start, session.meter_stop, session.stopped_at) == (
        1_000,
        11_000,
        datetime(2027, 3, 1, 18, tzinfo=UTC),
    )
    assert balance(card) == Decimal("17.00")


def test_it_goes_on_with_a_session_over_a_new_socket(csms):
    default_tariff(price_per_kwh=Decimal("0.3000"))
    card = dana_with_twenty_euros()

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-201", cls=TestCharger201) as cp:
            await cp.send(started())
            await cp.send(updated(seq_no=1, wh=3_000, at=at_minute(15)))
        async with connected_charger(csms.ws_url, "CP-201", cls=TestCharger201) as cp:
            await cp.send(updated(seq_no=2, wh=5_000, at=at_minute(30)))
            await cp.send(updated(seq_no=3, wh=7_000, at=at_minute(45)))
            await cp.send(ended_at(4, wh=11_000))

    asyncio.run(scenario())

    session = Transaction.objects.get(charger_transaction_id="tx-1")
    assert list(session.events.values_list("seq_no", flat=True)) == [0, 1, 2, 3, 4]
    assert MeterValue.objects.filter(transaction=session).count() == 5
    assert SessionCharge.objects.get(transaction=session).charged == Decimal("3.00")
    assert balance(card) == Decimal("17.00")


def test_it_writes_an_event_already_stored_behind_as_a_no_op(db):
    charger = register_charger("CP-201")
    at = datetime(2027, 3, 1, 16, 30, tzinfo=UTC)

    def row(seq_no):
        return TransactionEvent(
            charger=charger,
            transaction_id="tx-1",
            seq_no=seq_no,
            event_type="Updated",
            trigger_reason="MeterValuePeriodic",
            timestamp=at,
            meter_values=[energy("2027-03-01T16:30:00Z", 6_000)],
        )

    row(1).save()

    writebehind._write([], [], [], [], {}, {}, [row(1), row(2), row(2)])

    assert stored_seq_nos() == [1, 2]
    assert TransactionEvent.objects.get(seq_no=2).meter_values == [energy("2027-03-01T16:30:00Z", 6_000)]
    assert not RefusedRecord.objects.exists()


def report(event_type: str, seq_no: int, at: str, wh: int, context: str, **fields) -> EventReport:
    return EventReport(
        transaction_id="tx-1",
        seq_no=seq_no,
        event_type=event_type,
        trigger_reason="MeterValuePeriodic",
        timestamp=datetime.fromisoformat(at),
        evse_id=1,
        meter_values=[energy(at, wh, context)],
        **fields,
    )


def test_it_reads_no_stored_event_back_for_a_session_in_seq_no_order(db):
    default_tariff(price_per_kwh=Decimal("0.3000"))
    card = dana_with_twenty_euros()
    charger = Charger.objects.get(charge_point_id="CP-201")
    opened = record_transaction_event(
        charger=charger,
        report=report("Started", 0, at_minute(0), 1_000, "Transaction.Begin", id_token="DANA-1"),
    )
    row, samples = written_behind(
        charger=charger,
        report=report("Updated", 1, at_minute(30), 6_000, "Sample.Periodic"),
        progress=opened.progress,
    )
    # The batch, as the socket's flush writes it: the Started's row and samples, then the Updated's.
    writebehind._write([], [], opened.samples + samples, [], {}, {}, [opened.row_behind, row])

    with CaptureQueriesContext(connection) as queries:
        closed = record_transaction_event(
            charger=charger,
            report=report("Ended", 2, STOP, 11_000, "Transaction.End"),
            progress=opened.progress,
        )

    assert not [query for query in queries if "FROM" in query["sql"] and "transactionevent" in query["sql"]]
    assert closed.progress is None
    session = Transaction.objects.get(charger_transaction_id="tx-1")
    assert (session.meter_start, session.meter_stop, session.id_tag_status) == (1_000, 11_000, "Accepted")
    assert list(session.events.values_list("seq_no", flat=True)) == [0, 1, 2]
    assert balance(card) == Decimal("17.00")
