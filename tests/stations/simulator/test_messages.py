"""What a simulated charger puts on the wire: identities, schema-clean requests, the
offline queue's replay (order, transaction ids, limits) and the clock of periodic messages."""

import asyncio
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from ocpp.v16 import call

from stations.ocpp_time import utc_iso
from stations.simulator import messages as msg
from stations.simulator.link import LinkDown
from stations.simulator.messages import OfflineQueue, meter_values_request, stop_transaction_request
from tests.stations.simulator.builders import assert_schema_valid, sample

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
    start = call.StartTransaction(
        connector_id=connector_id, id_tag="TAG", meter_start=1000, timestamp="2024-05-01T12:00:00.000Z"
    )
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
    assert actions == [
        "StartTransaction",
        "MeterValues",
        "MeterValues",
        "StopTransaction",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
    ]
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


# -- message builders and identities -------------------------------------------


def test_it_formats_utc_timestamps_with_z():
    moment = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert utc_iso(moment) == "2024-05-01T12:00:00.123Z"
    assert utc_iso().endswith("Z")


def test_it_builds_schema_valid_transaction_messages_without_nulls():
    start = call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=1000, timestamp=utc_iso())
    assert "reservationId" not in assert_schema_valid(start)
    meter = assert_schema_valid(meter_values_request(1, sample(), 42))
    measurands = [v["measurand"] for v in meter["meterValue"][0]["sampledValue"]]
    assert measurands == [
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "SoC",
    ]
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


# -- the clock of periodic messages -----------------------------------------------


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
