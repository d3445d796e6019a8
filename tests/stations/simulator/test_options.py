"""FleetOptions: what a fleet is made of, and the options it refuses before any charger connects."""

import pytest

from stations.simulator.charger import SimulatedCharger
from stations.simulator.options import FleetOptions
from stations.simulator.stats import FleetStats
from tests.stations.simulator.builders import options

SERVERS = ("ws://127.0.0.1:9001/ocpp/", "ws://127.0.0.1:9002/ocpp/", "wss://other:443/ocpp/")


@pytest.mark.parametrize(
    "bad",
    [
        {"chargers": 0},
        {"ramp_up": 0},
        {"charging_share": 1.5},
        {"session_duration": (60, 10)},
        {"id_tags": []},
        {"id_tags": ["X" * 21]},
        {"heartbeat_interval": 0},
        {"urls": "ws://127.0.0.1:1/ocpp/"},
        {"urls": ["ws://127.0.0.1:1/ocpp/", "http://h/ocpp/"]},
        {"urls": [None]},
        {"duration": 0},
        {"id_tags": "SIMTAG"},
    ],
)
def test_it_rejects_invalid_options(bad):
    with pytest.raises(ValueError):
        options(**bad)


def test_it_gives_each_connector_its_own_driver_when_asked():
    shared, own = options(chargers=2, id_tags=["A", "B"]), options(chargers=2, id_tag_per_connector=True)
    assert shared.driver_id_tags() == ["A", "B"]
    assert own.charger_ids() == ["SIM-00001", "SIM-00002"]
    assert own.driver_id_tags() == ["SIM-00001-1", "SIM-00001-2", "SIM-00002-1", "SIM-00002-2"]
    charger = SimulatedCharger(1, own, FleetStats(chargers=2))
    drivers = [charger.sessions.driver_id_tag(c) for c in charger.state.connectors]
    assert drivers == ["SIM-00002-1", "SIM-00002-2"]
    with pytest.raises(ValueError, match="shorten id_prefix"):
        options(id_prefix="LONGER-PREFIX", connectors=10, id_tag_per_connector=True)


def test_it_rejects_a_url_that_is_not_a_websocket_url():
    with pytest.raises(ValueError, match="not a ws:// or wss:// URL"):
        FleetOptions(url="127.0.0.1:8000/ocpp/")


def test_it_spreads_chargers_over_several_servers_round_robin():
    several = options(urls=list(SERVERS))
    assert several.server_urls() == SERVERS  # copied: a later change of the list does not leak in
    assert [several.url_for(i) for i in range(7)] == [*SERVERS, *SERVERS, SERVERS[0]]
    single = options()
    assert single.server_urls() == (single.url,) and single.url_for(5) == single.url
