"""The one way to talk to a charger's socket, from any process.

The requester (a view, the API, an admin action) records a Command and sends
it over the channel layer to the consumer holding the charger's socket (the
address of its process and its connection id are on the Charger row, see
stations.mailbox), in whichever process. That consumer
acknowledges at once and runs the OCPP call as its own task; it stores the
outcome on the Command row and tells the requester.

    requester                         channel layer                 consumer (maybe elsewhere)
    Command(pending) ── ocpp.command ──▶ Charger.channel_name ──▶ mailbox ──▶ ack ──▶ task: claim, CALL, settle
    waits ACK s: none → offline                                          │
    waits timeout: none → timeout   ◀──────── command.done ◀─────────────┘
"""

import asyncio
import logging
import re
from decimal import Decimal

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone
from ocpp.exceptions import OCPPError
from ocpp.messages import CallError, get_validator

from stations import mailbox, remote
from stations.models import Charger, Command
from stations.orm import in_pool
from stations.remote import Outcome

logger = logging.getLogger(__name__)

# Every CSMS→charger operation of OCPP 1.6 (core and the optional profiles) we send.
ACTIONS = (
    "RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector", "ChangeAvailability",
    "GetConfiguration", "ChangeConfiguration", "ClearCache", "TriggerMessage", "UpdateFirmware",
    "GetDiagnostics", "SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule",
    "SendLocalList", "GetLocalListVersion", "ReserveNow", "CancelReservation", "DataTransfer",
)
# The `ocpp` library validates these with Decimal floats (multipleOf 0.1), and caches
# validators by action: asking for them with float parsing would break its own checks.
DECIMAL_ACTIONS = ("SetChargingProfile", "RemoteStartTransaction")
MESSAGE_CALL = 2


class CommandRefused(ValueError):
    """Nothing was sent: the action is unknown or the payload breaks the OCPP schema.

    `errors` maps a field path ("csChargingProfiles.chargingSchedule.chargingRateUnit",
    "action") to what is wrong with it.
    """

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in errors.items()))
        self.errors = errors


def send(*, charger: Charger, action: str, payload: dict, user=None, source: str = Command.Source.API,
         timeout: float | None = None) -> Command:
    """Send one command and wait for its outcome; returns the stored Command.

    Raises CommandRefused before anything is recorded when the request is not valid OCPP.
    """
    payload = remote.complete_payload(action, without_nones(payload or {}))
    check(action, payload)
    command = remote.create_command(charger=charger, action=action, payload=payload, user=user, source=source)
    timeout = timeout or settings.OCPP_COMMAND_TIMEOUT_SECONDS
    live = Charger.objects.filter(pk=charger.pk, is_connected=True)
    socket = live.values_list("channel_name", "connection_id").first()  # (process address, connection id)
    if not socket or not socket[0]:
        remote.settle(command=command, outcome=Outcome.offline("the charger is not connected"))
    else:
        outcome = async_to_sync(_deliver)(command, socket, timeout)
        if outcome is not None:
            remote.settle(command=command, outcome=outcome)
    command.refresh_from_db()
    return command


def without_nones(value):
    """Strict chargers reject optional fields sent as null: leave them out, at any depth."""
    if isinstance(value, dict):
        return {key: without_nones(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nones(item) for item in value]
    return value


def check(action: str, payload: dict) -> None:
    if action not in ACTIONS:
        raise CommandRefused({"action": f"{action!r} is not a CSMS-initiated OCPP 1.6 action we send"})
    errors = schema_errors(action, payload)
    if errors:
        raise CommandRefused(errors)


def schema_errors(action: str, payload) -> dict[str, str]:
    """The fields the official OCPP 1.6 schema rejects, by path, as the `ocpp` library would."""
    parse_float = Decimal if action in DECIMAL_ACTIONS else float
    validator = get_validator(MESSAGE_CALL, action, "1.6", parse_float=parse_float)
    if parse_float is Decimal:
        payload = _with_decimals(payload)
    return {_field_path(error): error.message for error in validator.iter_errors(payload)}


def _with_decimals(value):
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: _with_decimals(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_decimals(item) for item in value]
    return value


def _field_path(error) -> str:
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        path.append(re.match(r"'(.*?)'", error.message).group(1))
    elif error.validator == "additionalProperties":
        path.append(",".join(re.findall(r"'(.*?)'", error.message.partition("(")[2])))
    return ".".join(path) or "payload"


# --- the requester's side -------------------------------------------------------------


async def _deliver(command: Command, socket: tuple[str, str], timeout: float) -> Outcome | None:
    """Send the command to the socket's consumer; None once the consumer has stored the outcome.

    `socket` is (address of the process holding it, connection id): see stations.mailbox.
    """
    layer = get_channel_layer()
    reply_to = await layer.new_channel()
    delivered = await mailbox.post(*socket, {
        "type": "ocpp.command", "command_id": command.pk, "reply_to": reply_to, "timeout": timeout,
    })
    if not delivered:
        return Outcome.offline("the server process that held the charger's socket is gone (its mailbox is full)")
    ack_seconds = settings.OCPP_COMMAND_ACK_SECONDS
    if await _receive(layer, reply_to, ack_seconds) is None:
        # is_connected said yes, but no process holds the socket (e.g. it crashed).
        return Outcome.offline(f"no server process holds the charger's socket (no reply in {ack_seconds:g} s)")
    # The consumer's own deadline is `timeout`; the margin covers its bookkeeping.
    if await _receive(layer, reply_to, timeout + ack_seconds) is None:
        return Outcome.timed_out(timeout)
    return None


async def _receive(layer, channel: str, seconds: float) -> dict | None:
    try:
        return await asyncio.wait_for(layer.receive(channel), seconds)
    except asyncio.TimeoutError:
        return None


# --- the side of the consumer holding the socket -----------------------------------

db = in_pool
_running: set[asyncio.Task] = set()  # asyncio keeps only weak references to tasks


async def take(connection, channel_layer, event: dict) -> None:
    """Acknowledge at once and run the call as its own task: the consumer keeps reading frames,
    among them the very answer the call waits for."""
    await channel_layer.send(event["reply_to"], {"type": "command.ack"})
    task = asyncio.create_task(_run(connection, channel_layer, event))
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _run(connection, channel_layer, event: dict) -> None:
    try:
        command = await db(Command.objects.select_related("charger").get)(pk=event["command_id"])
        if not await db(command.claim)(connection_id=connection.connection_id):
            return  # another socket of this charger took it, or the requester gave up
        outcome = await _call(connection, command, event["timeout"])
        await db(remote.settle)(command=command, outcome=outcome)
        await channel_layer.send(event["reply_to"], {"type": "command.done", "status": command.status})
    except Exception:
        logger.exception("command %s to %s failed", event.get("command_id"), connection.charger.charge_point_id)


async def _call(connection, command: Command, timeout: float) -> Outcome:
    sent = {}

    def note_sent():
        sent["at"] = timezone.now()

    try:
        # Waiting behind an earlier call counts against the timeout too.
        answer = await asyncio.wait_for(connection.call(command.action, command.payload, timeout, note_sent), timeout)
    except asyncio.TimeoutError:
        return Outcome.timed_out(timeout, sent.get("at"))
    except ConnectionError as closed:
        return Outcome.offline(str(closed), sent.get("at"))
    except OCPPError as invalid:  # the library's own schema check refused to send it
        return Outcome.call_error(invalid.code, invalid.description, invalid.details)
    if isinstance(answer, CallError):
        return Outcome.call_error(answer.error_code, answer.error_description, answer.error_details, sent.get("at"))
    return Outcome.answered(answer.payload, sent.get("at"))
