"""The OCPP 1.6 Security Whitepaper (edition 3), central-system side; the CA is stations.certificates.

- A charger's new HTTP Basic password goes out as ChangeConfiguration `AuthorizationKey`. The key is
  never stored nor logged: the command keeps REDACTED in its place, a PasswordChange keeps its hash
  until the charger answers, and the key itself crosses to the process holding the socket sealed
  with the site's SECRET_KEY (the channel layer may be a Redis that writes snapshots to disk).
- Security events the whitepaper calls critical are raised on the dashboard for ALERT_HOURS.
- GetLog and SignedUpdateFirmware are followed by their requestId: each Log/SignedFirmwareStatusNotification
  is the request's latest progress, and the charger's latest diagnostics / firmware status.
"""

import base64
import hashlib
from datetime import timedelta

from cryptography.fernet import Fernet
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from stations.models import Charger, ChargerEvent, Command

AUTHORIZATION_KEY = "AuthorizationKey"
# OCPP 2.0.1 BasicAuthPassword, which the 1.6 whitepaper's AuthorizationKey (at least 16) became: 16 to 40.
KEY_LENGTHS = (16, 40)
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


# --- the charger's password (AuthorizationKey) ----------------------------------------------------


def is_password_change(action: str, payload: dict) -> bool:
    """Configuration keys are case-insensitive in OCPP 1.6 (CiString50)."""
    key = payload.get("key") if isinstance(payload, dict) else None
    return (
        action == "ChangeConfiguration" and isinstance(key, str) and key.lower() == AUTHORIZATION_KEY.lower()
    )


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
    """(the payload to store and log, the fields withheld from it, sealed) of a command."""
    if not is_password_change(action, payload):
        return payload, {}
    return {**payload, "value": REDACTED}, {"value": seal(payload["value"])}


def restore_key(payload: dict, sealed: dict) -> dict:
    """The payload as the charger must get it: the withheld fields unsealed into it."""
    return {**payload, **{name: unseal(value) for name, value in sealed.items()}}


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
    requests = Command.objects.filter(charger_id=charger.pk, action=action, payload__requestId=request_id)
    request = requests.order_by("-created_at", "-pk").values_list("pk", flat=True).first()
    Command.objects.filter(pk=request).update(progress=status, progress_at=now)


def followed_requests(charger: Charger, limit: int = 20):
    """The charger's GetLog and SignedUpdateFirmware requests, newest first, with their progress."""
    actions = [action for action, _kind in FOLLOWED_REQUESTS.values()]
    return charger.commands.filter(action__in=actions).select_related("requested_by")[:limit]
