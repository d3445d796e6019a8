"""OCPP 1.6J charger→CSMS actions: payload in, domain call, payload out. Nothing else.

stations.gateway.dispatch has already checked each payload against the official
schema and turned its keys into snake_case when a handler here runs.
"""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils import timezone
from ocpp.routing import create_route_map, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from billing import budget
from billing import tasks as payment_tasks
from stations import certificates, security, services, transaction_events
from stations.gateway import bounds, live, stop_flush, writebehind
from stations.gateway.orm_pool import in_pool, in_session_lane
from stations.models import ENERGY_REGISTER, Charger, MeterValue, Sample, StatusNotification
from stations.ocpp_time import parse_timestamp, utc_iso
from stations.payloads import id_tag_info

logger = logging.getLogger(__name__)


def meter_samples(
    charger: Charger, connector_id: int, meter_values: list, transaction_id=None
) -> list[Sample]:
    """Flatten OCPP MeterValue[] into rows, with the spec's defaults written out; bounded to the columns."""
    connector_id = bounds.connector_id(connector_id)
    transaction_id = bounds.optional_int32(transaction_id, "transactionId")
    rows = []
    for meter_value in meter_values or []:
        timestamp = parse_timestamp(meter_value["timestamp"])
        for sampled in meter_value["sampled_value"]:
            rows.append(_sample_row(charger, connector_id, transaction_id, timestamp, sampled))
    return rows


def _sample_row(charger, connector_id, transaction_id, timestamp, sampled: dict) -> Sample:
    return Sample(
        charger_id=charger.pk,
        connector_id=connector_id,
        transaction_id=transaction_id,
        timestamp=timestamp,
        value=bounds.text(sampled["value"]),
        numeric_value=MeterValue.parse_number(sampled["value"]),
        measurand=sampled.get("measurand", ENERGY_REGISTER),
        phase=sampled.get("phase", ""),
        unit=sampled.get("unit", "Wh"),
        context=sampled.get("context", "Sample.Periodic"),
        location=sampled.get("location", "Outlet"),
        format=sampled.get("format", "Raw"),
    )


class ChargePoint16:
    """The CSMS side of one OCPP 1.6J connection: a handler `@on` each charger action.

    Not the library's ChargePoint: stations.gateway.dispatch runs the handlers, so
    a socket needs none of its locks, queues and per-instance route map (one
    of these per charger, ten thousand on a large site).
    """

    __slots__ = ("charger",)

    def __init__(self, charger: Charger):
        self.charger = charger

    @on(Action.boot_notification)
    async def on_boot_notification(self, charge_point_vendor, charge_point_model, **optional):
        text = {key: bounds.text(value) for key, value in optional.items()}
        status = await in_session_lane(services.record_boot)(
            charger=self.charger,
            vendor=bounds.text(charge_point_vendor),
            model=bounds.text(charge_point_model),
            serial_number=text.get("charge_point_serial_number"),
            charge_box_serial_number=text.get("charge_box_serial_number"),
            firmware_version=text.get("firmware_version"),
            iccid=text.get("iccid"),
            imsi=text.get("imsi"),
            meter_type=text.get("meter_type"),
            meter_serial_number=text.get("meter_serial_number"),
        )
        return call_result.BootNotification(
            current_time=utc_iso(), interval=services.heartbeat_interval(), status=status
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self):
        writebehind.note_heartbeat(self.charger.pk, timezone.now())
        return call_result.Heartbeat(current_time=utc_iso())

    @on(Action.status_notification)
    async def on_status_notification(self, connector_id, error_code, status, **optional):
        timestamp = optional.get("timestamp")
        writebehind.add_status(
            StatusNotification(
                charger=self.charger,
                connector_id=bounds.connector_id(connector_id),
                error_code=error_code,
                status=status,
                timestamp=parse_timestamp(timestamp) if timestamp else None,
                info=bounds.text(optional.get("info")),
                vendor_id=bounds.text(optional.get("vendor_id")),
                vendor_error_code=bounds.text(optional.get("vendor_error_code")),
            )
        )
        live.changed(self.charger.pk)
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag):
        authorization = await in_session_lane(services.authorize)(
            charger=self.charger, id_tag=bounds.id_tag(id_tag)
        )
        return call_result.Authorize(id_tag_info=id_tag_info(authorization))

    @on(Action.start_transaction)
    async def on_start_transaction(self, connector_id, id_tag, meter_start, timestamp, reservation_id=None):
        session, authorization = await in_session_lane(services.start_transaction)(
            charger=self.charger,
            connector_id=bounds.connector_id(connector_id),
            id_tag=bounds.id_tag(id_tag),
            meter_start=bounds.int64(meter_start, "meterStart"),
            timestamp=parse_timestamp(timestamp),
            reservation_id=bounds.optional_int32(reservation_id, "reservationId"),
        )
        live.session_changed(self.charger.pk)
        return call_result.StartTransaction(transaction_id=session.pk, id_tag_info=id_tag_info(authorization))

    @on(Action.meter_values)
    async def on_meter_values(self, connector_id, meter_value, transaction_id=None):
        samples = meter_samples(self.charger, connector_id, meter_value, transaction_id)
        writebehind.add_meter_values(samples)
        # A QR-paid session stops before it costs more than was paid: arithmetic here, the stop a task.
        if (over_budget := budget.observe(transaction_id, samples)) is not None:
            payment_tasks.stop_over_budget_soon(over_budget)
        live.changed(self.charger.pk)
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, meter_stop, timestamp, transaction_id, **optional):
        samples = meter_samples(self.charger, 0, optional.get("transaction_data"), transaction_id)
        stop = {
            "transaction_id": bounds.int32(transaction_id, "transactionId"),
            "timestamp": parse_timestamp(timestamp),
            "meter_stop": bounds.int64(meter_stop, "meterStop"),
            "id_tag": _usable_id_tag(optional.get("id_tag")),
        }
        # The session's earlier meter values are stored before it is closed (gateway/stop_flush.py).
        await stop_flush.flush_for_stop(self.charger.pk)
        authorization = await in_session_lane(services.stop_transaction)(
            charger=self.charger,
            reason=optional.get("reason", "Local"),
            samples=samples,
            transaction_data=_storable_json(optional.get("transaction_data")),
            **stop,
        )
        live.session_changed(self.charger.pk)
        if authorization is None:
            return call_result.StopTransaction()
        return call_result.StopTransaction(id_tag_info=id_tag_info(authorization))

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, message_id="", data=""):
        await in_pool(services.record_data_transfer)(
            charger=self.charger,
            vendor_id=bounds.text(vendor_id),
            message_id=bounds.text(message_id),
            data=bounds.text(data),
        )
        # Stored for staff, but nothing here implements a vendor's messages: OCPP 1.6 §4.3 asks for
        # UnknownVendorId then (the OCTT's TC_064 checks it), and no `data`.
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, status):
        await in_pool(services.record_diagnostics_status)(charger=self.charger, status=status)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status):
        await in_pool(services.record_firmware_status)(charger=self.charger, status=status)
        return call_result.FirmwareStatusNotification()

    # --- the security whitepaper's messages (stations.security, stations.certificates) ---

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, type, timestamp, tech_info=None):
        await in_pool(transaction_events.record_security_event)(
            charger=self.charger,
            event_type=bounds.text(type),
            timestamp=parse_timestamp(timestamp),
            tech_info=bounds.text(tech_info),
        )
        if security.is_critical(type):
            live.changed(self.charger.pk)  # raised on the dashboard
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr):
        chain = await in_pool(certificates.answer_signing_request)(charger=self.charger, csr=csr)
        if chain is None:
            return call_result.SignCertificate(status="Rejected")
        _after_answer(certificates.send_signed_certificate, charger_id=self.charger.pk, chain=chain)
        return call_result.SignCertificate(status="Accepted")

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, status, request_id=None):
        await in_pool(security.record_request_progress)(
            charger=self.charger, notification="LogStatusNotification", status=status, request_id=request_id
        )
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status_notification(self, status, request_id=None):
        await in_pool(security.record_request_progress)(
            charger=self.charger,
            notification="SignedFirmwareStatusNotification",
            status=status,
            request_id=request_id,
        )
        return call_result.SignedFirmwareStatusNotification()


# Calls to the charger that follow a handler's answer (CertificateSigned after SignCertificate): on threads
# of their own, as a command waits for the charger's answer, which arrives through this very socket.
_followups = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ocpp-followup")
_running: set[asyncio.Task] = set()  # asyncio keeps only weak references to tasks


def _after_answer(function, **kwargs) -> None:
    """Run `function(**kwargs)` after the handler's answer: a task starts only when the loop gets control,
    and from the handler's return to the answer's write (dispatch, ChargerConnection.send) nothing yields."""
    task = asyncio.get_running_loop().create_task(
        sync_to_async(_followup, thread_sensitive=False, executor=_followups)(function, **kwargs)
    )
    _running.add(task)
    task.add_done_callback(_running.discard)


def _followup(function, **kwargs) -> None:
    close_old_connections()
    try:
        function(**kwargs)
    except Exception:  # the charger may ask again; this must not take the socket down
        logger.exception("%s%r failed", function.__name__, tuple(kwargs))
    finally:
        close_old_connections()


def _usable_id_tag(id_tag: str | None) -> str:
    """A stop's idTag, or none when no card could carry it: the stop is recorded all the same."""
    return id_tag if id_tag and bounds.text(id_tag) == id_tag else ""


# transactionData as sent, with its strings made storable (a JSON column holds text too).
_storable_json = bounds.storable_json


# Action -> {"_on_action": the handler function, ...}, as the library builds it, once per process.
ROUTES = create_route_map(ChargePoint16)
