"""run_fleet: the whole fleet in one process stays out of the garbage collector's sight
while it runs (a full collection would stall every charger at once), and gives it back."""

import asyncio
import gc

from stations.simulator.fleet import run_fleet
from tests.stations.simulator.builders import options


def test_it_keeps_the_fleet_out_of_the_collector_while_it_runs():
    frozen_while_running = []
    fleet = options(chargers=2, duration=1.5)

    asyncio.run(run_fleet(fleet, on_progress=lambda _: frozen_while_running.append(gc.get_freeze_count())))

    assert frozen_while_running and max(frozen_while_running) > 0
    assert gc.get_freeze_count() == 0  # given back to the collector when the run ends
