"""The one way to talk to a charger's socket, from any process: the requester's side.

The requester (a view, the API, an admin action) records a Command and sends
it over the channel layer to the consumer holding the charger's socket (the
address of its process and its connection id are on the Charger row, see
stations.gateway.mailbox), in whichever process. That consumer acknowledges
at once and runs the OCPP call as its own task (stations.gateway.command_runner);
it stores the outcome on the Command row and tells the requester.

    requester                         channel layer                 consumer (maybe elsewhere)
    Command(pending) ── ocpp.command ──▶ Charger.channel_name ──▶ mailbox ──▶ ack ──▶ task: claim, CALL, settle
    waits ACK s: none → offline                                          │
    waits timeout: none → timeout   ◀──────── command.done ◀─────────────┘
"""

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from ocpp.charge_point import remove_nones

from stations import outcomes
from stations.gateway import mailbox
from stations.models import Charger, Command, Reservation
from stations.ocpp_schemas import call_schema_errors
from stations.ocpp_time import parse_timestamp
from stations.outcomes import Outcome

# Every CSMS→charger operation of OCPP 1.6 (core and the optional profiles) we send.
ACTIONS = (
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "Reset",
    "UnlockConnector",
    "ChangeAvailability",
    "GetConfiguration",
    "ChangeConfiguration",
    "ClearCache",
    "TriggerMessage",
    "UpdateFirmware",
    "GetDiagnostics",
    "SetChargingProfile",
    "ClearChargingProfile",
    "GetCompositeSchedule",
    "SendLocalList",
    "GetLocalListVersion",
    "ReserveNow",
    "CancelReservation",
    "DataTransfer",
)


class CommandRefused(ValueError):
    """Nothing was sent: the action is unknown or the payload breaks the OCPP schema.

    `errors` maps a field path ("csChargingProfiles.chargingSchedule.chargingRateUnit",
    "action") to what is wrong with it.
    """

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in errors.items()))
        self.errors = errors


def send(
    *,
    charger: Charger,
    action: str,
    payload: dict,
    user=None,
    source: str = Command.Source.API,
    timeout: float | None = None,
) -> Command:
    """Send one command and wait for its outcome; returns the stored Command.

    Raises CommandRefused before anything is recorded when the request is not valid OCPP.
    Optional fields given as None are left out: strict chargers reject null.
    """
    payload = _with_assigned_fields(action, remove_nones(payload or {}))
    check(action, payload)
    command = record(charger=charger, action=action, payload=payload, user=user, source=source)
    timeout = timeout or settings.OCPP_COMMAND_TIMEOUT_SECONDS
    live = Charger.objects.filter(pk=charger.pk, is_connected=True)
    socket = live.values_list("channel_name", "connection_id").first()  # (process address, connection id)
    if not socket or not socket[0]:
        outcomes.settle(command=command, outcome=Outcome.offline(_("the charger is not connected")))
    else:
        outcome = async_to_sync(_deliver)(command, socket, timeout)
        if outcome is not None:
            outcomes.settle(command=command, outcome=outcome)
    command.refresh_from_db()
    return command


def check(action: str, payload: dict) -> None:
    if action not in ACTIONS:
        raise CommandRefused(
            {"action": _("“%(action)s” is not a CSMS-initiated OCPP 1.6 action we send") % {"action": action}}
        )
    errors = call_schema_errors(action, payload)
    if errors:
        raise CommandRefused(errors)


def _with_assigned_fields(action: str, payload: dict) -> dict:
    """Fill in what the CSMS assigns itself, so the payload can be checked against the schema."""
    if action == "ReserveNow":
        return {**payload, "reservationId": 0}  # replaced by the Reservation's pk in `record`
    return payload


@transaction.atomic
def record(*, charger: Charger, action: str, payload: dict, user=None, source: str) -> Command:
    """The pending Command row (and, for ReserveNow, the Reservation it asks for)."""
    if action == "ReserveNow":
        reservation = Reservation.objects.create(
            charger=charger,
            connector_id=payload["connectorId"],
            id_tag=payload["idTag"],
            parent_id_tag=payload.get("parentIdTag", ""),
            expires_at=parse_timestamp(payload["expiryDate"]),
            requested_by=user,
        )
        payload = {**payload, "reservationId": reservation.pk}
    return Command.objects.create(
        charger=charger, action=action, payload=payload, requested_by=user, source=source
    )


async def _deliver(command: Command, socket: tuple[str, str], timeout: float) -> Outcome | None:
    """Send the command to the socket's consumer; None once the consumer has stored the outcome.

    `socket` is (address of the process holding it, connection id): see stations.gateway.mailbox.
    """
    layer = get_channel_layer()
    reply_to = await layer.new_channel()
    delivered = await mailbox.post(
        *socket,
        {
            "type": "ocpp.command",
            "command_id": command.pk,
            "reply_to": reply_to,
            "timeout": timeout,
        },
    )
    if not delivered:
        return Outcome.offline(
            _("the server process that held the charger's socket is gone (its mailbox is full)")
        )
    ack_seconds = settings.OCPP_COMMAND_ACK_SECONDS
    if await _receive(layer, reply_to, ack_seconds) is None:
        # is_connected said yes, but no process holds the socket (e.g. it crashed).
        return Outcome.offline(
            _("no server process holds the charger's socket (no reply in %(seconds)s s)")
            % {"seconds": f"{ack_seconds:g}"}
        )
    # The consumer's own deadline is `timeout`; the margin covers its bookkeeping.
    if await _receive(layer, reply_to, timeout + ack_seconds) is None:
        return Outcome.timed_out(timeout)
    return None


async def _receive(layer, channel: str, seconds: float) -> dict | None:
    try:
        return await asyncio.wait_for(layer.receive(channel), seconds)
    except TimeoutError:
        return None
