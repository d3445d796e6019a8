"""How a simulated charger reacts to CSMS commands: :class:`CommandReactions`,
what the @on/@after handlers of :class:`~stations.simulator.charge_point.SimChargePoint`
call (it is the charge point's :class:`~stations.simulator.charge_point.Reactions`).

Remote start/stop, reset, availability, configuration, smart charging,
reservations, TriggerMessage, firmware update and diagnostics upload. In 1.6's
words: the 2.0.1 charge point translates its commands into these, and the
uplink's protocol builds what they send.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

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
    ReservationStatus,
    ResetType,
)
from ocpp.v201.enums import MessageTriggerEnumType

from stations.simulator.ev_physics import NOMINAL_VOLTAGE_V, power_from_limit
from stations.simulator.link import Uplink
from stations.simulator.messages import METER_VALUES, UPDATED_FIRMWARE_VERSION, loop_time
from stations.simulator.protocols import LOG_STATUS_TRIGGERS
from stations.simulator.sessions import Sessions
from stations.simulator.state import REMOTE_RESET, ChargerState, Connector, Reservation, Session

REBOOT_SESSION_GRACE_S = 15.0  # how long a Reset waits for sessions to send StopTransaction
IDLE_CHECK_S = 1.0  # how often a 2.0.1 Reset OnIdle looks whether the sessions have ended
PLUG_IN_DELAY_S = (1.0, 4.0)  # RemoteStart accepted -> driver plugs in
FIRMWARE_STEP_S = (1.0, 3.0)  # time per firmware phase (download, install)
DEFAULT_RESERVATION_S = 15 * 60  # when ReserveNow's expiryDate cannot be parsed
WEBSOCKET_PING_INTERVAL_S = 60  # reported as configuration, used for the socket

INTEGER_KEYS = frozenset(
    {"HeartbeatInterval", "MeterValueSampleInterval", "ConnectionTimeOut", "WebSocketPingInterval"}
)
REBOOT_REQUIRED_KEYS = frozenset({"WebSocketPingInterval", "AuthorizationKey"})


class CommandReactions:
    """One charger's answers to CSMS commands and the work they start.

    Changes the shared ``state``; starts and stops ``sessions``; sends through
    ``uplink``; runs background work through ``spawn`` (the charge point's @after
    handlers use it too) and asks the charger for a BootNotification through
    ``boot_on_request`` (TriggerMessage).
    """

    __slots__ = (
        "state",
        "sessions",
        "uplink",
        "rng",
        "spawn",
        "boot_on_request",
        "firmware_status",
        "local_list_version",
        "config_overrides",
    )

    def __init__(
        self,
        state: ChargerState,
        sessions: Sessions,
        uplink: Uplink,
        rng: random.Random,
        *,
        spawn: Callable[[Awaitable[Any]], asyncio.Task],
        boot_on_request: Callable[[], Awaitable[None]],
    ):
        self.state = state
        self.sessions = sessions
        self.uplink = uplink
        self.rng = rng
        self.spawn = spawn
        self.boot_on_request = boot_on_request
        self.firmware_status = FirmwareStatus.idle
        self.local_list_version = 0
        self.config_overrides: dict[str, str] | None = None  # created on first ChangeConfiguration

    def connector(self, connector_id: int | None) -> Connector | None:
        return self.state.connector(connector_id)

    def connectors(self) -> list[Connector]:
        return self.state.connectors

    async def send(self, request) -> None:
        """A message a command asked for (a 2.0.1 NotifyReport), sent after the command's answer."""
        await self.uplink.call_if_online(request, require_accepted=False)

    # ---- transactions ---------------------------------------------------

    def session_with_transaction(self, transaction_id: int | str) -> Session | None:
        for connector in self.state.connectors:
            if connector.session and connector.session.transaction_id == transaction_id:
                return connector.session
        return None

    def start_remote_session(
        self,
        id_tag: str,
        connector_id: int | None,
        *,
        remote_start_id: int | None = None,
        id_token_type: str | None = None,
    ) -> Connector | None:
        """Claim a connector for RemoteStartTransaction (2.0.1: RequestStartTransaction, with its
        remoteStartId and token type); the session begins once the driver plugs in (after the
        CALLRESULT has gone out)."""
        candidates = [self.connector(connector_id)] if connector_id is not None else self.state.connectors
        for connector in candidates:
            if connector is not None and self.sessions.can_start(connector, id_tag):
                session = self.sessions.claim(connector, id_tag)
                session.remote_start_id, session.id_token_type = remote_start_id, id_token_type
                self.spawn(self._remote_session(connector, session))
                return connector
        return None

    async def _remote_session(self, connector: Connector, session: Session) -> None:
        await asyncio.sleep(self.rng.uniform(*PLUG_IN_DELAY_S))
        await self.sessions.run(connector, session, authorize=False)  # AuthorizeRemoteTxRequests=false

    def stop_sessions(self, reason: str, connector_id: int | None = None) -> None:
        self.sessions.stop(reason, connector_id)

    # ---- charger management ---------------------------------------------

    async def reboot(self, reset_type: str) -> None:
        """Reset: end sessions (StopTransaction), close the socket, boot again."""
        reason = Reason.hard_reset if reset_type == ResetType.hard else Reason.soft_reset
        self.state.rebooting = True  # no new sessions until booted again
        self.state.boot_reason = REMOTE_RESET
        self.sessions.stop(reason)
        deadline = loop_time() + REBOOT_SESSION_GRACE_S
        while any(c.session for c in self.state.connectors) and loop_time() < deadline:
            await asyncio.sleep(0.2)
        link = self.uplink.link
        if link is not None:
            await link.close()

    def sessions_open(self) -> bool:
        return any(connector.session for connector in self.state.connectors)

    async def reboot_when_idle(self) -> None:
        """2.0.1 Reset OnIdle: no new sessions; reboot once the open ones have ended by themselves."""
        self.state.rebooting = True
        while self.sessions_open():
            await asyncio.sleep(IDLE_CHECK_S)
        await self.reboot(ResetType.soft)

    def change_availability(self, connector_id: int, operative: bool) -> str:
        targets = self.state.connectors if connector_id == 0 else [self.connector(connector_id)]
        if None in targets:
            return AvailabilityStatus.rejected
        if connector_id == 0:
            self.state.available = operative
        for connector in targets:
            connector.available = operative
        busy = any(connector.session for connector in targets)  # applied after the session ends
        return AvailabilityStatus.scheduled if busy else AvailabilityStatus.accepted

    async def announce_availability(self) -> None:
        await self.uplink.notify_charger_status(self.state.charger_status())
        await self.refresh_idle_statuses()

    async def refresh_idle_statuses(self) -> None:
        """StatusNotification for idle connectors whose status changed
        (availability, reservation made/cancelled/expired)."""
        for connector in self.state.connectors:
            if connector.session is None:
                await self.uplink.notify_status(connector, self.state.idle_status(connector))

    # ---- configuration --------------------------------------------------

    def configuration(self) -> dict[str, tuple[str, bool]]:
        """key -> (value, readonly); what GetConfiguration reports."""
        values = {
            "HeartbeatInterval": (str(self.state.heartbeat_seconds()), False),
            "MeterValueSampleInterval": (str(round(self.state.meter_interval)), False),
            "NumberOfConnectors": (str(len(self.state.connectors)), True),
            "MeterValuesSampledData": (
                "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC",
                False,
            ),
            "ConnectionTimeOut": ("60", False),
            "AuthorizeRemoteTxRequests": ("false", False),
            "LocalAuthorizeOffline": ("true", False),
            "LocalAuthListEnabled": ("true", False),
            "WebSocketPingInterval": (str(WEBSOCKET_PING_INTERVAL_S), False),
            "ChargeProfileMaxStackLevel": ("8", True),
            "SupportedFeatureProfiles": (
                "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
                True,
            ),
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
            self.state.heartbeat_interval = int(value)  # used from the next heartbeat on
        elif key == "MeterValueSampleInterval":
            self.state.meter_interval = float(value)
        else:
            self.config_overrides = {**(self.config_overrides or {}), key: value}

    # ---- smart charging -------------------------------------------------

    def apply_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """Simplification: the first period's limit applies at once, for good."""
        if connector_id != 0 and self.connector(connector_id) is None:
            return ChargingProfileStatus.rejected
        try:
            schedule = profile["charging_schedule"]
            limit = float(schedule["charging_schedule_period"][0]["limit"])
            limit_w = power_from_limit(limit, schedule["charging_rate_unit"], self.state.phases)
        except (KeyError, IndexError, TypeError, ValueError):
            return ChargingProfileStatus.rejected
        if connector_id == 0:
            self.state.limit_w = limit_w
        else:
            self.connector(connector_id).limit_w = limit_w
        return ChargingProfileStatus.accepted

    def clear_charging_profiles(self, connector_id: int | None) -> str:
        state = self.state
        targets = [c for c in state.connectors if connector_id in (None, 0, c.connector_id)]
        had_limits = any(c.limit_w is not None for c in targets) or (
            connector_id in (None, 0) and state.limit_w is not None
        )
        for connector in targets:
            connector.limit_w = None
        if connector_id in (None, 0):
            state.limit_w = None
        return ClearChargingProfileStatus.accepted if had_limits else ClearChargingProfileStatus.unknown

    def charging_limits(self, connector_id: int | None) -> dict[int, float]:
        """The limits set (watts) by connector, 0 for the whole charger; of one connector, or all (None)."""
        limits = {0: self.state.limit_w} | {c.connector_id: c.limit_w for c in self.state.connectors}
        return {
            number: limit
            for number, limit in limits.items()
            if limit is not None and connector_id in (None, number)
        }

    def composite_schedule(self, connector_id: int, duration: int, unit: str | None) -> dict[str, Any] | None:
        state, connector = self.state, self.connector(connector_id)
        if connector_id != 0 and connector is None:
            return None
        limit_w = (
            state.power_limit_w(connector)
            if connector
            else min(limit for limit in (state.max_power_w, state.limit_w) if limit is not None)
        )
        unit = unit or ChargingRateUnitType.watts
        watts = unit == ChargingRateUnitType.watts
        limit = limit_w if watts else limit_w / (NOMINAL_VOLTAGE_V * state.phases)
        return {
            "duration": duration,
            "charging_rate_unit": unit,
            "charging_schedule_period": [{"start_period": 0, "limit": round(limit, 1)}],
        }

    # ---- reservations ---------------------------------------------------

    def reserve(self, connector_id: int, reservation_id: int, id_tag: str, expiry_date: str) -> str:
        connector = self.connector(connector_id)  # connector 0: ReserveConnectorZeroSupported=false
        if connector is None:
            return ReservationStatus.rejected
        existing = connector.live_reservation()
        if connector.session is not None or (existing and existing.reservation_id != reservation_id):
            return ReservationStatus.occupied
        if not (self.state.available and connector.available):
            return ReservationStatus.unavailable
        self.cancel_reservation(reservation_id)  # same id elsewhere: replaced (OCPP 1.6 5.13)
        connector.reservation = Reservation(reservation_id, id_tag, loop_time() + seconds_until(expiry_date))
        return ReservationStatus.accepted

    def cancel_reservation(self, reservation_id: int) -> Connector | None:
        for connector in self.state.connectors:
            if connector.reservation and connector.reservation.reservation_id == reservation_id:
                connector.reservation = None
                return connector
        return None

    async def expire_reservation(self, connector: Connector, reservation: Reservation) -> None:
        await asyncio.sleep(max(0.0, reservation.expires_at - loop_time()))
        if connector.reservation is reservation:
            connector.reservation = None
            await self.refresh_idle_statuses()
            # 2.0.1 tells the CSMS (ReservationStatusUpdate); 1.6 has no such message (None: not sent).
            expired = self.uplink.protocol.reservation_expired(reservation.reservation_id)
            await self.uplink.call_if_online(expired, require_accepted=False)

    # ---- TriggerMessage -------------------------------------------------

    def triggerable(self) -> frozenset[str]:
        return self.uplink.protocol.triggerable

    def trigger_is_supported(self, requested: str, connector_id: int | None) -> bool:
        if connector_id not in (None, 0) and self.connector(connector_id) is None:
            return False
        return requested in self.triggerable()

    async def send_triggered(self, requested: str, connector_id: int | None) -> None:
        """The message a TriggerMessage asked for (in either protocol's words), sent after its CALLRESULT."""
        protocol, call_if_online = self.uplink.protocol, self.uplink.call_if_online
        if requested == MessageTrigger.boot_notification:
            await self.boot_on_request()
        elif requested == MessageTrigger.heartbeat:
            await call_if_online(protocol.heartbeat(), require_accepted=False)
        elif requested == MessageTrigger.status_notification:
            await self._triggered_statuses(connector_id)
        elif requested == MessageTrigger.meter_values:
            await self._triggered_meter_values(connector_id)
        elif requested == MessageTriggerEnumType.transaction_event:
            await self._triggered_transaction_events(connector_id)
        elif requested == MessageTrigger.firmware_status_notification:
            await call_if_online(protocol.firmware_status(self.firmware_status, None), require_accepted=False)
        elif requested in LOG_STATUS_TRIGGERS:
            await call_if_online(protocol.log_status(DiagnosticsStatus.idle, None), require_accepted=False)

    async def _triggered_statuses(self, connector_id: int | None) -> None:
        if connector_id in (None, 0):
            await self.uplink.notify_charger_status(self.state.charger_status(), require_accepted=False)
        for connector in self.state.connectors:
            if connector_id in (None, connector.connector_id):
                await self.uplink.call_if_online(
                    self.uplink.protocol.status(connector.connector_id, connector.status),
                    require_accepted=False,
                )

    async def _triggered_meter_values(self, connector_id: int | None) -> None:
        for connector in self._triggered_connectors(connector_id):
            session = connector.session
            request = self.uplink.protocol.meter_values(
                connector.connector_id, self._current_sample(connector), session
            )
            await self.uplink.call_if_online(request, require_accepted=False)

    async def _triggered_transaction_events(self, connector_id: int | None) -> None:
        """2.0.1: an Updated of each session asked for, numbered in its sequence (so sent or queued)."""
        for connector in self._triggered_connectors(connector_id):
            session = connector.session
            if session is not None and session.transaction_id is not None and not session.stop_sent:
                build = self.uplink.protocol.transaction_meter_values(
                    session, self._current_sample(connector), triggered=True
                )
                await self.uplink.send_transaction_message(METER_VALUES, build, session)

    def _triggered_connectors(self, connector_id: int | None) -> list[Connector]:
        return [c for c in self.state.connectors if connector_id in (None, 0, c.connector_id)]

    def _current_sample(self, connector: Connector):
        session = connector.session
        return (session and session.last_sample) or self.sessions.meter_sample(
            connector, 0.0, session.battery.soc if session else None, self.state.phases
        )

    # ---- firmware / diagnostics -----------------------------------------

    async def install_firmware(self, request_id: int | None = None) -> None:
        """UpdateFirmware: report each phase (2.0.1: with the request's id); the new version shows
        in the next boot."""
        for status in (
            FirmwareStatus.downloading,
            FirmwareStatus.downloaded,
            FirmwareStatus.installing,
            FirmwareStatus.installed,
        ):
            await asyncio.sleep(self.rng.uniform(*FIRMWARE_STEP_S))
            self.firmware_status = status
            await self.uplink.call_if_online(self.uplink.protocol.firmware_status(status, request_id))
        self.state.firmware_version = UPDATED_FIRMWARE_VERSION

    async def upload_diagnostics(self, request_id: int | None = None) -> None:
        """GetDiagnostics (2.0.1: GetLog, followed by its request's id): uploading, uploaded."""
        for status in (DiagnosticsStatus.uploading, DiagnosticsStatus.uploaded):
            await asyncio.sleep(self.rng.uniform(*FIRMWARE_STEP_S))
            await self.uplink.call_if_online(self.uplink.protocol.log_status(status, request_id))


def seconds_until(timestamp: str) -> float:
    """Seconds from now until an OCPP dateTime (clamped to 0..1 day)."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        return DEFAULT_RESERVATION_S
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = (moment - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), 24 * 3600.0)
