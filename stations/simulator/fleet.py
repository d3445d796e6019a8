"""Fleet simulator: plays N OCPP 1.6J chargers against a CSMS.

Used for demos, staff training and load tests (``manage.py simulate`` wraps
:func:`run_fleet`). Everything runs on one asyncio loop and per-charger state
is small, so 5,000-10,000 simulated chargers fit in one process.

This module is the public API: :class:`FleetOptions`, :func:`run_fleet`, the
shared :class:`FleetStats` (bounded latency reservoirs) and the
:class:`FleetReport`. The chargers themselves live in
:mod:`stations.simulator.charger` (with :mod:`stations.simulator.sessions`,
:mod:`stations.simulator.reactions`, :mod:`stations.simulator.charge_point` and
:mod:`stations.simulator.messages`); their physics in :mod:`stations.simulator.ev_physics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import random
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ocpp.v16.enums import RegistrationStatus
from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from stations.simulator.charge_point import CHARGE_POINT_LOGGER
from stations.simulator.messages import MAX_ID_TAG_LENGTH, charger_id, connector_id_tag
from stations.simulator.charger import SimulatedCharger, cancel_and_wait

LOGGER = logging.getLogger(__name__)

LATENCY_SAMPLES_PER_ACTION = 20_000
END_SESSIONS_GRACE_S = 10.0  # how long chargers get to stop their sessions when the run ends
FREEZE_PERIOD_S = 1.0  # how often the fleet's survivors are moved out of the collector's sight


@dataclass
class FleetOptions:
    url: str  # e.g. "ws://127.0.0.1:8000/ocpp/" (charger id is appended, URL-quoted)
    chargers: int = 10
    id_prefix: str = "SIM"  # charger ids SIM-00001 ...
    password: str | None = None  # HTTP Basic auth, username = charger id (security profile 1)
    connectors: int = 2
    ramp_up: float = 50.0  # new connections per second
    heartbeat_interval: int | None = None  # seconds; None = what BootNotification answers
    meter_interval: float = 60.0  # seconds between MeterValues while charging
    charging_share: float = 0.4  # share of connectors that run sessions on their own
    session_duration: tuple[float, float] = (600, 3600)  # min/max seconds of a session
    duration: float | None = None  # total run time in seconds, None = until cancelled
    id_tags: Sequence[str] = ("SIMTAG",)  # idTags drivers use
    seed: int | None = None  # repeatable fleets: Random per charger from seed + index
    offline_queue: bool = True  # queue transaction messages while offline, replay after boot
    max_backoff: float = 30.0  # seconds, cap of the reconnect back-off
    idle_gap: tuple[float, float] = (5.0, 60.0)  # seconds a session connector stays idle
    response_timeout: float = 30.0  # seconds to wait for a CALLRESULT / the handshake
    offline_queue_limit: int = 200  # MeterValues kept per charger while offline
    # Several servers with no load balancer in front: when given, charger i
    # connects to urls[i % len(urls)] and `url` is not used.
    urls: Sequence[str] = ()
    # When the run ends, open sessions end with a StopTransaction first
    # (a load test may not want that burst in its figures).
    end_sessions_at_stop: bool = True
    # Each connector's driver uses its own idTag "<charger id>-<connector>" instead
    # of id_tags: a CSMS refuses a tag already charging elsewhere (ConcurrentTx).
    id_tag_per_connector: bool = False

    def __post_init__(self) -> None:
        self._validate_urls()
        self._validate_fleet()
        self._validate_id_tags()

    def charger_ids(self) -> list[str]:
        return [charger_id(self.id_prefix, index) for index in range(self.chargers)]

    def driver_id_tags(self) -> list[str]:
        """Every idTag the fleet's drivers present (RemoteStart tags come from the CSMS)."""
        if not self.id_tag_per_connector:
            return list(self.id_tags)
        return [connector_id_tag(charge_point_id, number) for charge_point_id in self.charger_ids()
                for number in range(1, self.connectors + 1)]

    def server_urls(self) -> tuple[str, ...]:
        """The servers the fleet connects to, in round-robin order."""
        return tuple(self.urls) or (self.url,)

    def url_for(self, index: int) -> str:
        """The server URL of charger ``index`` (0-based)."""
        servers = self.server_urls()
        return servers[index % len(servers)]

    def _validate_urls(self) -> None:
        # a str is a Sequence[str] too: urls="ws://a/" would be one server per character
        _require(not isinstance(self.urls, str), "urls must be a list of URLs, not one string")
        self.urls = tuple(self.urls)
        for url in (self.url, *self.urls):
            _require(_is_websocket_url(url), f"{url!r} is not a ws:// or wss:// URL")

    def _validate_fleet(self) -> None:
        _require(self.chargers >= 1, "chargers must be >= 1")
        _require(self.connectors >= 1, "connectors must be >= 1")
        _require(self.ramp_up > 0, "ramp_up must be > 0")
        _require(0.0 <= self.charging_share <= 1.0, "charging_share must be in [0, 1]")
        _require(self.meter_interval > 0, "meter_interval must be > 0")
        _require(_is_range(self.session_duration), "session_duration must be (min, max) > 0")
        _require(_is_range(self.idle_gap, allow_zero=True), "idle_gap must be (min, max) >= 0")
        _require(self.heartbeat_interval is None or self.heartbeat_interval > 0,
                 "heartbeat_interval must be > 0")
        _require(self.duration is None or self.duration > 0, "duration must be > 0")
        _require(self.max_backoff >= 1, "max_backoff must be >= 1 s")

    def _validate_id_tags(self) -> None:
        if self.id_tag_per_connector:  # the last charger's last connector has the longest tag
            longest = connector_id_tag(charger_id(self.id_prefix, self.chargers - 1), self.connectors)
            _require(len(longest) <= MAX_ID_TAG_LENGTH,
                     f"idTag per connector {longest!r} is over {MAX_ID_TAG_LENGTH} chars: shorten id_prefix")
            return
        _require(not isinstance(self.id_tags, str), "id_tags must be a list of idTags, not one string")
        _require(len(self.id_tags) > 0, "id_tags must not be empty")
        _require(all(0 < len(tag) <= MAX_ID_TAG_LENGTH for tag in self.id_tags),
                 f"idTags are 1-{MAX_ID_TAG_LENGTH} chars (OCPP)")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_websocket_url(url: object) -> bool:
    """A malformed URL is a usage error, not a reason to back off and retry forever."""
    if not isinstance(url, str):
        return False
    try:
        parse_uri(url)
    except InvalidURI:
        return False
    return True


def _is_range(bounds: Sequence[float], allow_zero: bool = False) -> bool:
    low, high = bounds
    return (low >= 0 if allow_zero else low > 0) and low <= high


class LatencyReservoir:
    """Bounded uniform sample of latencies (reservoir sampling, Vitter's
    algorithm R) plus the exact count and maximum. Memory stays at
    ``capacity`` doubles however long the run."""

    __slots__ = ("capacity", "count", "maximum", "samples", "_rng")

    def __init__(self, capacity: int = LATENCY_SAMPLES_PER_ACTION, rng: random.Random | None = None):
        self.capacity = capacity
        self.count = 0
        self.maximum = 0.0
        self.samples = array("d")  # seconds
        self._rng = rng or random.Random()

    def add(self, seconds: float) -> None:
        self.count += 1
        self.maximum = max(self.maximum, seconds)
        if len(self.samples) < self.capacity:
            self.samples.append(seconds)
            return
        slot = self._rng.randrange(self.count)  # keep each sample with probability capacity/count
        if slot < self.capacity:
            self.samples[slot] = seconds


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (0-100) with linear interpolation between the
    closest ranks (numpy's default). Raises ValueError for no samples."""
    if not samples:
        raise ValueError("percentile of no samples")
    return _percentile_of_sorted(sorted(samples), pct)


def _percentile_of_sorted(ordered: Sequence[float], pct: float) -> float:
    rank = (len(ordered) - 1) * min(max(pct, 0.0), 100.0) / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(reservoir: LatencyReservoir) -> dict[str, float]:
    """count, p50, p95, p99 (from the reservoir) and the exact max, in seconds."""
    ordered = sorted(reservoir.samples)
    summary = {"count": float(reservoir.count), "max": reservoir.maximum}
    for pct in (50, 95, 99):
        summary[f"p{pct}"] = _percentile_of_sorted(ordered, pct) if ordered else math.nan
    return summary


@dataclass(eq=False)
class FleetStats:
    """Counters shared by all chargers of a fleet (single event loop, so no locks)."""

    chargers: int
    seed: int | None = None
    started_at: float = field(default_factory=time.monotonic)
    connected: int = 0  # open WebSockets right now
    peak_connected: int = 0
    connected_at_stop: int = 0  # open WebSockets when the run was stopped
    chargers_accepted: int = 0  # chargers that got at least one Accepted boot
    boots: Counter = field(default_factory=Counter)  # BootNotification status -> count
    handshake_rejections: Counter = field(default_factory=Counter)  # HTTP status -> count
    connect_failures: int = 0  # TCP refused/unreachable, handshake timeouts
    calls_sent: Counter = field(default_factory=Counter)  # action -> CALLs sent
    call_errors: Counter = field(default_factory=Counter)  # action -> CALLERRORs received
    invalid_results: Counter = field(default_factory=Counter)  # action -> schema-invalid CALLRESULTs
    timeouts: Counter = field(default_factory=Counter)  # action -> no answer in time
    latencies: dict[str, LatencyReservoir] = field(default_factory=dict)  # action -> seconds
    disconnects: int = 0
    reconnects: int = 0
    replayed: Counter = field(default_factory=Counter)  # action -> messages replayed
    dropped_messages: int = 0  # transaction messages given up (queue full, no queue, no id)
    commands: Counter = field(default_factory=Counter)  # action -> CALLs received from the CSMS
    sessions_started: int = 0
    sessions_completed: int = 0
    sessions_active: int = 0
    energy_wh: float = 0.0  # metered by all connectors during this run
    crashes: int = 0  # simulator bugs (logged)
    _last_progress: tuple[float, int] = (0.0, 0)

    def __post_init__(self) -> None:
        self._reservoir_rng = random.Random(self.seed)
        self._last_progress = (self.started_at, 0)

    def record_latency(self, action: str, seconds: float) -> None:
        reservoir = self.latencies.get(action)
        if reservoir is None:
            reservoir = self.latencies[action] = LatencyReservoir(rng=self._reservoir_rng)
        reservoir.add(seconds)

    def connection_opened(self) -> None:
        self.connected += 1
        self.peak_connected = max(self.peak_connected, self.connected)

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def total_calls(self) -> int:
        return sum(self.calls_sent.values())

    def progress_line(self) -> str:
        """One line for a live display; the rate is since the previous call."""
        now, calls = time.monotonic(), self.total_calls()
        last_time, last_calls = self._last_progress
        rate = (calls - last_calls) / max(now - last_time, 1e-6)
        self._last_progress = (now, calls)
        rejected = self.boots[RegistrationStatus.rejected] + sum(self.handshake_rejections.values())
        return (
            f"{self.elapsed():6.0f}s  conn {self.connected}/{self.chargers}"
            f"  boot ok {self.boots[RegistrationStatus.accepted]}"
            f" pend {self.boots[RegistrationStatus.pending]} rej {rejected}"
            f"  calls {calls} ({rate:.0f}/s)"
            f"  err {sum(self.call_errors.values())} t/o {sum(self.timeouts.values())}"
            f"  tx {self.sessions_active}  reconn {self.reconnects}"
            f"  replay {sum(self.replayed.values())}"
        )


@dataclass
class FleetReport:
    options: FleetOptions
    stats: FleetStats
    elapsed: float  # seconds the fleet ran

    def messages_per_second(self) -> float:
        """CALLs sent by the fleet per second of run time."""
        return self.stats.total_calls() / self.elapsed if self.elapsed > 0 else 0.0

    def latency_percentiles(self) -> dict[str, dict[str, float]]:
        """action -> {count, p50, p95, p99, max} in seconds (send -> CALLRESULT)."""
        return {action: latency_summary(reservoir)
                for action, reservoir in sorted(self.stats.latencies.items())}

    def summary_lines(self) -> list[str]:
        s = self.stats
        lines = [
            f"Fleet: {s.chargers} chargers against {self._servers()} for {self.elapsed:.1f} s",
            f"Connections: {s.connected_at_stop} open at stop, peak {s.peak_connected}, "
            f"{s.chargers_accepted} chargers accepted; {s.disconnects} disconnects, "
            f"{s.reconnects} reconnects, {s.connect_failures} connect failures",
            f"Boots: accepted {s.boots[RegistrationStatus.accepted]}, "
            f"pending {s.boots[RegistrationStatus.pending]}, "
            f"rejected {s.boots[RegistrationStatus.rejected]}; "
            f"handshakes refused: {_format_counter(s.handshake_rejections, 'HTTP ')}",
            f"Sessions: {s.sessions_started} started, {s.sessions_completed} completed, "
            f"{s.sessions_active} active; {s.energy_wh / 1000:.1f} kWh metered",
            f"CALLs sent: {s.total_calls()} ({self.messages_per_second():.1f}/s); "
            f"CALLERRORs {sum(s.call_errors.values())}, timeouts {sum(s.timeouts.values())}, "
            f"invalid CALLRESULTs {sum(s.invalid_results.values())}",
            f"Offline queue: replayed {_format_counter(s.replayed)}; dropped {s.dropped_messages}",
            f"Commands from CSMS: {_format_counter(s.commands)}",
        ]
        lines += self._latency_lines() + self._error_lines()
        if s.crashes:
            lines.append(f"Simulator errors: {s.crashes} (see log)")
        return lines

    def _servers(self) -> str:
        servers = self.options.server_urls()
        return servers[0] if len(servers) == 1 else f"{len(servers)} servers ({', '.join(servers)})"

    def _latency_lines(self) -> list[str]:
        lines = [f"{'Latency (ms)':<33}{'count':>8}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}"]
        for action, summary in self.latency_percentiles().items():
            values = "".join(f"{summary[key] * 1000:9.1f}" for key in ("p50", "p95", "p99", "max"))
            lines.append(f"  {action:<31}{int(summary['count']):>8}{values}")
        return lines

    def _error_lines(self) -> list[str]:
        s = self.stats
        problems = [("CALLERRORs", s.call_errors), ("Timeouts", s.timeouts),
                    ("Invalid CALLRESULTs", s.invalid_results)]
        return [f"{label} by action: {_format_counter(counter)}"
                for label, counter in problems if counter]


def _format_counter(counter: Counter, prefix: str = "") -> str:
    if not counter:
        return "none"
    return ", ".join(f"{prefix}{key} {count}" for key, count in sorted(counter.items(), key=str))


async def run_fleet(
    options: FleetOptions,
    *,
    on_progress: Callable[[FleetStats], None] | None = None,
    stop: asyncio.Event | None = None,
) -> FleetReport:
    """Run the fleet until ``options.duration`` elapses or ``stop`` is set
    (e.g. from a SIGINT handler), then disconnect every charger and report.

    ``on_progress(stats)`` is called about once a second. Cancelling the
    awaiting task also disconnects the chargers (and raises CancelledError).
    """
    _raise_file_limit(needed=options.chargers + 256)
    stats = FleetStats(chargers=options.chargers, seed=options.seed)
    chargers = [SimulatedCharger(index, options, stats) for index in range(options.chargers)]
    with _quiet_ocpp_logging():
        tasks = [asyncio.create_task(charger.run(), name=charger.id) for charger in chargers]
        tasks.append(asyncio.create_task(_freeze_survivors()))
        if on_progress is not None:
            tasks.append(asyncio.create_task(_report_progress(stats, on_progress)))
        try:
            await _run_until_stopped(options.duration, stop)
            if options.end_sessions_at_stop:
                await _end_sessions(chargers)
        finally:
            stats.connected_at_stop = stats.connected
            await cancel_and_wait(tasks)
            gc.unfreeze()
    return FleetReport(options=options, stats=stats, elapsed=stats.elapsed())


def _raise_file_limit(needed: int) -> None:
    """One socket per charger: lift the soft RLIMIT_NOFILE (often 1024) up to
    the hard limit if needed, and warn when even that is too low."""
    try:
        import resource
    except ImportError:  # not on Unix: nothing to adjust
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft != resource.RLIM_INFINITY and soft < needed:
        LOGGER.warning("open-file limit %s is below the %s sockets this fleet needs "
                       "(raise it with ulimit -n)", soft, needed)


async def _end_sessions(chargers: Sequence[SimulatedCharger]) -> None:
    """Sessions left open would stay open in the CSMS and make their cards
    ConcurrentTx on the next run; give chargers a moment to stop them."""
    for charger in chargers:
        charger.wind_down()
    deadline = asyncio.get_running_loop().time() + END_SESSIONS_GRACE_S
    while any(charger.sessions_open() for charger in chargers):
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.2)


async def _run_until_stopped(duration: float | None, stop: asyncio.Event | None) -> None:
    stop = stop or asyncio.Event()  # never set: run for `duration` or until cancelled
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), duration)


async def _freeze_survivors(period: float = FREEZE_PERIOD_S) -> None:
    """Move what has survived until now out of the garbage collector's sight.

    Every charger of the fleet lives in this one process and event loop: a full
    collection walks all of their sockets and tasks (800 ms at 5,000 chargers),
    every charger stalls at once, and whatever fell due in that time then goes out
    together, so their timers stay in step for the rest of the run. Frozen objects
    are never collected; the run's end gives them back (a cycle that was garbage
    at a freeze is only freed then).
    """
    while True:
        await asyncio.sleep(period)
        gc.freeze()


async def _report_progress(stats: FleetStats, on_progress: Callable[[FleetStats], None]) -> None:
    while True:
        await asyncio.sleep(1.0)
        try:
            on_progress(stats)
        except Exception:
            LOGGER.exception("on_progress callback failed; live progress disabled")
            return


@contextlib.contextmanager
def _quiet_ocpp_logging():
    """The ocpp library logs every message at INFO; with thousands of chargers
    that is the bottleneck. Restores the previous levels afterwards."""
    loggers = {logging.getLogger("ocpp"): logging.WARNING, CHARGE_POINT_LOGGER: logging.ERROR}
    previous = {logger: logger.level for logger in loggers}
    for logger, level in loggers.items():
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, level in previous.items():
            logger.setLevel(level)

