"""FleetStats and FleetReport: percentiles, bounded latency samples, and the summary a run prints."""

import random

import pytest

from stations.simulator.stats import FleetReport, FleetStats, LatencyReservoir, latency_summary, percentile
from tests.stations.simulator.builders import options


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


def test_it_names_every_server_in_the_summary():
    servers = ["ws://127.0.0.1:9001/ocpp/", "ws://127.0.0.1:9002/ocpp/"]
    report = FleetReport(options=options(urls=servers), stats=FleetStats(chargers=10), elapsed=1.0)
    assert (
        "10 chargers against 2 servers (ws://127.0.0.1:9001/ocpp/, ws://127.0.0.1:9002/ocpp/)"
        in (report.summary_lines()[0])
    )
