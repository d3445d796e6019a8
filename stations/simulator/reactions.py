"""How a simulated charger reacts to CSMS commands: :class:`CommandReactions`,
the part of :class:`~stations.simulator.charger.SimulatedCharger` that the
@on/@after handlers of :class:`~stations.simulator.charge_point.SimChargePoint` call.

Remote start/stop, reset, availability, configuration, smart charging,
reservations, TriggerMessage, firmware update and diagnostics upload.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from ocpp.v16 import call
from ocpp.v16.enums import (
    AvailabilityStatus,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ClearChargingProfileStatus,
    ConfigurationStatus,
    DiagnosticsStatus,
    FirmwareStatus,
    MessageTrigger,
    Reason,
    ReadingContext,
    ReservationStatus,
    ResetType,
)

from stations.simulator.ev_physics import NOMINAL_VOLTAGE_V, power_from_limit
from stations.simulator.messages import (
    UPDATED_FIRMWARE_VERSION,
    loop_time,
    meter_values_request,
    status_notification_request,
)
from stations.simulator.sessions import Connector, Reservation, Session

REBOOT_SESSION_GRACE_S = 15.0  # how long a Reset waits for sessions to send StopTransaction
PLUG_IN_DELAY_S = (1.0, 4.0)  # RemoteStart accepted -> driver plugs in
FIRMWARE_STEP_S = (1.0, 3.0)  # time per firmware phase (download, install)
DEFAULT_RESERVATION_S = 15 * 60  # when ReserveNow's expiryDate cannot be parsed
WEBSOCKET_PING_INTERVAL_S = 60  # reported as configuration, used for the socket

INTEGER_KEYS = frozenset({"HeartbeatInterval", "MeterValueSampleInterval", "ConnectionTimeOut",
                          "WebSocketPingInterval"})
REBOOT_REQUIRED_KEYS = frozenset({"WebSocketPingInterval", "AuthorizationKey"})
TRIGGERABLE_MESSAGES = frozenset({
    MessageTrigger.boot_notification, MessageTrigger.heartbeat, MessageTrigger.status_notification,
    MessageTrigger.meter_values, MessageTrigger.firmware_status_notification,
    MessageTrigger.diagnostics_status_notification,
})


class CommandReactions:
    """Mixin of SimulatedCharger: its answers to CSMS commands and the work
    they start. Relies on the charger's state and on its sending (_call_if_online,
    _notify_status, ...) and session (_claim, _run_session, ...) methods.
    """

    __slots__ = ()

    def connector(self, connector_id: int | None) -> Connector | None:
        if connector_id is None or not 1 <= connector_id <= len(self.connectors):
            return None
        return self.connectors[connector_id - 1]

    def session_with_transaction(self, transaction_id: int) -> Session | None:
        for connector in self.connectors:
            if connector.session and connector.session.transaction_id == transaction_id:
                return connector.session
        return None

    def start_remote_session(self, id_tag: str, connector_id: int | None) -> Connector | None:
        """Claim a connector for RemoteStartTransaction; the session begins once
        the driver plugs in (after the CALLRESULT has gone out)."""
        candidates = [self.connector(connector_id)] if connector_id is not None else self.connectors
        for connector in candidates:
            if connector is not None and self._can_start_session(connector, id_tag):
                session = self._claim(connector, id_tag)
                self.spawn(self._remote_session(connector, session))
                return connector
        return None

    async def _remote_session(self, connector: Connector, session: Session) -> None:
        await asyncio.sleep(self.rng.uniform(*PLUG_IN_DELAY_S))
        await self._run_session(connector, session, authorize=False)  # AuthorizeRemoteTxRequests=false

    def stop_sessions(self, reason: str, connector_id: int | None = None) -> None:
        for connector in self.connectors:
            if connector.session and connector_id in (None, connector.connector_id):
                connector.session.request_stop(reason)

    def wind_down(self) -> None:
        """The run is ending, as when a site is switched off cleanly: no new
        sessions, and each open one ends with a StopTransaction."""
        self._rebooting = True
        self.stop_sessions(Reason.local)

    def sessions_open(self) -> bool:
        return any(c.session and not c.session.stop_sent for c in self.connectors)

    async def reboot(self, reset_type: str) -> None:
        """Reset: end sessions (StopTransaction), close the socket, boot again."""
        reason = Reason.hard_reset if reset_type == ResetType.hard else Reason.soft_reset
        self._rebooting = True  # no new sessions until booted again
        self.stop_sessions(reason)
        deadline = loop_time() + REBOOT_SESSION_GRACE_S
        while any(c.session for c in self.connectors) and loop_time() < deadline:
            await asyncio.sleep(0.2)
        if self.link is not None:
            await self.link.close()

    def change_availability(self, connector_id: int, operative: bool) -> str:
        targets = self.connectors if connector_id == 0 else [self.connector(connector_id)]
        if None in targets:
            return AvailabilityStatus.rejected
        if connector_id == 0:
            self.available = operative
        for connector in targets:
            connector.available = operative
        busy = any(connector.session for connector in targets)  # applied after the session ends
        return AvailabilityStatus.scheduled if busy else AvailabilityStatus.accepted

    async def announce_availability(self) -> None:
        await self._call_if_online(status_notification_request(0, self._charger_status()))
        await self.refresh_idle_statuses()

    async def refresh_idle_statuses(self) -> None:
        """StatusNotification for idle connectors whose status changed
        (availability, reservation made/cancelled/expired)."""
        for connector in self.connectors:
            if connector.session is None:
                await self._notify_status(connector, self._idle_status(connector))

    def configuration(self) -> dict[str, tuple[str, bool]]:
        """key -> (value, readonly); what GetConfiguration reports."""
        values = {
            "HeartbeatInterval": (str(self._heartbeat_seconds()), False),
            "MeterValueSampleInterval": (str(round(self.meter_interval)), False),
            "NumberOfConnectors": (str(len(self.connectors)), True),
            "MeterValuesSampledData": ("Energy.Active.Import.Register,Power.Active.Import,"
                                       "Current.Import,Voltage,SoC", False),
            "ConnectionTimeOut": ("60", False),
            "AuthorizeRemoteTxRequests": ("false", False),
            "LocalAuthorizeOffline": ("true", False),
            "LocalAuthListEnabled": ("true", False),
            "WebSocketPingInterval": (str(WEBSOCKET_PING_INTERVAL_S), False),
            "ChargeProfileMaxStackLevel": ("8", True),
            "SupportedFeatureProfiles": ("Core,FirmwareManagement,LocalAuthListManagement,"
                                         "Reservation,SmartCharging,RemoteTrigger", True),
        }
        for key, value in (self.config_overrides or {}).items():
            values[key] = (value, False)
        return values

    def change_configuration(self, key: str, value: str) -> str:
        if key == "AuthorizationKey":  # accepted, but the fleet keeps using options.password
            return ConfigurationStatus.reboot_required
        current = self.configuration().get(key)
        if current is None:
            return ConfigurationStatus.not_supported
        if current[1] or (key in INTEGER_KEYS and not (value.isdigit() and int(value) > 0)):
            return ConfigurationStatus.rejected
        self._apply_configuration(key, value)
        if key in REBOOT_REQUIRED_KEYS:
            return ConfigurationStatus.reboot_required
        return ConfigurationStatus.accepted

    def _apply_configuration(self, key: str, value: str) -> None:
        if key == "HeartbeatInterval":
            self.heartbeat_interval = int(value)  # used from the next heartbeat on
        elif key == "MeterValueSampleInterval":
            self.meter_interval = float(value)
        else:
            self.config_overrides = {**(self.config_overrides or {}), key: value}

    def apply_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """Simplification: the first period's limit applies at once, for good."""
        if connector_id != 0 and self.connector(connector_id) is None:
            return ChargingProfileStatus.rejected
        try:
            schedule = profile["charging_schedule"]
            limit = float(schedule["charging_schedule_period"][0]["limit"])
            limit_w = power_from_limit(limit, schedule["charging_rate_unit"], self.phases)
        except (KeyError, IndexError, TypeError, ValueError):
            return ChargingProfileStatus.rejected
        if connector_id == 0:
            self.limit_w = limit_w
        else:
            self.connector(connector_id).limit_w = limit_w
        return ChargingProfileStatus.accepted

    def clear_charging_profiles(self, connector_id: int | None) -> str:
        targets = [c for c in self.connectors if connector_id in (None, 0, c.connector_id)]
        had_limits = any(c.limit_w is not None for c in targets) or (
            connector_id in (None, 0) and self.limit_w is not None)
        for connector in targets:
            connector.limit_w = None
        if connector_id in (None, 0):
            self.limit_w = None
        return ClearChargingProfileStatus.accepted if had_limits else ClearChargingProfileStatus.unknown

    def composite_schedule(self, connector_id: int, duration: int, unit: str | None) -> dict[str, Any] | None:
        connector = self.connector(connector_id)
        if connector_id != 0 and connector is None:
            return None
        limit_w = self.power_limit_w(connector) if connector else min(
            limit for limit in (self.max_power_w, self.limit_w) if limit is not None)
        unit = unit or ChargingRateUnitType.watts
        limit = limit_w if unit == ChargingRateUnitType.watts else limit_w / (NOMINAL_VOLTAGE_V * self.phases)
        return {"duration": duration, "charging_rate_unit": unit,
                "charging_schedule_period": [{"start_period": 0, "limit": round(limit, 1)}]}

    def reserve(self, connector_id: int, reservation_id: int, id_tag: str, expiry_date: str) -> str:
        connector = self.connector(connector_id)  # connector 0: ReserveConnectorZeroSupported=false
        if connector is None:
            return ReservationStatus.rejected
        existing = self._reservation_of(connector)
        if connector.session is not None or (existing and existing.reservation_id != reservation_id):
            return ReservationStatus.occupied
        if not (self.available and connector.available):
            return ReservationStatus.unavailable
        self.cancel_reservation(reservation_id)  # same id elsewhere: replaced (OCPP 1.6 5.13)
        connector.reservation = Reservation(reservation_id, id_tag, loop_time() + seconds_until(expiry_date))
        return ReservationStatus.accepted

    def cancel_reservation(self, reservation_id: int) -> Connector | None:
        for connector in self.connectors:
            if connector.reservation and connector.reservation.reservation_id == reservation_id:
                connector.reservation = None
                return connector
        return None

    def _reservation_of(self, connector: Connector) -> Reservation | None:
        reservation = connector.reservation
        if reservation is not None and loop_time() >= reservation.expires_at:
            connector.reservation = reservation = None
        return reservation

    async def expire_reservation(self, connector: Connector, reservation: Reservation) -> None:
        await asyncio.sleep(max(0.0, reservation.expires_at - loop_time()))
        if connector.reservation is reservation:
            connector.reservation = None
            await self.refresh_idle_statuses()

    def trigger_is_supported(self, requested: str, connector_id: int | None) -> bool:
        if connector_id not in (None, 0) and self.connector(connector_id) is None:
            return False
        return requested in TRIGGERABLE_MESSAGES

    async def send_triggered(self, requested: str, connector_id: int | None) -> None:
        """The message a TriggerMessage asked for, sent after its CALLRESULT."""
        if requested == MessageTrigger.boot_notification:
            await self._triggered_boot()
        elif requested == MessageTrigger.heartbeat:
            await self._call_if_online(call.Heartbeat(), require_accepted=False)
        elif requested == MessageTrigger.status_notification:
            await self._triggered_statuses(connector_id)
        elif requested == MessageTrigger.meter_values:
            await self._triggered_meter_values(connector_id)
        elif requested == MessageTrigger.firmware_status_notification:
            await self._call_if_online(call.FirmwareStatusNotification(status=self.firmware_status),
                                       require_accepted=False)
        elif requested == MessageTrigger.diagnostics_status_notification:
            await self._call_if_online(call.DiagnosticsStatusNotification(status=DiagnosticsStatus.idle),
                                       require_accepted=False)

    async def _triggered_boot(self) -> None:
        link = self.link
        if link is not None and not link.accepted:
            link.boot_requested.set()  # the boot loop retries right away
            return
        response = await self._call_if_online(self._boot_request())
        if response is not None:
            self.stats.boots[response.status] += 1

    async def _triggered_statuses(self, connector_id: int | None) -> None:
        if connector_id in (None, 0):
            await self._call_if_online(status_notification_request(0, self._charger_status()),
                                       require_accepted=False)
        for connector in self.connectors:
            if connector_id in (None, connector.connector_id):
                await self._call_if_online(
                    status_notification_request(connector.connector_id, connector.status),
                    require_accepted=False)

    async def _triggered_meter_values(self, connector_id: int | None) -> None:
        for connector in self.connectors:
            if connector_id not in (None, 0, connector.connector_id):
                continue
            session = connector.session
            sample = (session and session.last_sample) or self._sample(
                connector, 0.0, session.battery.soc if session else None, self.phases)
            transaction_id = session.transaction_id if session else None
            await self._call_if_online(meter_values_request(
                connector.connector_id, sample, transaction_id, ReadingContext.trigger),
                require_accepted=False)

    async def install_firmware(self) -> None:
        """UpdateFirmware: report each phase; the new version shows in the next boot."""
        for status in (FirmwareStatus.downloading, FirmwareStatus.downloaded,
                       FirmwareStatus.installing, FirmwareStatus.installed):
            await asyncio.sleep(self.rng.uniform(*FIRMWARE_STEP_S))
            self.firmware_status = status
            await self._call_if_online(call.FirmwareStatusNotification(status=status))
        self.firmware_version = UPDATED_FIRMWARE_VERSION

    async def upload_diagnostics(self) -> None:
        for status in (DiagnosticsStatus.uploading, DiagnosticsStatus.uploaded):
            await asyncio.sleep(self.rng.uniform(*FIRMWARE_STEP_S))
            await self._call_if_online(call.DiagnosticsStatusNotification(status=status))


def seconds_until(timestamp: str) -> float:
    """Seconds from now until an OCPP dateTime (clamped to 0..1 day)."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        return DEFAULT_RESERVATION_S
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    seconds = (moment - datetime.now(timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), 24 * 3600.0)
