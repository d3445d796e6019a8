"""Sessions: started once, metered, stopped once — however often the charger repeats itself."""

import asyncio
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from ocpp.v16 import call

from rfid.models import AuthorizationRefusal, IdTag
from stations.models import MessageLog, MeterValue, Reservation, Transaction, UnknownTransactionStop
from tests.factories import register_charger
from tests.ocpp_client import connected_charger, wait_until

START = "2026-11-21T09:00:00Z"
STOP = "2026-11-21T10:00:00Z"


def energy_sample(timestamp, wh, **extra):
    sampled = {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh", **extra}
    return {"timestamp": timestamp, "sampledValue": [sampled]}


def charge(csms, steps):
    """Run `steps(cp)` as charger CP-1 and return its result."""

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-1") as cp:
            return await steps(cp)

    return asyncio.run(scenario())


def test_it_records_a_whole_session(csms):
    register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")

    async def session(cp):
        started = await cp.start_transaction(
            connector_id=1, id_tag="DRIVER-1", meter_start=1000, timestamp=START
        )
        await cp.send(
            call.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[
                    {
                        "timestamp": "2026-11-21T09:30:00Z",
                        "sampledValue": [
                            {
                                "value": "5000",
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                                "context": "Sample.Periodic",
                                "location": "Outlet",
                            },
                            {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW", "phase": "L1"},
                        ],
                    },
                ],
            )
        )
        stopped = await cp.stop_transaction(
            started.transaction_id,
            meter_stop=9000,
            timestamp=STOP,
            id_tag="DRIVER-1",
            reason="EVDisconnected",
            transaction_data=[energy_sample(STOP, 9000, context="Transaction.End")],
        )
        return started, stopped

    started, stopped = charge(csms, session)

    assert started.id_tag_info == {"status": "Accepted"}
    assert stopped.id_tag_info == {"status": "Accepted"}
    session = Transaction.objects.get(pk=started.transaction_id)
    assert (session.connector_id, session.id_tag, session.meter_start, session.meter_stop) == (
        1,
        "DRIVER-1",
        1000,
        9000,
    )
    assert session.energy_wh == 8000
    assert session.stop_reason == "EVDisconnected"
    assert session.transaction_data[0]["sampled_value"][0]["value"] == "9000"
    samples = list(session.meter_values.order_by("timestamp", "measurand"))
    assert [(s.measurand, s.numeric_value, s.unit, s.phase) for s in samples] == [
        ("Energy.Active.Import.Register", Decimal("5000"), "Wh", ""),
        ("Power.Active.Import", Decimal("7.2"), "kW", "L1"),
        ("Energy.Active.Import.Register", Decimal("9000"), "Wh", ""),
    ]
    assert samples[-1].context == "Transaction.End"


def test_it_gives_each_session_its_own_transaction_id(csms):
    register_charger("CP-1")

    async def two_sessions(cp):
        first = await cp.start_transaction(connector_id=1, timestamp="2026-11-21T09:00:00Z")
        second = await cp.start_transaction(connector_id=2, timestamp="2026-11-21T09:00:01Z")
        return first.transaction_id, second.transaction_id

    first, second = charge(csms, two_sessions)

    assert first != second
    assert Transaction.objects.count() == 2


def test_it_answers_a_resent_start_with_the_same_transaction_id(csms):
    register_charger("CP-1")

    async def start_twice(cp):
        first = await cp.start_transaction(connector_id=1, id_tag="X", meter_start=500, timestamp=START)
        again = await cp.start_transaction(connector_id=1, id_tag="X", meter_start=500, timestamp=START)
        return first, again

    first, again = charge(csms, start_twice)
    # A new socket, as after a reconnect:
    replayed = charge(
        csms, lambda cp: cp.start_transaction(connector_id=1, id_tag="X", meter_start=500, timestamp=START)
    )

    assert first.transaction_id == again.transaction_id == replayed.transaction_id
    assert first.id_tag_info == again.id_tag_info == {"status": "Invalid"}
    assert Transaction.objects.count() == 1
    assert AuthorizationRefusal.objects.filter(id_tag="X").count() == 1, "one start, one refusal on record"


def test_it_answers_a_resent_start_of_an_accepted_card_as_accepted_not_as_a_second_session(csms):
    register_charger("CP-1")
    IdTag.objects.create(id_tag="CARD-1")

    async def start_twice(cp):
        first = await cp.start_transaction(connector_id=1, id_tag="CARD-1", meter_start=500, timestamp=START)
        again = await cp.start_transaction(connector_id=1, id_tag="CARD-1", meter_start=500, timestamp=START)
        return first, again

    first, again = charge(csms, start_twice)

    assert first.transaction_id == again.transaction_id
    assert first.id_tag_info["status"] == again.id_tag_info["status"] == "Accepted"
    assert not AuthorizationRefusal.objects.exists()


def test_it_changes_nothing_on_a_resent_stop(csms):
    register_charger("CP-1")

    async def stop_twice(cp):
        started = await cp.start_transaction(connector_id=1, meter_start=0, timestamp=START)
        await cp.stop_transaction(started.transaction_id, meter_stop=4000, timestamp=STOP, reason="Local")
        resent = await cp.stop_transaction(
            started.transaction_id, meter_stop=4500, timestamp="2026-11-21T11:00:00Z", reason="Remote"
        )
        return started.transaction_id, resent

    transaction_id, resent = charge(csms, stop_twice)

    assert resent is not None, "a StopTransaction is always answered"
    session = Transaction.objects.get(pk=transaction_id)
    assert (session.meter_stop, session.stop_reason) == (4000, "Local")
    assert session.stopped_at.isoformat() == "2026-11-21T10:00:00+00:00"


def test_it_accepts_and_keeps_a_stop_for_an_unknown_transaction(csms):
    charger = register_charger("CP-1")

    answer = charge(
        csms,
        lambda cp: cp.stop_transaction(
            987654,
            meter_stop=1234,
            timestamp=STOP,
            id_tag="LOST",
            reason="PowerLoss",
        ),
    )
    charge(
        csms,
        lambda cp: cp.stop_transaction(
            987654, meter_stop=1234, timestamp=STOP, id_tag="LOST", reason="PowerLoss"
        ),
    )

    assert answer.id_tag_info == {"status": "Invalid"}
    unknown = UnknownTransactionStop.objects.get(charger=charger)
    assert (unknown.transaction_id, unknown.meter_stop, unknown.id_tag, unknown.reason) == (
        987654,
        1234,
        "LOST",
        "PowerLoss",
    )


def test_it_does_not_close_another_chargers_session(csms):
    register_charger("CP-1")
    other = register_charger("CP-2")
    foreign = Transaction.objects.create(
        charger=other, connector_id=1, id_tag="X", id_tag_status="Accepted", meter_start=0, started_at=START
    )

    charge(csms, lambda cp: cp.stop_transaction(foreign.pk, meter_stop=10, timestamp=STOP))

    foreign.refresh_from_db()
    assert foreign.is_active
    assert UnknownTransactionStop.objects.filter(transaction_id=foreign.pk).exists()


def test_it_records_meter_values_outside_transactions_and_ignores_replays(csms):
    charger = register_charger("CP-1")
    reading = call.MeterValues(
        connector_id=0, meter_value=[energy_sample("2026-11-21T08:00:00Z", 123456, context="Sample.Clock")]
    )

    async def send_twice(cp):
        await cp.send(reading)
        await cp.send(reading, unique_id="replayed-reading")

    charge(csms, send_twice)

    # The server buffers a frame's samples before it answers the frame, and writes each batch in one
    # transaction (none of these rows is refusable): once the replay's answer is in the log, the
    # replay's samples went through the database too, in that batch or an earlier one.
    assert wait_until(
        lambda: MessageLog.objects.filter(
            charge_point_id="CP-1", direction="out", message_type=3, message_id="replayed-reading"
        ).exists()
    )
    stored = MeterValue.objects.get(charger=charger)
    assert (stored.connector_id, stored.transaction_id, stored.numeric_value, stored.context) == (
        0,
        None,
        Decimal("123456"),
        "Sample.Clock",
    )


def test_it_keeps_samples_claiming_an_unknown_transaction_unlinked(csms):
    charger = register_charger("CP-1")

    charge(
        csms,
        lambda cp: cp.send(
            call.MeterValues(
                connector_id=1, transaction_id=424242, meter_value=[energy_sample("2026-11-21T08:00:00Z", 10)]
            )
        ),
    )

    assert wait_until(lambda: MeterValue.objects.filter(charger=charger).exists())
    assert MeterValue.objects.get(charger=charger).transaction_id is None


def test_it_uses_the_reservation_a_session_starts_on(csms):
    charger = register_charger("CP-1")
    reservation = Reservation.objects.create(
        charger=charger,
        connector_id=1,
        id_tag="DRIVER-1",
        status=Reservation.Status.ACTIVE,
        expires_at=timezone.now() + timedelta(minutes=15),
    )

    started = charge(
        csms,
        lambda cp: cp.start_transaction(connector_id=1, id_tag="DRIVER-1", reservation_id=reservation.pk),
    )

    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.USED
    assert Transaction.objects.get(pk=started.transaction_id).reservation_id == reservation.pk


def test_it_stores_id_tags_normalised_so_a_card_is_one_card_whatever_the_reader_sends(csms):
    register_charger("CP-1")
    IdTag.objects.create(id_tag="04AABBCC")

    async def start_then_authorize_elsewhere(cp):
        started = await cp.start_transaction(connector_id=1, id_tag="04aabbcc", timestamp=START)
        again = await cp.send(call.Authorize(id_tag="04AABBCC"))
        return started, again

    started, again = charge(csms, start_then_authorize_elsewhere)

    assert Transaction.objects.get(pk=started.transaction_id).id_tag == "04AABBCC"
    assert again.id_tag_info["status"] == "ConcurrentTx"
