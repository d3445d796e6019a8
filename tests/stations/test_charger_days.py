"""What store_charger_days keeps of each charger's days that are over, so that a month's report does
not walk every meter sample again: the report reads a stored day instead of its samples, a day is
stored once, only when it is over and its sessions have closed, a day without activity is kept as
zeros and shows no row, and a late session or a change of the site's zone has the days worked out again."""

from datetime import timedelta

import pytest
import time_machine

from stations import reports, services
from stations.models import ChargerDay, MeterValue
from tests.billing.builders import charger, register_sample
from tests.stations.test_reports import (  # noqa: F401  (fixtures)
    MARCH_1,
    MARCH_2,
    NOW,
    figures,
    local,
    now,  # noqa: F811
    site_in_berlin,
    start,
)

FEBRUARY_27 = MARCH_1 - timedelta(days=2)


@pytest.fixture
def morning_session(db, now):  # noqa: F811
    """CP-1, 1 March 10:00 to 11:00: 3 kWh in the first half hour, then full."""
    session = start(charger("CP-1"), 1, local(1, 10), meter_start=0)
    register_sample(session, local(1, 10, 30), 3_000)
    session.stop(meter_stop=3_000, stopped_at=local(1, 11), reason="Local", id_tag=session.id_tag, data=None)
    return session


def stored_days() -> dict:
    return {
        (row.charger.charge_point_id, row.day): (row.working_seconds, row.charging_seconds, row.energy_wh)
        for row in ChargerDay.objects.select_related("charger")
    }


def test_it_reads_a_stored_day_instead_of_walking_its_samples(morning_session):
    walked = figures(reports.daily_report(MARCH_1, MARCH_2))

    assert reports.store_charger_days() == 1
    assert stored_days() == {("CP-1", MARCH_1): pytest.approx((3_600, 1_800, 3_000))}
    MeterValue.objects.all().delete()

    assert figures(reports.daily_report(MARCH_1, MARCH_2)) == walked


def test_it_stores_a_day_once_and_only_when_it_is_over_and_its_sessions_closed(db, now):  # noqa: F811
    open_session = start(charger("CP-1"), 1, local(1, 23), meter_start=0)
    assert reports.store_charger_days() == 0  # the session of 1 March is still open

    open_session.stop(
        meter_stop=500, stopped_at=NOW - timedelta(minutes=5), reason="Local", id_tag="X", data=None
    )
    assert reports.store_charger_days() == 0  # closed five minutes ago: what the charger replays may follow

    with time_machine.travel(NOW + timedelta(minutes=10), tick=False):
        assert reports.store_charger_days() == 1  # 1 March; 2 March is today
        assert reports.store_charger_days() == 0
    assert list(stored_days()) == [("CP-1", MARCH_1)]


def test_it_keeps_a_day_without_activity_as_zeros_and_shows_no_row_for_it(morning_session):
    earlier = start(charger("CP-1"), 2, local(1, 9) - timedelta(days=2), meter_start=0)
    earlier.stop(
        meter_stop=1_000, stopped_at=local(1, 10) - timedelta(days=2), reason="Local", id_tag="X", data=None
    )

    assert reports.store_charger_days() == 3

    assert stored_days()[("CP-1", MARCH_1 - timedelta(days=1))] == (0, 0, 0)
    days = {row.day for row in reports.daily_report(FEBRUARY_27, MARCH_2).rows}
    assert days == {FEBRUARY_27, MARCH_1}


def test_it_works_a_day_out_again_when_a_session_for_it_arrives_late(morning_session):
    reports.store_charger_days()

    late, _answer = services.start_transaction(  # a charger's queue, replayed the next day
        charger=charger("CP-1"),
        connector_id=2,
        id_tag="LATE1",
        meter_start=0,
        timestamp=local(1, 15),
        reservation_id=None,
    )
    late.stop(meter_stop=2_000, stopped_at=local(1, 16), reason="Local", id_tag="LATE1", data=None)

    assert stored_days() == {}
    (row,) = reports.daily_report(MARCH_1, MARCH_1).rows
    assert (row.sessions, row.working_hours, row.energy_kwh) == (2, 2, 5)
    assert reports.store_charger_days() == 1
    assert figures(reports.daily_report(MARCH_1, MARCH_1)) == {(MARCH_1, "CP-1"): (2, 2, 1.5, 5, [])}


def test_it_works_the_days_out_again_when_the_site_changes_its_zone(morning_session, settings):
    reports.store_charger_days()
    settings.TIME_ZONE = "UTC"
    walked = figures(reports.daily_report(MARCH_1, MARCH_2))

    assert reports.store_charger_days() == 1

    assert set(ChargerDay.objects.values_list("zone", flat=True)) == {"UTC"}
    assert figures(reports.daily_report(MARCH_1, MARCH_2)) == walked
