"""The charger's uplink: transaction messages produced while offline are queued for
replay, or counted as dropped when the fleet runs without an offline queue."""

import asyncio
from types import SimpleNamespace

from stations.simulator import messages as msg
from stations.simulator.link import Uplink
from stations.simulator.messages import meter_values_request
from stations.simulator.protocols import OCPP16
from stations.simulator.stats import FleetStats
from tests.stations.simulator.builders import options, sample


def test_it_queues_transaction_messages_while_offline_and_drops_them_without_a_queue():
    async def scenario(offline_queue: bool):
        stats = FleetStats(chargers=1)
        uplink = Uplink("SIM-00001", options(offline_queue=offline_queue), stats, OCPP16)
        session = SimpleNamespace(transaction_id=None)
        build = lambda tx: meter_values_request(1, sample(), tx)  # noqa: E731
        assert await uplink.send_transaction_message(msg.METER_VALUES, build, session) is None
        return len(uplink.queue), stats.dropped_messages

    assert asyncio.run(scenario(offline_queue=True)) == (1, 0)
    assert asyncio.run(scenario(offline_queue=False)) == (0, 1)
