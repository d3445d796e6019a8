"""The write-behind batch stores charger times in one go, on PostgreSQL and SQLite alike."""

from datetime import UTC, datetime, timedelta

from stations.gateway import writebehind
from stations.gateway.bulk_writers import update_by_pk
from stations.models import Charger
from tests.factories import register_charger

MORNING = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def test_it_stores_the_heartbeats_and_signs_of_life_of_a_batch(db):
    beating = register_charger("CP-1")
    only_seen = register_charger("CP-2", last_heartbeat_at=MORNING)
    later = MORNING + timedelta(minutes=5)

    writebehind._write([], [], [], [], {beating.pk: later}, {beating.pk: MORNING, only_seen.pk: later})

    beating.refresh_from_db()
    only_seen.refresh_from_db()
    assert (beating.last_heartbeat_at, beating.last_seen_at) == (later, later)
    assert (only_seen.last_heartbeat_at, only_seen.last_seen_at) == (MORNING, later)


def test_it_leaves_a_field_given_as_none_as_it_was_and_other_rows_alone(db):
    first, second, untouched = (register_charger(f"CP-{n}", last_seen_at=MORNING) for n in (1, 2, 3))
    later = MORNING + timedelta(hours=1)

    fields = ("last_heartbeat_at", "last_seen_at")

    update_by_pk(Charger, fields, [(second.pk, None, later)])  # a column of nothing but None
    update_by_pk(Charger, fields, [(first.pk, later, None)])

    times = dict(Charger.objects.values_list("charge_point_id", "last_seen_at"))
    heartbeats = dict(Charger.objects.values_list("charge_point_id", "last_heartbeat_at"))
    assert times == {"CP-1": MORNING, "CP-2": later, "CP-3": MORNING}
    assert heartbeats == {"CP-1": later, "CP-2": None, "CP-3": None}
