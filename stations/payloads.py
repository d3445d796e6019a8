"""OCPP payloads the CSMS builds (1.6, and 2.0.1 where named): what it sends in commands and in answers.

The one place a domain value (a power limit, a card's authorization, the
cards of the local list) becomes an OCPP wire shape: camelCase keys, times
in UTC with a 'Z', optional fields left out rather than null.
"""

from decimal import ROUND_DOWN, Decimal

from rfid import services as rfid_services
from rfid.services import Authorization
from stations.models import Charger, Command
from stations.ocpp_time import utc_iso

# The power-limit form writes one profile per connector with this id + connector id,
# so a new limit replaces the previous one and "remove limit" clears exactly it.
LIMIT_PROFILE_ID_BASE = 900


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
    expiry is how long the charger may cache it, its parent idTag the group idToken."""
    info = {"status": decision.status}
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
    versions = [p.get("listVersion", 0) for p in sent] + [c.response.get("listVersion", 0) for c in reported]
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


def power_limit_payload(*, connector_id: int, limit: Decimal, unit: str) -> dict:
    """SetChargingProfile limiting a connector (0: the whole charger) to `limit` kW or A."""
    purpose = "ChargePointMaxProfile" if connector_id == 0 else "TxDefaultProfile"
    return {
        "connectorId": connector_id,
        "csChargingProfiles": {
            "chargingProfileId": LIMIT_PROFILE_ID_BASE + connector_id,
            "stackLevel": 0,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": limit_schedule(limit=limit, unit=unit),
        },
    }


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
