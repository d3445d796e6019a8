"""What a fleet run measured: :class:`FleetStats`, the counters every charger of
the fleet adds to (latencies in bounded reservoirs), and :class:`FleetReport`,
their summary at the end of a run.
"""

from __future__ import annotations

import math
import random
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ocpp.v16.enums import RegistrationStatus

from stations.simulator.options import FleetOptions

LATENCY_SAMPLES_PER_ACTION = 20_000


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
    # Every CALL's latency in one reservoir: the overall p99 (per-action reservoirs are each capped,
    # so their union over-weights the rare actions).
    all_calls: LatencyReservoir = field(init=False)
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
        self.all_calls = LatencyReservoir(rng=random.Random(self.seed))

    def restart_latencies(self, keep: tuple[str, ...] = ()) -> None:
        """Forget the latencies so far (a measured window begins), but those of the actions in ``keep``."""
        kept = {action: self.latencies[action] for action in keep if action in self.latencies}
        self.latencies.clear()
        self.latencies.update(kept)
        self.all_calls = LatencyReservoir(rng=random.Random(self.seed))

    def record_latency(self, action: str, seconds: float) -> None:
        reservoir = self.latencies.get(action)
        if reservoir is None:
            reservoir = self.latencies[action] = LatencyReservoir(rng=self._reservoir_rng)
        reservoir.add(seconds)
        self.all_calls.add(seconds)

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
        return {
            action: latency_summary(reservoir) for action, reservoir in sorted(self.stats.latencies.items())
        }

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
        problems = [
            ("CALLERRORs", s.call_errors),
            ("Timeouts", s.timeouts),
            ("Invalid CALLRESULTs", s.invalid_results),
        ]
        return [f"{label} by action: {_format_counter(counter)}" for label, counter in problems if counter]


def _format_counter(counter: Counter, prefix: str = "") -> str:
    if not counter:
        return "none"
    return ", ".join(f"{prefix}{key} {count}" for key, count in sorted(counter.items(), key=str))
