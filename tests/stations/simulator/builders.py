"""Named things of the simulator's unit tests: a fleet's options, a meter reading,
a CSMS whose answers and clock the test controls, and commands asked of a charger."""

import asyncio
import json

from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, validate_payload

from stations.simulator import charger as simulated_charger
from stations.simulator import messages as msg
from stations.simulator import sessions as sim_sessions
from stations.simulator.charger import SimulatedCharger
from stations.simulator.ev_physics import MeterSample
from stations.simulator.options import FleetOptions
from stations.simulator.protocols import OCPP16
from stations.simulator.stats import FleetStats


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
    """The request's wire payload, once the official schemas of its OCPP version accepted it."""
    payload = wire_payload(request)
    version = "2.0.1" if type(request).__module__.startswith("ocpp.v201") else "1.6"
    asyncio.run(validate_payload(Call("1", type(request).__name__, payload), version))
    assert "null" not in json.dumps(payload)
    return payload


class FakeConnection:
    """A socket that keeps what the charge point sends and never brings anything."""

    def __init__(self):
        self.sent = []

    async def send(self, message):
        self.sent.append(json.loads(message))

    async def recv(self):
        await asyncio.Event().wait()


def ask(commands, **option_overrides):
    """Send CSMS CALLs to a fresh charger through the ocpp library's routing of its charge point
    (no sockets); returns (charger, CALLRESULT payloads), each checked against the schemas."""

    async def scenario():
        stats = FleetStats(chargers=1)
        charger = SimulatedCharger(0, options(**option_overrides), stats)
        connection = FakeConnection()
        cp = charger.charge_point(connection)
        answers = []
        for number, (action, payload) in enumerate(commands):
            await cp.route_message(json.dumps([2, str(number), action, payload]))
            reply = connection.sent[-1]
            assert reply[0] == 3, reply  # a CALLRESULT, which the library validated
            answers.append(reply[2])
        await charger.tasks.cancel()
        return charger, answers

    return asyncio.run(scenario())


class SlowCsms:
    """A clock the test moves: every wait takes the time it asks for, every CALL 2 s.

    Stands in for a charger's uplink too: its transaction messages take that long to answer.
    """

    ANSWER_S = 2.0
    protocol = OCPP16

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
