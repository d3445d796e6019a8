"""A query whose SQL the ORM writes once per process answers every call as its queryset would."""

import pytest
from django.db import connection
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext

from csms.compiled import CompiledQuery
from rfid.models import IdTag
from stations.models import Transaction
from tests.billing.builders import T0, charger, driver, personal_card, prepaid_card


def cards_charging_or_not(id_tag: str):
    charging = Exists(Transaction.objects.filter(id_tag=OuterRef("id_tag"), stopped_at=None))
    return IdTag.objects.filter(id_tag=id_tag).annotate(charging_now=charging).order_by()


def test_it_answers_each_calls_values_as_the_queryset_would_with_its_annotations(db):
    dana = driver()
    personal_card("DANA-HOME", owner=dana)
    prepaid_card("DANA-CAR", owner=dana)
    Transaction.objects.create(
        charger=charger("CP-1"), connector_id=1, id_tag="DANA-CAR", meter_start=0, started_at=T0
    )
    compiled = CompiledQuery(cards_charging_or_not, "(probe)")

    for id_tag in ("DANA-HOME", "DANA-CAR", "NOBODY"):
        expected = cards_charging_or_not(id_tag).first()
        found = compiled.first(id_tag)
        assert (found and (found.pk, found.id_tag, found.owner_id, found.charging_now)) == (
            expected and (expected.pk, expected.id_tag, expected.owner_id, expected.charging_now)
        )
    assert compiled.first("DANA-CAR").charging_now and not compiled.first("DANA-HOME").charging_now


def test_it_sends_the_sql_it_wrote_once(db):
    personal_card("DANA-HOME", owner=driver())
    compiled = CompiledQuery(cards_charging_or_not, "(probe)")

    with CaptureQueriesContext(connection) as queries:
        compiled.first("DANA-HOME")
        compiled.first("SOMEONE-ELSE")

    first, second = (query["sql"] for query in queries)
    assert first.replace("DANA-HOME", "?") == second.replace("SOMEONE-ELSE", "?")


def test_it_refuses_a_probe_the_parameters_hold_more_than_once(db):
    twice = CompiledQuery(lambda id_tag: IdTag.objects.filter(id_tag=id_tag, parent_id_tag=id_tag), "(probe)")

    with pytest.raises(ValueError, match="each probe must stand once"):
        twice.first("DANA-HOME")
