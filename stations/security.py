"""The OCPP 1.6 Security Whitepaper (edition 3), central-system side; the CA is stations.certificates.

- A charger's new HTTP Basic password goes out as ChangeConfiguration `AuthorizationKey` (1.6), or as
  SetVariables of `SecurityCtrlr.BasicAuthPassword` (2.0.1). The key is never stored nor logged: the
  command keeps REDACTED in its place, a PasswordChange keeps its hash until the charger answers, and
  the key itself crosses to the process holding the socket sealed with the site's SECRET_KEY (the
  channel layer may be a Redis that writes snapshots to disk).
- Security events the whitepaper calls critical are raised on the dashboard for ALERT_HOURS.
- GetLog and SignedUpdateFirmware are followed by their requestId: each Log/SignedFirmwareStatusNotification
  is the request's latest progress, and the charger's latest diagnostics / firmware status.
"""

import base64
import hashlib
import logging
from datetime import timedelta

from cryptography.fernet import Fernet
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from stations.hashers import KEY_LENGTHS
from stations.models import Charger, ChargerEvent, Command

logger = logging.getLogger(__name__)

AUTHORIZATION_KEY = "AuthorizationKey"
REDACTED = "********"

# The whitepaper's list of security events, those marked critical: a charger sends these at once.
CRITICAL_SECURITY_EVENTS = frozenset(
    {
        "FirmwareUpdated",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "TamperDetectionActivated",
    }
)
ALERT_HOURS = 24  # how long the dashboard shows a critical event, counted from its arrival

# The requests a charger reports on later, by the notification that reports, and which status it moves.
FOLLOWED_REQUESTS = {
    "LogStatusNotification": ("GetLog", "diagnostics"),
    "SignedFirmwareStatusNotification": ("SignedUpdateFirmware", "firmware"),
}


# --- the charger's password (1.6 AuthorizationKey, 2.0.1 SecurityCtrlr.BasicAuthPassword) ----------------

# OCPP 2.0.1's device model variable of the charger's password, spelled as the spec names it.
PASSWORD_VARIABLE = ("SecurityCtrlr", "BasicAuthPassword")


def is_password_change(action: str, payload: dict) -> bool:
    """The command carries a charger's new key: never stored nor logged in clear."""
    return key_field(action, payload) is not None


def key_field(action: str, payload: dict) -> str | None:
    """Where the command carries the key, as a payload path ("value", "setVariableData.0.attributeValue").

    1.6's configuration keys are case-insensitive (CiString50). 2.0.1's names are case-sensitive, but an
    entry naming the password variable in any case is taken for one here, so that its value is never
    kept in clear; `password_request_problems` then refuses what the spec's names do not spell.
    """
    if not isinstance(payload, dict):
        return None
    key = payload.get("key")
    if action == "ChangeConfiguration" and isinstance(key, str) and key.lower() == AUTHORIZATION_KEY.lower():
        return "value"
    entries = payload.get("setVariableData")
    if action == "SetVariables" and isinstance(entries, list):
        found = next((i for i, entry in enumerate(entries) if _names_password(entry)), None)
        return None if found is None else f"setVariableData.{found}.attributeValue"
    return None


def names_password_variable(component: str, variable: str) -> bool:
    """Component.Variable is 2.0.1's password variable, in any case (what staff type, stations.forms)."""
    return (component.lower(), variable.lower()) == tuple(name.lower() for name in PASSWORD_VARIABLE)


def _names_password(entry) -> bool:
    names = [_name_of(entry, part) for part in ("component", "variable")]
    return all(isinstance(name, str) for name in names) and names_password_variable(*names)


def _name_of(entry, part: str):
    named = entry.get(part) if isinstance(entry, dict) else None
    return named.get("name") if isinstance(named, dict) else None


def password_request_problems(action: str, payload: dict) -> dict[str, str]:
    """What keeps a 2.0.1 password change from being sent, by payload path: the password goes alone (its
    answer is the change's outcome), named as the spec names it (a charger knows no other spelling)."""
    if action != "SetVariables":
        return {}
    entries = payload["setVariableData"]
    if len(entries) != 1:
        return {"setVariableData": _("the charger's password is set alone, in a SetVariables of its own")}
    if (_name_of(entries[0], "component"), _name_of(entries[0], "variable")) != PASSWORD_VARIABLE:
        return {
            "setVariableData.0": _("OCPP 2.0.1 names the charger's password %(name)s, in this case")
            % {"name": ".".join(PASSWORD_VARIABLE)}
        }
    return {}


def new_key_of(action: str, payload: dict):
    """The key a password change carries (the value at `key_field`); None when it carries none."""
    try:
        return _at(payload, key_field(action, payload))
    except (KeyError, IndexError, TypeError):
        return None


def key_problem(key) -> str | None:
    """What is wrong with a new charger key, in words for people; None when it will do."""
    shortest, longest = KEY_LENGTHS
    if not isinstance(key, str) or not shortest <= len(key) <= longest:
        return _("a charger's key has %(shortest)d to %(longest)d characters") % {
            "shortest": shortest,
            "longest": longest,
        }
    if not (key.isascii() and key.isprintable()):
        return _("a charger's key has letters, digits and punctuation only (ASCII, no control characters)")
    return None


def withhold_key(action: str, payload: dict) -> tuple[dict, dict]:
    """(the payload to store and log, the fields withheld from it, sealed, by payload path) of a command."""
    field = key_field(action, payload)
    if field is None:
        return payload, {}
    return _replaced(payload, field, REDACTED), {field: seal(_at(payload, field))}


def restore_key(payload: dict, sealed: dict) -> dict:
    """The payload as the charger must get it: the withheld fields unsealed into it."""
    for field, value in sealed.items():
        payload = _replaced(payload, field, unseal(value))
    return payload


def _steps(field: str) -> list:
    return [int(step) if step.isdigit() else step for step in field.split(".")]


def _at(payload, field: str):
    for step in _steps(field):
        payload = payload[step]
    return payload


def _replaced(payload, field: str, value):
    """A copy of `payload` with `value` at the path `field`; the original (maybe stored) is left as it is."""
    step, *rest = _steps(field)
    copy = list(payload) if isinstance(payload, list) else dict(payload)
    copy[step] = _replaced(payload[step], ".".join(map(str, rest)), value) if rest else value
    return copy


def _fernet() -> Fernet:
    # Every process of a site has the same SECRET_KEY (sessions depend on it too).
    digest = hashlib.sha256(f"stations.security.seal:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode()


def unseal(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


# --- the charger's security profile (ChangeConfiguration SecurityProfile, OCTT TC_083) ----------------

SECURITY_PROFILE = "SecurityProfile"


def is_security_profile_change(action: str, payload: dict) -> bool:
    key = payload.get("key") if isinstance(payload, dict) else None
    return (
        action == "ChangeConfiguration" and isinstance(key, str) and key.lower() == SECURITY_PROFILE.lower()
    )


def security_profile_problem(charger: Charger, value) -> str | None:
    """What is wrong with sending this SecurityProfile to the charger; None when it will do.

    Upwards only: the whitepaper lets a charger move to a higher profile, never back (it must reject a
    downgrade, OCTT TC_084), and the profiles this server admits are 1 to 3 (Charger.SecurityProfile).
    """
    profiles = [str(profile) for profile in Charger.SecurityProfile.values]
    if value not in profiles:
        return _("a security profile is one of %(profiles)s") % {"profiles": ", ".join(profiles)}
    current = Charger.objects.values_list("security_profile", flat=True).get(pk=charger.pk)
    if int(value) < current:
        return _("the charger is on security profile %(current)s: a profile is only ever raised") % {
            "current": current
        }
    return None


def raise_security_profile(*, charger_id: int, value: str) -> None:
    """The charger accepted a higher SecurityProfile: from its next connection it is admitted by that one
    only, and a connection the old way is refused (OCTT TC_083). Never lowered: the UPDATE is conditional
    on the stored profile being lower, so an admin's change meanwhile, or a late answer, lowers nothing."""
    Charger.objects.filter(pk=charger_id, security_profile__lt=int(value)).update(security_profile=int(value))


# --- security events ------------------------------------------------------------------------------


def is_critical(event_type: str) -> bool:
    return event_type in CRITICAL_SECURITY_EVENTS


def raised_security_events():
    """Critical security events of the last ALERT_HOURS, newest first (the dashboard's alerts)."""
    since = timezone.now() - timedelta(hours=ALERT_HOURS)
    return ChargerEvent.objects.filter(
        kind=ChargerEvent.Kind.SECURITY, name__in=CRITICAL_SECURITY_EVENTS, received_at__gte=since
    )


def security_events_of(charger: Charger, limit: int = 50) -> list[ChargerEvent]:
    """The charger's security events, newest first, each marked `critical` for the page."""
    events = list(charger.reported_events.filter(kind=ChargerEvent.Kind.SECURITY)[:limit])
    for event in events:
        event.critical = is_critical(event.name)
    return events


# --- requests followed by requestId ---------------------------------------------------------------


@transaction.atomic
def record_request_progress(*, charger: Charger, notification: str, status: str, request_id=None) -> None:
    """A Log- or SignedFirmwareStatusNotification: the charger's latest status, and its request's progress.

    The request is the latest of this charger's commands that sent this requestId (the CSMS assigns the
    command's own id when none is given); a notification without one (Idle, after a trigger) names none.
    """
    action, status_kind = FOLLOWED_REQUESTS[notification]
    now = timezone.now()
    Charger.objects.filter(pk=charger.pk).update(
        **{f"{status_kind}_status": status, f"{status_kind}_status_at": now}
    )
    if request_id is None:
        return
    Command.objects.filter(pk=_request(charger, action, request_id)).update(progress=status, progress_at=now)


def _request(charger: Charger, action: str, request_id: int) -> int | None:
    """The pk of the latest of the charger's `action` commands that sent this requestId."""
    requests = Command.objects.filter(charger_id=charger.pk, action=action, payload__requestId=request_id)
    return requests.order_by("-created_at", "-pk").values_list("pk", flat=True).first()


@transaction.atomic
def record_reported_profiles(*, charger: Charger, request_id: int, report: dict) -> bool:
    """A 2.0.1 ReportChargingProfiles (camelCase): kept as the outcome of the GetChargingProfiles that sent
    its requestId, after the reports that came before it (`Command.reported`); shown with the command's
    answer. A report no request of this charger asked for is dropped (False)."""
    request = _request(charger, "GetChargingProfiles", request_id)
    if request is None:
        logger.warning("charger %s reported charging profiles for unknown request %s", charger, request_id)
        return False
    locked = Command.objects.select_for_update().filter(pk=request)  # two sockets of a reconnect: in turn
    reported = locked.values_list("reported", flat=True).get()
    locked.update(reported=[*(reported or []), report])
    return True


def followed_requests(charger: Charger, limit: int = 20):
    """The charger's GetLog and SignedUpdateFirmware requests, newest first, with their progress."""
    actions = [action for action, _kind in FOLLOWED_REQUESTS.values()]
    return charger.commands.filter(action__in=actions).select_related("requested_by")[:limit]
