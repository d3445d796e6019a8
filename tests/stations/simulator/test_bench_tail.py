"""The tail scenario (issue 18): both loads on one server process, sessions that start and stop inside
the window, every action's p50/p95/p99 and the p99 of every CALL. Its plumbing, with a tiny fleet
against the bare reference in this process; the figures themselves belong to `manage.py bench`."""

import asyncio
import socket
from dataclasses import replace

from stations.simulator import bench, bench_reference
from stations.simulator.stats import FleetStats


def test_it_plays_issue_18s_two_loads_against_one_server_process_with_every_charger_charging():
    first, second = bench.scenarios(quick=False)["tail"]

    assert (first.heartbeat, first.meter_interval, second.heartbeat, second.meter_interval) == (5, 2, 2, 1)
    for step in (first, second):
        fleet = step.fleet(["ws://127.0.0.1:1/ocpp/"], id_prefix="BENCH")
        assert step.servers == 1 and fleet.chargers == 1000 and fleet.connectors == 1
        assert fleet.charging_share == 1.0 and fleet.id_tag_per_connector  # each charger its own card
        assert fleet.session_duration[1] < step.window  # sessions end inside the window
        # the window opens once every charger is in and has had its first start's gap
        assert step.window_starts_at == 1000 / step.ramp_up + fleet.idle_gap[1] + step.settle


def test_it_keeps_the_ramps_boot_latencies_when_the_window_opens_and_forgets_the_rest():
    stats = FleetStats(chargers=1, seed=1)
    stats.record_latency("BootNotification", 0.4)
    stats.record_latency("Heartbeat", 0.9)

    stats.restart_latencies(keep=("BootNotification",))
    stats.record_latency("Heartbeat", 0.01)

    assert list(stats.latencies) == ["BootNotification", "Heartbeat"]
    assert stats.latencies["Heartbeat"].maximum == 0.01
    assert stats.all_calls.count == 1 and stats.all_calls.maximum == 0.01  # the window's CALLs only


def test_it_measures_starts_stops_and_every_action_of_a_tiny_fleet_against_the_reference():
    port = _free_port()
    scenario = replace(
        bench.scenarios(quick=True)["tail"][0],
        chargers=8,
        heartbeat=1,
        meter_interval=0.3,
        window=5.0,
        settle=0.2,
        ramp_up=100.0,
        session_duration=(0.4, 0.8),
        idle_gap=(0, 0.2),
    )
    servers = bench.Servers("reference", [], [f"ws://127.0.0.1:{port}/ocpp/"])

    result = asyncio.run(_against_reference(scenario, servers, port))

    percentiles = result.percentiles
    for action in ("BootNotification", "Authorize", "StartTransaction", "StopTransaction", "MeterValues"):
        assert percentiles[action]["count"] > 0, action
    assert result.report.stats.all_calls.count >= sum(
        percentiles[action]["count"] for action in percentiles if action != "BootNotification"
    )
    [header, _, row, *_] = bench.tail_table([(None, result)])
    assert header.startswith("| load | target | CALLs/s | Boot | Authorize | StartTx | StopTx |")
    assert row.startswith("| tail HB 5s MV 2s | reference |") and row.count(" / ") == 2 * 6


def test_it_gives_the_steady_p99_its_ratio_to_the_reference():
    reference, csms = _result("reference", 0.020), _result("CSMS", 0.050)

    [_, _, reference_row, csms_row, *_] = bench.tail_table([(reference, csms)])

    assert reference_row.endswith("| 20 (1.00) |") and csms_row.endswith("| 50 (2.50) |")
    assert "| - | - | - | - | - | 50 / 50 / 50 |" in csms_row  # actions without a sample say so


async def _against_reference(scenario, servers, port):
    server = asyncio.create_task(bench_reference.serve("127.0.0.1", port))
    try:
        await asyncio.sleep(0.2)
        return await asyncio.wait_for(bench.run_scenario(scenario, servers), timeout=60)
    finally:
        server.cancel()


def _result(target: str, meter_values_s: float) -> bench.RunResult:
    from stations.simulator.options import FleetOptions
    from stations.simulator.stats import FleetReport

    stats = FleetStats(chargers=1, seed=1)
    stats.record_latency("MeterValues", meter_values_s)
    report = FleetReport(options=FleetOptions(url="ws://x/ocpp/"), stats=stats, elapsed=1.0)
    scenario = bench.scenarios(quick=True)["tail"][0]
    return bench.RunResult(scenario, target, report, 1.0, 1.0, 0, 0, None, None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
