"""Charging sessions of a simulated charger: :class:`Sessions`, the part of a
:class:`~stations.simulator.charger.SimulatedCharger` that runs them.

A session: Authorize -> Preparing -> StartTransaction -> Charging + MeterValues
every meter interval -> StopTransaction -> Finishing -> (driver unplugs) ->
Available. Energy comes from :mod:`stations.simulator.ev_physics`. Named in 1.6's
words; the uplink's protocol says each step in its own (in 2.0.1: Occupied,
TransactionEvent Started, Updated..., Ended, Available).
"""

from __future__ import annotations

import asyncio
import random

from ocpp.v16.enums import ChargePointStatus, Reason

from stations.ocpp_time import utc_iso
from stations.simulator.ev_physics import (
    NOMINAL_VOLTAGE_V,
    VOLTAGE_JITTER_V,
    MeterSample,
    charge_step,
    phase_current,
    phases_in_use,
    random_battery,
)
from stations.simulator.link import Uplink
from stations.simulator.messages import METER_VALUES, START, STOP, connector_id_tag, loop_time, next_due
from stations.simulator.options import FleetOptions
from stations.simulator.state import ChargerState, Connector, Session
from stations.simulator.stats import FleetStats

UNPLUG_DELAY_S = (2.0, 10.0)  # Finishing -> driver unplugs -> Available


class Sessions:
    """Runs one charger's sessions: on its own (charging_share connectors, once
    ``accepted_once`` is set) and the ones RemoteStartTransaction claims (see
    :class:`~stations.simulator.reactions.CommandReactions`). Sends through ``uplink``;
    ``state`` says what the charger allows (availability, limits, a reboot under way)."""

    __slots__ = ("state", "uplink", "options", "rng", "stats", "accepted_once")

    def __init__(
        self,
        state: ChargerState,
        uplink: Uplink,
        options: FleetOptions,
        rng: random.Random,
        stats: FleetStats,
        accepted_once: asyncio.Event,
    ):
        self.state = state
        self.uplink = uplink
        self.options = options
        self.rng = rng
        self.stats = stats
        self.accepted_once = accepted_once  # set by the first accepted boot

    async def keep_busy(self, connector: Connector) -> None:
        """Keeps a charging_share connector busy: idle gap, session, idle gap, ..."""
        await self.accepted_once.wait()
        while True:
            await asyncio.sleep(self.rng.uniform(*self.options.idle_gap))
            if self.can_start(connector):
                session = self.claim(connector, self.driver_id_tag(connector))
                await self.run(connector, session, authorize=True)

    def driver_id_tag(self, connector: Connector) -> str:
        if self.options.id_tag_per_connector:
            return connector_id_tag(self.state.charge_point_id, connector.connector_id)
        return self.rng.choice(self.options.id_tags)

    def can_start(self, connector: Connector, id_tag: str | None = None) -> bool:
        reservation = connector.live_reservation()
        reserved_for_other = reservation is not None and reservation.id_tag != id_tag
        return (
            connector.session is None
            and self.state.available
            and connector.available
            and not reserved_for_other
            and not self.state.rebooting
        )

    def claim(self, connector: Connector, id_tag: str) -> Session:
        """Occupy the connector with a new car (synchronously, so nothing else grabs it)."""
        battery = random_battery(self.rng)
        reservation = connector.live_reservation()
        connector.reservation = None
        session = Session(
            connector_id=connector.connector_id,
            id_tag=id_tag,
            battery=battery,
            deadline=loop_time() + self.rng.uniform(*self.options.session_duration),
            meter_start_wh=round(connector.register_wh),
            phases=phases_in_use(self.state.phases, battery.max_power_w),
            reservation_id=reservation.reservation_id if reservation else None,
        )
        connector.session = session
        return session

    async def run(self, connector: Connector, session: Session, *, authorize: bool) -> None:
        """Authorize -> Preparing -> StartTransaction -> Charging + MeterValues ->
        StopTransaction -> Finishing -> (driver unplugs) -> Available."""
        notify_status = self.uplink.notify_status
        try:
            if authorize and not await self._authorize(session.id_tag):
                return
            await notify_status(connector, ChargePointStatus.preparing)
            await self._start_transaction(connector, session)
            if session.stop_reason is None:
                await notify_status(connector, ChargePointStatus.charging)
                await self.charge(connector, session)
            await self._stop_transaction(connector, session)
            await notify_status(connector, ChargePointStatus.finishing)
            await asyncio.sleep(self.rng.uniform(*UNPLUG_DELAY_S))
        finally:
            connector.session = None
        await notify_status(connector, self.state.idle_status(connector))

    def stop(self, reason: str, connector_id: int | None = None) -> None:
        """Ask the sessions (all, or the one on ``connector_id``) to end with ``reason``."""
        for connector in self.state.connectors:
            if connector.session and connector_id in (None, connector.connector_id):
                connector.session.request_stop(reason)

    def any_open(self) -> bool:
        """A session whose StopTransaction has not gone out (nor been queued) yet."""
        return any(c.session and not c.session.stop_sent for c in self.state.connectors)

    async def _authorize(self, id_tag: str) -> bool:
        protocol = self.uplink.protocol
        response = await self.uplink.call_if_online(protocol.authorize(id_tag))
        if response is None:  # offline or no answer: LocalAuthorizeOffline lets the driver charge
            return True
        return protocol.authorized(response)

    async def _start_transaction(self, connector: Connector, session: Session) -> None:
        protocol = self.uplink.protocol
        build = protocol.start_transaction(session, self._start_reading(connector, session))
        self.stats.sessions_started += 1
        self.stats.sessions_active += 1
        session.started_at = loop_time()
        response = await self.uplink.send_transaction_message(START, build, session)
        if response is not None and not protocol.start_answered(session, response):
            session.request_stop(Reason.de_authorized)

    def _start_reading(self, connector: Connector, session: Session) -> MeterSample:
        """The meter as the car is plugged in: nothing flows yet (no jitter: the fleet's random
        stream stays the one the same seed gave before)."""
        return MeterSample(
            timestamp=utc_iso(),
            energy_wh=session.meter_start_wh,
            power_w=0.0,
            current_a=0.0,
            voltage_v=NOMINAL_VOLTAGE_V,
            soc=session.battery.soc,
        )

    async def charge(self, connector: Connector, session: Session) -> None:
        """Meter every meter_interval until the car is full, the driver's time is
        up or a stop is requested (remote, reset, unlock). The meter runs from the
        transaction's start, not from the CSMS's answer to it: a slow answer to a
        site's session starts must not put their meter values in step."""
        last = session.started_at
        due = last + self.state.meter_interval
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
            build = self.uplink.protocol.transaction_meter_values(session, sample)
            await self.uplink.send_transaction_message(METER_VALUES, build, session)
            due = next_due(due, self.state.meter_interval)

    def _advance_meter(self, connector: Connector, session: Session, seconds: float) -> MeterSample:
        energy_wh, power_w, soc = charge_step(session.battery, self.state.power_limit_w(connector), seconds)
        connector.register_wh += energy_wh
        session.battery.soc = soc
        self.stats.energy_wh += energy_wh
        session.last_sample = self.meter_sample(connector, power_w, soc, session.phases)
        return session.last_sample

    def meter_sample(
        self, connector: Connector, power_w: float, soc: float | None, phases: int
    ) -> MeterSample:
        """What the connector's meter reads now (the voltage jitters)."""
        voltage_v = NOMINAL_VOLTAGE_V + self.rng.uniform(-VOLTAGE_JITTER_V, VOLTAGE_JITTER_V)
        return MeterSample(
            timestamp=utc_iso(),
            energy_wh=round(connector.register_wh),
            power_w=power_w,
            current_a=phase_current(power_w, phases, voltage_v),
            voltage_v=voltage_v,
            soc=soc,
        )

    async def _stop_transaction(self, connector: Connector, session: Session) -> None:
        sample = session.last_sample or self.meter_sample(connector, 0.0, session.battery.soc, session.phases)
        build = self.uplink.protocol.stop_transaction(session, sample)
        self.stats.sessions_completed += 1
        self.stats.sessions_active -= 1
        await self.uplink.send_transaction_message(STOP, build, session)
        session.stop_sent = True
