"""OCPP 2.0.1 charger→CSMS actions: payload in, the same services as 1.6, payload out. Nothing else.

stations.gateway.dispatch has already checked each payload against the official 2.0.1 schema and
turned its keys (nested ones too) into snake_case when a handler here runs. How 2.0.1 maps onto
the 1.6 domain is in docs/ocpp.md; in short, an EVSE is what 1.6 calls a connector.
"""

import json

from django.utils import timezone
from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import create_route_map, on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from billing import budget
from billing import tasks as payment_tasks
from stations import security, services, transaction_events
from stations.gateway import bounds, live, stop_flush, writebehind
from stations.gateway.orm_pool import in_pool, in_session_lane
from stations.models import StatusNotification
from stations.ocpp_time import parse_timestamp, utc_iso
from stations.payloads import id_token_info
from stations.transaction_events import EventReport, Progress

# Open transactions a socket follows incrementally, at most: a charger has a session per EVSE, and one
# it never ended (rebooted meanwhile) must not grow the socket's memory without bound.
MAX_FOLLOWED_TRANSACTIONS = 16


class ChargePoint201:
    """The CSMS side of one OCPP 2.0.1 connection: a handler `@on` each charger action.

    Like stations.gateway.ocpp16.ChargePoint16, not the library's ChargePoint: dispatch runs these.
    `followed` holds the Progress of the open transactions this socket applied in seqNo order (made at
    its first TransactionEvent: an idle socket pays nothing); the socket handles one frame at a time.
    """

    __slots__ = ("charger", "followed")

    def __init__(self, charger):
        self.charger = charger
        self.followed: dict[str, Progress] | None = None

    @on(Action.boot_notification)
    async def on_boot_notification(self, charging_station, reason, **_):
        text = {key: bounds.text(value) for key, value in charging_station.items() if isinstance(value, str)}
        modem = charging_station.get("modem") or {}
        status = await in_session_lane(services.record_boot)(
            charger=self.charger,
            vendor=text["vendor_name"],
            model=text["model"],
            serial_number=text.get("serial_number"),
            firmware_version=text.get("firmware_version"),
            iccid=bounds.text(modem.get("iccid")),
            imsi=bounds.text(modem.get("imsi")),
            boot_reason=reason,
        )
        return call_result.BootNotification(
            current_time=utc_iso(), interval=services.heartbeat_interval(), status=status
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, **_):
        writebehind.note_heartbeat(self.charger.pk, timezone.now())
        return call_result.Heartbeat(current_time=utc_iso())

    @on(Action.status_notification)
    async def on_status_notification(self, timestamp, connector_status, evse_id, connector_id, **_):
        writebehind.add_status(
            StatusNotification(
                charger=self.charger,
                connector_id=bounds.connector_id(evse_id, "evseId"),  # an EVSE is a 1.6 connector
                evse_connector_id=bounds.connector_id(connector_id),
                error_code="",  # 2.0.1 reports errors as NotifyEvent
                status=connector_status,
                timestamp=parse_timestamp(timestamp),
            )
        )
        live.changed(self.charger.pk)
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_token, **_):
        authorization = await in_session_lane(services.authorize)(
            charger=self.charger, id_tag=bounds.id_tag(id_token["id_token"], "idToken")
        )
        return call_result.Authorize(id_token_info=id_token_info(authorization))

    @on(Action.transaction_event)
    async def on_transaction_event(
        self, event_type, timestamp, trigger_reason, seq_no, transaction_info, **optional
    ):
        report = _event_report(event_type, timestamp, trigger_reason, seq_no, transaction_info, optional)
        progress = (self.followed or {}).get(report.transaction_id)
        if progress is not None and progress.takes_behind(report):
            return self._written_behind(report, progress)
        if progress is not None or event_type != "Started":
            # What this socket wrote behind is stored before the session is closed or read back
            # (gateway/stop_flush.py).
            await stop_flush.flush_for_stop(self.charger.pk)
        outcome = await in_session_lane(transaction_events.record_transaction_event)(
            charger=self.charger, report=report, progress=progress
        )
        self._follow(report.transaction_id, outcome.progress)
        if outcome.row_behind is not None:
            writebehind.add_transaction_event(outcome.row_behind)
            writebehind.add_meter_values(outcome.samples)
        live.session_changed(self.charger.pk)
        if outcome.session_pk is not None and event_type == "Updated":
            _watch_budget(outcome.session_pk, outcome.samples)
        if outcome.authorization is None:
            return call_result.TransactionEvent()
        return call_result.TransactionEvent(id_token_info=id_token_info(outcome.authorization))

    def _written_behind(self, report: EventReport, progress: Progress):
        """The next Updated of a session followed here: answered at once, as a 1.6 MeterValues is."""
        row, samples = transaction_events.written_behind(
            charger=self.charger, report=report, progress=progress
        )
        writebehind.add_transaction_event(row)
        writebehind.add_meter_values(samples)
        _watch_budget(progress.session_pk, samples)
        live.changed(self.charger.pk)
        return call_result.TransactionEvent()

    def _follow(self, transaction_id: str, progress: Progress | None) -> None:
        followed = self.followed if self.followed is not None else {}
        followed.pop(transaction_id, None)  # re-inserted last: the oldest is first to go
        if progress is not None:
            followed[transaction_id] = progress
            if len(followed) > MAX_FOLLOWED_TRANSACTIONS:
                del followed[next(iter(followed))]
        self.followed = followed or None

    @on(Action.meter_values)
    async def on_meter_values(self, evse_id, meter_value, **_):
        evse_id = bounds.connector_id(evse_id, "evseId")
        samples = transaction_events.samples_of(self.charger, evse_id, bounds.storable_json(meter_value))
        writebehind.add_meter_values(samples)
        live.changed(self.charger.pk)
        return call_result.MeterValues()

    @on(Action.notify_report)
    async def on_notify_report(self, request_id, generated_at, seq_no, report_data=None, **_):
        if report_data:
            await in_pool(transaction_events.record_report)(
                charger=self.charger, report_data=bounds.storable_json(report_data)
            )
        return call_result.NotifyReport()

    @on(Action.notify_event)
    async def on_notify_event(self, generated_at, seq_no, event_data, **_):
        await in_pool(transaction_events.record_events)(
            charger=self.charger, event_data=bounds.storable_json(event_data)
        )
        return call_result.NotifyEvent()

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, type, timestamp, tech_info=None, **_):
        await in_pool(transaction_events.record_security_event)(
            charger=self.charger,
            event_type=bounds.text(type),
            timestamp=parse_timestamp(timestamp),
            tech_info=bounds.text(tech_info),
        )
        return call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status, **_):
        await in_pool(services.record_firmware_status)(charger=self.charger, status=status)
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, status, request_id=None, **_):
        # A GetLog's progress, followed by its requestId as 1.6's security extension's; also the charger's
        # diagnostics status, where 1.6 keeps a GetDiagnostics' one.
        await in_pool(security.record_request_progress)(
            charger=self.charger, notification="LogStatusNotification", status=status, request_id=request_id
        )
        return call_result.LogStatusNotification()

    @on(Action.reservation_status_update)
    async def on_reservation_status_update(self, reservation_id, reservation_update_status, **_):
        # The charger ended a reservation itself (expired, or removed): kept as 1.6's expired / cancelled.
        await in_pool(services.record_reservation_update)(
            charger=self.charger,
            reservation_id=bounds.int32(reservation_id, "reservationId"),
            update_status=reservation_update_status,
        )
        return call_result.ReservationStatusUpdate()

    @on(Action.report_charging_profiles)
    async def on_report_charging_profiles(self, request_id, evse_id, **report):
        # A GetChargingProfiles' answer, in parts: each kept on that request's command, as the charger sent it.
        await in_pool(security.record_reported_profiles)(
            charger=self.charger,
            request_id=request_id,
            report=snake_to_camel_case(bounds.storable_json({"evse_id": evse_id, **report})),
        )
        return call_result.ReportChargingProfiles()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, message_id="", data=None, **_):
        await in_pool(services.record_data_transfer)(
            charger=self.charger,
            vendor_id=bounds.text(vendor_id),
            message_id=bounds.text(message_id),
            data=bounds.text(data if isinstance(data, str) or data is None else json.dumps(data)),
        )
        # Nothing here understands vendor messages; Accepted means "stored".
        return call_result.DataTransfer(status="Accepted")


def _watch_budget(session_pk: int, samples: list) -> None:
    """A QR-paid session stops before it costs more than was paid: arithmetic here, the stop a task."""
    if (over_budget := budget.observe(session_pk, samples)) is not None:
        payment_tasks.stop_over_budget_soon(over_budget)


def _event_report(event_type, timestamp, trigger_reason, seq_no, transaction_info, optional) -> EventReport:
    """A TransactionEvent's fields, bounded to what the columns hold."""
    evse, id_token = optional.get("evse") or {}, optional.get("id_token")
    # NoAuthorization: the charger asked nobody (a free-vend setting); there is no card to decide on.
    token = None if not id_token or id_token["type"] == "NoAuthorization" else id_token["id_token"]
    return EventReport(
        transaction_id=bounds.text(transaction_info["transaction_id"]),
        seq_no=bounds.connector_id(seq_no, "seqNo"),
        event_type=event_type,
        trigger_reason=trigger_reason,
        timestamp=parse_timestamp(timestamp),
        offline=bool(optional.get("offline")),
        evse_id=None if not evse else bounds.connector_id(evse["id"], "evse.id"),
        connector_id=_optional_count(evse.get("connector_id"), "evse.connectorId"),
        id_token=None if token is None else bounds.id_tag(token, "idToken"),
        id_token_type=id_token["type"] if id_token else "",
        charging_state=transaction_info.get("charging_state", ""),
        stopped_reason=transaction_info.get("stopped_reason", ""),
        remote_start_id=bounds.optional_int32(transaction_info.get("remote_start_id"), "remoteStartId"),
        reservation_id=bounds.optional_int32(optional.get("reservation_id"), "reservationId"),
        meter_values=_checked_meter_values(optional.get("meter_value")),
    )


def _optional_count(value, field: str) -> int | None:
    return None if value is None else bounds.connector_id(value, field)


def _checked_meter_values(meter_values: list | None) -> list | None:
    """The event's meter values as sent, once each timestamp is known to parse (else nothing is stored)."""
    for meter_value in meter_values or []:
        parse_timestamp(meter_value["timestamp"])
    return bounds.storable_json(meter_values)


# Action -> {"_on_action": the handler function, ...}, as the library builds it, once per process.
ROUTES = create_route_map(ChargePoint201)
