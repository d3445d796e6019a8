"""What a simulated OCPP 2.0.1 charger puts on the wire: request builders, and the 2.0.1 words for
what the simulator's parts say in 1.6's (connector statuses, stop reasons, configuration keys).

The parts (state, sessions, reactions) keep 1.6's vocabulary; :mod:`~stations.simulator.protocols`
turns it into 2.0.1's with these. An EVSE is what 1.6 calls a connector (as the CSMS maps it,
docs/ocpp.md): a simulated EVSE has one connector, number 1. Requests are ``ocpp.v201.call``
dataclasses, schema-clean: no ``null`` fields, UTC 'Z' timestamps, numbers as numbers.
"""

from __future__ import annotations

from typing import Any

from ocpp.v16.enums import ChargePointStatus, ConfigurationStatus, Reason
from ocpp.v201 import call
from ocpp.v201.enums import (
    ChargingLimitSourceEnumType,
    ChargingProfileKindEnumType,
    ChargingProfilePurposeEnumType,
    ChargingRateUnitEnumType,
    ChargingStateEnumType,
    ConnectorStatusEnumType,
    IdTokenEnumType,
    MutabilityEnumType,
    ReasonEnumType,
    SetVariableStatusEnumType,
    TransactionEventEnumType,
    TriggerReasonEnumType,
)

from stations.ocpp_time import utc_iso
from stations.simulator.ev_physics import MeterSample
from stations.simulator.messages import VENDOR

EVSE_CONNECTOR_ID = 1  # each simulated EVSE has one connector
CARD_TOKEN_TYPE = IdTokenEnumType.iso14443  # the drivers' RFID cards
BEGIN, PERIODIC, END, TRIGGER = "Transaction.Begin", "Sample.Periodic", "Transaction.End", "Trigger"

# A 1.6 connector status -> the EVSE's 2.0.1 connectorStatus: a car plugged in is Occupied throughout.
CONNECTOR_STATUS = {
    ChargePointStatus.available: ConnectorStatusEnumType.available,
    ChargePointStatus.preparing: ConnectorStatusEnumType.occupied,
    ChargePointStatus.charging: ConnectorStatusEnumType.occupied,
    ChargePointStatus.suspended_ev: ConnectorStatusEnumType.occupied,
    ChargePointStatus.suspended_evse: ConnectorStatusEnumType.occupied,
    ChargePointStatus.finishing: ConnectorStatusEnumType.occupied,
    ChargePointStatus.reserved: ConnectorStatusEnumType.reserved,
    ChargePointStatus.unavailable: ConnectorStatusEnumType.unavailable,
    ChargePointStatus.faulted: ConnectorStatusEnumType.faulted,
}

# Why a session ended, in 1.6 -> (the Ended's triggerReason, stoppedReason, chargingState, idToken sent).
# A driver ending it at the charger presents the card (StopAuthorized); a full car is unplugged.
ENDINGS = {
    Reason.local: (
        TriggerReasonEnumType.stop_authorized,
        ReasonEnumType.local,
        ChargingStateEnumType.ev_connected,
        True,
    ),
    Reason.ev_disconnected: (
        TriggerReasonEnumType.ev_communication_lost,
        ReasonEnumType.ev_disconnected,
        ChargingStateEnumType.idle,
        False,
    ),
    Reason.remote: (
        TriggerReasonEnumType.remote_stop,
        ReasonEnumType.remote,
        ChargingStateEnumType.ev_connected,
        False,
    ),
    Reason.hard_reset: (
        TriggerReasonEnumType.reset_command,
        ReasonEnumType.immediate_reset,
        ChargingStateEnumType.ev_connected,
        False,
    ),
    Reason.soft_reset: (
        TriggerReasonEnumType.reset_command,
        ReasonEnumType.immediate_reset,
        ChargingStateEnumType.ev_connected,
        False,
    ),
    Reason.de_authorized: (
        TriggerReasonEnumType.deauthorized,
        ReasonEnumType.de_authorized,
        ChargingStateEnumType.ev_connected,
        False,
    ),
}
OTHER_ENDING = (
    TriggerReasonEnumType.abnormal_condition,
    ReasonEnumType.other,
    ChargingStateEnumType.ev_connected,
    False,
)

# The device model's (component, variable) -> the 1.6 configuration key the simulator keeps it under.
VARIABLE_KEYS = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): "HeartbeatInterval",
    ("OCPPCommCtrlr", "WebSocketPingInterval"): "WebSocketPingInterval",
    ("SampledDataCtrlr", "TxUpdatedInterval"): "MeterValueSampleInterval",
    ("SampledDataCtrlr", "TxUpdatedMeasurands"): "MeterValuesSampledData",
    ("TxCtrlr", "EVConnectionTimeOut"): "ConnectionTimeOut",
    ("AuthCtrlr", "AuthorizeRemoteStart"): "AuthorizeRemoteTxRequests",
    ("AuthCtrlr", "LocalAuthorizeOffline"): "LocalAuthorizeOffline",
    ("LocalAuthListCtrlr", "Enabled"): "LocalAuthListEnabled",
    ("SmartChargingCtrlr", "ProfileStackLevel"): "ChargeProfileMaxStackLevel",
    ("SecurityCtrlr", "BasicAuthPassword"): "AuthorizationKey",  # write-only: never read out
}
WRITE_ONLY_KEYS = frozenset({"AuthorizationKey"})
COMPONENTS = frozenset(component for component, _variable in VARIABLE_KEYS)
# A ChangeConfiguration answer -> the SetVariables attributeStatus (NotSupported: no such variable).
SET_STATUS = {
    ConfigurationStatus.accepted: SetVariableStatusEnumType.accepted,
    ConfigurationStatus.rejected: SetVariableStatusEnumType.rejected,
    ConfigurationStatus.reboot_required: SetVariableStatusEnumType.reboot_required,
    ConfigurationStatus.not_supported: SetVariableStatusEnumType.unknown_variable,
}


def id_token(token: str, token_type: str | None = None) -> dict[str, str]:
    return {"id_token": token, "type": token_type or CARD_TOKEN_TYPE}


def boot_notification(
    model: str, serial_number: str, firmware_version: str, reason: str
) -> call.BootNotification:
    station = {
        "model": model,
        "vendor_name": VENDOR,
        "serial_number": serial_number,
        "firmware_version": firmware_version,
    }
    return call.BootNotification(charging_station=station, reason=reason)


def status_notification(evse_id: int, status: str) -> call.StatusNotification:
    return call.StatusNotification(
        timestamp=utc_iso(),
        connector_status=CONNECTOR_STATUS[status],
        evse_id=evse_id,
        connector_id=EVSE_CONNECTOR_ID,
    )


def sampled_values(sample: MeterSample, context: str) -> list[dict[str, Any]]:
    """The 1.6 simulator's measurands, with 2.0.1's numeric values and units of measure."""

    def value(number: float, measurand: str, unit: str, location: str = "Outlet") -> dict[str, Any]:
        return {
            "value": number,
            "context": context,
            "measurand": measurand,
            "location": location,
            "unit_of_measure": {"unit": unit},
        }

    values = [
        value(sample.energy_wh, "Energy.Active.Import.Register", "Wh"),
        value(round(sample.power_w), "Power.Active.Import", "W"),
        value(round(sample.current_a, 1), "Current.Import", "A"),
        value(round(sample.voltage_v, 1), "Voltage", "V"),
    ]
    if sample.soc is not None:  # floor: report 100 % only when really full
        values.append(value(int(sample.soc), "SoC", "Percent", "EV"))
    return values


def meter_value(sample: MeterSample, context: str) -> dict[str, Any]:
    return {"timestamp": sample.timestamp, "sampled_value": sampled_values(sample, context)}


def meter_values(evse_id: int, sample: MeterSample, context: str = TRIGGER) -> call.MeterValues:
    """MeterValues outside a transaction's events (2.0.1 sends a session's in its TransactionEvents)."""
    return call.MeterValues(evse_id=evse_id, meter_value=[meter_value(sample, context)])


def transaction_event(
    session: Any,
    event_type: str,
    trigger_reason: str,
    sample: MeterSample,
    context: str,
    **fields: Any,
) -> call.TransactionEvent:
    """The session's next event, numbered by its seqNo (0 for the Started, +1 each event after)."""
    seq_no, session.seq_no = session.seq_no, session.seq_no + 1
    info = {"transaction_id": session.transaction_id, **fields.pop("transaction_info", {})}
    return call.TransactionEvent(
        event_type=event_type,
        timestamp=sample.timestamp,
        trigger_reason=trigger_reason,
        seq_no=seq_no,
        transaction_info=info,
        evse={"id": session.connector_id, "connector_id": EVSE_CONNECTOR_ID},
        meter_value=[meter_value(sample, context)],
        **fields,
    )


def started(session: Any, sample: MeterSample) -> call.TransactionEvent:
    """The driver's card (or the CSMS's RequestStartTransaction) began the session; the car charges."""
    info: dict[str, Any] = {"charging_state": ChargingStateEnumType.charging}
    if session.remote_start_id is not None:
        info["remote_start_id"] = session.remote_start_id
    return transaction_event(
        session,
        TransactionEventEnumType.started,
        TriggerReasonEnumType.remote_start
        if session.remote_start_id is not None
        else TriggerReasonEnumType.authorized,
        sample,
        BEGIN,
        transaction_info=info,
        id_token=id_token(session.id_tag, session.id_token_type),
        reservation_id=session.reservation_id,
    )


def updated(session: Any, sample: MeterSample, *, triggered: bool = False) -> call.TransactionEvent:
    trigger = TriggerReasonEnumType.trigger if triggered else TriggerReasonEnumType.meter_value_periodic
    return transaction_event(
        session, TransactionEventEnumType.updated, trigger, sample, TRIGGER if triggered else PERIODIC
    )


def ended(session: Any, reason: str, sample: MeterSample) -> call.TransactionEvent:
    trigger, stopped_reason, charging_state, with_token = ENDINGS.get(reason, OTHER_ENDING)
    return transaction_event(
        session,
        TransactionEventEnumType.ended,
        trigger,
        sample,
        END,
        transaction_info={"charging_state": charging_state, "stopped_reason": stopped_reason},
        id_token=id_token(session.id_tag, session.id_token_type) if with_token else None,
    )


def report_data(configuration: dict[str, tuple[str, bool]]) -> list[dict[str, Any]]:
    """NotifyReport's reportData: the device model the configuration keys stand for."""
    return [
        {
            "component": {"name": component},
            "variable": {"name": variable},
            "variable_attribute": [_attribute(key, configuration.get(key))],
        }
        for (component, variable), key in VARIABLE_KEYS.items()
        if key in configuration or key in WRITE_ONLY_KEYS
    ]


def _attribute(key: str, setting: tuple[str, bool] | None) -> dict[str, str]:
    if key in WRITE_ONLY_KEYS or setting is None:
        return {"mutability": MutabilityEnumType.write_only}
    value, readonly = setting
    mutability = MutabilityEnumType.read_only if readonly else MutabilityEnumType.read_write
    return {"value": value, "mutability": mutability}


def reported_profiles(
    request_id: int, limits: dict[int, float], purpose: str | None
) -> list[call.ReportChargingProfiles]:
    """ReportChargingProfiles of the limits set (watts by EVSE, 0: the station), as the profiles that set
    them; `purpose`: only those of it. The simulator keeps no profile ids: each is named by its EVSE."""
    profiles = {
        evse_id: _limit_profile(evse_id, watts)
        for evse_id, watts in sorted(limits.items())
        if purpose in (None, _purpose_of(evse_id))
    }
    return [
        call.ReportChargingProfiles(
            request_id=request_id,
            charging_limit_source=ChargingLimitSourceEnumType.cso,
            charging_profile=[profile],
            evse_id=evse_id,
            tbc=number < len(profiles) - 1,
        )
        for number, (evse_id, profile) in enumerate(profiles.items())
    ]


def _purpose_of(evse_id: int) -> str:
    if evse_id == 0:
        return ChargingProfilePurposeEnumType.charging_station_max_profile
    return ChargingProfilePurposeEnumType.tx_default_profile


def _limit_profile(evse_id: int, watts: float) -> dict[str, Any]:
    return {
        "id": evse_id + 1,
        "stack_level": 0,
        "charging_profile_purpose": _purpose_of(evse_id),
        "charging_profile_kind": ChargingProfileKindEnumType.relative,
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": ChargingRateUnitEnumType.watts,
                "charging_schedule_period": [{"start_period": 0, "limit": round(watts, 1)}],
            }
        ],
    }
