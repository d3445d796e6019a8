"""Named things of the simulator's unit tests: a fleet's options, a meter reading,
and a CSMS whose answers and clock the test controls."""

import asyncio
import json

from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, validate_payload

from stations.simulator import charger as simulated_charger
from stations.simulator import messages as msg
from stations.simulator import sessions as sim_sessions
from stations.simulator.ev_physics import MeterSample
from stations.simulator.options import FleetOptions


def options(**overrides) -> FleetOptions:
    return FleetOptions(url="ws://127.0.0.1:1/ocpp/", seed=7, **overrides)


def sample(energy_wh: int = 1000, soc: float | None = 55.0, timestamp: str = "2024-05-01T12:00:00.000Z"):
    return MeterSample(
        timestamp=timestamp, energy_wh=energy_wh, power_w=11000.0, current_a=15.9, voltage_v=231.0, soc=soc
    )


def wire_payload(request) -> dict:
    """The JSON payload ChargePoint.call would put on the wire for `request`."""
    return remove_nones(snake_to_camel_case(serialize_as_dict(request)))


def assert_schema_valid(request) -> dict:
    payload = wire_payload(request)
    asyncio.run(validate_payload(Call("1", type(request).__name__, payload), "1.6"))
    assert "null" not in json.dumps(payload)
    return payload


class SlowCsms:
    """A clock the test moves: every wait takes the time it asks for, every CALL 2 s.

    Stands in for a charger's uplink too: its transaction messages take that long to answer.
    """

    ANSWER_S = 2.0

    def __init__(self, monkeypatch, waits_before_stop: int = 3):
        self.now, self.waits, self.left = 1000.0, [], waits_before_stop
        for module in (msg, simulated_charger, sim_sessions):
            monkeypatch.setattr(module, "loop_time", lambda: self.now)

    def wait(self, seconds: float) -> bool:
        """True once the test has seen enough waits: the session or the socket ends there."""
        self.waits.append(round(seconds, 6))
        self.now += seconds
        self.left -= 1
        return self.left == 0

    async def answer(self, *_, **__):
        self.now += self.ANSWER_S

    send_transaction_message = answer
