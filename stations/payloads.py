"""OCPP payloads the CSMS builds (1.6, and 2.0.1 where named): what it sends in commands and in answers.

The one place a domain value (a power limit, a card's authorization, the
cards of the local list) becomes an OCPP wire shape: camelCase keys, times
in UTC with a 'Z', optional fields left out rather than null.
"""

from decimal import ROUND_DOWN, Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from rfid import services as rfid_services
from rfid.services import Authorization
from stations.models import Charger, Command, Transaction
from stations.ocpp_time import parse_timestamp, utc_iso

# The power-limit form writes one profile per connector with this id + connector id,
# so a new limit replaces the previous one and "remove limit" clears exactly it.
LIMIT_PROFILE_ID_BASE = 900
# A running session's limit (a TxProfile) has its own per connector: it ends with the session, and
# leaves the connector's limit for the sessions after it alone.
SESSION_LIMIT_PROFILE_ID_BASE = 800


def id_tag_info(decision: Authorization) -> dict:
    """OCPP IdTagInfo: absent fields are left out, never null; times in UTC with a 'Z'."""
    info = {"status": decision.status}
    if decision.expiry_date:
        info["expiryDate"] = utc_iso(decision.expiry_date)
    if decision.parent_id_tag:
        info["parentIdTag"] = decision.parent_id_tag
    return info


def id_token_info(decision: Authorization) -> dict:
    """OCPP 2.0.1 IdTokenInfoType of the same decision: the 1.6 statuses are all 2.0.1 ones; the card's
    expiry is how long the charger may cache it, its parent idTag the group idToken.

    A prepaid card short of balance is 1.6's Blocked, for want of a better word there; 2.0.1 has the
    honest one, NoCredit, and a charger may tell its driver to top up rather than that the card is blocked.
    """
    info = {"status": "NoCredit" if decision.no_credit else decision.status}
    if decision.expiry_date:
        info["cacheExpiryDateTime"] = utc_iso(decision.expiry_date)
    if decision.parent_id_tag:
        info["groupIdToken"] = {"idToken": decision.parent_id_tag, "type": "Central"}
    return info


def remote_start(*, charger: Charger, connector_id: int, id_tag: str) -> tuple[str, dict]:
    """(action, payload) that starts a session for `id_tag` at a connector, in the charger's protocol.

    For 2.0.1 the connector is the EVSE (docs/ocpp.md) and the token is the CSMS's own (Central);
    stations.commands assigns the remoteStartId.
    """
    if charger.ocpp_version == "2.0.1":
        token = {"idToken": id_tag, "type": "Central"}
        return "RequestStartTransaction", {"evseId": connector_id, "idToken": token}
    return "RemoteStartTransaction", {"connectorId": connector_id, "idTag": id_tag}


def remote_stop(*, session) -> tuple[str, dict]:
    """(action, payload) that stops a session, by the id its charger knows it by."""
    if session.charger_transaction_id:  # a 2.0.1 charger's own transactionId
        return "RequestStopTransaction", {"transactionId": session.charger_transaction_id}
    return "RemoteStopTransaction", {"transactionId": session.pk}


# --- OCPP 2.0.1 shapes of the charger page's operations (stations.forms' 2.0.1 forms) ------------------

# A site's cards are RFID cards, which a 2.0.1 charger reads as ISO 14443 UIDs; it matches a local list
# entry or a reservation by idToken *and* type, so staff's cards are named so. (A QR payment's token is
# the CSMS's own: Central.)
CARD_TOKEN_TYPE = "ISO14443"


def card_token(id_tag: str) -> dict:
    return {"idToken": id_tag, "type": CARD_TOKEN_TYPE}


def _list_version(payload: dict) -> int:
    """A local list's version, as 1.6 (listVersion) or 2.0.1 (versionNumber) names it."""
    return payload.get("listVersion", payload.get("versionNumber", 0))


def local_list_payload_201(*, charger: Charger) -> dict:
    """local_list_payload in 2.0.1's words: each card as an idToken with its idTokenInfo."""
    entries = [
        {"idToken": card_token(id_tag), "idTokenInfo": id_token_info(decision)}
        for id_tag, decision in rfid_services.local_list_decisions()
    ]
    payload = {"versionNumber": next_local_list_version(charger), "updateType": "Full"}
    if entries:  # the schema wants at least one; a Full update without any empties the charger's list
        payload["localAuthorizationList"] = entries
    return payload


def reserve_now_payload_201(*, evse_id: int, id_tag: str, expires_at) -> dict:
    """reserve_now_payload in 2.0.1's words; EVSE 0 (any) is no evseId at all. The `id` is the Reservation's
    own (stations.commands.record); the parent idTag is the group idToken, as id_token_info names it."""
    payload = {"expiryDateTime": utc_iso(expires_at), "idToken": card_token(id_tag)}
    if evse_id:
        payload["evseId"] = evse_id
    parent_id_tag = rfid_services.parent_id_tag_of(id_tag)
    if parent_id_tag:
        payload["groupIdToken"] = {"idToken": parent_id_tag, "type": "Central"}
    return payload


def reservation_id_field(payload: dict) -> str:
    """Where a ReserveNow carries the reservation's id: 2.0.1 (an idToken) calls it `id`."""
    return "id" if "idToken" in payload else "reservationId"


def reservation_fields(payload: dict) -> dict:
    """The Reservation a ReserveNow of either protocol asks for (stations.commands.record)."""
    if "idToken" in payload:  # 2.0.1
        group = payload.get("groupIdToken") or {}
        return {
            "connector_id": payload.get("evseId", 0),
            "id_tag": payload["idToken"]["idToken"],
            "parent_id_tag": group.get("idToken", ""),
            "expires_at": parse_timestamp(payload["expiryDateTime"]),
        }
    return {
        "connector_id": payload["connectorId"],
        "id_tag": payload["idTag"],
        "parent_id_tag": payload.get("parentIdTag", ""),
        "expires_at": parse_timestamp(payload["expiryDate"]),
    }


def charging_profile_201(profile: dict) -> dict:
    """A ChargingProfile built for 1.6 (power_limit_payload, remote_start_profile) in 2.0.1's words: the
    same limit and purpose, so both protocols' limits follow one set of rules. 2.0.1 names the profile
    `id`, the whole charger's maximum ChargingStationMaxProfile, and lists its schedules, each with an id."""
    translated = {**profile, "chargingSchedule": [{"id": 1, **profile["chargingSchedule"]}]}
    translated["id"] = translated.pop("chargingProfileId")
    if translated["chargingProfilePurpose"] == "ChargePointMaxProfile":
        translated["chargingProfilePurpose"] = "ChargingStationMaxProfile"
    return translated


def local_authorization_list() -> list[dict]:
    """SendLocalList `localAuthorizationList` entries: every card, decided as at a charger."""
    return [
        {"idTag": id_tag, "idTagInfo": id_tag_info(decision)}
        for id_tag, decision in rfid_services.local_list_decisions()
    ]


def local_list_payload(*, charger: Charger) -> dict:
    """A full SendLocalList of every card, with the next list version for this charger."""
    return {
        "listVersion": next_local_list_version(charger),
        "updateType": "Full",
        "localAuthorizationList": local_authorization_list(),
    }


def next_local_list_version(charger: Charger) -> int:
    sent = charger.commands.filter(action="SendLocalList").values_list("payload", flat=True)
    reported = charger.commands.filter(action="GetLocalListVersion", status=Command.Status.ACCEPTED)
    versions = [_list_version(p) for p in sent] + [_list_version(c.response) for c in reported]
    # A charger without a local list reports -1 (OCTT TC_042_1): the next list is still version 1.
    return max([0, *versions]) + 1


def reserve_now_payload(*, connector_id: int, id_tag: str, expires_at) -> dict:
    """ReserveNow for a card, with the card's parent idTag when it has one: the charger then lets any
    card of that group use the reservation (OCPP 1.6 §5.13, OCTT TC_053). The reservationId is the
    Reservation's own (stations.commands.record)."""
    payload = {"connectorId": connector_id, "idTag": id_tag, "expiryDate": utc_iso(expires_at)}
    parent_id_tag = rfid_services.parent_id_tag_of(id_tag)
    if parent_id_tag:
        payload["parentIdTag"] = parent_id_tag
    return payload


def power_limit_payload(
    *, connector_id: int, limit: Decimal, unit: str, transaction_id: int | str | None = None
) -> dict:
    """SetChargingProfile limiting a connector (0: the whole charger) to `limit` kW or A from now on; given
    `transaction_id` (1.6: ours; 2.0.1: the charger's own), only that running session on the connector (a
    TxProfile, as OCTT TC_057 sets one).

    Absolute, so its schedule starts at a stated moment (startSchedule: now), as OCTT TC_056 expects of an
    Absolute profile; without it a charger may take the schedule as starting at each session's start.
    """
    if transaction_id is not None:
        purpose, profile_id = "TxProfile", SESSION_LIMIT_PROFILE_ID_BASE + connector_id
    elif connector_id == 0:
        purpose, profile_id = "ChargePointMaxProfile", LIMIT_PROFILE_ID_BASE
    else:
        purpose, profile_id = "TxDefaultProfile", LIMIT_PROFILE_ID_BASE + connector_id
    profile = {
        "chargingProfileId": profile_id,
        "transactionId": transaction_id,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            **limit_schedule(limit=limit, unit=unit),
            "startSchedule": utc_iso(timezone.now()),
        },
    }
    return {"connectorId": connector_id, "csChargingProfiles": _without_nones(profile)}


def _without_nones(fields: dict) -> dict:
    return {name: value for name, value in fields.items() if value is not None}


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
    return {
        "chargingProfileId": LIMIT_PROFILE_ID_BASE - 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": limit_schedule(limit=limit, unit=unit),
    }


def clear_power_limit_payload(*, connector_id: int) -> dict:
    return {"id": LIMIT_PROFILE_ID_BASE + connector_id}


# --- charging profiles checked before they are sent (the page's and the API's alike) ---------------

# Where an action carries a charging profile, per protocol: (its connector/EVSE field, its profile field).
PROFILE_FIELDS = {
    ("1.6", "SetChargingProfile"): ("connectorId", "csChargingProfiles"),
    ("1.6", "RemoteStartTransaction"): ("connectorId", "chargingProfile"),
    ("2.0.1", "SetChargingProfile"): ("evseId", "chargingProfile"),
    ("2.0.1", "RequestStartTransaction"): ("evseId", "chargingProfile"),
}
STATION_MAX_PROFILE = {"1.6": "ChargePointMaxProfile", "2.0.1": "ChargingStationMaxProfile"}


def charging_profile_problems(*, charger: Charger, action: str, payload: dict, ocpp_version: str) -> dict:
    """{field path: what is wrong} of the charging profile a command carries; {} when it may be sent.

    What a charger would refuse, refused before anything is sent and named by field (OCPP 1.6 §3.13 and
    SetChargingProfile, 2.0.1 K01): a TxProfile belongs to a session running on a connector, so not to
    connector 0 and not to a transaction that is not running there; a remote start's profile is a TxProfile
    of the session it starts, which has no id yet; the whole charger's maximum is set on connector 0 only.
    The payload has passed its schema (stations.commands.check).
    """
    if (ocpp_version, action) not in PROFILE_FIELDS:
        return {}
    connector_field, profile_field = PROFILE_FIELDS[ocpp_version, action]
    profile, connector_id = payload.get(profile_field), payload.get(connector_field)
    if profile is None:
        return {}
    if action == "SetChargingProfile":
        problems = _set_profile_problems(charger, connector_id, profile, ocpp_version)
    else:
        problems = _remote_start_profile_problems(profile)
    return {
        (connector_field if name == "connector" else f"{profile_field}.{name}"): problem
        for name, problem in problems.items()
    }


def _set_profile_problems(charger: Charger, connector_id: int, profile: dict, ocpp_version: str) -> dict:
    purpose, transaction_id = profile["chargingProfilePurpose"], profile.get("transactionId")
    if purpose == STATION_MAX_PROFILE[ocpp_version] and connector_id != 0:
        return {
            "connector": _("a %(purpose)s limits the whole charger: it is set on 0") % {"purpose": purpose}
        }
    if purpose != "TxProfile":
        if transaction_id is not None:
            return {"transactionId": _("only a TxProfile names a transaction")}
        return {}
    if connector_id == 0:
        return {"connector": _("a TxProfile limits a session on a connector: 0 has none")}
    if transaction_id is not None and not _runs_on(charger, connector_id, transaction_id, ocpp_version):
        return {
            "transactionId": _("no transaction %(transaction)s is running on connector %(connector)s")
            % {"transaction": transaction_id, "connector": connector_id}
        }
    return {}


def _remote_start_profile_problems(profile: dict) -> dict:
    if profile["chargingProfilePurpose"] != "TxProfile":
        return {"chargingProfilePurpose": _("a remote start's profile is a TxProfile")}
    if profile.get("transactionId") is not None:
        return {"transactionId": _("a remote start's profile names no transaction: it has none yet")}
    return {}


def _runs_on(charger: Charger, connector_id: int, transaction_id, ocpp_version: str) -> bool:
    """Whether the charger's session by that id (1.6: ours; 2.0.1: the charger's own) is open on the connector."""
    if ocpp_version == "2.0.1":
        by_id = {"charger_transaction_id": transaction_id}
    elif 0 < transaction_id < 2**63:  # the schema says integer; the column holds no more
        by_id = {"pk": transaction_id}
    else:
        return False
    sessions = Transaction.objects.filter(charger=charger, connector_id=connector_id, stopped_at__isnull=True)
    return sessions.filter(**by_id).exists()
