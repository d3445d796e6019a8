"""Unit tests of the fleet simulator's physics: battery, taper, energy register,
phase current. Pure functions: no sockets, no database, deterministic.
"""

import random

import pytest

from stations.simulator import ev_physics as physics
from stations.simulator.ev_physics import Battery, charge_step, taper_factor


def charge_session(battery: Battery, power_limit_w: float, seconds: float, steps: int):
    """Run `steps` charge steps; returns the (energy, power, soc) of each."""
    results = []
    for _ in range(steps):
        energy_wh, power_w, soc = charge_step(battery, power_limit_w, seconds)
        battery.soc = soc
        results.append((energy_wh, power_w, soc))
    return results


def test_it_keeps_the_energy_register_monotonic_and_equal_to_the_integral_of_power():
    battery = Battery(capacity_wh=60_000, soc=20.0, max_power_w=22_000)
    register_wh, integral_wh = 1_000_000.0, 0.0
    for energy_wh, power_w, _soc in charge_session(battery, 11_000, 60.0, steps=24 * 60):
        assert energy_wh >= 0  # the register never runs backwards
        register_wh += energy_wh
        integral_wh += power_w * 60.0 / 3600.0
    assert register_wh - 1_000_000.0 == pytest.approx(integral_wh, rel=1e-9)
    # full after a day: grid energy = battery energy (20 % -> 100 %) / efficiency
    assert battery.soc == 100.0
    assert integral_wh == pytest.approx(0.8 * 60_000 / physics.CHARGING_EFFICIENCY, rel=1e-6)


def test_it_never_charges_above_100_percent_soc():
    battery = Battery(capacity_wh=40_000, soc=99.9, max_power_w=22_000)
    results = charge_session(battery, 22_000, 3600.0, steps=3)
    assert all(soc <= 100.0 for _e, _p, soc in results)
    assert results[0][2] == 100.0
    assert results[1][:2] == (0.0, 0.0)  # a full battery draws nothing


def test_it_reaches_full_in_finite_time_thanks_to_the_trickle_floor():
    battery = Battery(capacity_wh=40_000, soc=50.0, max_power_w=11_000)
    results = charge_session(battery, 11_000, 60.0, steps=24 * 60)
    assert results[-1][2] == 100.0


def test_it_tapers_power_above_80_percent_soc():
    full_power = charge_step(Battery(60_000, 50.0, 11_000), 11_000, 10.0)[1]
    at_90 = charge_step(Battery(60_000, 90.0, 11_000), 11_000, 10.0)[1]
    at_98 = charge_step(Battery(60_000, 98.0, 11_000), 11_000, 10.0)[1]
    assert full_power == pytest.approx(11_000)
    assert full_power > at_90 > at_98 > 0
    assert taper_factor(80.0) == 1.0 and taper_factor(90.0) == pytest.approx(0.5)
    assert taper_factor(100.0) == physics.MIN_TAPER


def test_it_charges_at_the_weakest_of_charger_car_and_limit():
    car_limited = charge_step(Battery(60_000, 30.0, 7_400), 22_000, 10.0)[1]
    charger_limited = charge_step(Battery(60_000, 30.0, 22_000), 11_000, 10.0)[1]
    no_power = charge_step(Battery(60_000, 30.0, 22_000), 0.0, 10.0)
    assert car_limited == pytest.approx(7_400)
    assert charger_limited == pytest.approx(11_000)
    assert no_power == (0.0, 0.0, 30.0)


def test_it_does_not_modify_the_battery_in_charge_step():
    battery = Battery(60_000, 30.0, 11_000)
    charge_step(battery, 11_000, 600.0)
    assert battery == Battery(60_000, 30.0, 11_000)


def test_it_reports_currents_that_match_power():
    assert physics.phase_current(22_000, 3, 230.0) == pytest.approx(31.9, abs=0.05)
    assert physics.phase_current(7_360, 1, 230.0) == pytest.approx(32.0)
    assert physics.phases_in_use(3, 7_400) == 1 and physics.phases_in_use(3, 11_000) == 3
    assert physics.power_from_limit(16, "A", 3) == pytest.approx(11_040)


def test_it_draws_cars_in_realistic_ranges():
    rng = random.Random(3)
    for _ in range(200):
        battery = physics.random_battery(rng)
        assert 40_000 <= battery.capacity_wh <= 100_000
        assert 10 <= battery.soc <= 60
        assert battery.max_power_w in physics.ONBOARD_CHARGER_W
