"""Physics of the fleet simulator's cars and meters: pure functions, no I/O.

A car arrives with a :class:`Battery`; :func:`charge_step` integrates how much
energy it draws in an interval (at the weakest of charger rating, car's on-board
charger and smart-charging limit, tapered above 80 % SoC); the connector's
energy register advances by exactly that, so it is monotonic and equals the
integral of the reported power. :class:`MeterSample` is one reading.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ocpp.v16.enums import ChargingRateUnitType

CHARGER_POWER_W = (7_400, 11_000, 22_000)  # typical AC ratings: 1x32 A, 3x16 A, 3x32 A
ONBOARD_CHARGER_W = (7_400, 11_000, 11_000, 22_000)  # what cars accept on AC; 11 kW is common
BATTERY_CAPACITY_WH = (40_000, 100_000)
ARRIVAL_SOC = (10.0, 60.0)  # percent
NOMINAL_VOLTAGE_V = 230.0
VOLTAGE_JITTER_V = 3.0
CHARGING_EFFICIENCY = 0.92  # share of metered (grid) energy that ends up in the battery
TAPER_START_SOC = 80.0  # percent; above this the car reduces its charging power
MIN_TAPER = 0.05  # trickle, so a nearly full battery still reaches 100 % in finite time
PHYSICS_STEP_S = 10.0  # integration sub-step, keeps the taper accurate for long intervals
INITIAL_REGISTER_WH = (0.0, 2_000_000.0)  # connectors are not brand new


@dataclass(slots=True)
class Battery:
    capacity_wh: float
    soc: float  # state of charge, percent 0-100
    max_power_w: float  # what the car's on-board charger accepts (AC)


def random_battery(rng: random.Random) -> Battery:
    return Battery(
        capacity_wh=rng.uniform(*BATTERY_CAPACITY_WH),
        soc=rng.uniform(*ARRIVAL_SOC),
        max_power_w=rng.choice(ONBOARD_CHARGER_W),
    )


def taper_factor(soc: float) -> float:
    """Share of full power a car draws at ``soc`` percent: 1 up to 80 %, then
    falling linearly towards 0 at 100 % (floored at MIN_TAPER)."""
    if soc <= TAPER_START_SOC:
        return 1.0
    return max(MIN_TAPER, (100.0 - soc) / (100.0 - TAPER_START_SOC))


def charge_step(battery: Battery, power_limit_w: float, seconds: float) -> tuple[float, float, float]:
    """Charge ``battery`` for ``seconds`` at up to ``power_limit_w``.

    Returns (energy_wh metered from the grid, average power_w, new soc %). The
    battery is not modified. energy_wh == power_w * seconds / 3600 exactly, so a
    register summing energy_wh equals the integral of the reported power.
    """
    soc, energy_wh, remaining = battery.soc, 0.0, seconds
    while remaining > 0 and soc < 100.0:
        dt = min(PHYSICS_STEP_S, remaining)
        power_w = max(0.0, min(power_limit_w, battery.max_power_w)) * taper_factor(soc)
        room_wh = (100.0 - soc) / 100.0 * battery.capacity_wh / CHARGING_EFFICIENCY
        step_wh = power_w * dt / 3600.0
        if step_wh >= room_wh:  # battery full within this sub-step
            energy_wh, soc = energy_wh + room_wh, 100.0
            break
        energy_wh += step_wh
        soc += step_wh * CHARGING_EFFICIENCY / battery.capacity_wh * 100.0
        remaining -= dt
    average_power_w = energy_wh * 3600.0 / seconds if seconds > 0 else 0.0
    return energy_wh, average_power_w, soc


def phases_in_use(charger_phases: int, car_max_power_w: float) -> int:
    """Cars with a 7.4 kW on-board charger draw on one phase even on a 3-phase charger."""
    return 1 if charger_phases == 1 or car_max_power_w <= 7_400 else 3


def phase_current(power_w: float, phases: int, voltage_v: float) -> float:
    """Current per phase in A."""
    return power_w / (phases * voltage_v)


def power_from_limit(limit: float, unit: str, phases: int) -> float:
    """A smart-charging limit (W, or A per phase) in W."""
    return limit if unit == ChargingRateUnitType.watts else limit * NOMINAL_VOLTAGE_V * phases


@dataclass(slots=True, frozen=True)
class MeterSample:
    timestamp: str  # UTC ISO-8601 with 'Z'
    energy_wh: int  # cumulative import register of the connector
    power_w: float
    current_a: float  # per phase
    voltage_v: float
    soc: float | None  # percent; None when no car is connected
