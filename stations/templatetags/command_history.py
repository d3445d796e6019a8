"""A command's payload and the charger's answer as staff read them: label: value lines, not Python dicts.

The raw JSON stays available beside them (`as_json`); these lines are a reading aid, capped so that a
GetConfiguration answer or a local list of every card does not fill the page.
"""

import json

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from stations import outcomes

register = template.Library()

MAX_LINES = 12
NESTED = " › "  # between the names of a nested field: "Charging profile › chargingSchedule"

# The OCPP fields staff meet in the history, named in their language; others show as sent.
FIELD_LABELS = {
    "connectorId": gettext_lazy("Connector"),
    "idTag": pgettext_lazy("RFID card number", "idTag"),
    "parentIdTag": gettext_lazy("Parent idTag"),
    "transactionId": gettext_lazy("Transaction"),
    "reservationId": gettext_lazy("Reservation id"),
    # A 2.0.1 ReportChargingProfiles: who set the limits it reports, and whether more reports follow.
    "chargingLimitSource": gettext_lazy("Limit set by"),
    "tbc": gettext_lazy("More reports follow"),
    "expiryDate": gettext_lazy("Expires"),
    "status": gettext_lazy("Status"),
    "type": pgettext_lazy("kind of reset or availability", "Type"),
    "key": gettext_lazy("Key"),
    "value": gettext_lazy("Value"),
    "readonly": gettext_lazy("Read-only"),
    "configurationKey": gettext_lazy("Configuration"),
    "unknownKey": gettext_lazy("Unknown keys"),
    "requestedMessage": gettext_lazy("Message"),
    "location": gettext_lazy("Location"),
    "retrieveDate": gettext_lazy("Retrieve at"),
    "retries": gettext_lazy("Retries"),
    "retryInterval": gettext_lazy("Retry interval"),
    "startTime": gettext_lazy("From"),
    "stopTime": gettext_lazy("To"),
    "fileName": gettext_lazy("File name"),
    "listVersion": gettext_lazy("List version"),
    "updateType": gettext_lazy("Update type"),
    "localAuthorizationList": gettext_lazy("Cards"),
    "idTagInfo": gettext_lazy("Card status"),
    "duration": gettext_lazy("Duration"),
    "scheduleStart": gettext_lazy("Schedule start"),
    "chargingSchedule": gettext_lazy("Charging schedule"),
    "chargingRateUnit": gettext_lazy("Unit"),
    "chargingProfile": gettext_lazy("Charging profile"),
    "csChargingProfiles": gettext_lazy("Charging profile"),
    "vendorId": pgettext_lazy("OCPP field", "vendorId"),
    "messageId": pgettext_lazy("OCPP field", "messageId"),
    "data": gettext_lazy("Data"),
    "errorDetails": gettext_lazy("Error details"),
    # the security whitepaper's
    "certificateType": gettext_lazy("Certificate type"),
    "certificateChain": gettext_lazy("Certificate chain"),
    "certificateHashData": gettext_lazy("Certificate"),
    "requestId": gettext_lazy("Request"),
    "logType": gettext_lazy("Log"),
    "remoteLocation": gettext_lazy("Location"),
    "filename": gettext_lazy("File name"),
    # OCPP 2.0.1's words for the same things (an EVSE is a connector on these pages)
    "evseId": gettext_lazy("Connector"),
    "evse": gettext_lazy("Connector"),
    "idToken": pgettext_lazy("RFID card number", "idTag"),
    "groupIdToken": gettext_lazy("Parent idTag"),
    "idTokenInfo": gettext_lazy("Card status"),
    "expiryDateTime": gettext_lazy("Expires"),
    "operationalStatus": pgettext_lazy("kind of reset or availability", "Type"),
    "versionNumber": gettext_lazy("List version"),
    "remoteStartId": gettext_lazy("Remote start"),
    "firmware": gettext_lazy("Firmware"),
    "retrieveDateTime": gettext_lazy("Retrieve at"),
    "installDateTime": gettext_lazy("Install at"),
    "getVariableData": gettext_lazy("Variables"),
    "setVariableData": gettext_lazy("Variables"),
    "getVariableResult": gettext_lazy("Variables"),
    "setVariableResult": gettext_lazy("Variables"),
    "component": gettext_lazy("Component"),
    "variable": gettext_lazy("Variable"),
    "attributeValue": gettext_lazy("Value"),
    "attributeStatus": gettext_lazy("Status"),
    "reportBase": gettext_lazy("Report"),
}


SOURCE_LABELS = {
    "api": gettext_lazy("REST API"),
    "web": gettext_lazy("charger page"),
    "admin": gettext_lazy("admin action"),
    "csms": gettext_lazy("the CSMS itself"),
}


@register.filter
def outcome(command) -> str:
    """What came back, in the reader's language (stations.outcomes.describe)."""
    return outcomes.describe(command)


@register.filter
def command_source(command) -> str:
    return str(SOURCE_LABELS.get(command.source, command.get_source_display()))


@register.filter
def readable(value) -> list[tuple[str, str]]:
    """(label, value) lines of a JSON payload: nested objects flattened, lists of objects one line each."""
    if value in (None, "", {}, []):
        return []
    lines = list(_lines("", value))
    if len(lines) > MAX_LINES:
        hidden = len(lines) - (MAX_LINES - 1)
        more = _("%(count)d more lines: see the JSON") % {"count": hidden}
        lines = [*lines[: MAX_LINES - 1], ("…", more)]
    return lines


@register.filter
def as_json(value) -> str:
    """The payload as sent or received, indented."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def _lines(prefix: str, value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _lines(_joined(prefix, _label(key)), item)
    elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
        for item in value:
            yield prefix, _inline(item)
    else:
        yield prefix or _("Value"), _text(value)


def _joined(prefix: str, label: str) -> str:
    return f"{prefix}{NESTED}{label}" if prefix else label


def _inline(value) -> str:
    """An object inside a list, on one line: "Key: HeartbeatInterval, Read-only: no, Value: 300"; objects
    nested deeper (a 2.0.1 charging profile's schedule and its periods) in brackets, never as Python."""
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return "; ".join(f"[{_inline(item)}]" for item in value)
    if not isinstance(value, dict):
        return _text(value)
    return ", ".join(f"{_label(key)}: {_inline(item)}" for key, item in value.items())


def _label(key) -> str:
    return str(FIELD_LABELS.get(key, key))


def _text(value) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    if value is None:
        return "—"
    return str(value)
