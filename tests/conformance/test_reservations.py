"""OCTT 1.6, central system: Reservation profile. Olga reserves from the charger page; the charger
answers, reports Reserved, and a start names the reservation (or it expires, or is cancelled)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from ocpp.v16 import call

from rfid.models import IdTag
from stations import housekeeping
from stations.models import Reservation, Transaction
from tests.conformance.kit import CONNECTOR, as_charger, message_of, operate, status
from tests.factories import register_charger


@pytest.fixture
def card(remote_csms):
    return IdTag.objects.create(id_tag="DRIVER-1")


async def reserve(cp, operator, connector=CONNECTOR, id_tag="DRIVER-1", answer="Accepted"):
    cp.answers["ReserveNow"] = {"status": answer}
    return await operate(operator, "CP-1", "reserve", connector=connector, id_tag=id_tag, minutes=30)


def test_it_reserves_a_connector_and_the_reserved_start_uses_it(remote_csms, operator, card):
    """TC_046_CSMS Reservation of a Connector – Transaction: ReserveNow.req for the connector and idTag,
    Accepted; Reserved; Authorize Accepted; StartTransaction naming the reservationId Accepted, and the
    reservation is used."""
    register_charger("CP-1")

    async def scenario(cp):
        page = await reserve(cp, operator)
        await status(cp, "Reserved")
        reservation_id = cp.calls_of("ReserveNow")[0]["reservationId"]
        authorized = await cp.send(call.Authorize(id_tag="DRIVER-1"))
        await status(cp, "Preparing")
        started = await cp.start_transaction(
            connector_id=CONNECTOR, id_tag="DRIVER-1", reservation_id=reservation_id
        )
        return page, cp.calls_of("ReserveNow"), authorized, started

    page, sent, authorized, started = as_charger(remote_csms, "CP-1", scenario)

    reservation = Reservation.objects.get()
    assert sent[0]["connectorId"] == CONNECTOR and sent[0]["idTag"] == "DRIVER-1"
    assert sent[0]["reservationId"] == reservation.pk and "parentIdTag" not in sent[0]
    assert message_of(page) == "Reserve a connector: accepted"
    assert authorized.id_tag_info["status"] == started.id_tag_info["status"] == "Accepted"
    assert reservation.status == Reservation.Status.USED
    assert Transaction.objects.get().reservation_id == reservation.pk


def test_it_expires_a_reservation_nobody_came_for(remote_csms, operator, card):
    """TC_047_CSMS Reservation of a Connector – Expire: ReserveNow.req carries the expiry (now + the
    minutes asked); Reserved; after it, Available. The reservation is expired, never used afterwards."""
    register_charger("CP-1")
    before = timezone.now()

    async def scenario(cp):
        await reserve(cp, operator)
        await status(cp, "Reserved")
        return cp.calls_of("ReserveNow")[0]

    sent = as_charger(remote_csms, "CP-1", scenario)
    reservation = Reservation.objects.get()
    assert before + timedelta(minutes=30) <= reservation.expires_at <= timezone.now() + timedelta(minutes=30)
    assert sent["expiryDate"].endswith("Z")

    assert housekeeping.expire_reservations(now=reservation.expires_at + timedelta(seconds=1)) == 1

    async def after_the_expiry(cp):
        await status(cp, "Available")

    as_charger(remote_csms, "CP-1", after_the_expiry)
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.EXPIRED
    after_expiry = reservation.expires_at + timedelta(seconds=1)  # a start after it cannot use it
    assert not Reservation.objects.use(
        charger=reservation.charger, reservation_id=reservation.pk, at=after_expiry
    )


@pytest.mark.parametrize(
    "answer",
    ["Faulted", "Occupied", "Unavailable", "Rejected"],
    ids=["TC_048_1-faulted", "TC_048_2-occupied", "TC_048_3-unavailable", "TC_048_4-rejected"],
)
def test_it_records_a_reservation_the_charger_could_not_make(remote_csms, operator, card, answer):
    """TC_048_1..4_CSMS Reservation of a Connector – Faulted / Occupied / Unavailable / Rejected: the
    connector is in that state (Unavailable after Olga set it Inoperative); the answer is kept and shown,
    and the reservation is failed, never active."""
    register_charger("CP-1")

    async def scenario(cp):
        if answer == "Unavailable":
            await operate(operator, "CP-1", "availability", connector=CONNECTOR, type="Inoperative")
            await status(cp, "Unavailable")
        elif answer in ("Faulted", "Occupied"):
            await status(cp, "Faulted" if answer == "Faulted" else "Preparing")
        return await reserve(cp, operator, answer=answer)

    page = as_charger(remote_csms, "CP-1", scenario)

    shown = "rejected" if answer == "Rejected" else f"rejected ({answer})"
    assert message_of(page) == f"Reserve a connector: {shown}"
    assert Reservation.objects.get().status == Reservation.Status.FAILED


def test_it_reserves_the_whole_charger(remote_csms, operator, card):
    """TC_049_CSMS Reservation of a Charge Point – Transaction: ReserveNow.req with connectorId 0 (the page
    offers it), Accepted, Reserved; the start on a connector naming the reservation uses it."""
    register_charger("CP-1")

    async def scenario(cp):
        page = await reserve(cp, operator, connector=0)
        await status(cp, "Reserved")
        reservation_id = cp.calls_of("ReserveNow")[0]["reservationId"]
        started = await cp.start_transaction(
            connector_id=CONNECTOR, id_tag="DRIVER-1", reservation_id=reservation_id
        )
        return page, cp.calls_of("ReserveNow"), started

    page, sent, started = as_charger(remote_csms, "CP-1", scenario)

    assert sent[0]["connectorId"] == 0
    assert message_of(page) == "Reserve a connector: accepted"
    assert started.id_tag_info["status"] == "Accepted"
    assert Reservation.objects.get().status == Reservation.Status.USED


@pytest.mark.parametrize(
    "answer,left",
    [("Accepted", Reservation.Status.CANCELLED), ("Rejected", Reservation.Status.ACTIVE)],
    ids=["TC_051-cancelled", "TC_052-rejected"],
)
def test_it_cancels_a_reservation(remote_csms, operator, card, answer, left):
    """TC_051_CSMS Cancel Reservation: CancelReservation.req names the reservation, Accepted, then Available:
    the reservation is cancelled. TC_052_CSMS Cancel Reservation – Rejected: it stays what it was."""
    register_charger("CP-1")

    async def scenario(cp):
        await reserve(cp, operator)
        await status(cp, "Reserved")
        reservation_id = cp.calls_of("ReserveNow")[0]["reservationId"]
        cp.answers["CancelReservation"] = {"status": answer}
        page = await operate(operator, "CP-1", "cancel-reservation", reservation=reservation_id)
        if answer == "Accepted":
            await status(cp, "Available")
        return page, reservation_id, cp.calls_of("CancelReservation")

    page, reservation_id, sent = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [{"reservationId": reservation_id}]
    assert message_of(page) == (
        "Cancel a reservation: accepted" if answer == "Accepted" else "Cancel a reservation: rejected"
    )
    assert Reservation.objects.get().status == left


def test_it_lets_a_card_of_the_same_group_use_a_reservation(remote_csms, operator):
    """TC_053_CSMS Use a reserved Connector with parentIdTag: the page's ReserveNow.req carries the card's
    parentIdTag; another card of that group is Authorized (with the same parentIdTag, so the charger can
    match it) and its start naming the reservation is Accepted and uses it."""
    register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1", parent_id_tag="FLEET-7")
    IdTag.objects.create(id_tag="DRIVER-2", parent_id_tag="FLEET-7")

    async def scenario(cp):
        await reserve(cp, operator, id_tag="DRIVER-1")
        await status(cp, "Reserved")
        reservation_id = cp.calls_of("ReserveNow")[0]["reservationId"]
        authorized = await cp.send(call.Authorize(id_tag="DRIVER-2"))
        started = await cp.start_transaction(
            connector_id=CONNECTOR, id_tag="DRIVER-2", reservation_id=reservation_id
        )
        return cp.calls_of("ReserveNow")[0], authorized, started

    sent, authorized, started = as_charger(remote_csms, "CP-1", scenario)

    assert (sent["idTag"], sent["parentIdTag"]) == ("DRIVER-1", "FLEET-7")
    assert authorized.id_tag_info == {
        "status": "Accepted",
        "parent_id_tag": "FLEET-7",
    }  # as the library hands it
    assert started.id_tag_info["status"] == "Accepted"
    reservation = Reservation.objects.get()
    assert (reservation.parent_id_tag, reservation.status) == ("FLEET-7", Reservation.Status.USED)
