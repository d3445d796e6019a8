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
from django.contrib.auth.hashers import make_password
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _
from ocpp.charge_point import remove_nones

from accounts.access import CHANGE_CHARGERS
from stations import outcomes, payloads, security
from stations.gateway import mailbox
from stations.hashers import charger_hasher
from stations.models import Charger, Command, PasswordChange, Reservation
from stations.ocpp_schemas import call_schema_errors
from stations.outcomes import Outcome

# Every CSMS→charger operation of OCPP 1.6 (core, the optional profiles, the security whitepaper) we send.
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
    "CertificateSigned",
    "InstallCertificate",
    "GetInstalledCertificateIds",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetLog",
    "SignedUpdateFirmware",
)

# The CSMS-initiated OCPP 2.0.1 operations sent so far (docs/ocpp.md lists those still to come).
ACTIONS_201 = (
    "RequestStartTransaction",
    "RequestStopTransaction",
    "Reset",
    "UnlockConnector",
    "ChangeAvailability",
    "GetVariables",
    "SetVariables",
    "GetBaseReport",
    "TriggerMessage",
    "SetChargingProfile",
    "ClearChargingProfile",
    "GetCompositeSchedule",
    "GetChargingProfiles",
    "ClearCache",
    "SendLocalList",
    "GetLocalListVersion",
    "ReserveNow",
    "CancelReservation",
    "UpdateFirmware",
    "GetLog",
    "DataTransfer",
)
ACTIONS_BY_VERSION = {"1.6": ACTIONS, "2.0.1": ACTIONS_201}


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

    Raises CommandRefused before anything is recorded when the request is not valid OCPP, and
    PermissionDenied when `user` may not change the charger's key (AuthorizationKey: admins only).
    Optional fields given as None are left out: strict chargers reject null.
    """
    connected, *socket, version = Charger.objects.values_list(
        "is_connected", "channel_name", "connection_id", "ocpp_version"
    ).get(pk=charger.pk)  # socket: (process address, connection id)
    version = version or "1.6"  # a charger never connected is taken for a 1.6 one, as before 2.0.1
    payload = _with_assigned_fields(action, remove_nones(payload or {}), version)
    new_key = _new_key(action, payload, user)
    payload, sealed = security.withhold_key(action, payload)  # before the schema: an error could quote it
    check(action, payload, version)
    _check_security_profile(charger, action, payload, user)
    _check_charging_profile(charger, action, payload, version)
    command = record(
        charger=charger, action=action, payload=payload, user=user, source=source, new_key=new_key
    )
    timeout = timeout or settings.OCPP_COMMAND_TIMEOUT_SECONDS
    if not connected or not socket[0]:
        outcomes.settle(command=command, outcome=Outcome.offline(_("the charger is not connected")))
    else:
        outcome = async_to_sync(_deliver)(command, tuple(socket), timeout, sealed)
        if outcome is not None:
            outcomes.settle(command=command, outcome=outcome)
    command.refresh_from_db()
    return command


def check(action: str, payload: dict, ocpp_version: str = "1.6") -> None:
    """Refuse an action the charger's protocol has not (naming the protocol) or a payload its schema refuses."""
    if action not in ACTIONS_BY_VERSION[ocpp_version]:
        raise CommandRefused(
            {
                "action": _(
                    "“%(action)s” is not a CSMS-initiated OCPP %(version)s action we send: "
                    "this charger speaks OCPP %(version)s"
                )
                % {"action": action, "version": ocpp_version}
            }
        )
    errors = call_schema_errors(action, payload, ocpp_version)
    if errors:
        raise CommandRefused(errors)


def _new_key(action: str, payload: dict, user) -> str | None:
    """The charger's new key, when this command changes it (1.6 ChangeConfiguration AuthorizationKey, 2.0.1
    SetVariables SecurityCtrlr.BasicAuthPassword): only those who may set a charger's password may, and
    only to a key OCPP allows, alone in its request (stations.security)."""
    if not security.is_password_change(action, payload):
        return None
    if user is not None and not user.has_perm(CHANGE_CHARGERS):
        raise PermissionDenied(_("Only staff who may change chargers (admins) may change a charger's key."))
    problems = security.password_request_problems(action, payload)
    key = security.new_key_of(action, payload)
    if not problems and (problem := security.key_problem(key)):
        problems = {security.key_field(action, payload): problem}
    if problems:
        raise CommandRefused(problems)
    return key


def _check_charging_profile(charger: Charger, action: str, payload: dict, ocpp_version: str) -> None:
    """Refuse a charging profile a charger would refuse (stations.payloads: TxProfile rules), naming the field."""
    problems = payloads.charging_profile_problems(
        charger=charger, action=action, payload=payload, ocpp_version=ocpp_version
    )
    if problems:
        raise CommandRefused(problems)


def _check_security_profile(charger: Charger, action: str, payload: dict, user) -> None:
    """A SecurityProfile change decides how the charger may connect once accepted: admins only, upwards only."""
    if not security.is_security_profile_change(action, payload):
        return
    if user is not None and not user.has_perm(CHANGE_CHARGERS):
        raise PermissionDenied(
            _("Only staff who may change chargers (admins) may change its security profile.")
        )
    problem = security.security_profile_problem(charger, payload.get("value"))
    if problem:
        raise CommandRefused({"value": problem})


# The ids the CSMS assigns when the requester gives none: the Command's pk, set in `record`. The charger
# names them back (2.0.1 TransactionEvent's remoteStartId; Log/SignedFirmwareStatusNotification's requestId).
ASSIGNED_IDS = {
    "RequestStartTransaction": "remoteStartId",
    "GetLog": "requestId",
    "SignedUpdateFirmware": "requestId",
}
# 2.0.1 asks for a requestId where 1.6 asked for none (the NotifyReports, FirmwareStatusNotifications and
# ReportChargingProfiles that follow name it).
ASSIGNED_IDS_201 = {
    **ASSIGNED_IDS,
    "GetBaseReport": "requestId",
    "UpdateFirmware": "requestId",
    "GetChargingProfiles": "requestId",
}


def _with_assigned_fields(action: str, payload: dict, ocpp_version: str = "1.6") -> dict:
    """Fill in what the CSMS assigns itself, so the payload can be checked against the schema."""
    if action == "ReserveNow":  # replaced by the Reservation's pk in `record`
        return {**payload, payloads.reservation_id_field(payload): 0}
    assigned = ASSIGNED_IDS_201 if ocpp_version == "2.0.1" else ASSIGNED_IDS
    if action in assigned and assigned[action] not in payload:
        return {**payload, assigned[action]: 0}  # replaced by the Command's pk in `record`
    return payload


@transaction.atomic
def record(
    *, charger: Charger, action: str, payload: dict, user=None, source: str, new_key: str | None = None
) -> Command:
    """The pending Command row (and, for ReserveNow, the Reservation it asks for; for a new key, the
    PasswordChange holding its hash until the charger answers)."""
    if action == "ReserveNow":  # 1.6's or 2.0.1's shape (stations.payloads)
        reservation = Reservation.objects.create(
            charger=charger, requested_by=user, **payloads.reservation_fields(payload)
        )
        payload = {**payload, payloads.reservation_id_field(payload): reservation.pk}
    command = Command.objects.create(
        charger=charger, action=action, payload=payload, requested_by=user, source=source
    )
    assigned_field = ASSIGNED_IDS_201.get(action)  # 1.6's UpdateFirmware has no requestId: never 0 here
    if assigned_field and payload.get(assigned_field) == 0:
        command.payload = {**payload, assigned_field: command.pk}
        command.save(update_fields=["payload"])
    if new_key is not None:
        PasswordChange.objects.create(
            command=command, password=make_password(new_key, hasher=charger_hasher(new_key))
        )
    return command


async def _deliver(command: Command, socket: tuple[str, str], timeout: float, sealed: dict) -> Outcome | None:
    """Send the command to the socket's consumer; None once the consumer has stored the outcome.

    `socket` is (address of the process holding it, connection id): see stations.gateway.mailbox.
    `sealed`: payload fields withheld from the stored command (stations.security), sealed.
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
            "sealed": sealed,
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
