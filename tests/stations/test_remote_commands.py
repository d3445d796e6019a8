"""Commands to a live charger: every 1.6 operation, and every way one can end."""

import asyncio

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.v16 import call

from stations import commands, outcomes, payloads
from stations.models import ChargerConfigurationKey, Command, MessageLog
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger, connected_charger, eventually, orm, wait_until

EVERY_OPERATION = [
    ("RemoteStartTransaction", {"connectorId": 1, "idTag": "DRIVER-1"}),
    (
        "RemoteStartTransaction",
        {
            "connectorId": 1,
            "idTag": "DRIVER-1",
            "chargingProfile": {
                "chargingProfileId": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.3}],
                },
            },
        },
    ),
    ("RemoteStopTransaction", {"transactionId": 7}),
    ("Reset", {"type": "Hard"}),
    ("UnlockConnector", {"connectorId": 2}),
    ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}),
    ("GetConfiguration", {}),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}),
    ("ClearCache", {}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}),
    ("UpdateFirmware", {"location": "https://fw.example/v2.bin", "retrieveDate": "2026-11-22T03:00:00.000Z"}),
    ("GetDiagnostics", {"location": "ftp://logs.example/upload/"}),
    ("SetChargingProfile", payloads.power_limit_payload(connector_id=0, limit=11, unit="kW")),
    ("ClearChargingProfile", {"id": 900}),
    ("GetCompositeSchedule", {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"}),
    (
        "SendLocalList",
        {
            "listVersion": 2,
            "updateType": "Full",
            "localAuthorizationList": [{"idTag": "DRIVER-1", "idTagInfo": {"status": "Accepted"}}],
        },
    ),
    ("GetLocalListVersion", {}),
    ("ReserveNow", {"connectorId": 1, "idTag": "DRIVER-1", "expiryDate": "2099-01-01T00:00:00.000Z"}),
    ("CancelReservation", {"reservationId": 1}),
    ("DataTransfer", {"vendorId": "com.example", "messageId": "ping", "data": "hello"}),
]


def with_charger(server, steps, charge_point_id="CP-1"):
    """Run `steps(cp)` with charger `charge_point_id` connected and booted; returns its result."""

    async def scenario():
        async with connected_charger(server.ws_url, charge_point_id, cls=AnsweringCharger) as cp:
            await cp.boot()  # the server has registered the socket once the boot is answered
            return await steps(cp)

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    "action,payload", EVERY_OPERATION, ids=[f"{a}-{i}" for i, (a, _) in enumerate(EVERY_OPERATION)]
)
def test_it_sends_each_operation_and_stores_the_answer(remote_csms, operator, action, payload):
    charger = register_charger("CP-1")

    async def steps(cp):
        command = await orm(commands.send, charger=charger, action=action, payload=payload, user=operator)
        return command, cp.calls_of(action)

    command, received = with_charger(remote_csms, steps)

    assert command.status == Command.Status.ACCEPTED, command.outcome_text
    assert command.response == AnsweringCharger.DEFAULT_ANSWERS[action]
    assert received == [command.payload]
    assert (command.requested_by, command.source) == (operator, "api")
    assert command.created_at <= command.sent_at <= command.answered_at
    assert Command.objects.get().status == Command.Status.ACCEPTED


def test_it_keeps_the_configuration_the_charger_reports(remote_csms):
    charger = register_charger("CP-1")
    ChargerConfigurationKey.objects.create(charger=charger, key="Forgotten", value="x")

    async def steps(cp):
        cp.answers["GetConfiguration"]["unknownKey"] = ["NoSuchKey"]
        await orm(commands.send, charger=charger, action="GetConfiguration", payload={})
        cp.answers["ChangeConfiguration"] = {"status": "RebootRequired"}
        return await orm(
            commands.send,
            charger=charger,
            action="ChangeConfiguration",
            payload={"key": "HeartbeatInterval", "value": "60"},
        )

    changed = with_charger(remote_csms, steps)

    stored = {(c.key, c.value, c.readonly) for c in charger.configuration.all()}
    assert stored == {("HeartbeatInterval", "60", False), ("NumberOfConnectors", "2", True)}
    assert outcomes.unknown_configuration_keys(charger) == ["NoSuchKey"]
    assert changed.status == Command.Status.ACCEPTED and changed.reboot_required
    assert changed.outcome_text == "accepted — reboot required"


@pytest.mark.parametrize(
    "action,payload,answer",
    [
        ("UnlockConnector", {"connectorId": 1}, {"status": "UnlockFailed"}),
        ("Reset", {"type": "Soft"}, {"status": "Rejected"}),
        ("TriggerMessage", {"requestedMessage": "MeterValues"}, {"status": "NotImplemented"}),
        ("ChangeConfiguration", {"key": "Locked", "value": "1"}, {"status": "NotSupported"}),
    ],
)
def test_it_stores_a_refusal_as_rejected(remote_csms, action, payload, answer):
    charger = register_charger("CP-1")

    async def steps(cp):
        cp.answers[action] = answer
        return await orm(commands.send, charger=charger, action=action, payload=payload)

    command = with_charger(remote_csms, steps)

    assert command.status == Command.Status.REJECTED
    assert command.response == answer
    assert not charger.configuration.exists()


def test_it_stores_a_callerror(remote_csms):
    charger = register_charger("CP-1")

    async def steps(cp):
        cp.call_errors["Reset"] = NotSupportedError(description="No hard feelings, no resets")
        return await orm(commands.send, charger=charger, action="Reset", payload={"type": "Soft"})

    command = with_charger(remote_csms, steps)

    assert command.status == Command.Status.ERROR
    assert (command.error_code, command.error_description) == ("NotSupported", "No hard feelings, no resets")
    assert command.outcome_text == "CALLERROR NotSupported: No hard feelings, no resets"


def test_it_answers_offline_at_once_for_a_disconnected_charger(remote_csms):
    charger = register_charger("CP-1", is_connected=False)

    command = commands.send(charger=charger, action="ClearCache", payload={}, timeout=20)

    # The path taken: settled as offline before anything was posted (never "no reply in …", never a timeout).
    assert command.status == Command.Status.OFFLINE
    assert command.sent_at is None and command.handled_by == ""
    assert command.outcome_text == "charger offline: the charger is not connected"


def test_it_answers_offline_when_no_process_holds_the_socket(remote_csms, settings):
    settings.OCPP_COMMAND_ACK_SECONDS = 0.5
    # As a crashed server leaves it: "connected", through a consumer that is gone.
    charger = register_charger("CP-1", is_connected=True, channel_name="specific.crashed-server!socket-1")

    command = commands.send(charger=charger, action="ClearCache", payload={}, timeout=20)

    # The path taken: no acknowledgement within OCPP_COMMAND_ACK_SECONDS, not the 20 s timeout.
    assert command.status == Command.Status.OFFLINE
    assert command.error_description == "no server process holds the charger's socket (no reply in 0.5 s)"
    assert command.sent_at is None and command.handled_by == ""


def test_it_times_out_while_the_charger_keeps_being_served(remote_csms):
    charger = register_charger("CP-1")

    async def steps(cp):
        cp.silent.add("GetDiagnostics")
        pending = asyncio.create_task(
            orm(
                commands.send,
                charger=charger,
                action="GetDiagnostics",
                payload={"location": "ftp://logs.example/"},
                timeout=1.5,
            )
        )
        assert await eventually(lambda: cp.calls_of("GetDiagnostics")), (
            "the command never reached the charger"
        )
        await cp.send(call.Heartbeat())
        # The heartbeat is answered: is the command still waiting? (Not how many seconds it took.)
        status_when_answered = await orm(lambda: Command.objects.get().status)
        return await asyncio.wait_for(pending, 10), status_when_answered

    command, status_when_heartbeat_answered = with_charger(remote_csms, steps)

    assert status_when_heartbeat_answered == Command.Status.PENDING, "the heartbeat waited for the command"
    assert command.status == Command.Status.TIMEOUT
    assert command.sent_at is not None
    assert command.outcome_text == "timed out: no answer within 1.5 s"


def test_it_never_lets_a_late_answer_overwrite_a_timeout(remote_csms):
    charger = register_charger("CP-1")

    async def steps(cp):
        cp.held["Reset"] = asyncio.Event()  # the charger answers only once the command has timed out
        timed_out = await orm(
            commands.send, charger=charger, action="Reset", payload={"type": "Soft"}, timeout=0.5
        )
        call_id = await orm(
            wait_until, lambda: message_id_of(charge_point_id="CP-1", direction="out", action="Reset")
        )
        cp.held["Reset"].set()
        late_answer_in = await orm(
            wait_until,
            lambda: MessageLog.objects.filter(
                charge_point_id="CP-1", direction="in", message_type=3, message_id=call_id
            ).exists(),
        )
        await cp.send(call.Heartbeat())  # and the socket still serves the charger after it
        return timed_out, call_id, late_answer_in

    timed_out, call_id, late_answer_in = with_charger(remote_csms, steps)

    assert timed_out.status == Command.Status.TIMEOUT
    assert timed_out.outcome_text == "timed out: no answer within 0.5 s"
    assert call_id and late_answer_in, "the charger's late CALLRESULT never reached the server"
    late = Command.objects.get()
    assert (late.status, late.response, late.answered_at) == (
        Command.Status.TIMEOUT,
        None,
        timed_out.answered_at,
    )


def message_id_of(**frame) -> str | None:
    """The message id of the one logged frame matching `frame` (write-behind: maybe not written yet)."""
    return MessageLog.objects.filter(**frame).values_list("message_id", flat=True).first()


def test_it_sends_two_commands_to_one_charger_one_after_the_other(remote_csms):
    charger = register_charger("CP-1")

    async def steps(cp):
        cp.delays["Reset"] = cp.delays["ClearCache"] = 0.4
        return (
            await asyncio.gather(
                orm(commands.send, charger=charger, action="Reset", payload={"type": "Soft"}),
                orm(commands.send, charger=charger, action="ClearCache", payload={}),
            ),
            cp.most_in_flight,
            [action for action, _ in cp.received],
        )

    (reset, clear), most_in_flight, received = with_charger(remote_csms, steps)

    assert (reset.status, clear.status) == (Command.Status.ACCEPTED, Command.Status.ACCEPTED)
    assert most_in_flight == 1
    assert sorted(received) == ["ClearCache", "Reset"]


def test_it_reports_offline_when_the_charger_drops_before_answering(remote_csms):
    charger = register_charger("CP-1")

    async def scenario():
        async with connected_charger(remote_csms.ws_url, "CP-1", cls=AnsweringCharger) as cp:
            await cp.boot()
            cp.silent.add("Reset")
            pending = asyncio.create_task(
                orm(commands.send, charger=charger, action="Reset", payload={"type": "Hard"}, timeout=20)
            )
            assert await eventually(lambda: cp.calls_of("Reset")), "the command never reached the charger"
        return await asyncio.wait_for(pending, 30)

    command = asyncio.run(scenario())

    # The path taken: the closed socket failed the call (not the 20 s timeout, which would say "timed out").
    assert command.status == Command.Status.OFFLINE
    assert command.error_description == "the charger disconnected before answering"
    assert command.sent_at is not None


def test_it_refuses_an_unknown_action_or_invalid_payload_before_recording_anything(remote_csms):
    charger = register_charger("CP-1")

    with pytest.raises(commands.CommandRefused) as unknown:
        commands.send(charger=charger, action="BootNotification", payload={})
    with pytest.raises(commands.CommandRefused) as invalid:
        commands.send(
            charger=charger, action="ChangeAvailability", payload={"connectorId": "one", "type": "Off"}
        )

    assert list(unknown.value.errors) == ["action"]
    assert set(invalid.value.errors) == {"connectorId", "type"}
    assert not Command.objects.exists()


def test_it_drops_none_fields_before_sending(remote_csms):
    charger = register_charger("CP-1")

    async def steps(cp):
        await orm(
            commands.send,
            charger=charger,
            action="TriggerMessage",
            payload={"requestedMessage": "Heartbeat", "connectorId": None},
        )
        return cp.calls_of("TriggerMessage")

    assert with_charger(remote_csms, steps) == [{"requestedMessage": "Heartbeat"}]
