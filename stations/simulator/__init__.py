"""Django-free fleet simulator and benchmark (``manage.py simulate``, ``manage.py bench``).

The face: :class:`FleetOptions` in, :func:`run_fleet`, :class:`FleetReport` with its
:class:`FleetStats` out. They load on first use, not with the package:
``python -m stations.simulator.bench_reference`` runs this file in every reference
server of the benchmark, whose memory it measures, and has no use for the fleet.
"""

from importlib import import_module

_HOMES = {"FleetOptions": "options", "FleetReport": "stats", "FleetStats": "stats", "run_fleet": "fleet"}
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
