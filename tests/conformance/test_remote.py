"""OCTT 1.6, central system: what an operator does to a live charger from its page (remote start and
stop, reset, unlock, configuration, cache, trigger), and the refusals the central system must take."""

import pytest
from ocpp.v16 import call

from rfid.models import IdTag
from stations.models import ChargerConfigurationKey, Command, Transaction
from tests.conformance.kit import CONNECTOR, as_charger, message_of, operate, status
from tests.factories import register_charger


@pytest.fixture
def card(remote_csms):
    return IdTag.objects.create(id_tag="DRIVER-1")


@pytest.mark.parametrize(
    "plugged_in_first", [True, False], ids=["TC_010-cable-first", "TC_011_1-remote-first"]
)
def test_it_starts_a_session_remotely(remote_csms, operator, card, plugged_in_first):
    """TC_010_CSMS Remote Start Charging Session – Cable Plugged in First, TC_011_1_CSMS – Remote Start
    First: Olga starts from the page; RemoteStartTransaction.req names the connector and idTag; the
    charger's Authorize and StartTransaction for that idTag are Accepted."""
    register_charger("CP-1")

    async def scenario(cp):
        if plugged_in_first:
            await status(cp, "Preparing")
        page = await operate(
            operator, "CP-1", "remote-start", connector=CONNECTOR, id_tag="DRIVER-1", unit="kW"
        )
        if not plugged_in_first:
            await status(cp, "Preparing")
        authorized = await cp.send(call.Authorize(id_tag="DRIVER-1"))
        started = await cp.start_transaction(connector_id=CONNECTOR, id_tag="DRIVER-1")
        await status(cp, "Charging")
        return page, cp.calls_of("RemoteStartTransaction"), authorized, started

    page, sent, authorized, started = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [{"connectorId": CONNECTOR, "idTag": "DRIVER-1"}]
    assert message_of(page) == "Start charging: accepted"
    assert authorized.id_tag_info["status"] == started.id_tag_info["status"] == "Accepted"
    assert Transaction.objects.get().state == Transaction.State.CHARGING


def test_it_invents_no_session_for_a_remote_start_that_timed_out_at_the_charger(remote_csms, operator, card):
    """TC_011_2_CSMS Remote Start Charging Session – Time Out: the remote start is Accepted, Authorize
    Accepted, Preparing, and after the charger's ConnectionTimeOut Available again: both statuses answered,
    the command stays what the charger answered, and no session exists. (A QR payment's remote start that
    never becomes a session gives the money back: tests/billing/test_payments_wallet.py.)"""
    register_charger("CP-1")

    async def scenario(cp):
        await operate(operator, "CP-1", "remote-start", connector=CONNECTOR, id_tag="DRIVER-1", unit="kW")
        authorized = await cp.send(call.Authorize(id_tag="DRIVER-1"))
        await status(cp, "Preparing")
        await status(cp, "Available")
        return authorized

    assert as_charger(remote_csms, "CP-1", scenario).id_tag_info["status"] == "Accepted"
    assert Command.objects.get().status == Command.Status.ACCEPTED
    assert not Transaction.objects.exists()


def test_it_stops_a_session_remotely(remote_csms, operator, card):
    """TC_012_CSMS Remote Stop Charging Session: Olga stops the running transaction from the page; the
    RemoteStopTransaction.req names it; the charger's StopTransaction reason Remote is answered Accepted."""
    register_charger("CP-1")

    async def scenario(cp):
        started = await cp.start_transaction(connector_id=CONNECTOR, id_tag="DRIVER-1")
        await status(cp, "Charging")
        page = await operate(operator, "CP-1", "remote-stop", transaction=started.transaction_id)
        stopped = await cp.stop_transaction(started.transaction_id, 5000, id_tag="DRIVER-1", reason="Remote")
        await status(cp, "Finishing")
        await status(cp, "Available")
        return started, page, cp.calls_of("RemoteStopTransaction"), stopped

    started, page, sent, stopped = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [{"transactionId": started.transaction_id}]
    assert message_of(page) == "Stop charging: accepted"
    assert stopped.id_tag_info["status"] == "Accepted"
    assert Transaction.objects.get().stop_reason == "Remote"


@pytest.mark.parametrize("kind", ["Hard", "Soft"], ids=["TC_013-hard", "TC_014-soft"])
def test_it_resets_a_charger_and_accepts_it_booting_again(remote_csms, operator, kind):
    """TC_013_CSMS Hard Reset, TC_014_CSMS Soft Reset (without transaction): Reset.req of that type, Accepted;
    the charger boots again (Accepted) and reports its connectors."""
    register_charger("CP-1")

    async def scenario(cp):
        page = await operate(operator, "CP-1", "reset", type=kind)
        boot = await cp.boot()
        await status(cp, "Available", connector_id=0)
        await status(cp, "Available")
        return page, cp.calls_of("Reset"), boot

    page, sent, boot = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [{"type": kind}]
    assert message_of(page) == "Reset: accepted"
    assert boot.status == "Accepted"


@pytest.mark.parametrize(
    "answer,shown",
    [
        ("Unlocked", "Unlock connector: accepted (Unlocked)"),  # TC_017_1_CSMS: not a fixed cable
        ("NotSupported", "Unlock connector: rejected (NotSupported)"),  # TC_017_2_CSMS: a fixed cable
        ("UnlockFailed", "Unlock connector: rejected (UnlockFailed)"),  # TC_030_CSMS: unlock failure
    ],
    ids=["TC_017_1-unlocked", "TC_017_2-fixed-cable", "TC_030-unlock-failure"],
)
def test_it_unlocks_a_connector_without_a_session(remote_csms, operator, answer, shown):
    """TC_017_1_CSMS, TC_017_2_CSMS Unlock connector – no charging session running, TC_030_CSMS Unlock
    Connector – Unlock Failure: UnlockConnector.req for the connector; each answer kept and shown as such."""
    register_charger("CP-1")

    async def scenario(cp):
        cp.answers["UnlockConnector"] = {"status": answer}
        page = await operate(operator, "CP-1", "unlock", connector=CONNECTOR)
        return page, cp.calls_of("UnlockConnector")

    page, sent = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [{"connectorId": CONNECTOR}]
    assert message_of(page) == shown
    assert Command.objects.get().response == {"status": answer}


def test_it_unlocks_a_connector_with_a_session_and_takes_its_stop(remote_csms, operator, card):
    """TC_018_1_CSMS Unlock Connector – With Charging Session: Unlocked; the charger then reports Finishing
    and stops the transaction with reason UnlockCommand (answered), then Available."""
    register_charger("CP-1")

    async def scenario(cp):
        started = await cp.start_transaction(connector_id=CONNECTOR, id_tag="DRIVER-1")
        await status(cp, "Charging")
        page = await operate(operator, "CP-1", "unlock", connector=CONNECTOR)
        await status(cp, "Finishing")
        stopped = await cp.stop_transaction(started.transaction_id, 900, reason="UnlockCommand")
        await status(cp, "Available")
        return page, stopped

    page, stopped = as_charger(remote_csms, "CP-1", scenario)

    assert message_of(page) == "Unlock connector: accepted (Unlocked)"
    assert stopped is not None and Transaction.objects.get().stop_reason == "UnlockCommand"


def test_it_reports_an_unknown_connector(remote_csms, operator):
    """TC_031_CSMS Unlock Connector – Unknown Connector: UnlockConnector.req for a connector the charger has
    not; its NotSupported is kept and shown as a refusal."""
    register_charger("CP-1")

    async def scenario(cp):
        cp.answers["UnlockConnector"] = {"status": "NotSupported"}
        page = await operate(operator, "CP-1", "unlock", connector=9)
        return page, cp.calls_of("UnlockConnector")

    page, sent = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [{"connectorId": 9}]
    assert message_of(page) == "Unlock connector: rejected (NotSupported)"


@pytest.mark.parametrize(
    "keys,sent",
    [("", {}), ("SupportedFeatureProfiles", {"key": ["SupportedFeatureProfiles"]})],
    ids=["TC_019_1-all-keys", "TC_019_2-one-key"],
)
def test_it_retrieves_the_configuration(remote_csms, operator, keys, sent):
    """TC_019_1_CSMS Retrieve all configuration keys (no key sent), TC_019_2_CSMS Retrieve a specific
    configuration key: GetConfiguration.req as asked; the answer kept as the charger's configuration."""
    charger = register_charger("CP-1")

    async def scenario(cp):
        if keys:
            cp.answers["GetConfiguration"] = {
                "configurationKey": [{"key": keys, "readonly": True, "value": "Core,Reservation"}]
            }
        await operate(operator, "CP-1", "get-configuration", keys=keys)
        return cp.calls_of("GetConfiguration")

    assert as_charger(remote_csms, "CP-1", scenario) == [sent]
    stored = dict(charger.configuration.values_list("key", "value"))
    assert stored == (
        {"SupportedFeatureProfiles": "Core,Reservation"}
        if keys
        else {"HeartbeatInterval": "300", "NumberOfConnectors": "2"}
    )


@pytest.mark.parametrize(
    "answer,kept,shown",
    [
        ("Accepted", True, "accepted"),
        ("NotSupported", False, "rejected (NotSupported)"),
        ("Rejected", False, "rejected"),
    ],
    ids=["TC_021-accepted", "TC_040_1-not-supported", "TC_040_2-invalid-value"],
)
def test_it_changes_a_configuration_key(remote_csms, operator, answer, kept, shown):
    """TC_021_CSMS Change/set Configuration, TC_040_1_CSMS Configuration keys – NotSupported, TC_040_2_CSMS
    Configuration keys – Invalid value: ChangeConfiguration.req with the key and value; the value is kept
    as the charger's only when it accepted it, and a refusal is shown as one."""
    charger = register_charger("CP-1")

    async def scenario(cp):
        cp.answers["ChangeConfiguration"] = {"status": answer}
        page = await operate(
            operator, "CP-1", "change-configuration", key="MeterValueSampleInterval", value="60"
        )
        return page, cp.calls_of("ChangeConfiguration")

    page, sent = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [{"key": "MeterValueSampleInterval", "value": "60"}]
    assert ChargerConfigurationKey.objects.filter(charger=charger, value="60").exists() is kept
    assert message_of(page) == (f"Change configuration: {shown}")


@pytest.mark.parametrize("answer", ["Rejected"], ids=["TC_026"])
def test_it_takes_a_refused_remote_start(remote_csms, operator, card, answer):
    """TC_026_CSMS Remote Start Charging Session – Rejected: RemoteStartTransaction.conf Rejected is kept
    and shown; nothing waits for a session."""
    register_charger("CP-1")

    async def scenario(cp):
        cp.answers["RemoteStartTransaction"] = {"status": answer}
        return await operate(
            operator, "CP-1", "remote-start", connector=CONNECTOR, id_tag="DRIVER-1", unit="kW"
        )

    page = as_charger(remote_csms, "CP-1", scenario)

    assert message_of(page) == "Start charging: rejected"
    assert not Transaction.objects.exists()


def test_it_takes_a_refused_remote_stop_and_leaves_the_session_running(remote_csms, operator, card):
    """TC_028_CSMS Remote Stop Transaction – Rejected: a RemoteStopTransaction for a transactionId the
    charger does not know is Rejected; the running session stays open, untouched."""
    register_charger("CP-1")

    async def scenario(cp):
        await cp.start_transaction(connector_id=CONNECTOR, id_tag="DRIVER-1")
        await status(cp, "Charging")
        cp.answers["RemoteStopTransaction"] = {"status": "Rejected"}
        page = await operate(operator, "CP-1", "remote-stop", transaction=487249487)
        return page, cp.calls_of("RemoteStopTransaction")

    page, sent = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [{"transactionId": 487249487}]
    assert message_of(page) == "Stop charging: rejected"
    assert Transaction.objects.get().state == Transaction.State.CHARGING


def test_it_clears_the_authorization_cache(remote_csms, operator):
    """TC_061_CSMS Clear Authorization Data in Authorization Cache: ClearCache.req, Accepted."""
    register_charger("CP-1")

    async def scenario(cp):
        page = await operate(operator, "CP-1", "clear-cache")
        return page, cp.calls_of("ClearCache")

    page, sent = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [{}]
    assert message_of(page) == "Clear authorization cache: accepted"


TRIGGERED = {
    "MeterValues": call.MeterValues(
        connector_id=CONNECTOR,
        meter_value=[
            {
                "timestamp": "2026-11-21T09:00:00.000Z",
                "sampledValue": [
                    {"value": "1234", "context": "Trigger", "measurand": "Energy.Active.Import.Register"}
                ],
            }
        ],
    ),
    "Heartbeat": call.Heartbeat(),
    "StatusNotification": call.StatusNotification(
        connector_id=CONNECTOR, error_code="NoError", status="Available"
    ),
    "DiagnosticsStatusNotification": call.DiagnosticsStatusNotification(status="Idle"),
    "FirmwareStatusNotification": call.FirmwareStatusNotification(status="Idle"),
    "BootNotification": call.BootNotification(charge_point_vendor="OCTT", charge_point_model="Virtual"),
}


@pytest.mark.parametrize("message", list(TRIGGERED))
def test_it_triggers_a_message_and_answers_it(remote_csms, operator, message):
    """TC_054_CSMS Trigger Message: TriggerMessage.req for each message the case asks (MeterValues,
    Heartbeat, StatusNotification, DiagnosticsStatusNotification, FirmwareStatusNotification, and
    BootNotification), Accepted; the charger then sends it and the central system answers it."""
    register_charger("CP-1")
    connector = CONNECTOR if message in ("MeterValues", "StatusNotification") else ""

    async def scenario(cp):
        page = await operate(operator, "CP-1", "trigger", message=message, connector=connector)
        answer = await cp.send(TRIGGERED[message])
        return page, cp.calls_of("TriggerMessage"), answer

    page, sent, answer = as_charger(remote_csms, "CP-1", scenario)

    expected = {"requestedMessage": message, **({"connectorId": CONNECTOR} if connector else {})}
    assert sent == [expected]
    assert message_of(page) == "Ask for a message: accepted"
    assert answer is not None


@pytest.mark.parametrize("answer", ["Rejected", "NotImplemented"])
def test_it_takes_a_refused_trigger(remote_csms, operator, answer):
    """TC_055_CSMS Trigger Message – Rejected: TriggerMessage.conf Rejected (or NotImplemented) is kept and
    shown as a refusal, with the charger's word."""
    register_charger("CP-1")

    async def scenario(cp):
        cp.answers["TriggerMessage"] = {"status": answer}
        return await operate(operator, "CP-1", "trigger", message="MeterValues", connector=CONNECTOR)

    page = as_charger(remote_csms, "CP-1", scenario)

    shown = (
        "rejected" if answer == "Rejected" else f"rejected ({answer})"
    )  # the charger's word when it differs
    assert message_of(page) == f"Ask for a message: {shown}"
    assert Command.objects.get().response == {"status": answer}
