"""Reservations: made with ReserveNow, visible, cancellable, never active past their expiry, used once.

The server runs on the real clock, and so does every test here: expiries are
real moments (an hour ahead, a second ahead, a minute ago), never a travelled clock.
"""

import asyncio
from datetime import timedelta

from django.utils import timezone

from rfid.models import IdTag
from stations import commands
from stations.models import Command, Reservation, Transaction
from stations.ocpp_time import parse_timestamp, utc_iso
from stations.tasks import expire_reservations
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger, connected_charger, orm, wait_until


def an_hour_from_now() -> str:
    return utc_iso(timezone.now() + timedelta(hours=1))


def reserve(server, charger, expiry, answer=None, then=None):
    """ReserveNow on connector 1 of a live charger; `then(cp, command)` runs next. Returns what the charger got."""

    async def scenario():
        async with connected_charger(server.ws_url, charger.charge_point_id, cls=AnsweringCharger) as cp:
            await cp.boot()
            cp.answers["ReserveNow"] = answer or {"status": "Accepted"}
            command = await orm(
                commands.send,
                charger=charger,
                action="ReserveNow",
                payload={"connectorId": 1, "idTag": "DRIVER-1", "expiryDate": expiry},
            )
            if then:
                await then(cp, command)
            return command, cp.received

    return asyncio.run(scenario())


def start_on_reservation(server, charger, reservation, timestamp=None):
    """A StartTransaction on the reservation's connector naming it, as the charger sends it (timestamped now)."""

    async def scenario():
        async with connected_charger(server.ws_url, charger.charge_point_id) as cp:
            return await cp.start_transaction(
                connector_id=reservation.connector_id,
                id_tag=reservation.id_tag,
                reservation_id=reservation.pk,
                timestamp=timestamp,
            )

    return asyncio.run(scenario())


def test_it_records_an_accepted_reservation_with_its_id_as_reservation_id(remote_csms):
    charger, expiry = register_charger("CP-1"), an_hour_from_now()

    command, received = reserve(remote_csms, charger, expiry)

    reservation = Reservation.objects.get()
    assert (reservation.status, reservation.effective_status) == ("active", "active")
    assert received == [
        (
            "ReserveNow",
            {"connectorId": 1, "idTag": "DRIVER-1", "expiryDate": expiry, "reservationId": reservation.pk},
        )
    ]
    assert command.payload["reservationId"] == reservation.reservation_id
    assert reservation.expires_at == parse_timestamp(expiry)
    assert expire_reservations() == 0  # an hour ahead: not overdue


def test_it_marks_a_refused_reservation_failed(remote_csms):
    charger = register_charger("CP-1")

    command, _ = reserve(remote_csms, charger, an_hour_from_now(), answer={"status": "Occupied"})

    assert command.status == Command.Status.REJECTED
    assert Reservation.objects.get().status == "failed"


def test_it_cancels_a_reservation(remote_csms):
    charger = register_charger("CP-1")

    async def cancel(cp, reserved):
        await orm(
            commands.send,
            charger=charger,
            action="CancelReservation",
            payload={"reservationId": reserved.payload["reservationId"]},
        )

    _, received = reserve(remote_csms, charger, an_hour_from_now(), then=cancel)

    reservation = Reservation.objects.get()
    assert reservation.status == "cancelled"
    assert received[-1] == ("CancelReservation", {"reservationId": reservation.pk})


def test_it_never_shows_a_reservation_active_past_its_expiry(remote_csms):
    charger = register_charger("CP-1")
    reserve(remote_csms, charger, utc_iso(timezone.now() + timedelta(seconds=1)))
    reservation = Reservation.objects.get()
    assert reservation.status == "active"  # as the charger accepted it

    assert wait_until(lambda: timezone.now() > reservation.expires_at), "the expiry never passed"

    assert reservation.effective_status == "expired"  # before the periodic task ran
    assert expire_reservations() == 1
    reservation.refresh_from_db()
    assert reservation.status == "expired"
    assert not reservation.move(to="cancelled", allowed_from=Reservation.OPEN)


def test_it_records_a_start_on_an_expired_reservation_but_does_not_use_it(remote_csms):
    charger = register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")
    reservation = Reservation.objects.create(
        charger=charger,
        connector_id=1,
        id_tag="DRIVER-1",
        status="active",
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert expire_reservations() == 1

    started = start_on_reservation(remote_csms, charger, reservation)

    assert started.id_tag_info["status"] == "Accepted"
    session = Transaction.objects.get(pk=started.transaction_id)
    assert (session.charger, session.connector_id, session.reservation_id) == (charger, 1, reservation.pk)
    reservation.refresh_from_db()
    assert reservation.status == "expired"


def test_it_does_not_use_a_reservation_past_its_expiry_that_the_task_has_not_expired_yet(remote_csms):
    charger = register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")
    reservation = Reservation.objects.create(
        charger=charger,
        connector_id=1,
        id_tag="DRIVER-1",
        status="active",
        expires_at=timezone.now() - timedelta(minutes=1),
    )

    started = start_on_reservation(remote_csms, charger, reservation)  # timestamped now

    assert Transaction.objects.get(pk=started.transaction_id).reservation_id == reservation.pk
    reservation.refresh_from_db()
    # Expired a minute ago; the every-minute task just has not run yet: the start must not depend on that.
    assert (reservation.status, reservation.effective_status) == ("active", "expired")


def test_it_uses_a_reservation_for_a_start_made_before_its_expiry_that_arrives_after_it(remote_csms):
    charger = register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")
    reservation = Reservation.objects.create(
        charger=charger,
        connector_id=1,
        id_tag="DRIVER-1",
        status="active",
        expires_at=timezone.now() - timedelta(minutes=1),
    )

    # A charger that was offline sends its queued start late, with the moment the driver started.
    start_on_reservation(
        remote_csms, charger, reservation, timestamp=utc_iso(timezone.now() - timedelta(minutes=5))
    )

    reservation.refresh_from_db()
    assert reservation.status == "used"


def test_it_uses_a_reservation_the_expiry_task_closed_for_a_start_made_before_its_expiry(remote_csms):
    charger = register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")
    reservation = Reservation.objects.create(
        charger=charger,
        connector_id=1,
        id_tag="DRIVER-1",
        status="active",
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert Reservation.objects.expire_overdue() == 1  # the every-minute task ran before the queued start came

    start_on_reservation(
        remote_csms, charger, reservation, timestamp=utc_iso(timezone.now() - timedelta(minutes=5))
    )

    reservation.refresh_from_db()
    assert reservation.status == "used"


def test_it_uses_an_active_reservation_once_and_only_on_its_charger(remote_csms):
    charger, other = register_charger("CP-1"), register_charger("CP-2")
    reservation = Reservation.objects.create(
        charger=charger,
        connector_id=1,
        id_tag="DRIVER-1",
        status="active",
        expires_at=timezone.now() + timedelta(minutes=30),
    )

    assert not Reservation.objects.use(charger=other, reservation_id=reservation.pk)
    assert Reservation.objects.use(charger=charger, reservation_id=reservation.pk)
    assert not Reservation.objects.use(charger=charger, reservation_id=reservation.pk)
    reservation.refresh_from_db()
    assert reservation.status == "used"
