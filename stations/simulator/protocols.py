"""The OCPP versions a simulated charger speaks: :data:`OCPP16` and :data:`OCPP201`.

The charger's parts (connection, sessions, command reactions) say what happens in one vocabulary,
1.6's (connector statuses, stop reasons, configuration keys); a :class:`ChargerProtocol` turns each
event into its version's request, and says which ``ocpp`` ChargePoint answers the CSMS's commands.
What differs between the two is here and in :mod:`~stations.simulator.messages201` and
:mod:`~stations.simulator.charge_point201`, not in the parts.

Transaction messages go through the charger's offline queue as ``build(transaction_id) -> request``:
1.6 builds them at replay time (a StartTransaction produced offline learns its transactionId only
then); 2.0.1 builds each event when it happens, with the transactionId the charger gave it and its
seqNo, and marks those that wait in the queue ``offline``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from ocpp.v16 import call
from ocpp.v16.enums import AuthorizationStatus, MessageTrigger, ReadingContext, Reason
from ocpp.v201 import call as call201
from ocpp.v201.enums import (
    AuthorizationStatusEnumType,
    MessageTriggerEnumType,
    ReservationUpdateStatusEnumType,
)

from stations.ocpp_time import utc_iso
from stations.simulator import messages201
from stations.simulator.charge_point import SimChargePoint
from stations.simulator.charge_point201 import SimChargePoint201
from stations.simulator.ev_physics import MeterSample
from stations.simulator.messages import (
    VENDOR,
    meter_values_request,
    status_notification_request,
    stop_transaction_request,
)
from stations.simulator.options import PROTOCOL_16, PROTOCOL_201
from stations.simulator.state import Session

Build = Callable[[Any], Any]  # transaction id -> the request (see the module's docstring)

LOG_STATUS_TRIGGERS = frozenset(
    {MessageTrigger.diagnostics_status_notification, MessageTriggerEnumType.log_status_notification}
)


class ChargerProtocol(Protocol):
    subprotocol: str
    charge_point: type  # the ocpp ChargePoint class of one connection
    triggerable: frozenset[str]  # what TriggerMessage may ask for

    def boot(self, model: str, serial_number: str, firmware_version: str, reason: str) -> Any: ...
    def heartbeat(self) -> Any: ...
    def status(self, connector_id: int, status: str) -> Any | None: ...
    def reported_status(self, status: str) -> str: ...
    def authorize(self, id_tag: str) -> Any: ...
    def authorized(self, response: Any) -> bool: ...
    def start_transaction(self, session: Session, reading: MeterSample) -> Build: ...
    def start_answered(self, session: Session, response: Any) -> bool: ...
    def transaction_meter_values(
        self, session: Session, sample: MeterSample, *, triggered: bool = False
    ) -> Build: ...
    def stop_transaction(self, session: Session, sample: MeterSample) -> Build: ...
    def queued(self, build: Build) -> Build: ...
    def meter_values(self, connector_id: int, sample: MeterSample, session: Session | None) -> Any: ...
    def firmware_status(self, status: str, request_id: int | None) -> Any: ...
    def log_status(self, status: str, request_id: int | None) -> Any: ...
    def reservation_expired(self, reservation_id: int) -> Any | None: ...


class Ocpp16:
    """OCPP 1.6J: the CSMS numbers transactions; StatusNotification per connector and for connector 0."""

    subprotocol = PROTOCOL_16
    charge_point = SimChargePoint
    triggerable = frozenset(
        {
            MessageTrigger.boot_notification,
            MessageTrigger.heartbeat,
            MessageTrigger.status_notification,
            MessageTrigger.meter_values,
            MessageTrigger.firmware_status_notification,
            MessageTrigger.diagnostics_status_notification,
        }
    )

    def boot(
        self, model: str, serial_number: str, firmware_version: str, reason: str
    ) -> call.BootNotification:
        return call.BootNotification(
            charge_point_vendor=VENDOR,
            charge_point_model=model,
            charge_point_serial_number=serial_number,
            firmware_version=firmware_version,
            meter_type="SimMeter",
        )

    def heartbeat(self) -> call.Heartbeat:
        return call.Heartbeat()

    def status(self, connector_id: int, status: str) -> call.StatusNotification:
        return status_notification_request(connector_id, status)

    def reported_status(self, status: str) -> str:
        return status

    def authorize(self, id_tag: str) -> call.Authorize:
        return call.Authorize(id_tag=id_tag)

    def authorized(self, response: Any) -> bool:
        return response.id_tag_info["status"] == AuthorizationStatus.accepted

    def start_transaction(self, session: Session, reading: MeterSample) -> Build:
        request = call.StartTransaction(
            connector_id=session.connector_id,
            id_tag=session.id_tag,
            meter_start=session.meter_start_wh,
            timestamp=utc_iso(),
            reservation_id=session.reservation_id,
        )
        return lambda _transaction_id: request

    def start_answered(self, session: Session, response: Any) -> bool:
        session.transaction_id = response.transaction_id
        return response.id_tag_info["status"] == AuthorizationStatus.accepted

    def transaction_meter_values(
        self, session: Session, sample: MeterSample, *, triggered: bool = False
    ) -> Build:
        context = ReadingContext.trigger if triggered else ReadingContext.sample_periodic
        return partial(meter_values_request, session.connector_id, sample, context=context)

    def stop_transaction(self, session: Session, sample: MeterSample) -> Build:
        return partial(stop_transaction_request, session.id_tag, session.stop_reason or Reason.local, sample)

    def queued(self, build: Build) -> Build:
        return build  # 1.6 has no offline flag

    def meter_values(
        self, connector_id: int, sample: MeterSample, session: Session | None
    ) -> call.MeterValues:
        transaction_id = session.transaction_id if session else None
        return meter_values_request(connector_id, sample, transaction_id, ReadingContext.trigger)

    def firmware_status(self, status: str, request_id: int | None) -> call.FirmwareStatusNotification:
        return call.FirmwareStatusNotification(status=status)

    def log_status(self, status: str, request_id: int | None) -> call.DiagnosticsStatusNotification:
        return call.DiagnosticsStatusNotification(status=status)

    def reservation_expired(self, reservation_id: int) -> None:
        return None  # a 1.6 charger just lets it go


class Ocpp201:
    """OCPP 2.0.1: the charger names its transactions and numbers their events (seqNo); an EVSE is a
    1.6 connector; the station as a whole has no StatusNotification."""

    subprotocol = PROTOCOL_201
    charge_point = SimChargePoint201
    triggerable = frozenset(
        {
            MessageTriggerEnumType.boot_notification,
            MessageTriggerEnumType.heartbeat,
            MessageTriggerEnumType.status_notification,
            MessageTriggerEnumType.meter_values,
            MessageTriggerEnumType.transaction_event,
            MessageTriggerEnumType.firmware_status_notification,
            MessageTriggerEnumType.log_status_notification,
        }
    )

    def boot(
        self, model: str, serial_number: str, firmware_version: str, reason: str
    ) -> call201.BootNotification:
        return messages201.boot_notification(model, serial_number, firmware_version, reason)

    def heartbeat(self) -> call201.Heartbeat:
        return call201.Heartbeat()

    def status(self, connector_id: int, status: str) -> call201.StatusNotification | None:
        if connector_id == 0:  # 2.0.1 reports each EVSE's connectors only
            return None
        return messages201.status_notification(connector_id, status)

    def reported_status(self, status: str) -> str:
        return messages201.CONNECTOR_STATUS[status]

    def authorize(self, id_tag: str) -> call201.Authorize:
        return call201.Authorize(id_token=messages201.id_token(id_tag))

    def authorized(self, response: Any) -> bool:
        return response.id_token_info["status"] == AuthorizationStatusEnumType.accepted

    def start_transaction(self, session: Session, reading: MeterSample) -> Build:
        # Unique across runs too: the CSMS keeps each transactionId of a charger once.
        session.transaction_id, session.seq_no = str(uuid.uuid4()), 0
        request = messages201.started(session, reading)
        return lambda _transaction_id: request

    def start_answered(self, session: Session, response: Any) -> bool:
        info = response.id_token_info
        return info is None or info["status"] == AuthorizationStatusEnumType.accepted

    def transaction_meter_values(
        self, session: Session, sample: MeterSample, *, triggered: bool = False
    ) -> Build:
        request = messages201.updated(session, sample, triggered=triggered)
        return lambda _transaction_id: request

    def stop_transaction(self, session: Session, sample: MeterSample) -> Build:
        request = messages201.ended(session, session.stop_reason or Reason.local, sample)
        return lambda _transaction_id: request

    def queued(self, build: Build) -> Build:
        """An event that waits in the offline queue goes out with offline: true and its own seqNo."""
        return lambda transaction_id: dataclasses.replace(build(transaction_id), offline=True)

    def meter_values(
        self, connector_id: int, sample: MeterSample, session: Session | None
    ) -> call201.MeterValues:
        return messages201.meter_values(connector_id, sample)

    def firmware_status(self, status: str, request_id: int | None) -> call201.FirmwareStatusNotification:
        return call201.FirmwareStatusNotification(status=status, request_id=request_id)

    def log_status(self, status: str, request_id: int | None) -> call201.LogStatusNotification:
        return call201.LogStatusNotification(status=status, request_id=request_id)

    def reservation_expired(self, reservation_id: int) -> call201.ReservationStatusUpdate:
        return call201.ReservationStatusUpdate(
            reservation_id=reservation_id, reservation_update_status=ReservationUpdateStatusEnumType.expired
        )


OCPP16, OCPP201 = Ocpp16(), Ocpp201()
PROTOCOLS = {PROTOCOL_16: OCPP16, PROTOCOL_201: OCPP201}


def protocol_named(subprotocol: str) -> ChargerProtocol:
    return PROTOCOLS[subprotocol]
