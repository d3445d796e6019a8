"""The per-charger daily figures: /reports/, /reports/daily.csv and the charger page's daily table.

Guards the definitions the pages state: local days split at local midnight (a site in Berlin),
working hours as the union of a charger's sessions over its connectors, charging hours as the
stretches in which the energy register rose (not the full-battery idle tail), energy split across
days where the samples fall, sessions by start day, fees (priced by billing's real
settle_transaction across a time-of-use boundary) by end day; open sessions count up to now; the
totals are the sums of the sessions; the figures come from a fixed number of queries; and who may
see them, and that a bad range is a 400.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import services as billing_services
from billing.models import SessionCharge
from stations import reports
from stations.models import MeterValue, Transaction
from tests.billing.builders import (
    charger,
    default_tariff,
    peak_window,
    personal_card,
    prepaid_card,
    register_sample,
)

BERLIN = ZoneInfo("Europe/Berlin")
MARCH_1, MARCH_2 = datetime(2027, 3, 1).date(), datetime(2027, 3, 2).date()
NOW = datetime(2027, 3, 2, 12, 0, tzinfo=BERLIN)
RANGE = "?from=2027-03-01&to=2027-03-02"

EXPECTED_CSV = (
    "date,charger,sessions,working_hours,charging_hours,energy_kwh,fees,currency\n"
    "2027-03-01,CP-1,1,2.000,2.000,8.000,0.00,EUR\n"
    "2027-03-02,CP-1,1,3.000,2.000,5.000,4.70,EUR\n"
    "2027-03-02,CP-2,1,2.000,1.000,1.500,0.00,EUR\n"
)


def local(day, hour, minute=0):
    return datetime(2027, 3, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture(autouse=True)
def site_in_berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


@pytest.fixture(autouse=True, params=["walked", "stored"])
def figures_kept(request, monkeypatch):
    """Every figure twice: walked from the samples, and from what store_session_figures kept of the
    days over by then (as the site's minute job would have done before the page is opened)."""
    if request.param == "stored":
        walk = reports.daily_report

        def after_storing(*args, **kwargs):
            reports.store_charger_days()
            return walk(*args, **kwargs)

        monkeypatch.setattr(reports, "daily_report", after_storing)
    return request.param


@pytest.fixture
def now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def start(on, connector_id, started_at, meter_start, id_tag="PREPAID1") -> Transaction:
    return Transaction.objects.create(
        charger=on,
        connector_id=connector_id,
        id_tag=id_tag,
        id_tag_status="Accepted",
        meter_start=meter_start,
        started_at=started_at,
    )


def stop_and_settle(session: Transaction, meter_stop: int, stopped_at) -> SessionCharge:
    session.stop(
        meter_stop=meter_stop, stopped_at=stopped_at, reason="Local", id_tag=session.id_tag, data=None
    )
    return billing_services.settle_transaction(transaction=session)


@pytest.fixture
def sessions(db, now):
    """Two days of a site in Berlin (CET, UTC+1), figures worked out by hand in the comments."""
    tariff = default_tariff(price_per_kwh=Decimal("0.3000"))
    peak_window(tariff, start=time(23), end=time(0), price_per_kwh="0.5000")
    prepaid_card("PREPAID1", balance="100")
    first, second = charger("CP-1"), charger("CP-2")
    # A: connector 1 of CP-1, 22:00 to 02:00 across midnight; 4 kWh an hour (a sample stretch across
    # midnight: 23:00 to 00:30), then full: idle 00:30-02:00.
    # 22-23 base 4 kWh 1.20 + 23-24 peak 4 kWh 2.00 + 00-00:30 base 2 kWh 0.60 = 3.80 EUR, ended on the 2nd.
    across_midnight = start(first, 1, local(1, 22), meter_start=1_000)
    for at, register in [(local(1, 23), 5_000), (local(2, 0, 30), 11_000), (local(2, 1), 11_000)]:
        register_sample(across_midnight, at, register)
    stop_and_settle(across_midnight, 11_000, local(2, 2))
    # B: connector 2 of CP-1, 01:30 to 03:00 overlapping A; only start and stop readings: 3 kWh, 0.90 EUR.
    stop_and_settle(start(first, 2, local(2, 1, 30), meter_start=0), 3_000, local(2, 3))
    # C: CP-2, still charging since 10:00 (now is 12:00): 1.5 kWh by 11:00, nothing since.
    open_session = start(second, 1, local(2, 10), meter_start=500)
    register_sample(open_session, local(2, 11), 2_000)
    return {"first": first, "second": second}


def figures(report):
    return {
        (row.day, row.charge_point_id): (
            row.sessions,
            row.working_hours,
            row.charging_hours,
            row.energy_kwh,
            row.fee_lines,
        )
        for row in report.rows
    }


def test_it_counts_every_figure_by_local_day(sessions):
    report = reports.daily_report(MARCH_1, MARCH_2)

    eur = "EUR"
    assert figures(report) == {
        (MARCH_1, "CP-1"): (1, Decimal("2.000"), Decimal("2.000"), Decimal("8.000"), []),
        (MARCH_2, "CP-1"): (
            1,
            Decimal("3.000"),
            Decimal("2.000"),
            Decimal("5.000"),
            [(Decimal("4.70"), eur)],
        ),
        (MARCH_2, "CP-2"): (1, Decimal("2.000"), Decimal("1.000"), Decimal("1.500"), []),
    }


def test_it_totals_per_day_and_range_as_the_sums_of_the_sessions(sessions):
    report = reports.daily_report(MARCH_1, MARCH_2)

    day_totals = {day: total for day, _rows, total in report.days()}
    assert day_totals[MARCH_2].working_hours == Decimal("5.000")
    assert day_totals[MARCH_2].energy_kwh == Decimal("6.500")
    total = report.total()
    delivered = sum((s.energy_wh or 0) for s in Transaction.objects.all()) + 1_500  # the open one so far
    assert total.energy_kwh == Decimal(delivered) / 1000 == Decimal("14.500")
    fees = sum(charge.total for charge in SessionCharge.objects.all())
    assert total.fee_lines == [(fees.quantize(Decimal("0.01")), "EUR")] == [(Decimal("4.70"), "EUR")]
    assert total.sessions == Transaction.objects.count() == 3
    assert (total.working_hours, total.charging_hours) == (Decimal("7.000"), Decimal("5.000"))


def test_it_leaves_out_days_outside_the_range(sessions):
    report = reports.daily_report(MARCH_2, MARCH_2, charger=sessions["first"])

    assert figures(report) == {
        (MARCH_2, "CP-1"): (
            1,
            Decimal("3.000"),
            Decimal("2.000"),
            Decimal("5.000"),
            [(Decimal("4.70"), "EUR")],
        )
    }


def test_it_reads_the_figures_in_a_fixed_number_of_queries(sessions):
    with CaptureQueriesContext(connection) as few:
        reports.daily_report(MARCH_1, MARCH_2)
    for number in range(3, 8):
        start(charger(f"CP-{number}"), 1, local(1, 9), meter_start=0).stop(
            meter_stop=1_000, stopped_at=local(1, 10), reason="Local", id_tag="X", data=None
        )
    with CaptureQueriesContext(connection) as many:
        report = reports.daily_report(MARCH_1, MARCH_2)

    assert len(report.rows) == 3 + 5
    assert len(many) == len(few)


def test_it_serves_the_pages_in_a_fixed_number_of_queries(sessions, client, operator):
    client.force_login(operator)
    pages = ("/reports/" + RANGE, "/reports/daily.csv" + RANGE, "/chargers/CP-1/" + RANGE)
    few = {}
    for page in pages:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page).status_code == 200
        few[page] = len(queries)
    for number in range(3, 8):  # five more chargers with a day of activity each, without fees
        start(charger(f"CP-{number}"), 1, local(1, 9), meter_start=0).stop(
            meter_stop=1_000, stopped_at=local(1, 10), reason="Local", id_tag="X", data=None
        )

    for page in pages:
        with CaptureQueriesContext(connection) as queries:
            client.get(page)
        assert len(queries) == few[page], page


def test_it_serves_the_csv_byte_for_byte(sessions, client, operator):
    client.force_login(operator)

    response = client.get("/reports/daily.csv" + RANGE)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content == EXPECTED_CSV.encode()


def test_it_rounds_fees_to_the_currency_of_the_charge(sessions, client, admin):
    SessionCharge.objects.update(currency="JPY", total=Decimal("1234.5000"), charged=Decimal("1234.5000"))
    client.force_login(admin)

    lines = client.get("/reports/daily.csv" + RANGE).content.decode().splitlines()

    assert lines[2] == "2027-03-02,CP-1,1,3.000,2.000,5.000,2469,JPY"


def test_it_shows_this_month_by_default_with_site_totals(sessions, client, operator):
    client.force_login(operator)

    page = client.get("/reports/")

    assert page.status_code == 200
    assert page.context["report"].first_day == MARCH_1
    assert page.context["report"].last_day == datetime(2027, 3, 31).date()
    assert figures(page.context["report"]) == figures(reports.daily_report(MARCH_1, MARCH_2))
    assert b"Working hours: the time during which at least one" in page.content
    html = page.content.decode()
    assert html.count('class="day-total') == 2  # the site's total of each day with activity
    assert "14.500" in html and "4.70 EUR" in html  # the range's total
    by_charger = {row.charge_point_id: row.energy_kwh for row in page.context["charger_rows"]}
    assert by_charger == {"CP-1": Decimal("13.000"), "CP-2": Decimal("1.500")}


def test_it_shows_each_charger_on_the_day_chosen(sessions, client, operator):
    client.force_login(operator)

    page = client.get("/reports/" + RANGE + "&day=2027-03-01")

    assert page.status_code == 200
    (row,) = page.context["charger_rows"]
    assert (row.day, row.charge_point_id, row.energy_kwh) == (MARCH_1, "CP-1", Decimal("8.000"))
    assert "Each charger on 2027-03-01" in page.content.decode()
    assert client.get("/reports/" + RANGE + "&day=2027-03-05").status_code == 400  # outside the range


def test_it_adds_the_daily_table_and_recent_sessions_to_the_charger_page(sessions, client, operator):
    client.force_login(operator)

    page = client.get("/chargers/CP-1/")

    assert page.status_code == 200
    report = page.context["report"]
    assert (report.first_day, report.last_day) == (MARCH_2 - timedelta(days=29), MARCH_2)
    assert figures(report) == figures(reports.daily_report(MARCH_1, MARCH_2, charger=sessions["first"]))
    assert [s.connector_id for s in page.context["recent_sessions"]] == [2, 1]
    html = page.content.decode()
    assert 'id="daily"' in html and 'id="recent-sessions"' in html and 'id="history"' in html
    assert "3.80 EUR" in html and "0.90 EUR" in html


@pytest.mark.parametrize("path", ["/reports/", "/reports/daily.csv"])
def test_it_refuses_those_who_may_not_view_sessions(db, client, clerk, outsider, path):
    for person in (clerk, outsider):
        client.force_login(person)
        assert client.get(path).status_code == 403
    client.logout()
    signed_out = client.get(path)
    assert signed_out.status_code == 302 and "/login/" in signed_out["Location"]


@pytest.mark.parametrize("path", ["/reports/", "/reports/daily.csv", "/chargers/CP-1/"])
@pytest.mark.parametrize(
    "query",
    [
        "?from=2027-13-01",
        "?from=yesterday",
        "?to=2027-3-1",
        "?from=2027-03-02&to=2027-03-01",
        "?from=2025-01-01&to=2027-01-01",
        "?from=2027-03-01%00",
    ],
)
def test_it_answers_a_bad_range_with_400(sessions, client, admin, path, query):
    client.force_login(admin)

    response = client.get(path + query)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")


def test_it_clamps_a_register_glitch_as_billing_does(db, now):
    glitch = start(charger("CP-3"), 1, local(1, 10), meter_start=0, id_tag="GLITCH")
    register_sample(glitch, local(1, 10, 30), 5_000)  # beyond the 1 kWh the stop reports
    glitch.stop(meter_stop=1_000, stopped_at=local(1, 11), reason="Local", id_tag="GLITCH", data=None)

    (row,) = reports.daily_report(MARCH_1, MARCH_1).rows

    assert (row.energy_kwh, row.charging_hours, row.working_hours) == (
        Decimal("1.000"),
        Decimal("0.500"),
        Decimal("1.000"),
    )


def test_it_counts_charging_only_while_the_register_rises_through_pauses_and_dips(db, now):
    paused = start(charger("CP-7"), 1, local(1, 10), meter_start=0, id_tag="PAUSED")
    # 10:00-10:30 rises, 10:30-11:00 paused, 11:00-11:30 the register reads lower (a glitch: it never
    # goes back, so no charging), 11:30-12:00 rises, 12:00-12:30 paused, 12:30-13:00 rises to meterStop.
    for at, register in [
        ((10, 30), 1_000),
        ((11, 0), 1_000),
        ((11, 30), 800),
        ((12, 0), 2_000),
        ((12, 30), 2_000),
    ]:
        register_sample(paused, local(1, *at), register)
    paused.stop(meter_stop=3_000, stopped_at=local(1, 13), reason="Local", id_tag="PAUSED", data=None)

    (row,) = reports.daily_report(MARCH_1, MARCH_1).rows

    assert (row.working_hours, row.charging_hours, row.energy_kwh) == (
        Decimal("3.000"),
        Decimal("1.500"),
        Decimal("3.000"),
    )


def test_it_reads_samples_in_kwh_and_rises_at_one_instant(db, now):
    session = start(charger("CP-8"), 1, local(1, 10), meter_start=0, id_tag="KWH")
    register_sample(session, local(1, 11), "1.5", unit="kWh")
    MeterValue.objects.create(  # a second reading at the same instant (at the inlet): a rise at one instant
        charger=session.charger,
        connector_id=1,
        transaction=session,
        timestamp=local(1, 11),
        location="Inlet",
        value="2.0",
        numeric_value=Decimal("2.0"),
        unit="kWh",
    )
    session.stop(meter_stop=2_500, stopped_at=local(1, 12), reason="Local", id_tag="KWH", data=None)

    (row,) = reports.daily_report(MARCH_1, MARCH_1).rows

    # 0 → 1.5 kWh over 10:00-11:00, 1.5 → 2.0 at 11:00, 2.0 → 2.5 over 11:00-12:00: charging all along.
    assert (row.working_hours, row.charging_hours, row.energy_kwh) == (
        Decimal("2.000"),
        Decimal("2.000"),
        Decimal("2.500"),
    )


def test_it_splits_a_session_over_three_days_and_leaves_out_what_falls_before_the_range(db, now):
    long_one = start(charger("CP-9"), 1, local(1, 0) - timedelta(hours=2), meter_start=0, id_tag="LONG")
    long_one.stop(meter_stop=2_800, stopped_at=local(2, 2), reason="Local", id_tag="LONG", data=None)

    report = reports.daily_report(MARCH_1, MARCH_2)

    # 28 hours, 100 Wh an hour (start and stop readings only: spread evenly); 2 hours fall on 28 February.
    assert figures(report) == {
        (MARCH_1, "CP-9"): (0, Decimal("24.000"), Decimal("24.000"), Decimal("2.400"), []),
        (MARCH_2, "CP-9"): (0, Decimal("2.000"), Decimal("2.000"), Decimal("0.200"), []),
    }


def test_it_counts_as_fees_what_each_session_was_charged(db, now):
    """Prepaid short of balance: billed its whole price (the part not collected included); a personal
    card's session (priced for the record, never charged) and an unknown card's: nothing."""
    default_tariff(price_per_kwh=Decimal("0.3000"))
    prepaid_card("SHORT", balance="1")
    personal_card("HOME1")
    for number, id_tag in [(1, "SHORT"), (2, "HOME1"), (3, "STRANGER")]:
        stop_and_settle(
            start(charger(f"CP-{number}"), 1, local(1, 9), meter_start=0, id_tag=id_tag), 10_000, local(1, 10)
        )

    report = reports.daily_report(MARCH_1, MARCH_1)

    short = SessionCharge.objects.get(card__id_tag="SHORT")
    assert (short.total, short.charged, short.uncollected) == (
        Decimal("3.00"),
        Decimal("1.00"),
        Decimal("2.00"),
    )
    assert SessionCharge.objects.get(card__id_tag="HOME1").total == Decimal("3.00")  # priced, not charged
    assert {row.charge_point_id: row.fee_lines for row in report.rows} == {
        "CP-1": [(Decimal("3.00"), "EUR")],
        "CP-2": [(Decimal("0.00"), "EUR")],
        "CP-3": [(Decimal("0.00"), "EUR")],
    }
