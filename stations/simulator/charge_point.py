"""The ``ocpp`` ChargePoint of one OCPP 1.6 connection of a simulated charger: the
@on/@after handlers that answer CSMS commands, delegating to the charger's
:class:`Reactions` (:class:`~stations.simulator.reactions.CommandReactions`),
and :class:`CallTiming`, the timing of the charger's own CALLs, which the 2.0.1
charge point (:mod:`~stations.simulator.charge_point201`) shares.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, Protocol

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import (
    Action,
    AvailabilityType,
    CancelReservationStatus,
    ClearCacheStatus,
    DataTransferStatus,
    GetCompositeScheduleStatus,
    Reason,
    RemoteStartStopStatus,
    ResetStatus,
    TriggerMessageStatus,
    UnlockStatus,
    UpdateStatus,
)

from stations.ocpp_time import utc_iso
from stations.simulator.messages import VENDOR, loop_time
from stations.simulator.state import Connector, Reservation, Session
from stations.simulator.stats import FleetStats

# The simulated charge points log here instead of "ocpp": every CALLERROR is
# already counted in FleetStats, a log line per error would flood a load test.
CHARGE_POINT_LOGGER = logging.getLogger("ocpp.simulator")


class Reactions(Protocol):
    """What the handlers (of either protocol's charge point) ask of the charger: answers
    (plain methods) and work that sends CALLs (coroutines, run through ``spawn`` after the CALLRESULT)."""

    local_list_version: int

    def spawn(self, coroutine: Awaitable[Any]) -> Any: ...
    def send(self, request: Any) -> Awaitable[None]: ...
    def connector(self, connector_id: int | None) -> Connector | None: ...
    def connectors(self) -> list[Connector]: ...
    def session_with_transaction(self, transaction_id: int | str) -> Session | None: ...
    def start_remote_session(
        self,
        id_tag: str,
        connector_id: int | None,
        *,
        remote_start_id: int | None = None,
        id_token_type: str | None = None,
    ) -> Connector | None: ...
    def stop_sessions(self, reason: str, connector_id: int | None = None) -> None: ...
    def sessions_open(self) -> bool: ...
    def reboot(self, reset_type: str) -> Awaitable[None]: ...
    def reboot_when_idle(self) -> Awaitable[None]: ...
    def change_availability(self, connector_id: int, operative: bool) -> str: ...
    def announce_availability(self) -> Awaitable[None]: ...
    def configuration(self) -> dict[str, tuple[str, bool]]: ...
    def change_configuration(self, key: str, value: str) -> str: ...
    def triggerable(self) -> frozenset[str]: ...
    def trigger_is_supported(self, requested: str, connector_id: int | None) -> bool: ...
    def send_triggered(self, requested: str, connector_id: int | None) -> Awaitable[None]: ...
    def upload_diagnostics(self, request_id: int | None = None) -> Awaitable[None]: ...
    def install_firmware(self, request_id: int | None = None) -> Awaitable[None]: ...
    def apply_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str: ...
    def clear_charging_profiles(self, connector_id: int | None) -> str: ...
    def charging_limits(self, connector_id: int | None) -> dict[int, float]: ...
    def composite_schedule(
        self, connector_id: int, duration: int, unit: str | None
    ) -> dict[str, Any] | None: ...
    def reserve(self, connector_id: int, reservation_id: int, id_tag: str, expiry_date: str) -> str: ...
    def cancel_reservation(self, reservation_id: int) -> Connector | None: ...
    def refresh_idle_statuses(self) -> Awaitable[None]: ...
    def expire_reservation(self, connector: Connector, reservation: Reservation) -> Awaitable[None]: ...


class CallTiming:
    """What both protocols' charge points of a simulated charger add to the library's: the
    charger's ``reactions``, the commands received counted in ``stats``, and the timing of the
    charger's own CALLs (written -> answer dequeued), in ``answers`` by unique id.

    Mixed in before the library's ChargePoint of the protocol (v16 or v201)."""

    def __init__(
        self,
        charge_point_id: str,
        connection: Any,
        reactions: Reactions,
        stats: FleetStats,
        *,
        response_timeout: float,
    ):
        super().__init__(
            charge_point_id, connection, response_timeout=response_timeout, logger=CHARGE_POINT_LOGGER
        )
        self.reactions = reactions
        self.stats = stats  # CALLs sent and commands received
        self.answers: dict[str, tuple[float, int]] = {}  # unique id -> (latency s, message type)
        self._call_written_at = 0.0  # the call lock allows one CALL in flight

    async def _send(self, message: str) -> None:
        if message.startswith("[2,"):
            self._call_written_at = loop_time()
        await super()._send(message)
        if message.startswith("[2,"):
            # Counted once written: a CALL still waiting for the call lock, or cancelled
            # half-way through its write, when a run ends was never sent.
            self.stats.calls_sent[message[:120].split('"')[3]] += 1

    async def _get_specific_response(self, unique_id: str, timeout: float) -> Any:
        response = await super()._get_specific_response(unique_id, timeout)
        latency = loop_time() - self._call_written_at
        self.answers.setdefault(unique_id, (latency, response.message_type_id))
        return response

    async def _handle_call(self, msg: Any) -> Any:
        self.stats.commands[msg.action] += 1
        return await super()._handle_call(msg)


class SimChargePoint(CallTiming, ChargePoint):
    """The OCPP 1.6 ChargePoint of one connection of a simulated charger.

    Answers CSMS commands by delegating to ``reactions``. @on handlers decide the
    answer; anything that sends CALLs runs from @after handlers or background
    tasks, because handlers run inside the receive loop that would have to
    deliver their CALLRESULTs.
    """

    # -- transactions --

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag, connector_id=None, charging_profile=None, **_):
        connector = self.reactions.start_remote_session(id_tag, connector_id)
        if connector is None:
            return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.rejected)
        if charging_profile:
            self.reactions.apply_charging_profile(connector.connector_id, charging_profile)
        return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.accepted)

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id, **_):
        found = self.reactions.session_with_transaction(transaction_id) is not None
        status = RemoteStartStopStatus.accepted if found else RemoteStartStopStatus.rejected
        return call_result.RemoteStopTransaction(status=status)

    @after(Action.remote_stop_transaction)
    def after_remote_stop_transaction(self, transaction_id, **_):
        session = self.reactions.session_with_transaction(transaction_id)
        if session is not None:
            session.request_stop(Reason.remote)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id, **_):
        known = self.reactions.connector(connector_id) is not None
        status = UnlockStatus.unlocked if known else UnlockStatus.not_supported
        return call_result.UnlockConnector(status=status)

    @after(Action.unlock_connector)
    def after_unlock_connector(self, connector_id, **_):
        self.reactions.stop_sessions(Reason.unlock_command, connector_id)

    # -- charger management --

    @on(Action.reset)
    def on_reset(self, type, **_):
        return call_result.Reset(status=ResetStatus.accepted)

    @after(Action.reset)
    def after_reset(self, type, **_):
        self.reactions.spawn(self.reactions.reboot(type))

    @on(Action.change_availability)
    def on_change_availability(self, connector_id, type, **_):
        status = self.reactions.change_availability(connector_id, type == AvailabilityType.operative)
        return call_result.ChangeAvailability(status=status)

    @after(Action.change_availability)
    def after_change_availability(self, **_):
        self.reactions.spawn(self.reactions.announce_availability())

    @on(Action.get_configuration)
    def on_get_configuration(self, key=None, **_):
        known = self.reactions.configuration()
        wanted = key if key else list(known)
        found = [{"key": k, "readonly": known[k][1], "value": known[k][0]} for k in wanted if k in known]
        unknown = [k for k in wanted if k not in known]
        return call_result.GetConfiguration(configuration_key=found or None, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key, value, **_):
        return call_result.ChangeConfiguration(status=self.reactions.change_configuration(key, value))

    @on(Action.clear_cache)
    def on_clear_cache(self, **_):
        return call_result.ClearCache(status=ClearCacheStatus.accepted)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, message_id=None, data=None, **_):
        if vendor_id != VENDOR:
            return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)
        return call_result.DataTransfer(status=DataTransferStatus.accepted, data=data)  # echo

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message, connector_id=None, **_):
        if self.reactions.trigger_is_supported(requested_message, connector_id):
            return call_result.TriggerMessage(status=TriggerMessageStatus.accepted)
        return call_result.TriggerMessage(status=TriggerMessageStatus.rejected)

    @after(Action.trigger_message)
    def after_trigger_message(self, requested_message, connector_id=None, **_):
        if self.reactions.trigger_is_supported(requested_message, connector_id):
            self.reactions.spawn(self.reactions.send_triggered(requested_message, connector_id))

    # -- firmware / diagnostics --

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location, **_):
        return call_result.GetDiagnostics(file_name=f"diagnostics-{self.id}.log")

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, **_):
        self.reactions.spawn(self.reactions.upload_diagnostics())

    @on(Action.update_firmware)
    def on_update_firmware(self, location, retrieve_date, **_):
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    def after_update_firmware(self, **_):
        self.reactions.spawn(self.reactions.install_firmware())

    # -- smart charging --

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id, cs_charging_profiles, **_):
        status = self.reactions.apply_charging_profile(connector_id, cs_charging_profiles)
        return call_result.SetChargingProfile(status=status)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, connector_id=None, **_):
        return call_result.ClearChargingProfile(status=self.reactions.clear_charging_profiles(connector_id))

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id, duration, charging_rate_unit=None, **_):
        schedule = self.reactions.composite_schedule(connector_id, duration, charging_rate_unit)
        if schedule is None:
            return call_result.GetCompositeSchedule(status=GetCompositeScheduleStatus.rejected)
        return call_result.GetCompositeSchedule(
            status=GetCompositeScheduleStatus.accepted,
            connector_id=connector_id,
            schedule_start=utc_iso(),
            charging_schedule=schedule,
        )

    # -- local list / reservations --

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version, update_type, **_):
        self.reactions.local_list_version = list_version  # drivers are accepted offline anyway
        return call_result.SendLocalList(status=UpdateStatus.accepted)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_):
        return call_result.GetLocalListVersion(list_version=self.reactions.local_list_version)

    @on(Action.reserve_now)
    def on_reserve_now(self, connector_id, expiry_date, id_tag, reservation_id, **_):
        status = self.reactions.reserve(connector_id, reservation_id, id_tag, expiry_date)
        return call_result.ReserveNow(status=status)

    @after(Action.reserve_now)
    def after_reserve_now(self, connector_id, reservation_id, **_):
        connector = self.reactions.connector(connector_id)
        reservation = connector.reservation if connector else None
        if reservation is not None and reservation.reservation_id == reservation_id:
            self.reactions.spawn(self.reactions.refresh_idle_statuses())  # -> Reserved
            self.reactions.spawn(self.reactions.expire_reservation(connector, reservation))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id, **_):
        cancelled = self.reactions.cancel_reservation(reservation_id) is not None
        status = CancelReservationStatus.accepted if cancelled else CancelReservationStatus.rejected
        return call_result.CancelReservation(status=status)

    @after(Action.cancel_reservation)
    def after_cancel_reservation(self, **_):
        self.reactions.spawn(self.reactions.refresh_idle_statuses())  # Reserved -> Available
