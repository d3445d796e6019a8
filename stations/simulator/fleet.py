"""Fleet simulator: plays N OCPP 1.6J chargers against a CSMS.

Used for demos, staff training and load tests (``manage.py simulate`` wraps
:func:`run_fleet`). Everything runs on one asyncio loop and per-charger state
is small, so 5,000-10,000 simulated chargers fit in one process.

:func:`run_fleet` takes :class:`~stations.simulator.options.FleetOptions` and returns a
:class:`~stations.simulator.stats.FleetReport`; here too is what only a whole fleet
needs: the open-file limit, the collector kept off the fleet, progress, the run's end.
The chargers themselves are :class:`~stations.simulator.charger.SimulatedCharger`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Sequence

from stations.simulator.background import cancel_and_wait
from stations.simulator.charge_point import CHARGE_POINT_LOGGER
from stations.simulator.charger import SimulatedCharger
from stations.simulator.options import FleetOptions
from stations.simulator.stats import FleetReport, FleetStats

LOGGER = logging.getLogger(__name__)

END_SESSIONS_GRACE_S = 10.0  # how long chargers get to stop their sessions when the run ends
FREEZE_PERIOD_S = 1.0  # how often the fleet's survivors are moved out of the collector's sight


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
        LOGGER.warning(
            "open-file limit %s is below the %s sockets this fleet needs (raise it with ulimit -n)",
            soft,
            needed,
        )


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
