"""One simulated charger's life apart from its sessions: the reconnect back-off, a
repeatable fleet from a seed, which server each charger dials, and heartbeats that
keep their interval behind a slow CSMS."""

import asyncio
import random

from stations.simulator import charger as simulated_charger
from stations.simulator import messages as msg
from stations.simulator.charger import SimulatedCharger, backoff_delay
from stations.simulator.link import Uplink
from stations.simulator.options import FleetOptions
from stations.simulator.stats import FleetStats
from tests.stations.simulator.builders import SlowCsms, options

SERVERS = ("ws://127.0.0.1:9001/ocpp/", "ws://127.0.0.1:9002/ocpp/")

# -- back-off --------------------------------------------------------------


def test_it_jitters_backoff_and_caps_it():
    rng = random.Random(1)
    delays = [backoff_delay(attempt, rng, cap=30.0) for attempt in range(50) for _ in range(20)]
    assert max(delays) <= 30.0
    assert len(set(delays)) == len(delays)  # jittered: no two chargers in lock-step
    late = [backoff_delay(40, rng, cap=30.0) for _ in range(200)]
    assert min(late) >= 15.0  # equal jitter: never below half the window


def test_it_grows_backoff_exponentially_from_about_a_second():
    rng = random.Random(2)
    assert 0.5 <= backoff_delay(0, rng) <= 1.0
    assert 1.0 <= backoff_delay(1, rng) <= 2.0
    assert 4.0 <= backoff_delay(3, rng) <= 8.0
    assert backoff_delay(10_000, rng, cap=5.0) <= 5.0  # no overflow for huge attempt counts


def test_it_repeats_backoff_with_the_same_seed():
    first = [backoff_delay(n, msg.charger_rng(42, 5)) for n in range(10)]
    second = [backoff_delay(n, msg.charger_rng(42, 5)) for n in range(10)]
    other = [backoff_delay(n, msg.charger_rng(42, 6)) for n in range(10)]
    assert first == second
    assert first != other


# -- the fleet a seed builds, the server each charger dials -----------------


def test_it_builds_the_same_fleet_from_the_same_seed():
    def fleet(seed):
        opts = (
            options(chargers=50, connectors=2)
            if seed == 7
            else FleetOptions(url="ws://x/", chargers=50, seed=seed)
        )
        chargers = [SimulatedCharger(i, opts, FleetStats(chargers=50)) for i in range(50)]
        return [
            (c.state.max_power_w, [(k.register_wh, k.runs_sessions) for k in c.state.connectors])
            for c in chargers
        ]

    assert fleet(7) == fleet(7)
    assert fleet(7) != fleet(8)
    share = sum(k[1] for c in fleet(7) for k in c[1]) / 100
    assert 0.2 < share < 0.6  # about charging_share=0.4 of the connectors run sessions


def connect_urls(fleet_options: FleetOptions, chargers: int, monkeypatch) -> list[str]:
    """The URL each charger opens its WebSocket on (the connection itself is refused)."""
    opened = []

    async def refuse(url, **_):
        opened.append(url)
        raise OSError("refused")

    monkeypatch.setattr(simulated_charger.websockets, "connect", refuse)

    async def scenario():
        stats = FleetStats(chargers=chargers)
        for index in range(chargers):
            assert await SimulatedCharger(index, fleet_options, stats)._open_websocket() is None
        assert stats.connect_failures == chargers

    asyncio.run(scenario())
    return opened


def test_it_connects_each_charger_to_its_own_server(monkeypatch):
    opened = connect_urls(options(urls=SERVERS), chargers=4, monkeypatch=monkeypatch)
    assert opened == [
        "ws://127.0.0.1:9001/ocpp/SIM-00001",
        "ws://127.0.0.1:9002/ocpp/SIM-00002",
        "ws://127.0.0.1:9001/ocpp/SIM-00003",
        "ws://127.0.0.1:9002/ocpp/SIM-00004",
    ]
    assert connect_urls(options(), chargers=1, monkeypatch=monkeypatch) == ["ws://127.0.0.1:1/ocpp/SIM-00001"]


# -- heartbeats -------------------------------------------------------------


def test_it_sends_heartbeats_every_interval_however_slow_the_answers(monkeypatch):
    csms = SlowCsms(monkeypatch)
    monkeypatch.setattr(Uplink, "call", csms.answer)

    class OpenLink:
        async def closed_within(self, seconds):
            return csms.wait(seconds)

    async def scenario():
        charger = SimulatedCharger(0, options(heartbeat_interval=60), FleetStats(chargers=1))
        await charger._heartbeat_until_closed(OpenLink())

    asyncio.run(scenario())

    assert csms.waits[1:] == [58.0, 58.0]  # the first lands anywhere in the interval, then every 60 s
