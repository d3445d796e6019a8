"""What commands to chargers do to our records: payloads we build, outcomes we store,
and what an answer changes (configuration, reservations). Plain synchronous functions;
the routing of commands to a charger's socket is in stations.commands.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from django.db import transaction
from django.utils import timezone

from stations.models import Charger, ChargerConfigurationKey, Command, Reservation
from stations.ocpp_time import parse_timestamp

# Answers whose `status` means the charger took the command on (RebootRequired:
# takes effect after a reboot; Scheduled: after the running transaction).
ACCEPTING_ANSWERS = {"Accepted", "RebootRequired", "Unlocked", "Scheduled"}

# The power-limit form writes one profile per connector with this id + connector id,
# so a new limit replaces the previous one and "remove limit" clears exactly it.
LIMIT_PROFILE_ID_BASE = 900


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
        return cls(Command.Status.ERROR, response={"errorDetails": details} if details else None,
                   error_code=code, error_description=description, sent_at=sent_at)

    @classmethod
    def timed_out(cls, seconds: float, sent_at=None) -> "Outcome":
        return cls(Command.Status.TIMEOUT, error_description=f"no answer within {seconds:g} s", sent_at=sent_at)

    @classmethod
    def offline(cls, reason: str, sent_at=None) -> "Outcome":
        return cls(Command.Status.OFFLINE, error_description=reason, sent_at=sent_at)


def status_of_answer(response: dict) -> str:
    """accepted/rejected from the answer's `status`; answers without one (GetConfiguration…) are accepted."""
    status = response.get("status") if isinstance(response, dict) else None
    if status is None or status in ACCEPTING_ANSWERS:
        return Command.Status.ACCEPTED
    return Command.Status.REJECTED


def complete_payload(action: str, payload: dict) -> dict:
    """Fill in what the CSMS assigns itself, so the payload can be checked against the schema."""
    if action == "ReserveNow":
        return {**payload, "reservationId": 0}  # replaced by the Reservation's pk in create_command
    return payload


@transaction.atomic
def create_command(*, charger: Charger, action: str, payload: dict, user=None, source: str) -> Command:
    if action == "ReserveNow":
        reservation = _create_reservation(charger, payload, user)
        payload = {**payload, "reservationId": reservation.pk}
    return Command.objects.create(
        charger=charger, action=action, payload=payload, requested_by=user, source=source
    )


def _create_reservation(charger: Charger, payload: dict, user) -> Reservation:
    return Reservation.objects.create(
        charger=charger, connector_id=payload["connectorId"], id_tag=payload["idTag"],
        parent_id_tag=payload.get("parentIdTag", ""), expires_at=parse_timestamp(payload["expiryDate"]),
        requested_by=user,
    )


@transaction.atomic
@transaction.atomic
def settle(*, command: Command, outcome: Outcome) -> bool:
    """Store the outcome of a pending command and apply what it changes; False if it was already closed.

    One transaction: a command is never recorded as accepted without its effect
    (the configuration kept, the reservation made active).
    """
    fields = {"response": outcome.response, "error_code": outcome.error_code,
              "error_description": outcome.error_description}
    if outcome.sent_at:
        fields["sent_at"] = outcome.sent_at
    if not command.finish(status=outcome.status, **fields):
        return False
    AFTER_OUTCOME.get(command.action, lambda command: None)(command)
    return True


def _after_get_configuration(command: Command) -> None:
    if command.status == Command.Status.ACCEPTED:
        store_configuration(charger=command.charger, response=command.response,
                            complete=not command.payload.get("key"))


def _after_change_configuration(command: Command) -> None:
    if command.status == Command.Status.ACCEPTED:
        ChargerConfigurationKey.objects.update_or_create(
            charger=command.charger, key=command.payload["key"], defaults={"value": command.payload["value"]}
        )


def _after_reserve_now(command: Command) -> None:
    reservation = Reservation.objects.get(pk=command.payload["reservationId"])
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


AFTER_OUTCOME = {
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
            charger=charger, key=entry["key"],
            defaults={"value": entry.get("value", ""), "readonly": entry.get("readonly", False)},
        )
    if complete:
        charger.configuration.exclude(key__in=[entry["key"] for entry in entries]).delete()


def unknown_configuration_keys(charger: Charger) -> list[str]:
    """Keys the charger said it does not know, in its latest GetConfiguration answer."""
    latest = charger.commands.filter(action="GetConfiguration", status=Command.Status.ACCEPTED).first()
    return (latest.response or {}).get("unknownKey", []) if latest else []


def power_limit_payload(*, connector_id: int, limit: Decimal, unit: str) -> dict:
    """SetChargingProfile limiting a connector (0: the whole charger) to `limit` kW or A."""
    purpose = "ChargePointMaxProfile" if connector_id == 0 else "TxDefaultProfile"
    return {"connectorId": connector_id, "csChargingProfiles": {
        "chargingProfileId": LIMIT_PROFILE_ID_BASE + connector_id, "stackLevel": 0,
        "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute",
        "chargingSchedule": limit_schedule(limit=limit, unit=unit),
    }}


def limit_schedule(*, limit: Decimal, unit: str) -> dict:
    """A ChargingSchedule of one period at `limit` kW or A, from now on.

    kW are sent in W. The 1.6 schema allows one decimal (multipleOf 0.1); the
    limit is rounded down so the charger never gets more than was asked.
    """
    rate_unit, value = ("W", Decimal(limit) * 1000) if unit == "kW" else ("A", Decimal(limit))
    value = value.quantize(Decimal("0.1"), rounding=ROUND_DOWN)
    number = int(value) if value == value.to_integral_value() else float(value)
    return {"chargingRateUnit": rate_unit, "chargingSchedulePeriod": [{"startPeriod": 0, "limit": number}]}


def remote_start_profile(*, limit: Decimal, unit: str) -> dict:
    """The optional chargingProfile of a RemoteStartTransaction: a TxProfile, as 1.6 requires there."""
    return {"chargingProfileId": LIMIT_PROFILE_ID_BASE - 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative", "chargingSchedule": limit_schedule(limit=limit, unit=unit)}


def clear_power_limit_payload(*, connector_id: int) -> dict:
    return {"id": LIMIT_PROFILE_ID_BASE + connector_id}


def local_list_payload(*, charger: Charger) -> dict:
    """A full SendLocalList of every card, with the next list version for this charger."""
    from rfid import services as rfid_services

    # rfid.services.local_authorization_list is owned by the rfid app; without it the list is empty.
    build = getattr(rfid_services, "local_authorization_list", list)
    return {"listVersion": next_local_list_version(charger), "updateType": "Full",
            "localAuthorizationList": build()}


def next_local_list_version(charger: Charger) -> int:
    sent = charger.commands.filter(action="SendLocalList").values_list("payload", flat=True)
    reported = charger.commands.filter(action="GetLocalListVersion", status=Command.Status.ACCEPTED)
    versions = [p.get("listVersion", 0) for p in sent] + [c.response.get("listVersion", 0) for c in reported]
    return max(versions, default=0) + 1


def expire_reservations(*, now: datetime | None = None) -> int:
    """Mark open reservations past their expiry as expired; returns how many."""
    return Reservation.objects.filter(
        status__in=Reservation.OPEN, expires_at__lte=now or timezone.now()
    ).update(status=Reservation.Status.EXPIRED, updated_at=timezone.now())


def use_reservation(*, charger: Charger, reservation_id: int) -> bool:
    """A StartTransaction named this reservation; only an active one of this charger becomes used."""
    return bool(Reservation.objects.filter(
        pk=reservation_id, charger=charger, status=Reservation.Status.ACTIVE
    ).update(status=Reservation.Status.USED, updated_at=timezone.now()))
