"""Reservations: made with ReserveNow, visible, cancellable, and never active past their expiry."""

import asyncio
from datetime import timedelta

import time_machine
from django.utils import timezone

from stations import commands
from stations.models import Command, Reservation
from stations.tasks import expire_reservations
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger, connected_charger, orm

EXPIRY = "2026-11-21T10:00:00.000Z"


def reserve(server, charger, answer=None, then=None):
    """ReserveNow on connector 1 of a live charger; `then(cp, command)` runs next. Returns what the charger got."""

    async def scenario():
        async with connected_charger(server.ws_url, charger.charge_point_id, cls=AnsweringCharger) as cp:
            await cp.boot()
            cp.answers["ReserveNow"] = answer or {"status": "Accepted"}
            command = await orm(commands.send, charger=charger, action="ReserveNow",
                                payload={"connectorId": 1, "idTag": "DRIVER-1", "expiryDate": EXPIRY})
            if then:
                await then(cp, command)
            return command, cp.received

    return asyncio.run(scenario())


@time_machine.travel("2026-11-21T09:00:00Z", tick=True)
def test_it_records_an_accepted_reservation_with_its_id_as_reservation_id(remote_csms):
    charger = register_charger("CP-1")

    command, received = reserve(remote_csms, charger)

    reservation = Reservation.objects.get()
    assert (reservation.status, reservation.effective_status) == ("active", "active")
    assert received == [("ReserveNow", {"connectorId": 1, "idTag": "DRIVER-1", "expiryDate": EXPIRY,
                                        "reservationId": reservation.pk})]
    assert command.payload["reservationId"] == reservation.reservation_id
    assert reservation.expires_at.isoformat() == "2026-11-21T10:00:00+00:00"


@time_machine.travel("2026-11-21T09:00:00Z", tick=True)
def test_it_marks_a_refused_reservation_failed(remote_csms):
    charger = register_charger("CP-1")

    command, _ = reserve(remote_csms, charger, answer={"status": "Occupied"})

    assert command.status == Command.Status.REJECTED
    assert Reservation.objects.get().status == "failed"


@time_machine.travel("2026-11-21T09:00:00Z", tick=True)
def test_it_cancels_a_reservation(remote_csms):
    charger = register_charger("CP-1")

    async def cancel(cp, reserved):
        await orm(commands.send, charger=charger, action="CancelReservation",
                  payload={"reservationId": reserved.payload["reservationId"]})

    _, received = reserve(remote_csms, charger, then=cancel)

    reservation = Reservation.objects.get()
    assert reservation.status == "cancelled"
    assert received[-1] == ("CancelReservation", {"reservationId": reservation.pk})


def test_it_never_shows_a_reservation_active_past_its_expiry(remote_csms):
    charger = register_charger("CP-1")
    with time_machine.travel("2026-11-21T09:00:00Z", tick=True):
        reserve(remote_csms, charger)
    reservation = Reservation.objects.get()

    with time_machine.travel("2026-11-21T09:59:00Z"):
        assert (reservation.effective_status, expire_reservations()) == ("active", 0)
    with time_machine.travel("2026-11-21T10:00:01Z"):
        assert reservation.effective_status == "expired"  # before the periodic task ran
        assert expire_reservations() == 1

    reservation.refresh_from_db()
    assert reservation.status == "expired"
    assert not reservation.move(to="cancelled", allowed_from=Reservation.OPEN)


def test_it_uses_an_active_reservation_once_and_only_on_its_charger(remote_csms):
    charger, other = register_charger("CP-1"), register_charger("CP-2")
    reservation = Reservation.objects.create(
        charger=charger, connector_id=1, id_tag="DRIVER-1", status="active",
        expires_at=timezone.now() + timedelta(minutes=30),
    )

    assert not Reservation.objects.use(charger=other, reservation_id=reservation.pk)
    assert Reservation.objects.use(charger=charger, reservation_id=reservation.pk)
    assert not Reservation.objects.use(charger=charger, reservation_id=reservation.pk)
    reservation.refresh_from_db()
    assert reservation.status == "used"
