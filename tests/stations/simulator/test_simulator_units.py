"""Unit tests of the fleet simulator's other pure parts: back-off, offline
queue, statistics, options, message builders and command handlers.

No sockets, no database, deterministic. Run on their own with:
    .venv/bin/python -m pytest tests/stations/test_simulator_units.py -q
"""

import asyncio
import json
import random
from types import SimpleNamespace

import pytest
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, validate_payload
from ocpp.v16 import call

from stations.ocpp_time import utc_iso
from stations.simulator import messages as msg
from stations.simulator import charger as simulated_charger
from stations.simulator import fleet as simulator
from stations.simulator import sessions as sim_sessions
from stations.simulator.ev_physics import MeterSample
from stations.simulator.charge_point import SimChargePoint
from stations.simulator.messages import OfflineQueue, meter_values_request, stop_transaction_request
from stations.simulator.charger import LinkDown, SimulatedCharger, backoff_delay, cancel_and_wait
from stations.simulator.fleet import (
    FleetOptions,
    FleetReport,
    FleetStats,
    LatencyReservoir,
    latency_summary,
    percentile,
)

# -- helpers ---------------------------------------------------------------


def wire_payload(request) -> dict:
    """The JSON payload ChargePoint.call would put on the wire for `request`."""
    return remove_nones(snake_to_camel_case(serialize_as_dict(request)))


def assert_schema_valid(request) -> dict:
    payload = wire_payload(request)
    asyncio.run(validate_payload(Call("1", type(request).__name__, payload), "1.6"))
    assert "null" not in json.dumps(payload)
    return payload


def sample(energy_wh: int = 1000, soc: float | None = 55.0, timestamp: str = "2024-05-01T12:00:00.000Z"):
    return MeterSample(timestamp=timestamp, energy_wh=energy_wh, power_w=11000.0,
                       current_a=15.9, voltage_v=231.0, soc=soc)


def options(**overrides) -> FleetOptions:
    return FleetOptions(url="ws://127.0.0.1:1/ocpp/", seed=7, **overrides)


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


# -- offline queue -----------------------------------------------------------


class FakeCsms:
    """Records requests; StartTransaction answers with increasing ids."""

    def __init__(self, first_id: int = 500, fail_after: int | None = None):
        self.requests = []
        self.next_id = first_id
        self.fail_after = fail_after

    async def send(self, request):
        if self.fail_after is not None and len(self.requests) >= self.fail_after:
            raise LinkDown()
        self.requests.append(request)
        if isinstance(request, call.StartTransaction):
            self.next_id += 1
            return SimpleNamespace(transaction_id=self.next_id)
        return SimpleNamespace()


def queue_offline_session(queue: OfflineQueue, session, connector_id: int, meter_samples: int):
    start = call.StartTransaction(connector_id=connector_id, id_tag="TAG", meter_start=1000,
                                      timestamp="2024-05-01T12:00:00.000Z")
    queue.push(msg.START, lambda _tx: start, session)
    for n in range(meter_samples):
        build = lambda tx, n=n: meter_values_request(connector_id, sample(1000 + n), tx)  # noqa: E731
        queue.push(msg.METER_VALUES, build, session)
    queue.push(msg.STOP, lambda tx: stop_transaction_request("TAG", "Local", sample(2000), tx), session)


def test_it_replays_the_offline_queue_in_order_and_remaps_transaction_ids():
    queue, csms = OfflineQueue(), FakeCsms(first_id=500)
    first, second = SimpleNamespace(transaction_id=None), SimpleNamespace(transaction_id=None)
    queue_offline_session(queue, first, connector_id=1, meter_samples=2)
    queue_offline_session(queue, second, connector_id=2, meter_samples=1)

    assert asyncio.run(queue.replay(csms.send)) == 7
    actions = [type(r).__name__ for r in csms.requests]
    assert actions == ["StartTransaction", "MeterValues", "MeterValues", "StopTransaction",
                       "StartTransaction", "MeterValues", "StopTransaction"]
    assert [r.transaction_id for r in csms.requests[1:4]] == [501, 501, 501]
    assert [r.transaction_id for r in csms.requests[5:]] == [502, 502]
    assert [r.meter_value[0]["sampled_value"][0]["value"] for r in csms.requests[1:3]] == ["1000", "1001"]
    assert (first.transaction_id, second.transaction_id) == (501, 502)  # live sessions learn their ids
    assert len(queue) == 0


def test_it_keeps_already_known_transaction_ids_on_replay():
    queue, csms = OfflineQueue(), FakeCsms()
    session = SimpleNamespace(transaction_id=77)  # started online, then the link dropped
    queue.push(msg.METER_VALUES, lambda tx: meter_values_request(1, sample(), tx), session)
    queue.push(msg.STOP, lambda tx: stop_transaction_request("TAG", "Local", sample(), tx), session)
    asyncio.run(queue.replay(csms.send))
    assert [r.transaction_id for r in csms.requests] == [77, 77]


def test_it_keeps_unsent_messages_when_replay_is_interrupted():
    queue = OfflineQueue()
    session = SimpleNamespace(transaction_id=None)
    queue_offline_session(queue, session, connector_id=1, meter_samples=3)
    with pytest.raises(LinkDown):
        asyncio.run(queue.replay(FakeCsms(first_id=10, fail_after=2).send))
    assert len(queue) == 3  # two MeterValues and the StopTransaction wait for the next boot

    csms = FakeCsms(first_id=99)
    asyncio.run(queue.replay(csms.send))
    assert [type(r).__name__ for r in csms.requests] == ["MeterValues", "MeterValues", "StopTransaction"]
    assert [r.transaction_id for r in csms.requests] == [11, 11, 11]  # the id from the first replay


def test_it_drops_meter_values_when_full_but_keeps_start_and_stop():
    dropped = []
    queue = OfflineQueue(limit=3, on_drop=dropped.append)
    session = SimpleNamespace(transaction_id=None)
    queue_offline_session(queue, session, connector_id=1, meter_samples=5)
    assert len(queue) == 4  # Start, 2 MeterValues, Stop
    assert dropped == [msg.METER_VALUES] * 3


def test_it_drops_a_stop_whose_start_got_no_transaction_id():
    dropped = []
    queue, session = OfflineQueue(on_drop=dropped.append), SimpleNamespace(transaction_id=None)
    queue.push(msg.STOP, lambda tx: stop_transaction_request("TAG", "Local", sample(), tx), session)
    assert asyncio.run(queue.replay(FakeCsms().send)) == 0
    assert dropped == [msg.STOP]


def test_it_queues_transaction_messages_while_offline_and_drops_them_without_a_queue():
    async def scenario(offline_queue: bool):
        stats = FleetStats(chargers=1)
        charger = SimulatedCharger(0, options(offline_queue=offline_queue), stats)
        session = SimpleNamespace(transaction_id=None)
        build = lambda tx: meter_values_request(1, sample(), tx)  # noqa: E731
        assert await charger._send_transaction_message(msg.METER_VALUES, build, session) is None
        return len(charger.queue), stats.dropped_messages

    assert asyncio.run(scenario(offline_queue=True)) == (1, 0)
    assert asyncio.run(scenario(offline_queue=False)) == (0, 1)


# -- statistics ------------------------------------------------------------


def test_it_computes_percentiles_with_linear_interpolation():
    values = list(range(1, 101))
    random.Random(0).shuffle(values)
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 100) == 100 and percentile(values, 0) == 1
    assert percentile([3.0], 99) == 3.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_it_bounds_latency_samples_with_a_reservoir():
    reservoir = LatencyReservoir(capacity=1000, rng=random.Random(5))
    for n in range(100_000):
        reservoir.add(n / 100_000)
    assert len(reservoir.samples) == 1000
    assert reservoir.count == 100_000
    assert reservoir.maximum == pytest.approx(0.99999)
    assert latency_summary(reservoir)["p50"] == pytest.approx(0.5, abs=0.05)  # still uniform


def test_it_reports_latencies_and_counters_per_action():
    stats = FleetStats(chargers=2, seed=1)
    for ms in range(1, 101):
        stats.record_latency("Heartbeat", ms / 1000)
    stats.calls_sent.update({"Heartbeat": 100, "BootNotification": 2})
    stats.call_errors["MeterValues"] += 1
    stats.handshake_rejections[401] += 3
    report = FleetReport(options=options(chargers=2), stats=stats, elapsed=10.0)

    heartbeat = report.latency_percentiles()["Heartbeat"]
    assert heartbeat["p50"] == pytest.approx(0.0505) and heartbeat["max"] == pytest.approx(0.1)
    assert report.messages_per_second() == pytest.approx(10.2)
    text = "\n".join(report.summary_lines())
    assert "HTTP 401 3" in text and "CALLERRORs by action: MeterValues 1" in text
    assert "Heartbeat" in text and "50.5" in text  # p50 in ms
    assert "conn 0/2" in stats.progress_line()


# -- message builders and identities -------------------------------------------


def test_it_formats_utc_timestamps_with_z():
    from datetime import datetime, timedelta, timezone

    moment = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert utc_iso(moment) == "2024-05-01T12:00:00.123Z"
    assert utc_iso().endswith("Z")


def test_it_builds_schema_valid_transaction_messages_without_nulls():
    start = call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=1000,
                                      timestamp=utc_iso())
    assert "reservationId" not in assert_schema_valid(start)
    meter = assert_schema_valid(meter_values_request(1, sample(), 42))
    measurands = [v["measurand"] for v in meter["meterValue"][0]["sampledValue"]]
    assert measurands == ["Energy.Active.Import.Register", "Power.Active.Import", "Current.Import",
                          "Voltage", "SoC"]
    assert "transactionId" not in assert_schema_valid(meter_values_request(1, sample(soc=None), None))
    stop = assert_schema_valid(stop_transaction_request("TAG", "EVDisconnected", sample(2500), 42))
    assert stop["meterStop"] == 2500
    assert stop["transactionData"][0]["sampledValue"][0]["context"] == "Transaction.End"
    assert_schema_valid(msg.status_notification_request(0, "Available"))


def test_it_derives_charger_ids_urls_and_basic_auth():
    assert msg.charger_id("SIM", 0) == "SIM-00001"
    assert msg.charger_url("ws://h:8000/ocpp/", "SIM 1/x") == "ws://h:8000/ocpp/SIM%201%2Fx"
    assert msg.charger_url("ws://h:8000/ocpp", "SIM-00001") == "ws://h:8000/ocpp/SIM-00001"
    assert msg.basic_auth_header("SIM-00001", "pw") == {"Authorization": "Basic U0lNLTAwMDAxOnB3"}


def test_it_builds_the_same_fleet_from_the_same_seed():
    def fleet(seed):
        opts = options(chargers=50, connectors=2) if seed == 7 else FleetOptions(
            url="ws://x/", chargers=50, seed=seed)
        chargers = [SimulatedCharger(i, opts, FleetStats(chargers=50)) for i in range(50)]
        return [(c.max_power_w, [(k.register_wh, k.runs_sessions) for k in c.connectors]) for c in chargers]

    assert fleet(7) == fleet(7)
    assert fleet(7) != fleet(8)
    share = sum(k[1] for c in fleet(7) for k in c[1]) / 100
    assert 0.2 < share < 0.6  # about charging_share=0.4 of the connectors run sessions


@pytest.mark.parametrize("bad", [
    {"chargers": 0}, {"ramp_up": 0}, {"charging_share": 1.5}, {"session_duration": (60, 10)},
    {"id_tags": []}, {"id_tags": ["X" * 21]}, {"heartbeat_interval": 0},
    {"urls": "ws://127.0.0.1:1/ocpp/"}, {"urls": ["ws://127.0.0.1:1/ocpp/", "http://h/ocpp/"]},
    {"urls": [None]}, {"duration": 0}, {"id_tags": "SIMTAG"},
])
def test_it_rejects_invalid_options(bad):
    with pytest.raises(ValueError):
        options(**bad)


def test_it_gives_each_connector_its_own_driver_when_asked():
    shared, own = options(chargers=2, id_tags=["A", "B"]), options(chargers=2, id_tag_per_connector=True)
    assert shared.driver_id_tags() == ["A", "B"]
    assert own.charger_ids() == ["SIM-00001", "SIM-00002"]
    assert own.driver_id_tags() == ["SIM-00001-1", "SIM-00001-2", "SIM-00002-1", "SIM-00002-2"]
    charger = SimulatedCharger(1, own, FleetStats(chargers=2))
    assert [charger._driver_id_tag(c) for c in charger.connectors] == ["SIM-00002-1", "SIM-00002-2"]
    with pytest.raises(ValueError, match="shorten id_prefix"):
        options(id_prefix="LONGER-PREFIX", connectors=10, id_tag_per_connector=True)


def test_it_rejects_a_url_that_is_not_a_websocket_url():
    with pytest.raises(ValueError, match="not a ws:// or wss:// URL"):
        FleetOptions(url="127.0.0.1:8000/ocpp/")


SERVERS = ("ws://127.0.0.1:9001/ocpp/", "ws://127.0.0.1:9002/ocpp/", "wss://other:443/ocpp/")


def test_it_spreads_chargers_over_several_servers_round_robin():
    several = options(urls=list(SERVERS))
    assert several.server_urls() == SERVERS  # copied: a later change of the list does not leak in
    assert [several.url_for(i) for i in range(7)] == [*SERVERS, *SERVERS, SERVERS[0]]
    single = options()
    assert single.server_urls() == (single.url,) and single.url_for(5) == single.url


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
    opened = connect_urls(options(urls=SERVERS[:2]), chargers=4, monkeypatch=monkeypatch)
    assert opened == ["ws://127.0.0.1:9001/ocpp/SIM-00001", "ws://127.0.0.1:9002/ocpp/SIM-00002",
                      "ws://127.0.0.1:9001/ocpp/SIM-00003", "ws://127.0.0.1:9002/ocpp/SIM-00004"]
    assert connect_urls(options(), chargers=1, monkeypatch=monkeypatch) == [
        "ws://127.0.0.1:1/ocpp/SIM-00001"]


def test_it_names_every_server_in_the_summary():
    report = FleetReport(options=options(urls=SERVERS[:2]), stats=FleetStats(chargers=10), elapsed=1.0)
    assert "10 chargers against 2 servers (ws://127.0.0.1:9001/ocpp/, ws://127.0.0.1:9002/ocpp/)" in (
        report.summary_lines()[0])


# -- command handlers (through the ocpp library, with a fake connection) ----------


class FakeConnection:
    def __init__(self):
        self.sent = []

    async def send(self, message):
        self.sent.append(json.loads(message))

    async def recv(self):
        await asyncio.Event().wait()


def ask(commands, **option_overrides):
    """Send CSMS CALLs to a fresh charger; returns (charger, CALLRESULT payloads)."""
    async def scenario():
        stats = FleetStats(chargers=1)
        charger = SimulatedCharger(0, options(**option_overrides), stats)
        connection = FakeConnection()
        cp = SimChargePoint(charger, connection)
        answers = []
        for number, (action, payload) in enumerate(commands):
            await cp.route_message(json.dumps([2, str(number), action, payload]))
            reply = connection.sent[-1]
            assert reply[0] == 3, reply  # a CALLRESULT, which the library validated
            answers.append(reply[2])
        await cancel_and_wait(list(charger._tasks))
        return charger, answers

    return asyncio.run(scenario())


def test_it_answers_configuration_requests():
    charger, (everything, some, heartbeat, reboot, readonly, unknown) = ask([
        ("GetConfiguration", {}),
        ("GetConfiguration", {"key": ["NumberOfConnectors", "Nope"]}),
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}),
        ("ChangeConfiguration", {"key": "WebSocketPingInterval", "value": "30"}),
        ("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "4"}),
        ("ChangeConfiguration", {"key": "Nope", "value": "1"}),
    ], connectors=3)
    keys = {entry["key"] for entry in everything["configurationKey"]}
    assert {"HeartbeatInterval", "MeterValueSampleInterval", "NumberOfConnectors"} <= keys
    assert some == {"configurationKey": [{"key": "NumberOfConnectors", "readonly": True, "value": "3"}],
                    "unknownKey": ["Nope"]}
    assert [heartbeat, reboot, readonly, unknown] == [
        {"status": "Accepted"}, {"status": "RebootRequired"},
        {"status": "Rejected"}, {"status": "NotSupported"}]
    assert charger.heartbeat_interval == 120


def test_it_applies_charging_profiles_and_reports_the_composite_schedule():
    profile = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Absolute",
               "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [
                   {"startPeriod": 0, "limit": 3700.0}]}}
    charger, (applied, schedule, cleared, unknown) = ask([
        ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}),
        ("GetCompositeSchedule", {"connectorId": 1, "duration": 600}),
        ("ClearChargingProfile", {}),
        ("GetCompositeSchedule", {"connectorId": 9, "duration": 600}),
    ])
    assert applied == {"status": "Accepted"}
    assert schedule["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 3700.0}]
    assert cleared == {"status": "Accepted"} and unknown == {"status": "Rejected"}
    assert charger.connectors[0].limit_w is None


def test_it_claims_a_connector_for_remote_start_and_rejects_a_second_one():
    charger, answers = ask([
        ("RemoteStartTransaction", {"idTag": "APP1", "connectorId": 1}),
        ("RemoteStartTransaction", {"idTag": "APP2", "connectorId": 1}),
        ("RemoteStopTransaction", {"transactionId": 12345}),
        ("ReserveNow", {"connectorId": 1, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "R",
                        "reservationId": 5}),
        ("ReserveNow", {"connectorId": 2, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "R",
                        "reservationId": 6}),
        ("ReserveNow", {"connectorId": 2, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "Q",
                        "reservationId": 7}),
        ("CancelReservation", {"reservationId": 6}),
        ("CancelReservation", {"reservationId": 6}),
    ])
    assert [a["status"] for a in answers] == ["Accepted", "Rejected", "Rejected", "Occupied",
                                              "Accepted", "Occupied", "Accepted", "Rejected"]
    assert charger.stats.commands["RemoteStartTransaction"] == 2


def test_it_answers_the_remaining_commands_sensibly():
    _charger, answers = ask([
        ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 7}),
        ("UnlockConnector", {"connectorId": 1}),
        ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}),
        ("ClearCache", {}),
        ("DataTransfer", {"vendorId": "someone"}),
        ("SendLocalList", {"listVersion": 3, "updateType": "Full"}),
        ("GetLocalListVersion", {}),
        ("GetDiagnostics", {"location": "ftp://example/"}),
        ("UpdateFirmware", {"location": "https://example/fw", "retrieveDate": "2024-01-01T00:00:00Z"}),
        ("Reset", {"type": "Soft"}),
    ])
    assert answers == [
        {"status": "Rejected"}, {"status": "Unlocked"}, {"status": "Accepted"}, {"status": "Accepted"},
        {"status": "UnknownVendorId"}, {"status": "Accepted"}, {"listVersion": 3},
        {"fileName": "diagnostics-SIM-00001.log"}, {}, {"status": "Accepted"},
    ]


# -- timing of periodic messages and of the fleet's collector --------------


class ClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock the test sets."""

    now = 1000.0

    def time(self) -> float:
        return self.now


def test_it_keeps_periodic_messages_on_the_chargers_own_clock():
    loop = ClockLoop()

    async def due_after(due: float, interval: float, answered_at: float) -> float:
        loop.now = answered_at
        return msg.next_due(due, interval)

    try:
        # The CSMS answered the 1000.0 s meter values 2 s late: the next still falls due at 1030.0 s.
        assert loop.run_until_complete(due_after(1000.0, 30.0, answered_at=1002.0)) == 1030.0
        # An answer later than the whole interval: the next goes at once, with no backlog behind it.
        assert loop.run_until_complete(due_after(1000.0, 30.0, answered_at=1045.0)) == 1045.0
    finally:
        loop.close()


def test_it_keeps_the_fleet_out_of_the_collector_while_it_runs():
    import gc

    frozen_while_running = []
    fleet = options(chargers=2, duration=1.5)

    asyncio.run(simulator.run_fleet(fleet, on_progress=lambda _: frozen_while_running.append(gc.get_freeze_count())))

    assert frozen_while_running and max(frozen_while_running) > 0
    assert gc.get_freeze_count() == 0  # given back to the collector when the run ends


def test_it_meters_from_the_transactions_start_not_from_the_csmss_answer(monkeypatch):
    waits = []

    async def stop_at_first_wait(session, seconds):
        waits.append(seconds)
        session.request_stop("Local")

    monkeypatch.setattr(simulated_charger.Session, "wait_for_stop", stop_at_first_wait)

    async def scenario():
        charger = SimulatedCharger(0, options(meter_interval=30), FleetStats(chargers=1))
        connector = charger.connectors[0]
        session = charger._claim(connector, "DRIVER")
        session.started_at = msg.loop_time() - 2.0  # the CSMS took 2 s to answer the StartTransaction
        await charger._charge(connector, session)

    asyncio.run(scenario())

    assert len(waits) == 1 and 27.9 < waits[0] <= 28.0  # the first sample 30 s after the start itself


class SlowCsms:
    """A clock the test moves: every wait takes the time it asks for, every CALL 2 s."""

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


def test_it_sends_meter_values_every_interval_however_slow_the_answers(monkeypatch):
    csms = SlowCsms(monkeypatch)

    async def wait_for_stop(session, seconds):
        if csms.wait(seconds):
            session.request_stop("Local")

    monkeypatch.setattr(simulated_charger.Session, "wait_for_stop", wait_for_stop)
    monkeypatch.setattr(SimulatedCharger, "_send_transaction_message", csms.answer)

    async def scenario():
        charger = SimulatedCharger(0, options(meter_interval=30), FleetStats(chargers=1))
        session = charger._claim(charger.connectors[0], "DRIVER")
        session.started_at = csms.now
        await charger._charge(charger.connectors[0], session)

    asyncio.run(scenario())

    assert csms.waits == [30.0, 28.0, 28.0]  # samples at 1030, 1060, 1090: not 2 s later each time


def test_it_sends_heartbeats_every_interval_however_slow_the_answers(monkeypatch):
    csms = SlowCsms(monkeypatch)
    monkeypatch.setattr(SimulatedCharger, "_call", csms.answer)

    class OpenLink:
        async def closed_within(self, seconds):
            return csms.wait(seconds)

    async def scenario():
        charger = SimulatedCharger(0, options(heartbeat_interval=60), FleetStats(chargers=1))
        await charger._heartbeat_until_closed(OpenLink())

    asyncio.run(scenario())

    assert csms.waits[1:] == [58.0, 58.0]  # the first lands anywhere in the interval, then every 60 s
