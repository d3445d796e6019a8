"""Pricing one finished session from its meter readings: unit tests of the pricing service."""

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing import services
from billing.money import quantize_money
from tests.billing.builders import (
    default_tariff,
    finished_session,
    peak_window,
    prepaid_card,
    register_sample,
)

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(autouse=True)
def site_in_berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


def test_it_splits_energy_across_a_time_of_use_boundary_in_site_time(db):
    tariff = default_tariff(price_per_kwh=Decimal("0.3000"))
    peak_window(tariff, start=time(17), end=time(21), price_per_kwh="0.5000")
    prepaid_card("TOU1", balance="100")
    # 16:00–18:00 Berlin time (UTC+1 in March): one hour off-peak, one hour peak.
    started = datetime(2027, 3, 1, 16, 0, tzinfo=BERLIN)
    session = finished_session("TOU1", wh=12_000, started_at=started, minutes=120, meter_start=0)
    register_sample(session, started + timedelta(minutes=30), 2_000)
    register_sample(session, started + timedelta(minutes=60), 4_000)  # 4 kWh before 17:00
    register_sample(session, started + timedelta(minutes=90), 8_000)

    charge = services.settle_transaction(transaction=session)

    lines = {line["label"]: Decimal(line["amount"]) for line in charge.breakdown}
    assert lines == {"Energy": Decimal("1.20"), "Energy (Peak)": Decimal("4.00")}  # 4 × 0.30, 8 × 0.50
    assert charge.total == Decimal("5.20")
    assert charge.energy_wh == 12_000


def test_it_spreads_one_reading_interval_over_the_boundary_by_time(db):
    tariff = default_tariff(price_per_kwh=Decimal("0.2000"))
    peak_window(tariff, start=time(17), end=time(21), price_per_kwh="0.4000")
    prepaid_card("TOU2", balance="100")
    started = datetime(2027, 3, 1, 16, 30, tzinfo=BERLIN)  # no samples: 30 min off-peak, 30 min peak
    session = finished_session("TOU2", wh=10_000, started_at=started, minutes=60)

    charge = services.settle_transaction(transaction=session)

    assert charge.total == Decimal("1.00") + Decimal("2.00")


def test_it_prices_time_fee_idle_fee_and_tax_with_kwh_samples(db):
    default_tariff(
        price_per_kwh=Decimal("0.2500"),
        price_per_hour=Decimal("1.0000"),
        session_fee=Decimal("0.5000"),
        idle_fee_per_hour=Decimal("6.0000"),
        idle_grace_minutes=10,
        tax_percent=Decimal("19.00"),
    )
    prepaid_card("IDLE1", balance="100")
    started = datetime(2027, 3, 2, 9, 0, tzinfo=BERLIN)
    session = finished_session("IDLE1", wh=8_000, started_at=started, minutes=90, meter_start=0)
    register_sample(session, started + timedelta(minutes=30), "4.0", unit="kWh")
    register_sample(session, started + timedelta(minutes=60), "8.0", unit="kWh")  # full: idle from here
    register_sample(session, started + timedelta(minutes=75), "8.0", unit="kWh")

    charge = services.settle_transaction(transaction=session)

    lines = {line["label"]: Decimal(line["amount"]) for line in charge.breakdown}
    assert lines["Energy"] == Decimal("2.00")  # 8 kWh × 0.25
    assert lines["Charging time"] == Decimal("1.00")  # the first hour, while energy flowed
    assert lines["Session fee"] == Decimal("0.50")
    assert lines["Idle fee"] == Decimal("2.00")  # 30 min idle − 10 min grace = 20 min × 6/h
    assert charge.net == Decimal("5.50") and charge.tax == Decimal("1.05")  # 1.045 rounds half up
    assert charge.total == charge.charged == Decimal("6.55")
    assert (charge.charging_seconds, charge.idle_seconds) == (3600, 1800)


def test_it_falls_back_to_meter_stop_minus_meter_start_without_samples(db):
    default_tariff(price_per_kwh=Decimal("0.3333"))
    prepaid_card("PLAIN1", balance="100")
    session = finished_session("PLAIN1", wh=7_500)

    charge = services.settle_transaction(transaction=session)

    assert charge.energy_wh == 7_500
    assert charge.total == Decimal("2.50")  # 7.5 × 0.3333 = 2.49975 → 2.50


def test_it_ignores_samples_that_run_backwards_or_beyond_the_stop_reading(db):
    default_tariff(price_per_kwh=Decimal("1.0000"))
    prepaid_card("ODD1", balance="100")
    started = datetime(2027, 3, 3, 9, 0, tzinfo=BERLIN)
    session = finished_session("ODD1", wh=3_000, started_at=started, minutes=60, meter_start=1_000)
    register_sample(session, started + timedelta(minutes=20), 500)  # below meterStart
    register_sample(session, started + timedelta(minutes=40), 99_000)  # above meterStop

    charge = services.settle_transaction(transaction=session)

    assert charge.energy_wh == 3_000 and charge.total == Decimal("3.00")


def test_it_applies_a_window_that_runs_past_midnight_on_the_next_day(db):
    tariff = default_tariff(price_per_kwh=Decimal("0.4000"))
    peak_window(tariff, start=time(22), end=time(6), price_per_kwh="0.1000", weekdays="1")  # Monday nights
    prepaid_card("NIGHT1", balance="100")
    tuesday_2am = datetime(2027, 3, 2, 2, 0, tzinfo=BERLIN)
    session = finished_session("NIGHT1", wh=10_000, started_at=tuesday_2am, minutes=60)

    charge = services.settle_transaction(transaction=session)

    assert charge.total == Decimal("1.00")


def test_it_rounds_money_half_up_to_the_currencys_minor_unit():
    assert quantize_money(Decimal("1.005"), "EUR") == Decimal("1.01")
    assert quantize_money(Decimal("1.004999"), "EUR") == Decimal("1.00")
    assert quantize_money(Decimal("149.5"), "JPY") == Decimal("150")
    assert quantize_money(Decimal("0.0005"), "KWD") == Decimal("0.001")
