"""What one simulated charger knows about itself, shared by its parts (the
connection in :mod:`~stations.simulator.charger`, the sessions, the command
reactions): its connectors with their sessions and reservations, and the
settings the CSMS changes (availability, power limits, intervals). Data only:
no I/O, and nothing here sends a message.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from ocpp.v16.enums import ChargePointStatus

from stations.simulator.ev_physics import Battery, MeterSample
from stations.simulator.messages import FIRMWARE_VERSION, loop_time

DEFAULT_HEARTBEAT_S = 300  # when BootNotification answers interval 0
POWER_UP, REMOTE_RESET, TRIGGERED = "PowerUp", "RemoteReset", "Triggered"  # 2.0.1 boot reasons


@dataclass(slots=True, eq=False)
class Session:
    connector_id: int
    id_tag: str
    battery: Battery
    deadline: float  # loop time when the driver ends the session
    meter_start_wh: int
    phases: int
    reservation_id: int | None = None
    # 1.6: assigned by the CSMS (maybe only on replay); 2.0.1: the charger's own, given at the start
    transaction_id: int | str | None = None
    seq_no: int = 0  # 2.0.1: the number of the transaction's next TransactionEvent
    remote_start_id: int | None = None  # 2.0.1: a RequestStartTransaction's, sent in the Started
    id_token_type: str | None = None  # 2.0.1: the idToken's type when not a card's (Central: the CSMS's)
    stop_reason: str | None = None
    stop_sent: bool = False  # the StopTransaction went out (or was queued while offline)
    last_sample: MeterSample | None = None
    started_at: float = 0.0  # loop time the transaction began: the meter's clock counts from it
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)

    def request_stop(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason  # the first reason wins
        self.stop_requested.set()

    async def wait_for_stop(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_requested.wait(), seconds)


@dataclass(slots=True)
class Reservation:
    reservation_id: int
    id_tag: str
    expires_at: float  # loop time


@dataclass(slots=True, eq=False)
class Connector:
    connector_id: int
    register_wh: float  # cumulative Energy.Active.Import.Register
    runs_sessions: bool  # part of charging_share: starts sessions on its own
    status: str = ChargePointStatus.available
    available: bool = True  # ChangeAvailability
    limit_w: float | None = None  # SetChargingProfile for this connector
    session: Session | None = None
    reservation: Reservation | None = None

    def live_reservation(self) -> Reservation | None:
        """The reservation, unless it has expired (then it is forgotten)."""
        if self.reservation is not None and loop_time() >= self.reservation.expires_at:
            self.reservation = None
        return self.reservation


@dataclass(slots=True, eq=False)
class ChargerState:
    """One charger's hardware and the settings the CSMS can change on it."""

    charge_point_id: str
    max_power_w: int
    phases: int
    connectors: list[Connector]
    heartbeat_interval: int | None  # seconds; None until the CSMS tells us
    meter_interval: float  # seconds; ChangeConfiguration(MeterValueSampleInterval)
    available: bool = True  # ChangeAvailability on connector 0
    limit_w: float | None = None  # SetChargingProfile on connector 0
    rebooting: bool = False  # from an accepted Reset (or the run's end) to the next accepted boot
    firmware_version: str = FIRMWARE_VERSION  # reported in BootNotification
    boot_reason: str = POWER_UP  # 2.0.1's BootNotification says why the charger booted

    def connector(self, connector_id: int | None) -> Connector | None:
        if connector_id is None or not 1 <= connector_id <= len(self.connectors):
            return None
        return self.connectors[connector_id - 1]

    def heartbeat_seconds(self) -> int:
        return self.heartbeat_interval or DEFAULT_HEARTBEAT_S

    def charger_status(self) -> str:
        """The status of connector 0, the charger as a whole."""
        return ChargePointStatus.available if self.available else ChargePointStatus.unavailable

    def idle_status(self, connector: Connector) -> str:
        """The status of a connector without a session."""
        if not (self.available and connector.available):
            return ChargePointStatus.unavailable
        if connector.live_reservation() is not None:
            return ChargePointStatus.reserved
        return ChargePointStatus.available

    def power_limit_w(self, connector: Connector) -> float:
        """Charger rating, capped by smart-charging limits on the connector and on connector 0."""
        limits = [self.max_power_w, connector.limit_w, self.limit_w]
        return min(limit for limit in limits if limit is not None)
