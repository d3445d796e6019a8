"""Reservations at an OCPP 2.0.1 charger, as at a 1.6 one: a session started on a reservation
(TransactionEvent reservationId) uses it once and names it, and the charger's own ReservationStatusUpdate
(Expired, Removed) ends it as 1.6's expiry and cancel do. The charger is the `ocpp` library's v201
ChargePoint over a real socket, which checks every message against the official 2.0.1 schemas."""

import asyncio
from datetime import timedelta

from django.utils import timezone
from ocpp.v201 import call

from rfid.models import IdTag
from stations.models import Reservation, Transaction, TransactionEvent
from stations.ocpp_time import utc_iso
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger201, TestCharger201, connected_charger, orm
from tests.stations.test_ocpp201_transactions import energy
from tests.stations.test_remote_pages import browser

CARD = {"id_token": "DRIVER-1", "type": "ISO14443"}


def event(event_type, seq_no, at, transaction_id="tx-1", evse_id=1, **fields):
    return call.TransactionEvent(
        event_type=event_type,
        timestamp=utc_iso(at),
        trigger_reason="Authorized" if "id_token" in fields else "MeterValuePeriodic",
        seq_no=seq_no,
        transaction_info={"transaction_id": transaction_id},
        evse={"id": evse_id, "connector_id": 1},
        meter_value=[
            energy(utc_iso(at), 1_000 + seq_no, "Transaction.Begin" if seq_no == 0 else "Sample.Periodic")
        ],
        **fields,
    )


def started(reservation: int, at=None, **fields):
    return event("Started", 0, at or timezone.now(), id_token=CARD, reservation_id=reservation, **fields)


def reserved(charger, minutes=30, status="active") -> Reservation:
    return Reservation.objects.create(
        charger=charger,
        connector_id=1,
        id_tag="DRIVER-1",
        status=status,
        expires_at=timezone.now() + timedelta(minutes=minutes),
    )


def run(server, *messages, charge_point_id="CP-201") -> list:
    """Send the messages in this order as a 2.0.1 charger; their answers."""

    async def scenario():
        async with connected_charger(server.ws_url, charge_point_id, cls=TestCharger201) as cp:
            return [await cp.send(message) for message in messages]

    return asyncio.run(scenario())


def status_update(reservation_id: int, status: str) -> call.ReservationStatusUpdate:
    return call.ReservationStatusUpdate(reservation_id=reservation_id, reservation_update_status=status)


def test_it_uses_a_reservation_made_from_the_page_for_the_201_session_started_on_it_once(
    remote_csms, operator
):
    register_charger("CP-201")
    IdTag.objects.create(id_tag="DRIVER-1")

    async def scenario():
        async with connected_charger(remote_csms.ws_url, "CP-201", cls=AnsweringCharger201) as cp:
            form = {"reserve-connector": "1", "reserve-id_tag": "DRIVER-1", "reserve-minutes": "15"}
            await orm(lambda: browser(operator).post("/chargers/CP-201/operate/reserve/", form))
            reservation_id = cp.calls_of("ReserveNow")[0]["id"]
            start = started(reservation_id)
            first = await cp.send(start)
            replayed = await cp.send(start)  # the charger resends it: nothing is used again
            return reservation_id, first, replayed

    reservation_id, first, replayed = asyncio.run(scenario())

    reservation = Reservation.objects.get()
    session = Transaction.objects.get()
    assert reservation.pk == reservation_id
    assert reservation.status == "used"
    assert (session.reservation_id, session.id_tag, session.connector_id) == (reservation.pk, "DRIVER-1", 1)
    assert first.id_token_info["status"] == replayed.id_token_info["status"] == "Accepted"
    assert TransactionEvent.objects.count() == 1


def test_it_names_the_reservation_of_a_started_that_comes_after_its_updated_events(csms):
    charger = register_charger("CP-201")
    reservation = reserved(charger)
    now = timezone.now()

    run(
        csms,
        event("Updated", 1, now + timedelta(minutes=1), offline=True),  # the queue replayed out of order
        started(reservation.pk, now, offline=True),
        started(reservation.pk, now, offline=True),
    )

    reservation.refresh_from_db()
    assert reservation.status == "used"
    assert Transaction.objects.get().reservation_id == reservation.pk


def test_it_uses_the_reservation_of_the_card_that_comes_after_the_cable(csms):
    charger = register_charger("CP-201")
    reservation = reserved(charger)
    now = timezone.now()

    run(
        csms,
        event("Started", 0, now),  # the cable first: no card, no reservation yet
        event("Updated", 1, now + timedelta(seconds=30), id_token=CARD, reservation_id=reservation.pk),
    )

    reservation.refresh_from_db()
    session = Transaction.objects.get()
    assert reservation.status == "used"
    assert (session.reservation_id, session.id_tag) == (reservation.pk, "DRIVER-1")


def test_it_uses_no_reservation_of_another_charger_nor_one_past_its_expiry(csms):
    charger, other = register_charger("CP-201"), register_charger("CP-OTHER")
    elsewhere, overdue = reserved(other), reserved(charger, minutes=-1)

    run(
        csms,
        started(elsewhere.pk),
        started(overdue.pk, transaction_id="tx-2", evse_id=2),
    )

    assert Reservation.objects.get(pk=elsewhere.pk).status == "active"
    assert Reservation.objects.get(pk=overdue.pk).status == "active"  # the expiry task's to close
    assert sorted(Transaction.objects.values_list("reservation_id", flat=True)) == [elsewhere.pk, overdue.pk]


def test_it_ends_a_reservation_the_201_charger_reports_expired_or_removed(csms, operator):
    charger = register_charger("CP-201")
    expired, removed, used = reserved(charger), reserved(charger), reserved(charger, status="used")

    answers = run(
        csms,
        status_update(expired.pk, "Expired"),
        status_update(removed.pk, "Removed"),
        status_update(used.pk, "Expired"),  # a session took it first: it stays used
    )

    assert [answer.custom_data for answer in answers] == [None, None, None]  # answered {}
    statuses = dict(Reservation.objects.values_list("pk", "status"))
    assert statuses == {expired.pk: "expired", removed.pk: "cancelled", used.pk: "used"}
    page = browser(operator).get("/chargers/CP-201/").content.decode().split('id="reservations"')[1]
    assert "<td>expired</td>" in page and "<td>cancelled</td>" in page


def test_it_keeps_nothing_for_a_reservation_update_it_does_not_know(csms):
    register_charger("CP-201")
    others = reserved(register_charger("CP-OTHER"))

    answers = run(csms, status_update(others.pk, "Removed"), status_update(others.pk + 1, "Expired"))

    assert [answer.custom_data for answer in answers] == [None, None]
    assert list(Reservation.objects.values_list("pk", "status")) == [(others.pk, "active")]
