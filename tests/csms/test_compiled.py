"""Queries and UPDATEs whose SQL is written once per process act on every call as the ORM would."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext

from billing.models import SessionCharge
from csms.compiled import CompiledInsert, CompiledQuery, CompiledUpdate
from rfid.models import IdTag
from stations.models import Charger, MeterValue, Transaction
from tests.billing.builders import (
    T0,
    charger,
    driver,
    open_session,
    personal_card,
    prepaid_card,
    register_sample,
)


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


def register_of(session_pk):
    return MeterValue.objects.filter(transaction_id=session_pk).order_by("timestamp", "id")


def test_it_reads_a_values_list_as_the_queryset_would_with_its_columns_converted(db):
    session, other = open_session("DANA-CAR"), open_session("DANA-HOME", on=charger("CP-2"))
    for minutes, wh in ((10, "1500.5"), (20, "2750.125"), (5, "1200")):
        register_sample(session, T0 + timedelta(minutes=minutes), wh)
    register_sample(other, T0 + timedelta(minutes=10), "99")
    compiled = CompiledQuery(lambda pk: register_of(pk).values_list("timestamp", "numeric_value", "unit"), -1)

    rows = compiled.rows(session.pk)

    assert rows == list(register_of(session.pk).values_list("timestamp", "numeric_value", "unit"))
    assert rows[0] == (T0 + timedelta(minutes=5), Decimal("1200"), "Wh")
    assert [type(value) for value in rows[1]] == [datetime, Decimal, str]
    assert compiled.rows(other.pk) == [(T0 + timedelta(minutes=10), Decimal("99"), "Wh")]


STOP = CompiledUpdate(
    Transaction,
    set=("meter_stop", "stopped_at", "stop_reason", "stop_id_tag", "transaction_data"),
    where=("pk", "stopped_at__isnull"),
)


def test_it_updates_a_row_as_the_querysets_update_would(db):
    by_orm, compiled = open_session("DANA-CAR"), open_session("DANA-CAR", started_at=T0 + timedelta(hours=2))
    stop = {
        "meter_stop": 21_000,
        "stopped_at": T0 + timedelta(hours=3),
        "stop_reason": "EVDisconnected",
        "stop_id_tag": "DANA-CAR",
        "transaction_data": [{"timestamp": "2027-03-01T11:00:00Z", "sampledValue": [{"value": "21000"}]}],
    }

    assert Transaction.objects.filter(pk=by_orm.pk, stopped_at__isnull=True).update(**stop) == 1
    assert STOP.run(pk=compiled.pk, **stop) == 1

    columns = list(stop)
    assert Transaction.objects.filter(pk=compiled.pk).values(*columns).get() == {**stop}
    assert Transaction.objects.filter(pk=by_orm.pk).values(*columns).get() == {**stop}


def test_it_updates_only_the_rows_all_its_conditions_hold_for(db, time_machine):
    time_machine.move_to(T0)
    open_before = open_session("DANA-CAR")
    stopped_before = open_session("DANA-HOME", started_at=T0 - timedelta(hours=1))
    STOP.run(
        pk=stopped_before.pk,
        meter_stop=2_000,
        stopped_at=T0,
        stop_reason="Local",
        stop_id_tag="",
        transaction_data=None,
    )
    elsewhere = open_session("DANA-CAR", on=charger("CP-2"))
    time_machine.move_to(T0 + timedelta(minutes=5))
    open_after = open_session("DANA-CAR", started_at=T0 + timedelta(minutes=5))
    boot = T0 + timedelta(minutes=1)

    flagged = Transaction.flag_opened_before(charger_id=charger().pk, before=boot, reason="charger_rebooted")
    again = Transaction.flag_opened_before(charger_id=charger().pk, before=boot, reason="charger_rebooted")

    assert (flagged, again) == (1, 0)
    flags = dict(Transaction.objects.values_list("pk", "flagged_at"))
    assert flags == {open_before.pk: boot, stopped_before.pk: None, elsewhere.pk: None, open_after.pk: None}


def test_it_returns_the_updated_rows_values_converted_as_the_orm_reads_them(db):
    charger("CP-1")
    Charger.objects.filter(charge_point_id="CP-1").update(approval=Charger.Approval.PENDING)
    booting = Charger.objects.get(charge_point_id="CP-1")
    Charger.objects.filter(pk=booting.pk).update(approval=Charger.Approval.ACCEPTED)  # staff, meanwhile
    returning = CompiledUpdate(
        Charger, set=("vendor",), where=("pk",), returning=("approval", "last_boot_at")
    )

    assert returning.run(pk=booting.pk, vendor="Vendo") == (Charger.Approval.ACCEPTED, None)
    assert returning.run(pk=-1, vendor="Vendo") is None

    booting.note_boot(at=T0, vendor="Vendo", model="V1")
    assert booting.approval == Charger.Approval.ACCEPTED
    assert Charger.objects.values_list("vendor", "model", "last_boot_at").get(pk=booting.pk) == (
        "Vendo",
        "V1",
        T0,
    )


def test_it_sends_the_update_it_wrote_once(db):
    session = open_session("DANA-CAR")

    with CaptureQueriesContext(connection) as queries:
        for meter_stop in (2_000, 3_000):
            STOP.run(
                pk=session.pk,
                meter_stop=meter_stop,
                stopped_at=T0,
                stop_reason="",
                stop_id_tag="",
                transaction_data=None,
            )

    first, second = (query["sql"] for query in queries)
    assert first.replace("2000", "?") == second.replace("3000", "?")
    assert Transaction.objects.get(pk=session.pk).meter_stop == 2_000  # the second found it stopped


def test_it_refuses_values_that_are_not_its_fields(db):
    with pytest.raises(TypeError, match="are not the values of"):
        STOP.run(pk=1, meter_stop=2_000)


def a_charge(session, card) -> SessionCharge:
    return SessionCharge(
        transaction=session,
        card=card,
        currency="CNY",
        energy_wh=Decimal("12000.125"),
        charging_seconds=3_600,
        idle_seconds=60,
        net=Decimal("18.00"),
        tax=Decimal("0.00"),
        total=Decimal("18.00"),
        charged=Decimal("10.00"),
        uncollected=Decimal("8.00"),
        breakdown=[{"label": "Energy", "amount": "18.00"}],
    )


def test_it_inserts_a_row_as_save_would_with_its_key_and_creation_time(db, time_machine):
    time_machine.move_to(T0, tick=False)
    card = prepaid_card("DANA-CAR", owner=driver())
    saved, inserted = (
        a_charge(open_session("DANA-CAR"), card),
        a_charge(open_session("DANA-CAR", on=charger("CP-2")), card),
    )
    saved.save()

    assert CompiledInsert(SessionCharge).insert(inserted) is inserted

    assert inserted.pk and inserted.pk != saved.pk and not inserted._state.adding
    columns = [
        field.attname
        for field in SessionCharge._meta.concrete_fields
        if field.attname not in ("id", "transaction_id")
    ]
    stored = SessionCharge.objects.values(*columns)
    assert stored.get(pk=inserted.pk) == stored.get(pk=saved.pk)
    assert stored.get(pk=inserted.pk)["created_at"] == T0 == inserted.created_at


def test_it_inserts_nothing_when_the_database_refuses_the_row(db):
    session, card = open_session("DANA-CAR"), prepaid_card("DANA-CAR", owner=driver())
    CompiledInsert(SessionCharge).insert(a_charge(session, card))

    with pytest.raises(IntegrityError), transaction.atomic():  # a session has one charge
        CompiledInsert(SessionCharge).insert(a_charge(session, card))

    assert SessionCharge.objects.count() == 1


def test_it_refuses_to_insert_rows_of_a_model_whose_save_does_more():
    with pytest.raises(ValueError, match="has its own save"):
        CompiledInsert(IdTag)  # a card's save() normalises its idTag


def test_it_inserts_unless_its_query_finds_a_row_with_all_its_values_as_save_would(db, time_machine):
    """The 2.0.1 Started's INSERT of its session, kept out by an event of its transaction stored alone."""
    time_machine.move_to(T0, tick=False)
    cp = charger("CP-1")
    inserted = Transaction(charger=cp, connector_id=1, id_tag="DANA-CAR", meter_start=0, started_at=T0)
    stored_alone = CompiledQuery(
        lambda charger_pk, id_tag: Transaction.objects.filter(charger_id=charger_pk, id_tag=id_tag).values(
            "pk"
        ),
        -1,
        "(probe)",
    )
    unless = CompiledInsert(Transaction, unless=stored_alone)

    first = unless.insert(inserted, cp.pk, "DANA-CAR")
    second = unless.insert(
        Transaction(charger=cp, connector_id=2, id_tag="DANA-CAR", meter_start=5, started_at=T0),
        cp.pk,
        "DANA-CAR",
    )

    assert first is inserted and first.pk and not first._state.adding
    assert second is None  # the first row is what its query finds now
    stored = Transaction.objects.get()
    assert (stored.pk, stored.connector_id, stored.meter_start, stored.started_at) == (first.pk, 1, 0, T0)
    assert stored.created_at == T0  # pre_save ran: auto_now_add
