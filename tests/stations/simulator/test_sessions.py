"""A simulated charger's charging sessions: the meter runs on the transaction's own
clock, from its start and at a fixed rate, however late the CSMS answers."""

import asyncio
import random

from stations.simulator import messages as msg
from stations.simulator.charger import SimulatedCharger, new_state
from stations.simulator.sessions import Sessions
from stations.simulator.state import Session
from stations.simulator.stats import FleetStats
from tests.stations.simulator.builders import SlowCsms, options


def test_it_meters_from_the_transactions_start_not_from_the_csmss_answer(monkeypatch):
    waits = []

    async def stop_at_first_wait(session, seconds):
        waits.append(seconds)
        session.request_stop("Local")

    monkeypatch.setattr(Session, "wait_for_stop", stop_at_first_wait)

    async def scenario():
        sessions = SimulatedCharger(0, options(meter_interval=30), FleetStats(chargers=1)).sessions
        connector = sessions.state.connectors[0]
        session = sessions.claim(connector, "DRIVER")
        session.started_at = msg.loop_time() - 2.0  # the CSMS took 2 s to answer the StartTransaction
        await sessions.charge(connector, session)

    asyncio.run(scenario())

    assert len(waits) == 1 and 27.9 < waits[0] <= 28.0  # the first sample 30 s after the start itself


def test_it_sends_meter_values_every_interval_however_slow_the_answers(monkeypatch):
    csms = SlowCsms(monkeypatch)

    async def wait_for_stop(session, seconds):
        if csms.wait(seconds):
            session.request_stop("Local")

    monkeypatch.setattr(Session, "wait_for_stop", wait_for_stop)

    async def scenario():
        fleet, rng = options(meter_interval=30), random.Random(7)
        state = new_state("SIM-00001", fleet, rng)
        sessions = Sessions(state, csms, fleet, rng, FleetStats(chargers=1), asyncio.Event())
        session = sessions.claim(state.connectors[0], "DRIVER")
        session.started_at = csms.now
        await sessions.charge(state.connectors[0], session)

    asyncio.run(scenario())

    assert csms.waits == [30.0, 28.0, 28.0]  # samples at 1030, 1060, 1090: not 2 s later each time
