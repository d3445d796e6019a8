"""The frames of a command the CSMS sends are in the message log: our CALL out, the charger's answer in.

Both rows carry the message id the charger saw on the wire, so staff can pair a command with
its answer (or its CALLERROR) in the log.
"""

import asyncio
import json

from ocpp.exceptions import NotSupportedError

from stations import commands
from stations.models import MessageLog
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger, connected_charger, orm, wait_until

AVAILABILITY = {"connectorId": 1, "type": "Inoperative"}
TRIGGER = {"requestedMessage": "Heartbeat"}


class WireCharger(AnsweringCharger):
    """An answering charger that also keeps the message id of every CALL it got."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.call_ids: list[str] = []

    async def route_message(self, raw_msg):
        frame = json.loads(raw_msg)
        if frame[0] == 2:
            self.call_ids.append(frame[1])
        return await super().route_message(raw_msg)


def command_to_live_charger(server, action: str, payload: dict, prepare=lambda cp: None):
    """Send one command to CP-1 while it is connected; the stored command and the CALL's id on the wire."""
    charger = register_charger("CP-1")

    async def scenario():
        async with connected_charger(server.ws_url, "CP-1", cls=WireCharger) as cp:
            await cp.boot()
            prepare(cp)
            command = await orm(commands.send, charger=charger, action=action, payload=payload)
            return command, cp.call_ids

    return asyncio.run(scenario())


def logged_frames(message_id: str) -> tuple[tuple, tuple]:
    """The log rows with this message id, once both are written: (direction, type, action, frame)
    of the CALL, (direction, type, frame) of the answer (an answer names no action on the wire)."""
    rows = MessageLog.objects.filter(charge_point_id="CP-1", message_id=message_id)
    rows = rows.order_by("created_at", "id")
    assert wait_until(lambda: rows.count() == 2), f"{rows.count()} of 2 frames logged for {message_id}"
    sent, answer = rows
    return (
        (sent.direction, sent.message_type, sent.action, json.loads(sent.payload)),
        (answer.direction, answer.message_type, json.loads(answer.payload)),
    )


def test_it_logs_the_call_out_and_the_chargers_result_in(remote_csms):
    command, call_ids = command_to_live_charger(remote_csms, "ChangeAvailability", AVAILABILITY)

    assert command.status == "accepted"
    [call_id] = call_ids
    assert logged_frames(call_id) == (
        ("out", 2, "ChangeAvailability", [2, call_id, "ChangeAvailability", AVAILABILITY]),
        ("in", 3, [3, call_id, {"status": "Accepted"}]),
    )


def test_it_logs_the_call_out_and_the_chargers_error_in(remote_csms):
    def refuse_trigger(cp):
        cp.call_errors["TriggerMessage"] = NotSupportedError(description="no triggers here")

    command, call_ids = command_to_live_charger(remote_csms, "TriggerMessage", TRIGGER, refuse_trigger)

    assert command.status == "error"
    [call_id] = call_ids
    assert logged_frames(call_id) == (
        ("out", 2, "TriggerMessage", [2, call_id, "TriggerMessage", TRIGGER]),
        ("in", 4, [4, call_id, "NotSupported", "no triggers here", {}]),
    )
