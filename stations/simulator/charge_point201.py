"""The ``ocpp`` v201 ChargePoint of one connection of a simulated OCPP 2.0.1 charger: the CSMS's
2.0.1 commands answered by the same :class:`~stations.simulator.charge_point.Reactions` as 1.6's.

Each handler translates: an EVSE is a 1.6 connector, the device model's variables are the 1.6
configuration keys (:data:`~stations.simulator.messages201.VARIABLE_KEYS`), a charging profile's
first schedule is what 1.6 calls its schedule. As in 1.6, @on handlers decide the answer and
anything that sends CALLs runs from @after handlers, after the CALLRESULT.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v16.enums import Reason, ResetType
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import (
    Action,
    CancelReservationStatusEnumType,
    ClearCacheStatusEnumType,
    DataTransferStatusEnumType,
    GenericStatusEnumType,
    GetChargingProfileStatusEnumType,
    GetVariableStatusEnumType,
    LogStatusEnumType,
    OperationalStatusEnumType,
    ReportBaseEnumType,
    RequestStartStopStatusEnumType,
    ResetEnumType,
    ResetStatusEnumType,
    SendLocalListStatusEnumType,
    SetVariableStatusEnumType,
    TriggerMessageStatusEnumType,
    UnlockStatusEnumType,
    UpdateFirmwareStatusEnumType,
)

from stations.ocpp_time import utc_iso
from stations.simulator import messages201
from stations.simulator.charge_point import CallTiming
from stations.simulator.messages import VENDOR

ACCEPTED = "Accepted"


class SimChargePoint201(CallTiming, ChargePoint):
    """Answers a CSMS's OCPP 2.0.1 commands by delegating to ``reactions``."""

    # -- transactions --

    @on(Action.request_start_transaction)
    def on_request_start_transaction(
        self, id_token, remote_start_id, evse_id=None, charging_profile=None, **_
    ):
        connector = self.reactions.start_remote_session(
            id_token["id_token"], evse_id, remote_start_id=remote_start_id, id_token_type=id_token["type"]
        )
        if connector is None:
            return call_result.RequestStartTransaction(status=RequestStartStopStatusEnumType.rejected)
        if charging_profile:
            self.reactions.apply_charging_profile(connector.connector_id, first_schedule(charging_profile))
        return call_result.RequestStartTransaction(status=RequestStartStopStatusEnumType.accepted)

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id, **_):
        found = self.reactions.session_with_transaction(transaction_id) is not None
        status = RequestStartStopStatusEnumType.accepted if found else RequestStartStopStatusEnumType.rejected
        return call_result.RequestStopTransaction(status=status)

    @after(Action.request_stop_transaction)
    def after_request_stop_transaction(self, transaction_id, **_):
        session = self.reactions.session_with_transaction(transaction_id)
        if session is not None:
            session.request_stop(Reason.remote)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id, connector_id, **_):
        connector = self.reactions.connector(evse_id)
        if connector is None or connector_id != messages201.EVSE_CONNECTOR_ID:
            return call_result.UnlockConnector(status=UnlockStatusEnumType.unknown_connector)
        if connector.session is not None:  # 2.0.1 (F05): a charging cable stays locked; stop it first
            return call_result.UnlockConnector(status=UnlockStatusEnumType.ongoing_authorized_transaction)
        return call_result.UnlockConnector(status=UnlockStatusEnumType.unlocked)

    # -- charger management --

    @on(Action.reset)
    def on_reset(self, type, evse_id=None, **_):
        if evse_id is not None:  # resetting one EVSE alone: not supported
            return call_result.Reset(status=ResetStatusEnumType.rejected)
        if type == ResetEnumType.on_idle and self.reactions.sessions_open():
            return call_result.Reset(status=ResetStatusEnumType.scheduled)
        return call_result.Reset(status=ResetStatusEnumType.accepted)

    @after(Action.reset)
    def after_reset(self, type, evse_id=None, **_):
        if evse_id is not None:
            return
        if type == ResetEnumType.immediate:
            self.reactions.spawn(self.reactions.reboot(ResetType.hard))
        else:  # OnIdle: once the sessions have ended by themselves
            self.reactions.spawn(self.reactions.reboot_when_idle())

    @on(Action.change_availability)
    def on_change_availability(self, operational_status, evse=None, **_):
        connector_id = evse["id"] if evse else 0  # no EVSE: the whole station, 1.6's connector 0
        operative = operational_status == OperationalStatusEnumType.operative
        return call_result.ChangeAvailability(
            status=self.reactions.change_availability(connector_id, operative)
        )

    @after(Action.change_availability)
    def after_change_availability(self, **_):
        self.reactions.spawn(self.reactions.announce_availability())

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data, **_):
        return call_result.GetVariables(
            get_variable_result=[self._read(wanted) for wanted in get_variable_data]
        )

    def _read(self, wanted: dict[str, Any]) -> dict[str, Any]:
        result = {"component": wanted["component"], "variable": wanted["variable"]}
        key = _configuration_key(wanted)
        setting = self.reactions.configuration().get(key) if key else None
        if key in messages201.WRITE_ONLY_KEYS:
            return {**result, "attribute_status": GetVariableStatusEnumType.rejected}
        if setting is None:
            return {**result, "attribute_status": _unknown(wanted, GetVariableStatusEnumType)}
        return {
            **result,
            "attribute_status": GetVariableStatusEnumType.accepted,
            "attribute_value": setting[0],
        }

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data, **_):
        return call_result.SetVariables(
            set_variable_result=[self._write(wanted) for wanted in set_variable_data]
        )

    def _write(self, wanted: dict[str, Any]) -> dict[str, Any]:
        result = {"component": wanted["component"], "variable": wanted["variable"]}
        key = _configuration_key(wanted)
        if key is None:
            return {**result, "attribute_status": _unknown(wanted, SetVariableStatusEnumType)}
        status = self.reactions.change_configuration(key, wanted["attribute_value"])
        return {**result, "attribute_status": messages201.SET_STATUS[status]}

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id, report_base, **_):
        if report_base == ReportBaseEnumType.summary_inventory:
            return call_result.GetBaseReport(status=GenericStatusEnumType.not_supported)
        return call_result.GetBaseReport(status=GenericStatusEnumType.accepted)

    @after(Action.get_base_report)
    def after_get_base_report(self, request_id, report_base, **_):
        if report_base != ReportBaseEnumType.summary_inventory:
            report = call.NotifyReport(
                request_id=request_id,
                generated_at=utc_iso(),
                seq_no=0,
                report_data=messages201.report_data(self.reactions.configuration()),
            )
            self.reactions.spawn(self.reactions.send(report))

    @on(Action.clear_cache)
    def on_clear_cache(self, **_):
        return call_result.ClearCache(status=ClearCacheStatusEnumType.accepted)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, message_id=None, data=None, **_):
        if vendor_id != VENDOR:
            return call_result.DataTransfer(status=DataTransferStatusEnumType.unknown_vendor_id)
        return call_result.DataTransfer(status=DataTransferStatusEnumType.accepted, data=data)  # echo

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message, evse=None, **_):
        if requested_message not in self.reactions.triggerable():
            return call_result.TriggerMessage(status=TriggerMessageStatusEnumType.not_implemented)
        if not self.reactions.trigger_is_supported(requested_message, evse["id"] if evse else None):
            return call_result.TriggerMessage(status=TriggerMessageStatusEnumType.rejected)
        return call_result.TriggerMessage(status=TriggerMessageStatusEnumType.accepted)

    @after(Action.trigger_message)
    def after_trigger_message(self, requested_message, evse=None, **_):
        evse_id = evse["id"] if evse else None
        if self.reactions.trigger_is_supported(requested_message, evse_id):
            self.reactions.spawn(self.reactions.send_triggered(requested_message, evse_id))

    # -- firmware / logs --

    @on(Action.update_firmware)
    def on_update_firmware(self, request_id, firmware, **_):
        return call_result.UpdateFirmware(status=UpdateFirmwareStatusEnumType.accepted)

    @after(Action.update_firmware)
    def after_update_firmware(self, request_id, **_):
        self.reactions.spawn(self.reactions.install_firmware(request_id))

    @on(Action.get_log)
    def on_get_log(self, log_type, request_id, log, **_):
        return call_result.GetLog(status=LogStatusEnumType.accepted, filename=f"log-{self.id}.zip")

    @after(Action.get_log)
    def after_get_log(self, request_id, **_):
        self.reactions.spawn(self.reactions.upload_diagnostics(request_id))

    # -- smart charging --

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id, charging_profile, **_):
        status = self.reactions.apply_charging_profile(evse_id, first_schedule(charging_profile))
        return call_result.SetChargingProfile(status=status)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, charging_profile_id=None, charging_profile_criteria=None, **_):
        evse_id = (charging_profile_criteria or {}).get("evse_id")  # the simulator keeps no profile ids
        return call_result.ClearChargingProfile(status=self.reactions.clear_charging_profiles(evse_id))

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, duration, evse_id, charging_rate_unit=None, **_):
        schedule = self.reactions.composite_schedule(evse_id, duration, charging_rate_unit)
        if schedule is None:
            return call_result.GetCompositeSchedule(status=GenericStatusEnumType.rejected)
        return call_result.GetCompositeSchedule(
            status=GenericStatusEnumType.accepted,
            schedule={**schedule, "evse_id": evse_id, "schedule_start": utc_iso()},
        )

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(self, request_id, charging_profile, evse_id=None, **_):
        if self._reported_profiles(request_id, charging_profile, evse_id):
            return call_result.GetChargingProfiles(status=GetChargingProfileStatusEnumType.accepted)
        return call_result.GetChargingProfiles(status=GetChargingProfileStatusEnumType.no_profiles)

    @after(Action.get_charging_profiles)
    def after_get_charging_profiles(self, request_id, charging_profile, evse_id=None, **_):
        reports = self._reported_profiles(request_id, charging_profile, evse_id)
        self.reactions.spawn(self._send_in_turn(reports))

    async def _send_in_turn(self, requests: list) -> None:
        for request in requests:  # in order: each but the last says tbc (more to come)
            await self.reactions.send(request)

    def _reported_profiles(self, request_id, criterion: dict[str, Any], evse_id: int | None) -> list:
        limits = self.reactions.charging_limits(evse_id)
        purpose = criterion.get("charging_profile_purpose")
        return messages201.reported_profiles(request_id, limits, purpose)

    # -- local list / reservations --

    @on(Action.send_local_list)
    def on_send_local_list(self, version_number, update_type, **_):
        self.reactions.local_list_version = version_number  # drivers are accepted offline anyway
        return call_result.SendLocalList(status=SendLocalListStatusEnumType.accepted)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_):
        return call_result.GetLocalListVersion(version_number=self.reactions.local_list_version)

    @on(Action.reserve_now)
    def on_reserve_now(self, id, expiry_date_time, id_token, evse_id=None, **_):  # `id`: OCPP's name
        candidates = (
            [evse_id] if evse_id is not None else [c.connector_id for c in self.reactions.connectors()]
        )
        status = None
        for connector_id in candidates:  # no EVSE named: the first that takes it
            status = self.reactions.reserve(connector_id, id, id_token["id_token"], expiry_date_time)
            if status == ACCEPTED:
                break
        return call_result.ReserveNow(status=status or "Rejected")

    @after(Action.reserve_now)
    def after_reserve_now(self, id, **_):
        for connector in self.reactions.connectors():
            reservation = connector.reservation
            if reservation is not None and reservation.reservation_id == id:
                self.reactions.spawn(self.reactions.refresh_idle_statuses())  # -> Reserved
                self.reactions.spawn(self.reactions.expire_reservation(connector, reservation))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id, **_):
        cancelled = self.reactions.cancel_reservation(reservation_id) is not None
        status = (
            CancelReservationStatusEnumType.accepted
            if cancelled
            else CancelReservationStatusEnumType.rejected
        )
        return call_result.CancelReservation(status=status)

    @after(Action.cancel_reservation)
    def after_cancel_reservation(self, **_):
        self.reactions.spawn(self.reactions.refresh_idle_statuses())  # Reserved -> Available


def first_schedule(profile: dict[str, Any]) -> dict[str, Any]:
    """A 2.0.1 profile (a list of schedules) in 1.6's shape (one schedule), as the reactions read it."""
    schedules = profile.get("charging_schedule") or [{}]
    return {**profile, "charging_schedule": schedules[0]}


def _configuration_key(wanted: dict[str, Any]) -> str | None:
    return messages201.VARIABLE_KEYS.get((wanted["component"]["name"], wanted["variable"]["name"]))


def _unknown(wanted: dict[str, Any], statuses: type) -> str:
    """UnknownComponent, or UnknownVariable of a component the simulator has."""
    if wanted["component"]["name"] in messages201.COMPONENTS:
        return statuses.unknown_variable
    return statuses.unknown_component
