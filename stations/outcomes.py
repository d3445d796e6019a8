"""What a command's outcome is, and what an answer changes in our records.

The outcome of every command is stored here, once (`settle`), together with
its side effect: the configuration a charger reported or accepted, the
reservation it took or refused. Plain synchronous functions; commands reach
a charger's socket through stations.commands.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from stations import security, transaction_events
from stations.models import Charger, ChargerConfigurationKey, Command, PasswordChange, Reservation

# Answers whose `status` means the charger took the command on (RebootRequired:
# takes effect after a reboot; Scheduled: after the running transaction; 2.0.1's AcceptedCanceled:
# taken, in place of the firmware update or log upload it was busy with; NoProfiles: a GetChargingProfiles
# answered, with nothing to report).
ACCEPTING_ANSWERS = {"Accepted", "RebootRequired", "Unlocked", "Scheduled", "AcceptedCanceled", "NoProfiles"}


@dataclass(frozen=True)
class Outcome:
    status: str
    response: dict | None = None
    error_code: str = ""
    error_description: str = ""
    sent_at: datetime | None = None

    @classmethod
    def answered(cls, response: dict, sent_at=None) -> "Outcome":
        return cls(status_of_answer(response), response=response, sent_at=sent_at)

    @classmethod
    def call_error(cls, code: str, description: str, details, sent_at=None) -> "Outcome":
        return cls(
            Command.Status.ERROR,
            response={"errorDetails": details} if details else None,
            error_code=code,
            error_description=description,
            sent_at=sent_at,
        )

    @classmethod
    def timed_out(cls, seconds: float, sent_at=None) -> "Outcome":
        # Stored in the language of the person waiting (the default one in a socket's process).
        reason = _("no answer within %(seconds)s s") % {"seconds": f"{seconds:g}"}
        return cls(Command.Status.TIMEOUT, error_description=reason, sent_at=sent_at)

    @classmethod
    def offline(cls, reason: str, sent_at=None) -> "Outcome":
        return cls(Command.Status.OFFLINE, error_description=reason, sent_at=sent_at)


# A command's status as staff read it; Command.Status keeps the stored values.
STATUS_LABELS = {
    Command.Status.PENDING: pgettext_lazy("command status", "pending"),
    Command.Status.ACCEPTED: pgettext_lazy("command status", "accepted"),
    Command.Status.REJECTED: pgettext_lazy("command status", "rejected"),
    Command.Status.ERROR: "CALLERROR",
    Command.Status.TIMEOUT: pgettext_lazy("command status", "timed out"),
    Command.Status.OFFLINE: pgettext_lazy("command status", "charger offline"),
}
REBOOT_REQUIRED = gettext_lazy("accepted — reboot required")


def describe(command: Command) -> str:
    """What came back, in a line staff read in their language: "accepted — reboot required"."""
    label = str(STATUS_LABELS.get(command.status, command.status))
    if command.status == Command.Status.ERROR:
        return f"CALLERROR {command.error_code}: {command.error_description}".rstrip(": ")
    if command.status in (Command.Status.TIMEOUT, Command.Status.OFFLINE):
        return f"{label}: {command.error_description}" if command.error_description else label
    if command.reboot_required:
        return str(REBOOT_REQUIRED)
    answer = command.answer_status
    if answer and answer.lower() != command.status:
        return _("%(status)s (%(answer)s)") % {"status": label, "answer": answer}
    return label


def status_of_answer(response: dict) -> str:
    """accepted/rejected from the answer's `status`; 2.0.1's SetVariables answers per variable: rejected
    when it took none. Other answers without a status (GetConfiguration…) are accepted."""
    status = response.get("status") if isinstance(response, dict) else None
    if status is None and isinstance(response, dict) and response.get("setVariableResult"):
        taken = [r for r in response["setVariableResult"] if r["attributeStatus"] in ACCEPTING_ANSWERS]
        return Command.Status.ACCEPTED if taken else Command.Status.REJECTED
    if status is None or status in ACCEPTING_ANSWERS:
        return Command.Status.ACCEPTED
    return Command.Status.REJECTED


@transaction.atomic
def settle(*, command: Command, outcome: Outcome) -> bool:
    """Store the outcome of a pending command and apply what it changes; False if it was already closed.

    One transaction: a command is never recorded as accepted without its effect
    (the configuration kept, the reservation made active).
    """
    fields = {
        "response": outcome.response,
        "error_code": outcome.error_code,
        "error_description": outcome.error_description,
    }
    if outcome.sent_at:
        fields["sent_at"] = outcome.sent_at
    if not command.finish(status=outcome.status, **fields):
        return False
    AFTER_OUTCOME.get(command.action, lambda command: None)(command)
    return True


def _after_get_configuration(command: Command) -> None:
    if command.status == Command.Status.ACCEPTED:
        store_configuration(
            charger=command.charger, response=command.response, complete=not command.payload.get("key")
        )


def _after_change_configuration(command: Command) -> None:
    if security.is_password_change(command.action, command.payload):
        return _after_password_change(command)
    if command.status == Command.Status.ACCEPTED:
        ChargerConfigurationKey.objects.update_or_create(
            charger=command.charger, key=command.payload["key"], defaults={"value": command.payload["value"]}
        )
        if security.is_security_profile_change(command.action, command.payload):
            security.raise_security_profile(charger_id=command.charger_id, value=command.payload["value"])


def _after_password_change(command: Command) -> None:
    """The new key is the charger's password once it accepted it (RebootRequired too: it has the key; in
    2.0.1 the password variable's attributeStatus, `status_of_answer`); otherwise the old one stays. The
    key is write-only in OCPP: never kept as a configuration value nor in the device model."""
    change = PasswordChange.objects.filter(command=command).select_related("command").first()
    if change is None:
        return
    if command.status == Command.Status.ACCEPTED:
        change.apply()
    else:
        change.delete()


def _after_reserve_now(command: Command) -> None:
    # 2.0.1 names the reservation's id `id` (stations.payloads.reservation_id_field).
    reservation = Reservation.objects.get(pk=command.payload.get("reservationId", command.payload.get("id")))
    if command.status == Command.Status.ACCEPTED:
        reservation.move(to=Reservation.Status.ACTIVE, allowed_from=[Reservation.Status.REQUESTED])
    else:
        reservation.move(to=Reservation.Status.FAILED, allowed_from=[Reservation.Status.REQUESTED])


def _after_cancel_reservation(command: Command) -> None:
    reservation = Reservation.objects.filter(
        pk=command.payload["reservationId"], charger=command.charger
    ).first()
    if reservation and command.status == Command.Status.ACCEPTED:
        reservation.move(to=Reservation.Status.CANCELLED, allowed_from=Reservation.OPEN)


def _after_get_variables(command: Command) -> None:
    """OCPP 2.0.1: the values the charger read out, into its device model."""
    if command.status == Command.Status.ACCEPTED:
        results = command.response.get("getVariableResult") or []
        read = [r for r in results if r["attributeStatus"] == "Accepted" and "attributeValue" in r]
        transaction_events.record_variable_values(charger=command.charger, results=read)


def _after_set_variables(command: Command) -> None:
    """OCPP 2.0.1: the values the charger took (now, or after a reboot), into its device model; the
    charger's password (alone in its request) becomes its password, and is kept nowhere."""
    if security.is_password_change(command.action, command.payload):
        return _after_password_change(command)
    if command.status != Command.Status.ACCEPTED:
        return
    taken = {
        _variable_key(result)
        for result in command.response.get("setVariableResult") or []
        if result["attributeStatus"] in ACCEPTING_ANSWERS
    }
    sent = [data for data in command.payload["setVariableData"] if _variable_key(data) in taken]
    transaction_events.record_variable_values(charger=command.charger, results=sent)


def _variable_key(entry: dict) -> str:
    """One attribute of a SetVariables request or answer, comparable across the two."""
    return repr((entry["component"], entry["variable"], entry.get("attributeType", "Actual")))


AFTER_OUTCOME = {
    "GetVariables": _after_get_variables,
    "SetVariables": _after_set_variables,
    "GetConfiguration": _after_get_configuration,
    "ChangeConfiguration": _after_change_configuration,
    "ReserveNow": _after_reserve_now,
    "CancelReservation": _after_cancel_reservation,
}


@transaction.atomic
def store_configuration(*, charger: Charger, response: dict, complete: bool) -> None:
    """Keep a GetConfiguration answer; a complete listing (no keys asked) replaces what we knew."""
    entries = response.get("configurationKey") or []
    for entry in entries:
        ChargerConfigurationKey.objects.update_or_create(
            charger=charger,
            key=entry["key"],
            defaults={"value": entry.get("value", ""), "readonly": entry.get("readonly", False)},
        )
    if complete:
        charger.configuration.exclude(key__in=[entry["key"] for entry in entries]).delete()


def unknown_configuration_keys(charger: Charger) -> list[str]:
    """Keys the charger said it does not know, in its latest GetConfiguration answer."""
    latest = charger.commands.filter(action="GetConfiguration", status=Command.Status.ACCEPTED).first()
    return (latest.response or {}).get("unknownKey", []) if latest else []
