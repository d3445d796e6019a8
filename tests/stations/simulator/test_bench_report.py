"""The benchmark's tables: ratios to the reference, and a run without one (the soak);
the fleet's event-loop lag probe."""

import asyncio
import time

from stations.simulator import bench
from stations.simulator.options import FleetOptions
from stations.simulator.stats import FleetReport, FleetStats


def run(target: str, calls_per_second: float, meter_p99_ms: int, frames: int) -> bench.RunResult:
    stats = FleetStats(chargers=10, seed=1)
    stats.calls_sent.update({"MeterValues": frames})
    stats.peak_connected = 1024
    stats.record_latency("MeterValues", meter_p99_ms / 1000)
    report = FleetReport(options=FleetOptions(url="ws://x/ocpp/", chargers=10), stats=stats, elapsed=10.0)
    scenario = bench.Scenario("steady", 10, 300, 60, 0.4, 10)
    return bench.RunResult(
        scenario,
        target,
        report,
        cpu_seconds=1.0,
        wall_seconds=10.0,
        rss_before=0,
        rss_peak=2**20 * 100,
        all_accepted_after=1.5,
        cpu_while_held=0.1,
        calls_per_second=calls_per_second,
        cores=0.5,
        fleet_cores=0.93,
        fleet_lag={"p99": 0.012},
        rows=None if target == "reference" else {"frames in": frames},
    )


def test_it_gives_each_csms_figure_its_ratio_to_the_reference():
    reference, csms = run("reference", 100, 50, 1000), run("CSMS", 80, 100, 1000)

    [_, _, reference_row, csms_row] = bench.summary_table([(reference, csms)])

    assert "| 100 (1.00) | 50 (1.00) |" in reference_row
    assert "| 80 (0.80) | 100 (2.00) |" in csms_row and "| 1,000 / 1,000 |" in csms_row
    assert "| 0.93 | 12 |" in csms_row  # how busy and how late the fleet itself was


def test_it_reports_a_run_without_the_reference():
    csms = run("CSMS", 80, 100, 1000)

    rows = bench.summary_table([(None, csms)])

    assert len(rows) == 3 and "| 80 (-) | 100 (-) |" in rows[2]
    assert bench.idle_lines(None, csms) == [
        "- CSMS: 1,024 connections held, 100.0 KB per connection, idle CPU 10.0 % of a core"
    ]


STALL_S, PROBE_PERIOD_S = 0.2, 0.005


def test_it_measures_how_late_the_fleets_event_loop_wakes_up():
    lag = bench.LatencyReservoir()

    async def stall_the_loop_once():
        sampler = asyncio.create_task(bench._sample_loop_lag(lag, period=PROBE_PERIOD_S))
        await asyncio.sleep(0.05)
        time.sleep(STALL_S)  # a charger's callback that blocks: every other charger waits for it
        await asyncio.sleep(0.05)
        sampler.cancel()
        await sampler

    asyncio.run(asyncio.wait_for(stall_the_loop_once(), timeout=30))

    assert lag.count > 5
    # The probe's sleep under way when the stall began was due within one period: it woke the stall late.
    assert lag.maximum >= STALL_S - PROBE_PERIOD_S
    assert sorted(lag.samples)[len(lag.samples) // 2] < STALL_S  # the stall is the exception, not the rule


def test_it_reports_the_knee_as_the_busiest_step_under_200_ms_at_its_windows_rate():
    from stations.management.commands.bench import Command

    steps = [
        (run("reference", 300, 20, 900), run("CSMS", 290, 40, 900)),
        (run("reference", 500, 150, 1500), run("CSMS", 480, 450, 1500)),
    ]

    reference_line, csms_line, _ = Command()._knee_lines(steps)

    assert (
        reference_line
        == "- knee of the reference (last step with p99 < 200 ms): steady: 500 CALLs/s at MeterValues p99 150 ms"
    )
    assert (
        csms_line
        == "- knee of the CSMS (last step with p99 < 200 ms): steady: 290 CALLs/s at MeterValues p99 40 ms"
    )


def test_it_compares_a_201_fleets_updated_events_where_1_6_has_meter_values():
    reference, csms = run("reference", 100, 50, 1000), run("CSMS", 80, 100, 1000)
    scenario_201 = bench.Scenario("aggressive 2.0.1", 10, 60, 30, 1.0, 10, protocol="ocpp2.0.1")
    for result in (reference, csms):
        result.scenario = scenario_201
        result.report.stats.record_latency("TransactionEvent Updated", 0.020)

    rows = bench.summary_table([(reference, csms)])

    assert csms.p99() == 0.020 and csms.p99("MeterValues") == 0.100
    assert "| 80 (0.80) | 20 (1.00) |" in rows[3]
    assert rows[-1] == "In the 2.0.1 rows, MeterValues is TransactionEvent Updated: what 2.0.1 sends instead."
    assert scenario_201.fleet(["ws://x/ocpp/"], id_prefix="BENCH").protocol == "ocpp2.0.1"


def test_it_opens_the_window_as_much_later_as_the_fleet_was_all_accepted_late():
    # 1,000 chargers at 250 a second: all in after 4 s, nominally.
    scenario = bench.Scenario("aggressive", 1000, 60, 30, 1.0, window=120, ramp_up=250)

    on_time = bench.arrival_delay(scenario, accepted_at=3.5, elapsed=50)
    late = bench.arrival_delay(scenario, accepted_at=21.0, elapsed=50)
    still_arriving = bench.arrival_delay(scenario, accepted_at=None, elapsed=30)
    never = bench.arrival_delay(scenario, accepted_at=None, elapsed=500)

    assert (on_time, late, still_arriving, never) == (0.0, 17.0, 26.0, 60.0)  # at most half the window
