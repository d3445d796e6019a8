"""OCPP 2.0.1 TransactionEvents become the same sessions as 1.6 starts and stops: priced by the same
tariff, paid from the same prepaid card, once, however the charger replays its queue.

The charger is the `ocpp` library's v201 ChargePoint over a real socket (schemas checked both ways).
"""

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

from ocpp.v201 import call

from billing.models import LedgerEntry, SessionCharge
from stations.models import MeterValue, Transaction, TransactionEvent, UnknownTransactionStop
from tests.billing.builders import balance, default_tariff, driver, prepaid_card
from tests.factories import register_charger
from tests.ocpp_client import TestCharger201, connected_charger

START, MIDDLE, STOP = "2027-03-01T16:00:00Z", "2027-03-01T16:30:00Z", "2027-03-01T17:00:00Z"


def energy(timestamp: str, wh: float, context: str = "Sample.Periodic") -> dict:
    return {
        "timestamp": timestamp,
        "sampled_value": [
            {
                "value": wh,
                "measurand": "Energy.Active.Import.Register",
                "context": context,
                "unit_of_measure": {"unit": "Wh"},
            }
        ],
    }


def started(seq_no=0, token="DANA-1", **extra):
    fields = {
        "evse": {"id": 1, "connector_id": 1},
        "meter_value": [energy(START, 1_000, "Transaction.Begin")],
    }
    if token:
        fields["id_token"] = {"id_token": token, "type": "ISO14443"}
    return event("Started", START, "Authorized" if token else "CablePluggedIn", seq_no, **{**fields, **extra})


def updated(seq_no=1, wh=6_000, at=MIDDLE, trigger_reason="MeterValuePeriodic", **extra):
    return event("Updated", at, trigger_reason, seq_no, meter_value=[energy(at, wh)], **extra)


def ended(seq_no=2, **extra):
    return event(
        "Ended",
        STOP,
        "EVCommunicationLost",
        seq_no,
        meter_value=[energy(STOP, 11_000, "Transaction.End")],
        stopped_reason="EVDisconnected",
        **extra,
    )


def event(
    event_type, timestamp, trigger_reason, seq_no, transaction_id="tx-1", stopped_reason=None, **fields
):
    info = {
        "transaction_id": transaction_id,
        **({"stopped_reason": stopped_reason} if stopped_reason else {}),
    }
    return call.TransactionEvent(
        event_type=event_type,
        timestamp=timestamp,
        trigger_reason=trigger_reason,
        seq_no=seq_no,
        transaction_info=info,
        **fields,
    )


def run(csms, *events) -> list:
    """Send the events in this order as charger CP-201; their answers."""

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-201", cls=TestCharger201) as cp:
            return [await cp.send(each) for each in events]

    return asyncio.run(scenario())


def dana_with_twenty_euros():
    default_tariff(price_per_kwh=Decimal("0.3000"))
    register_charger("CP-201")
    return prepaid_card("DANA-1", balance="20.00", owner=driver())


def test_it_prices_a_201_session_by_the_tariff_and_takes_it_from_the_prepaid_card_once(csms):
    card = dana_with_twenty_euros()

    answers = run(csms, started(), updated(), ended())

    assert [answer.id_token_info for answer in answers] == [{"status": "Accepted"}, None, None]
    session = Transaction.objects.get(charger_transaction_id="tx-1")
    assert (session.connector_id, session.id_tag, session.id_tag_status) == (1, "DANA-1", "Accepted")
    assert (session.meter_start, session.meter_stop, session.stop_reason) == (1_000, 11_000, "EVDisconnected")
    assert (session.started_at, session.stopped_at) == (
        datetime(2027, 3, 1, 16, tzinfo=UTC),
        datetime(2027, 3, 1, 17, tzinfo=UTC),
    )
    charge = SessionCharge.objects.get(transaction=session)
    assert (charge.energy_wh, charge.total, charge.charged) == (10_000, Decimal("3.00"), Decimal("3.00"))
    assert balance(card) == Decimal("17.00")
    assert MeterValue.objects.filter(transaction=session).count() == 3
    assert list(session.events.values_list("seq_no", "event_type")) == [
        (0, "Started"),
        (1, "Updated"),
        (2, "Ended"),
    ]


def test_it_applies_an_offline_queue_replayed_out_of_order_and_twice_exactly_once(csms):
    card = dana_with_twenty_euros()
    queue = [updated(offline=True), ended(offline=True), started(offline=True)]

    run(csms, *queue, *queue)

    session = Transaction.objects.get(charger_transaction_id="tx-1")
    # Taken in seqNo order: the late Started is the start, though an Updated built the session first.
    assert (session.started_at, session.meter_start, session.meter_stop) == (
        datetime(2027, 3, 1, 16, tzinfo=UTC),
        1_000,
        11_000,
    )
    assert (session.id_tag, session.id_tag_status) == ("DANA-1", "Accepted")
    assert TransactionEvent.objects.filter(session=session, offline=True).count() == 3
    assert SessionCharge.objects.get(transaction=session).charged == Decimal("3.00")
    assert LedgerEntry.objects.filter(kind="session_charge").count() == 1
    assert balance(card) == Decimal("17.00")
    assert not UnknownTransactionStop.objects.exists()


def test_it_builds_a_session_from_an_updated_that_came_before_its_started(csms):
    dana_with_twenty_euros()

    [answer] = run(csms, updated(id_token={"id_token": "DANA-1", "type": "ISO14443"}, evse={"id": 2}))

    session = Transaction.objects.get(charger_transaction_id="tx-1")
    assert answer.id_token_info == {"status": "Accepted"}
    assert (session.connector_id, session.started_at, session.meter_start) == (
        2,
        datetime(2027, 3, 1, 16, 30, tzinfo=UTC),
        6_000,
    )
    assert session.state == Transaction.State.CHARGING
    assert Transaction.objects.of_id_tags(["DANA-1"]).charging().get() == session


def test_it_authorizes_an_id_token_that_comes_after_the_cable_and_refuses_a_second_start_of_the_card(csms):
    dana_with_twenty_euros()
    other = started(token=None, transaction_id="tx-2", evse={"id": 2, "connector_id": 1})
    other_tap = updated(seq_no=1, transaction_id="tx-2", id_token={"id_token": "dana-1", "type": "ISO14443"})

    answers = run(
        csms,
        started(token=None),
        updated(seq_no=1, id_token={"id_token": "DANA-1", "type": "ISO14443"}, trigger_reason="Authorized"),
        other,
        other_tap,
    )

    assert [answer.id_token_info for answer in answers] == [
        None,
        {"status": "Accepted"},
        None,
        {"status": "ConcurrentTx"},
    ]
    assert Transaction.objects.get(charger_transaction_id="tx-1").id_tag_status == "Accepted"
    assert Transaction.objects.get(charger_transaction_id="tx-2").id_tag_status == "ConcurrentTx"


def test_it_keeps_an_ended_without_a_started_for_staff_and_moves_no_money(csms):
    card = dana_with_twenty_euros()

    [answer] = run(csms, ended(id_token={"id_token": "DANA-1", "type": "ISO14443"}))

    assert answer.id_token_info == {"status": "Accepted"}
    unknown = UnknownTransactionStop.objects.get()
    assert (unknown.charger_transaction_id, unknown.transaction_id) == ("tx-1", None)
    assert (unknown.meter_stop, unknown.reason, unknown.id_tag) == (11_000, "EVDisconnected", "DANA-1")
    assert not Transaction.objects.exists()
    assert balance(card) == Decimal("20.00")


def test_it_settles_a_session_whose_started_comes_after_its_ended_and_forgets_the_unknown_stop(csms):
    card = dana_with_twenty_euros()

    run(csms, ended(offline=True), started(offline=True), updated(offline=True))

    session = Transaction.objects.get(charger_transaction_id="tx-1")
    assert (session.meter_start, session.meter_stop) == (1_000, 11_000)
    assert balance(card) == Decimal("17.00")
    assert not UnknownTransactionStop.objects.exists()


def test_it_refuses_a_prepaid_card_without_enough_balance_at_start(csms):
    default_tariff(min_balance_to_start=Decimal("5.00"))
    register_charger("CP-201")
    prepaid_card("DANA-1", balance="1.00", owner=driver())

    [answer] = run(csms, started())

    assert answer.id_token_info == {"status": "NoCredit"}  # 1.6's Blocked, in 2.0.1's own word
    assert Transaction.objects.get(charger_transaction_id="tx-1").state == Transaction.State.REFUSED


def test_it_bills_one_prepaid_card_once_per_session_on_a_16_and_a_201_charger(csms):
    card = dana_with_twenty_euros()
    register_charger("CP-16")

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-16") as cp16:
            on16 = await cp16.start_transaction(
                id_tag="DANA-1", meter_start=0, timestamp="2027-03-01T10:00:00Z"
            )
            async with connected_charger(csms.ws_url, "CP-201", cls=TestCharger201) as cp201:
                busy = await cp201.send(started())  # the card is charging on the 1.6 charger
                await cp16.stop_transaction(on16.transaction_id, 5_000, timestamp="2027-03-01T11:00:00Z")
                again = [
                    await cp201.send(each)
                    for each in (started(transaction_id="tx-2"), ended(transaction_id="tx-2"))
                ]
            return busy, again

    busy, again = asyncio.run(scenario())

    assert busy.id_token_info == {"status": "ConcurrentTx"}
    assert again[0].id_token_info == {"status": "Accepted"}
    charged = dict(SessionCharge.objects.values_list("transaction__charger__charge_point_id", "charged"))
    assert charged == {"CP-16": Decimal("1.50"), "CP-201": Decimal("3.00")}  # 5 kWh and 10 kWh at 0.30
    assert LedgerEntry.objects.filter(kind="session_charge").count() == 2
    assert balance(card) == Decimal("15.50")
