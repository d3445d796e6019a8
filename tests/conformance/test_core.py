"""OCTT 1.6, central system: booting, local sessions, authorization, power failure, offline transactions,
vendor data (Core profile). The charger's messages come in each case's order; the central system's
answers are what the case validates."""

from datetime import timedelta

import pytest
from django.utils import timezone
from ocpp.v16 import call

from rfid.models import IdTag
from stations.models import Charger, DataTransferMessage, Transaction
from stations.ocpp_time import utc_iso
from tests.conformance.kit import CONNECTOR, as_charger, connector_status, status
from tests.factories import register_charger
from tests.ocpp_client import orm, wait_until


@pytest.fixture
def card(remote_csms):
    return IdTag.objects.create(id_tag="DRIVER-1")


def test_it_accepts_a_cold_boot_with_statuses_and_heartbeats(remote_csms):
    """TC_001_CSMS Cold Boot Charge Point: Boot Accepted, a status per connector and for 0, heartbeats."""
    register_charger("CP-1", password="0123456789abcdef")

    async def scenario(cp):
        boot = await cp.send(call.BootNotification(charge_point_vendor="OCTT", charge_point_model="Virtual"))
        statuses = [await status(cp, "Available", connector_id) for connector_id in (0, 1, 2)]
        heartbeat = await cp.send(call.Heartbeat())
        return boot, statuses, heartbeat

    boot, statuses, heartbeat = as_charger(
        remote_csms, "CP-1", scenario, boot=False, password="0123456789abcdef"
    )

    assert boot.status == "Accepted" and boot.interval > 0 and boot.current_time.endswith("Z")
    assert all(answer is not None for answer in statuses)
    assert heartbeat.current_time.endswith("Z")
    charger = Charger.objects.get()
    assert (charger.vendor, charger.model) == ("OCTT", "Virtual")
    assert wait_until(lambda: connector_status(charger, 2) == ("Available", "NoError"))


@pytest.mark.parametrize("authorize_first", [False, True], ids=["TC_003-plugin-first", "TC_004_1-id-first"])
def test_it_runs_a_regular_session(remote_csms, card, authorize_first):
    """TC_003_CSMS Regular Charging Session – Plugin First, and TC_004_1_CSMS – Identification First:
    Authorize Accepted, StartTransaction Accepted, StopTransaction's idTagInfo Accepted."""
    register_charger("CP-1")

    async def scenario(cp):
        if authorize_first:
            authorized = await cp.send(call.Authorize(id_tag="DRIVER-1"))
            await status(cp, "Preparing")
        else:
            await status(cp, "Preparing")
            authorized = await cp.send(call.Authorize(id_tag="DRIVER-1"))
        started = await cp.start_transaction(connector_id=CONNECTOR, id_tag="DRIVER-1", meter_start=1000)
        await status(cp, "Charging")
        stopped = await cp.stop_transaction(started.transaction_id, 4500, id_tag="DRIVER-1", reason="Local")
        await status(cp, "Finishing")
        await status(cp, "Available")
        return authorized, started, stopped

    authorized, started, stopped = as_charger(remote_csms, "CP-1", scenario)

    assert authorized.id_tag_info["status"] == "Accepted"
    assert started.id_tag_info["status"] == "Accepted"
    assert stopped.id_tag_info["status"] == "Accepted"
    session = Transaction.objects.get(pk=started.transaction_id)
    assert (session.meter_start, session.meter_stop, session.stop_reason) == (1000, 4500, "Local")


def test_it_takes_a_connection_timeout_as_no_session(remote_csms, card):
    """TC_004_2_CSMS Identification First – ConnectionTimeOut: Authorize Accepted, Preparing, then Available
    again (the cable never came): both statuses answered, the latest kept, no session invented."""
    charger = register_charger("CP-1")

    async def scenario(cp):
        authorized = await cp.send(call.Authorize(id_tag="DRIVER-1"))
        await status(cp, "Preparing")
        await status(cp, "Available")
        return authorized

    authorized = as_charger(remote_csms, "CP-1", scenario)

    assert authorized.id_tag_info["status"] == "Accepted"
    assert wait_until(lambda: connector_status(charger) == ("Available", "NoError"))
    assert not Transaction.objects.exists()


def test_it_closes_a_session_stopped_by_the_ev_side_disconnecting(remote_csms, card):
    """TC_005_1_CSMS EV Side Disconnected: SuspendedEV, StopTransaction reason EVDisconnected answered
    with idTagInfo Accepted, then Finishing and Available."""
    register_charger("CP-1")

    async def scenario(cp):
        started = await cp.start_transaction(connector_id=CONNECTOR, id_tag="DRIVER-1")
        await status(cp, "Charging")
        await status(cp, "SuspendedEV")
        stopped = await cp.stop_transaction(
            started.transaction_id, 2000, id_tag="DRIVER-1", reason="EVDisconnected"
        )
        await status(cp, "Finishing")
        await status(cp, "Available")
        return started, stopped

    started, stopped = as_charger(remote_csms, "CP-1", scenario)

    assert stopped.id_tag_info["status"] == "Accepted"
    assert Transaction.objects.get(pk=started.transaction_id).stop_reason == "EVDisconnected"


def test_it_accepts_a_start_of_a_cached_id_without_an_authorize(remote_csms, card):
    """TC_007_CSMS Regular Start Charging Session – Cached Id: StartTransaction with no Authorize before."""
    register_charger("CP-1")

    async def scenario(cp):
        await status(cp, "Preparing")
        started = await cp.start_transaction(connector_id=CONNECTOR, id_tag="DRIVER-1")
        await status(cp, "Charging")
        return started

    started = as_charger(remote_csms, "CP-1", scenario)

    assert started.id_tag_info["status"] == "Accepted"
    assert Transaction.objects.get().state == Transaction.State.CHARGING


@pytest.mark.parametrize(
    "card_fields,expected",
    [
        (None, "Invalid"),  # TC_023_1_CSMS: no such card
        ({"expires_at": timezone.now() - timedelta(days=1)}, "Expired"),  # TC_023_2_CSMS
        ({"status": IdTag.Status.BLOCKED}, "Blocked"),  # TC_023_3_CSMS
    ],
    ids=["TC_023_1-invalid", "TC_023_2-expired", "TC_023_3-blocked"],
)
def test_it_refuses_an_authorize_of_a_card_that_may_not_charge(remote_csms, card_fields, expected):
    """TC_023_1/2/3_CSMS Start Charging Session – Authorize invalid / expired / blocked: the Authorize.conf
    says why, and no session follows."""
    register_charger("CP-1")
    if card_fields is not None:
        IdTag.objects.create(id_tag="DRIVER-1", **card_fields)

    async def scenario(cp):
        await status(cp, "Preparing")
        return await cp.send(call.Authorize(id_tag="DRIVER-1"))

    answer = as_charger(remote_csms, "CP-1", scenario)

    assert answer.id_tag_info["status"] == expected
    assert not Transaction.objects.exists()


def test_it_keeps_a_connector_lock_failure(remote_csms, card):
    """TC_024_CSMS Start Charging Session – Lock Failure: Authorize Accepted, Preparing, then Faulted with
    ConnectorLockFailure: answered, and the connector shown faulted with that error."""
    charger = register_charger("CP-1")

    async def scenario(cp):
        authorized = await cp.send(call.Authorize(id_tag="DRIVER-1"))
        await status(cp, "Preparing")
        await status(cp, "Faulted", error_code="ConnectorLockFailure")
        return authorized

    assert as_charger(remote_csms, "CP-1", scenario).id_tag_info["status"] == "Accepted"
    assert wait_until(lambda: connector_status(charger) == ("Faulted", "ConnectorLockFailure"))


def test_it_closes_the_sessions_a_power_failure_stopped_after_the_boot(remote_csms, card):
    """TC_032_1_CSMS Power failure boot charging point – configured to stop transaction(s): a Charging
    session; the charger boots again (Accepted), reports Finishing / Available, then stops the session
    with reason PowerLoss (answered Accepted). The boot flags the open session at once, so the card is
    free for a new session even before the stop arrives."""
    register_charger("CP-1")

    async def before_the_power_failure(cp):
        started = await cp.start_transaction(connector_id=CONNECTOR, id_tag="DRIVER-1")
        await status(cp, "Charging")
        return started.transaction_id

    async def after_the_power_failure(cp):
        boot = await cp.boot()
        await status(cp, "Finishing")
        await status(cp, "Available", connector_id=0)
        flagged = await orm(lambda: Transaction.objects.get(pk=session_id).flag_reason)
        again = await cp.send(call.Authorize(id_tag="DRIVER-1"))  # the driver tries once more meanwhile
        stopped = await cp.stop_transaction(session_id, 3000, id_tag="DRIVER-1", reason="PowerLoss")
        return boot, flagged, again, stopped

    session_id = as_charger(remote_csms, "CP-1", before_the_power_failure)
    boot, flagged, again, stopped = as_charger(remote_csms, "CP-1", after_the_power_failure, boot=False)

    assert boot.status == "Accepted"
    assert flagged == Transaction.Flag.CHARGER_REBOOTED
    assert again.id_tag_info["status"] == "Accepted", "the card's lost session must not lock it out"
    assert stopped.id_tag_info["status"] == "Accepted"
    session = Transaction.objects.get(pk=session_id)
    assert (session.stop_reason, session.meter_stop, session.needs_attention) == ("PowerLoss", 3000, False)


def test_it_accepts_a_start_queued_offline_with_a_valid_id(remote_csms, card):
    """TC_037_1_CSMS Offline Start Transaction – Valid IdTag: the StartTransaction, dated while offline,
    arrives after the connection is back: Accepted, recorded at the charger's time."""
    register_charger("CP-1")
    while_offline = timezone.now() - timedelta(minutes=20)

    async def scenario(cp):
        started = await cp.start_transaction(
            connector_id=CONNECTOR, id_tag="DRIVER-1", timestamp=utc_iso(while_offline)
        )
        await status(cp, "Charging")
        return started

    started = as_charger(remote_csms, "CP-1", scenario)

    assert started.id_tag_info["status"] == "Accepted"
    assert abs(Transaction.objects.get().started_at - while_offline) < timedelta(milliseconds=1)


def test_it_answers_invalid_to_a_start_queued_offline_and_closes_it_on_the_deauthorized_stop(remote_csms):
    """TC_037_3_CSMS Offline Start Transaction – Invalid IdTag – StopTransactionOnInvalidId: the start is
    answered Invalid (the session is kept, refused: the charger did deliver energy), Charging, then the
    charger's StopTransaction reason DeAuthorized is answered and closes it, then Finishing."""
    register_charger("CP-1")
    while_offline = timezone.now() - timedelta(minutes=5)

    async def scenario(cp):
        started = await cp.start_transaction(
            connector_id=CONNECTOR, id_tag="NO-SUCH-CARD", timestamp=utc_iso(while_offline)
        )
        await status(cp, "Charging")
        stopped = await cp.stop_transaction(started.transaction_id, 150, reason="DeAuthorized")
        await status(cp, "Finishing")
        return started, stopped

    started, stopped = as_charger(remote_csms, "CP-1", scenario)

    assert started.id_tag_info["status"] == "Invalid"
    assert stopped.id_tag_info is None  # no idTag in the stop: no idTagInfo in its answer
    session = Transaction.objects.get(pk=started.transaction_id)
    assert (session.state, session.stop_reason, session.meter_stop) == (
        Transaction.State.REFUSED,
        "DeAuthorized",
        150,
    )


def test_it_accepts_a_whole_transaction_queued_offline(remote_csms, card):
    """TC_039_CSMS Offline Transaction: start and stop both happened offline and arrive on reconnect,
    in order: both Accepted, the session closed at the charger's times."""
    register_charger("CP-1")
    started_at = timezone.now() - timedelta(hours=1)
    stopped_at = started_at + timedelta(minutes=30)

    async def scenario(cp):
        started = await cp.start_transaction(
            connector_id=CONNECTOR, id_tag="DRIVER-1", meter_start=0, timestamp=utc_iso(started_at)
        )
        stopped = await cp.stop_transaction(
            started.transaction_id, 7000, timestamp=utc_iso(stopped_at), id_tag="DRIVER-1", reason="Local"
        )
        await status(cp, "Available")
        return started, stopped

    started, stopped = as_charger(remote_csms, "CP-1", scenario)

    assert started.id_tag_info["status"] == stopped.id_tag_info["status"] == "Accepted"
    session = Transaction.objects.get()
    assert (session.energy_wh, session.stopped_at - session.started_at) == (7000, timedelta(minutes=30))


def test_it_answers_unknown_vendor_to_vendor_data_it_has_no_implementation_for(remote_csms):
    """TC_064_CSMS Data Transfer to a Central System: the central system has no implementation for the
    vendor, so it answers UnknownVendorId (OCPP 1.6 §4.3), never a CALLERROR; the message is kept for staff."""
    charger = register_charger("CP-1")

    async def scenario(cp):
        return await cp.send(
            call.DataTransfer(vendor_id="com.octt.unknown", message_id="TestMessage", data="payload")
        )

    answer = as_charger(remote_csms, "CP-1", scenario)

    assert answer.status == "UnknownVendorId" and answer.data is None
    assert DataTransferMessage.objects.get(charger=charger).message_id == "TestMessage"
