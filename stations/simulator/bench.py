"""The load benchmark behind `manage.py bench`: the CSMS in its production
configuration against a bare reference, both driven by the same simulated fleet.

Everything runs on this machine over loopback: N server processes (N = cores)
of each kind, the fleet in this process. Figures are therefore shared-machine
figures: the fleet takes CPU from the servers it measures, for both targets alike.
"""

import asyncio
import contextlib
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import psycopg

from stations.simulator.fleet import run_fleet
from stations.simulator.options import PROTOCOL_16, PROTOCOL_201, FleetOptions
from stations.simulator.stats import LatencyReservoir, latency_summary

ROOT = Path(__file__).resolve().parents[2]  # the project: bench runs manage.py there
CHARGER_PASSWORD = "bench-password-0123456789"  # 25 characters, as OCPP recommends


@dataclass(frozen=True)
class Scenario:
    name: str
    chargers: int
    heartbeat: int  # seconds
    meter_interval: float  # seconds
    charging_share: float
    window: float  # seconds measured
    ramp_up: float = 250.0  # connections per second
    connectors: int = 2
    # Steady-state scenarios are measured once the fleet has connected and
    # settled; a storm is all about the ramp, so it is measured from the start.
    settle: float = 30.0  # seconds between the end of the ramp-up and the window
    measure_ramp: bool = False
    protocol: str = PROTOCOL_16  # the fleet's OCPP version
    # Seconds; the tail's are short, so that sessions start and stop inside its window.
    session_duration: tuple[float, float] = (3600, 7200)
    idle_gap: tuple[float, float] | None = None  # seconds between sessions; None: up to one meter interval
    servers: int | None = None  # server processes per target; None: --servers (one per core)
    # Actions whose latencies are kept from the ramp: a steady window has no BootNotification.
    ramp_actions: tuple[str, ...] = ()

    @property
    def meter_action(self) -> str:
        """What a charging connector sends every meter interval: the latency the tables compare."""
        return "TransactionEvent Updated" if self.protocol == PROTOCOL_201 else "MeterValues"

    @property
    def window_starts_at(self) -> float:
        """Settled: every charger connected, every charging connector past its first session
        start (spread over one meter interval, see fleet()), then `settle` seconds."""
        if self.measure_ramp:
            return 0.0
        first_starts = self.between_sessions[1] if self.charging_share else 0.0
        return self.chargers / self.ramp_up + first_starts + self.settle

    @property
    def between_sessions(self) -> tuple[float, float]:
        """A site's sessions did not all begin in the same two seconds: the first start is spread
        over one meter interval (or the idle gap given), or every MeterValues of the fleet falls in
        the seconds of its ramp. The storm keeps them together: it is the burst."""
        if self.idle_gap is not None:
            return self.idle_gap
        return (0, 2 if self.measure_ramp else self.meter_interval)

    def fleet(self, urls: list[str], *, id_prefix: str) -> FleetOptions:
        return FleetOptions(
            url=urls[0],
            urls=urls,
            chargers=self.chargers,
            id_prefix=id_prefix,
            password=CHARGER_PASSWORD,
            connectors=self.connectors,
            ramp_up=self.ramp_up,
            heartbeat_interval=self.heartbeat,
            meter_interval=self.meter_interval,
            charging_share=self.charging_share,
            session_duration=self.session_duration,
            idle_gap=self.between_sessions,
            id_tag_per_connector=True,
            duration=self.window_starts_at
            + self.window
            + (self.chargers / self.ramp_up if self.measure_ramp else 0),
            seed=1,
            end_sessions_at_stop=False,  # the stop burst is not part of the scenario; open sessions are closed in SQL
            protocol=self.protocol,
        )


def scenarios(quick: bool) -> dict[str, list[Scenario]]:
    """The issue's scenarios. --quick runs smaller fleets with every interval divided
    by ten, so the same traffic mix fits in windows of seconds."""
    # --quick is a smoke run of every scenario within two minutes: few samples, rough figures.
    fleet, idle_fleet, window, scale = (300, 600, 4, 10) if quick else (5000, 10000, 120, 1)
    knee_fleet, knee_window = (300, 4) if quick else (2000, 45)
    knee_intervals = (3, 1) if quick else (30, 15, 8, 4, 2, 1)
    settle = 1 if quick else 15
    steady = partial(Scenario, settle=settle)
    return {
        "steady": [steady("steady", fleet, 300 // scale, 60 / scale, 0.4, window)],
        "aggressive": [steady("aggressive", fleet, 60 // scale, 30 / scale, 1.0, window)],
        # The aggressive mix from OCPP 2.0.1 chargers: TransactionEvents where 1.6 has Start/MeterValues/Stop.
        "aggressive-201": [
            steady("aggressive 2.0.1", fleet, 60 // scale, 30 / scale, 1.0, window, protocol=PROTOCOL_201)
        ],
        "knee": [
            steady(f"knee MV every {s}s", knee_fleet, 60 // scale, s, 1.0, knee_window, settle=settle / 2)
            for s in knee_intervals
        ],
        # Every charger of the fleet (re)connecting within a couple of seconds, booting and reporting.
        "storm": [
            Scenario(
                "storm",
                fleet,
                300 // scale,
                60 / scale,
                0.4,
                window / 2,
                ramp_up=fleet / 2,
                measure_ramp=True,
            )
        ],
        # Holding connections, not taking them in: the storm is the burst. At the fleet's
        # 1,000/s the handshakes of this 2-core machine time out and retry before any is held.
        "idle": [steady("idle", idle_fleet, 300, 60, 0.0, window)],
        # Issue 18's two loads against one server process: every charger charging with its own card,
        # sessions of 20-50 s so Authorize, Start and Stop fall in the window beside the meter values.
        "tail": [
            steady(
                f"tail HB {heartbeat}s MV {meter}s",
                100 if quick else 1000,
                heartbeat,
                meter,
                1.0,
                10 if quick else 60,
                connectors=1,
                session_duration=(3, 6) if quick else (20, 50),
                idle_gap=(0, 2) if quick else (0, 10),
                servers=1,
                ramp_actions=("BootNotification",),
            )
            for heartbeat, meter in ((5, 2), (2, 1))
        ],
        # Not part of the default run: half an hour of the steady mix, for memory drift.
        "soak": [steady("soak", fleet, 300 // scale, 60 / scale, 0.4, 60 if quick else 1800)],
    }


# --- server processes ------------------------------------------------------------------


@dataclass
class Servers:
    """N processes of one kind, and what they cost."""

    label: str
    processes: list[subprocess.Popen]
    urls: list[str]
    database_url: str | None = None
    cpu_seconds_at_start: float = 0.0
    rss_samples: list[int] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        return sum(_proc_cpu_seconds(p.pid) for p in self.processes)

    def rss_bytes(self) -> int:
        return sum(_proc_rss_bytes(p.pid) for p in self.processes)

    def stop(self) -> None:
        """Terminate; kill what has not exited 15 s later (daphne waits for every consumer to close)."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _proc_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def start_csms(count: int, first_port: int, database_url: str, redis_url: str, log_dir: Path) -> Servers:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBUG": "False",
        "SERVE_STATIC": "False",
        "LOG_LEVEL": "WARNING",
    }
    # As an operator starts it: `manage.py serve` (csms.server's flags) replaces itself with daphne, same pid.
    serve = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port"]
    processes = [_spawn([*serve, str(first_port + i)], env, log_dir / f"csms-{i}.log") for i in range(count)]
    urls = [f"ws://127.0.0.1:{first_port + i}/ocpp/" for i in range(count)]
    return _wait_listening(Servers("CSMS", processes, urls, database_url), first_port)


def start_reference(count: int, first_port: int, log_dir: Path) -> Servers:
    argv = [sys.executable, "-m", "stations.simulator.bench_reference", "--port"]
    processes = [
        _spawn([*argv, str(first_port + i)], dict(os.environ), log_dir / f"ref-{i}.log") for i in range(count)
    ]
    urls = [f"ws://127.0.0.1:{first_port + i}/ocpp/" for i in range(count)]
    return _wait_listening(Servers("reference", processes, urls), first_port)


def _spawn(argv: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_listening(servers: Servers, first_port: int, timeout: float = 30) -> Servers:
    import socket

    deadline = time.monotonic() + timeout
    for port in range(first_port, first_port + len(servers.processes)):
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{servers.label} on port {port} did not start")
                time.sleep(0.1)
    return servers


# --- the bench database ----------------------------------------------------------------


def prepare_database(database_url: str, chargers: int) -> None:
    """A fresh database, migrated, with the fleet's chargers registered (one shared hash)."""
    admin_url, name = database_url.rsplit("/", 1)
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", _REGISTER_FLEET % chargers],
        cwd=ROOT,
        env=env,
        check=True,
    )


_REGISTER_FLEET = (
    """
from rfid.models import IdTag
from stations.models import Charger
template = Charger(charge_point_id="x"); template.set_password(%r)
""".replace("%r", repr(CHARGER_PASSWORD))
    + """
ids = [f"BENCH-{i + 1:05d}" for i in range(%d)]
Charger.objects.bulk_create([Charger(charge_point_id=id, password=template.password) for id in ids], batch_size=2000)
# Personal cards, one per connector (the fleet's idTag per connector): a shared
# tag would be refused as ConcurrentTx while another session holds it.
IdTag.objects.bulk_create([IdTag(id_tag=f"{id}-{c}") for id in ids for c in (1, 2)], batch_size=2000)
"""
)


def close_open_sessions(database_url: str) -> None:
    """Sessions the previous run's fleet left open would make its cards ConcurrentTx."""
    with psycopg.connect(database_url) as db:
        db.execute(
            "UPDATE stations_transaction SET stopped_at = now(), meter_stop = meter_start, "
            "stop_reason = 'Other' WHERE stopped_at IS NULL"
        )


def count_rows(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as db:
        return {
            "frames in": db.execute(
                "SELECT count(*) FROM stations_messagelog WHERE direction = 'in'"
            ).fetchone()[0],
            "frames out": db.execute(
                "SELECT count(*) FROM stations_messagelog WHERE direction = 'out'"
            ).fetchone()[0],
            "meter values": db.execute("SELECT count(*) FROM stations_metervalue").fetchone()[0],
            "transactions": db.execute("SELECT count(*) FROM stations_transaction").fetchone()[0],
        }


# --- one run ---------------------------------------------------------------------------


@dataclass
class RunResult:
    scenario: Scenario
    target: str
    report: object
    cpu_seconds: float
    wall_seconds: float
    rss_before: int
    rss_peak: int
    all_accepted_after: float | None  # seconds from the first connection
    cpu_while_held: float | None  # cores busy once every charger was accepted
    rss_timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds, bytes) every ~10 s
    calls_per_second: float = 0.0  # over the measured window
    cores: float = 0.0  # server CPU over the measured window
    fleet_cores: float = 0.0  # the simulated fleet's CPU over that window: near 1, it is the bottleneck
    fleet_lag: dict[str, float] = field(default_factory=dict)  # the fleet's event-loop lag over the window, s
    rows: dict[str, int] | None = None

    @property
    def connected(self) -> int:
        return self.report.stats.peak_connected

    @property
    def percentiles(self) -> dict[str, dict[str, float]]:
        return self.report.latency_percentiles()

    @property
    def steady_p99(self) -> float | None:
        """p99 of every CALL answered in the window, whatever its action."""
        return latency_summary(self.report.stats.all_calls)["p99"]

    def p99(self, action: str | None = None) -> float | None:
        """p99 of `action`, by default of the scenario's meter values (MeterValues, or 2.0.1's Updated)."""
        return self.percentiles.get(action or self.scenario.meter_action, {}).get("p99")


async def run_scenario(scenario: Scenario, servers: Servers) -> RunResult:
    options = scenario.fleet(servers.urls, id_prefix="BENCH")
    rss_before, cpu_before, started = servers.rss_bytes(), servers.cpu_seconds(), time.monotonic()
    rss_peak, accepted, timeline, lag = rss_before, {}, [], LatencyReservoir()
    window = {"at": 0.0, "calls": 0, "cpu": cpu_before, "fleet": time.process_time()}

    def on_progress(stats):
        nonlocal rss_peak
        rss, elapsed = servers.rss_bytes(), time.monotonic() - started
        rss_peak = max(rss_peak, rss)
        if not timeline or elapsed - timeline[-1][0] >= 10:
            timeline.append((elapsed, rss))
        if not accepted and stats.chargers_accepted >= scenario.chargers:
            accepted.update(at=time.monotonic() - started, cpu=servers.cpu_seconds())
        opens_at = scenario.window_starts_at + arrival_delay(scenario, accepted.get("at"), elapsed)
        if not window["at"] and scenario.window_starts_at and elapsed >= opens_at:
            window.update(
                at=elapsed, calls=stats.total_calls(), cpu=servers.cpu_seconds(), fleet=time.process_time()
            )
            stats.restart_latencies(keep=scenario.ramp_actions)  # latency figures are of the window only
            window["lag"] = asyncio.create_task(_sample_loop_lag(lag))

    try:
        report = await run_fleet(options, on_progress=on_progress)
    finally:
        if "lag" in window:
            window["lag"].cancel()
    wall, cpu = time.monotonic() - started, servers.cpu_seconds()
    held = (cpu - accepted["cpu"]) / (wall - accepted["at"]) if accepted and wall > accepted["at"] else None
    measured = max(wall - window["at"], 1e-9)
    return RunResult(
        scenario,
        servers.label,
        report,
        cpu - cpu_before,
        wall,
        rss_before,
        rss_peak,
        accepted.get("at"),
        held,
        timeline,
        calls_per_second=(report.stats.total_calls() - window["calls"]) / measured,
        cores=(cpu - window["cpu"]) / measured,
        fleet_cores=(time.process_time() - window["fleet"]) / measured,
        fleet_lag=latency_summary(lag),
    )


def arrival_delay(scenario: Scenario, accepted_at: float | None, elapsed: float) -> float:
    """How much later than its nominal ramp the fleet was all accepted, in seconds: the window opens that
    much later, so that a server slower to accept is measured settled too, with the ramp's first session
    starts out of its window (they follow each charger's own connection). Not all accepted yet: as late
    as now. At most half the window, which is shortened by as much (the fleet's run has a fixed length)."""
    nominal = scenario.chargers / scenario.ramp_up
    arrived = accepted_at if accepted_at is not None else elapsed
    return min(max(0.0, arrived - nominal), scenario.window / 2)


async def _sample_loop_lag(lag: LatencyReservoir, period: float = 0.01) -> None:
    """How late the fleet's event loop wakes a 10 ms sleep: every latency the fleet
    measures includes this delay, whichever server answers."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            due = loop.time() + period
            await asyncio.sleep(period)
            lag.add(loop.time() - due)


def with_rows(
    result: RunResult, servers: Servers, before: dict[str, int], settle_s: float = 1.0, limit_s: float = 60.0
) -> RunResult:
    """Rows the CSMS wrote during the run, once they stop changing.

    Frames still queued in a busy server when the fleet stops are handled
    (and logged) after the run: count once the write-behind has caught up.
    """
    deadline, after = time.monotonic() + limit_s, count_rows(servers.database_url)
    while time.monotonic() < deadline:
        time.sleep(settle_s)
        previous, after = after, count_rows(servers.database_url)
        if after == previous:
            break
    return replace(result, rows={key: after[key] - before[key] for key in after})


# --- the report ------------------------------------------------------------------------

KEY_ACTIONS = (
    "BootNotification",
    "StatusNotification",
    "Heartbeat",
    "Authorize",
    "StartTransaction",
    "MeterValues",
    "StopTransaction",
    "TransactionEvent Started",
    "TransactionEvent Updated",
    "TransactionEvent Ended",
)


def ms(seconds: float | None) -> str:
    return "-" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:.0f}"


def ratio(value: float | None, reference: float | None) -> str:
    return "-" if not value or not reference else f"{value / reference:.2f}"


def summary_table(pairs: list[tuple[RunResult, RunResult]]) -> list[str]:
    """One row per scenario and target: load, errors, cost per 1,000 connections, and rows."""
    lines = [
        "| scenario | target | connected | CALLs/s (×ref) | MeterValues p99 ms (×ref) | errors | timeouts "
        "| server CPU cores (per 1k conn) | server RSS MB (per 1k conn) | fleet CPU cores "
        "| fleet loop lag p99 ms | all accepted after s | frames logged / CALLs sent |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for reference, csms in pairs:
        for result in (reference, csms) if reference else (csms,):
            lines.append(_summary_row(result, reference))
    if any(csms.scenario.protocol == PROTOCOL_201 for _reference, csms in pairs):
        lines += ["", "In the 2.0.1 rows, MeterValues is TransactionEvent Updated: what 2.0.1 sends instead."]
    return lines


def _summary_row(result: RunResult, reference: RunResult | None) -> str:
    """A run's row; ratios to the reference's run of the same step ("-" without one)."""
    stats, per_k = result.report.stats, max(result.connected, 1) / 1000
    cores, rss_mb, rate = result.cores, result.rss_peak / 2**20, result.calls_per_second
    accepted = "-" if result.all_accepted_after is None else f"{result.all_accepted_after:.1f}"
    rows = (
        "-" if result.rows is None else f"{result.rows['frames in']:,} / {sum(stats.calls_sent.values()):,}"
    )
    return (
        f"| {result.scenario.name} | {result.target} | {result.connected:,} "
        f"| {rate:.0f} ({ratio(rate, reference and reference.calls_per_second)}) "
        f"| {ms(result.p99())} ({ratio(result.p99(), reference and reference.p99())}) "
        f"| {sum(stats.call_errors.values())} | {sum(stats.timeouts.values())} "
        f"| {cores:.2f} ({cores / per_k:.3f}) | {rss_mb:.0f} ({rss_mb / per_k:.0f}) | {result.fleet_cores:.2f} "
        f"| {ms(result.fleet_lag.get('p99'))} | {accepted} | {rows} |"
    )


TAIL_ACTIONS = (
    ("Boot", "BootNotification"),
    ("Authorize", "Authorize"),
    ("StartTx", "StartTransaction"),
    ("StopTx", "StopTransaction"),
    ("Heartbeat", "Heartbeat"),
    ("MeterValues", "MeterValues"),
)


def tail_table(pairs: list[tuple[RunResult | None, RunResult]]) -> list[str]:
    """Issue 18's table: each action's p50 / p95 / p99 (ms) per load and target, and every CALL's p99."""
    lines = [
        "| load | target | CALLs/s | "
        + " | ".join(label for label, _action in TAIL_ACTIONS)
        + " | all, steady p99 (×ref) |",
        "|---|---|---|" + "---|" * (len(TAIL_ACTIONS) + 1),
    ]
    for reference, csms in pairs:
        for result in (reference, csms) if reference else (csms,):
            steady = ratio(result.steady_p99, reference and reference.steady_p99)
            cells = " | ".join(_p50_p95_p99(result, action) for _label, action in TAIL_ACTIONS)
            lines.append(
                f"| {result.scenario.name} | {result.target} | {result.calls_per_second:.0f} | {cells} "
                f"| {ms(result.steady_p99)} ({steady}) |"
            )
    return lines + ["", "Cells: p50 / p95 / p99 ms; Boot over the ramp, the rest over the window."]


def _p50_p95_p99(result: RunResult, action: str) -> str:
    figures = result.percentiles.get(action)
    if not figures:
        return "-"
    return " / ".join(ms(figures[key]) for key in ("p50", "p95", "p99"))


def latency_table(results: list[RunResult]) -> list[str]:
    """p50/p95/p99/max in milliseconds for each action of each run."""
    lines = [
        "| scenario | target | action | count | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for action in KEY_ACTIONS:
            figures = result.percentiles.get(action)
            if figures:
                lines.append(
                    f"| {result.scenario.name} | {result.target} | {action} | {figures['count']:,} "
                    f"| {ms(figures['p50'])} | {ms(figures['p95'])} | {ms(figures['p99'])} "
                    f"| {ms(figures['max'])} |"
                )
    return lines


def idle_lines(reference: RunResult | None, csms: RunResult) -> list[str]:
    """Memory per held connection (RSS growth / connections) and CPU while nothing happens."""
    lines = []
    for result in (reference, csms) if reference else (csms,):
        per_connection = (result.rss_peak - result.rss_before) / max(result.connected, 1)
        held = "-" if result.cpu_while_held is None else f"{result.cpu_while_held * 100:.1f} % of a core"
        lines.append(
            f"- {result.target}: {result.connected:,} connections held, "
            f"{per_connection / 1024:.1f} KB per connection, idle CPU {held}"
        )
    return lines


def drift_lines(result: RunResult) -> list[str]:
    """Server RSS once the fleet has settled (a quarter in) against the end of the run."""
    timeline = result.rss_timeline
    if len(timeline) < 4:
        return []
    settled = timeline[len(timeline) // 4]
    end = timeline[-1]
    change = (end[1] - settled[1]) / settled[1] * 100
    return [
        f"- {result.target}: server RSS {settled[1] / 2**20:.0f} MB at {settled[0] / 60:.1f} min, "
        f"{end[1] / 2**20:.0f} MB at {end[0] / 60:.1f} min ({change:+.1f} %)"
    ]
