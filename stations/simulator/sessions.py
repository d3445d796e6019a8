"""Charging sessions of a simulated charger: the state of its connectors,
sessions and reservations, and :class:`SessionRunner`, the part of
:class:`~stations.simulator.charger.SimulatedCharger` that runs sessions.

A session: Authorize -> Preparing -> StartTransaction -> Charging + MeterValues
every meter interval -> StopTransaction -> Finishing -> (driver unplugs) ->
Available. Energy comes from :mod:`stations.simulator.ev_physics`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from functools import partial

from ocpp.v16 import call
from ocpp.v16.enums import AuthorizationStatus, ChargePointStatus, Reason

from stations.simulator.ev_physics import (
    NOMINAL_VOLTAGE_V,
    VOLTAGE_JITTER_V,
    Battery,
    MeterSample,
    charge_step,
    phase_current,
    phases_in_use,
    random_battery,
)
from stations.ocpp_time import utc_iso
from stations.simulator.messages import (
    METER_VALUES,
    START,
    STOP,
    connector_id_tag,
    loop_time,
    meter_values_request,
    next_due,
    stop_transaction_request,
)

UNPLUG_DELAY_S = (2.0, 10.0)  # Finishing -> driver unplugs -> Available


@dataclass(slots=True, eq=False)
class Session:
    connector_id: int
    id_tag: str
    battery: Battery
    deadline: float  # loop time when the driver ends the session
    meter_start_wh: int
    phases: int
    reservation_id: int | None = None
    transaction_id: int | None = None  # assigned by the CSMS (maybe only on replay)
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


class SessionRunner:
    """Mixin of SimulatedCharger: runs sessions, on its own (charging_share
    connectors) and the ones RemoteStartTransaction claims (see CommandReactions).

    Relies on the charger's state (options, stats, rng, phases, max_power_w,
    limit_w, meter_interval, available, accepted_once, _rebooting) and its
    sending methods (_call_if_online, _send_transaction_message, _notify_status,
    _idle_status, _reservation_of).
    """

    __slots__ = ()

    async def _session_loop(self, connector: Connector) -> None:
        """Keeps a charging_share connector busy: idle gap, session, idle gap, ..."""
        await self.accepted_once.wait()
        while True:
            await asyncio.sleep(self.rng.uniform(*self.options.idle_gap))
            if self._can_start_session(connector):
                session = self._claim(connector, self._driver_id_tag(connector))
                await self._run_session(connector, session, authorize=True)

    def _driver_id_tag(self, connector: Connector) -> str:
        if self.options.id_tag_per_connector:
            return connector_id_tag(self.id, connector.connector_id)
        return self.rng.choice(self.options.id_tags)

    def _can_start_session(self, connector: Connector, id_tag: str | None = None) -> bool:
        reservation = self._reservation_of(connector)
        reserved_for_other = reservation is not None and reservation.id_tag != id_tag
        return (connector.session is None and self.available and connector.available
                and not reserved_for_other and not self._rebooting)

    def _claim(self, connector: Connector, id_tag: str) -> Session:
        """Occupy the connector with a new car (synchronously, so nothing else grabs it)."""
        battery = random_battery(self.rng)
        reservation = self._reservation_of(connector)
        connector.reservation = None
        session = Session(
            connector_id=connector.connector_id, id_tag=id_tag, battery=battery,
            deadline=loop_time() + self.rng.uniform(*self.options.session_duration),
            meter_start_wh=round(connector.register_wh),
            phases=phases_in_use(self.phases, battery.max_power_w),
            reservation_id=reservation.reservation_id if reservation else None,
        )
        connector.session = session
        return session

    async def _run_session(self, connector: Connector, session: Session, *, authorize: bool) -> None:
        """Authorize -> Preparing -> StartTransaction -> Charging + MeterValues ->
        StopTransaction -> Finishing -> (driver unplugs) -> Available."""
        try:
            if authorize and not await self._authorize(session.id_tag):
                return
            await self._notify_status(connector, ChargePointStatus.preparing)
            await self._start_transaction(connector, session)
            if session.stop_reason is None:
                await self._notify_status(connector, ChargePointStatus.charging)
                await self._charge(connector, session)
            await self._stop_transaction(connector, session)
            await self._notify_status(connector, ChargePointStatus.finishing)
            await asyncio.sleep(self.rng.uniform(*UNPLUG_DELAY_S))
        finally:
            connector.session = None
        await self._notify_status(connector, self._idle_status(connector))

    async def _authorize(self, id_tag: str) -> bool:
        response = await self._call_if_online(call.Authorize(id_tag=id_tag))
        if response is None:  # offline or no answer: LocalAuthorizeOffline lets the driver charge
            return True
        return response.id_tag_info["status"] == AuthorizationStatus.accepted

    async def _start_transaction(self, connector: Connector, session: Session) -> None:
        request = call.StartTransaction(
            connector_id=connector.connector_id, id_tag=session.id_tag,
            meter_start=session.meter_start_wh, timestamp=utc_iso(),
            reservation_id=session.reservation_id,
        )
        self.stats.sessions_started += 1
        self.stats.sessions_active += 1
        session.started_at = loop_time()
        response = await self._send_transaction_message(START, lambda _unused_id: request, session)
        if response is not None:
            session.transaction_id = response.transaction_id
            if response.id_tag_info["status"] != AuthorizationStatus.accepted:
                session.request_stop(Reason.de_authorized)

    async def _charge(self, connector: Connector, session: Session) -> None:
        """Meter every meter_interval until the car is full, the driver's time is
        up or a stop is requested (remote, reset, unlock). The meter runs from the
        transaction's start, not from the CSMS's answer to it: a slow answer to a
        site's session starts must not put their meter values in step."""
        last = session.started_at
        due = last + self.meter_interval
        while True:
            await session.wait_for_stop(max(0.0, min(due, session.deadline) - loop_time()))
            now = loop_time()
            sample = self._advance_meter(connector, session, now - last)
            last = now
            full = sample.soc >= 100.0
            if session.stop_reason or full or now >= session.deadline:
                # a full car is unplugged by its driver; otherwise the driver ends it at the charger
                session.request_stop(Reason.ev_disconnected if full else Reason.local)
                return
            build = partial(meter_values_request, connector.connector_id, sample)
            await self._send_transaction_message(METER_VALUES, build, session)
            due = next_due(due, self.meter_interval)

    def _advance_meter(self, connector: Connector, session: Session, seconds: float) -> MeterSample:
        energy_wh, power_w, soc = charge_step(session.battery, self.power_limit_w(connector), seconds)
        connector.register_wh += energy_wh
        session.battery.soc = soc
        self.stats.energy_wh += energy_wh
        session.last_sample = self._sample(connector, power_w, soc, session.phases)
        return session.last_sample

    def _sample(self, connector: Connector, power_w: float, soc: float | None, phases: int) -> MeterSample:
        voltage_v = NOMINAL_VOLTAGE_V + self.rng.uniform(-VOLTAGE_JITTER_V, VOLTAGE_JITTER_V)
        return MeterSample(timestamp=utc_iso(), energy_wh=round(connector.register_wh),
                           power_w=power_w, current_a=phase_current(power_w, phases, voltage_v),
                           voltage_v=voltage_v, soc=soc)

    def power_limit_w(self, connector: Connector) -> float:
        """Charger rating, capped by smart-charging limits on the connector and on connector 0."""
        limits = [self.max_power_w, connector.limit_w, self.limit_w]
        return min(limit for limit in limits if limit is not None)

    async def _stop_transaction(self, connector: Connector, session: Session) -> None:
        sample = session.last_sample or self._sample(connector, 0.0, session.battery.soc, session.phases)
        build = partial(stop_transaction_request, session.id_tag,
                        session.stop_reason or Reason.local, sample)
        self.stats.sessions_completed += 1
        self.stats.sessions_active -= 1
        await self._send_transaction_message(STOP, build, session)
        session.stop_sent = True
