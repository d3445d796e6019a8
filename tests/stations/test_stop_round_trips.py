"""What a StopTransaction waits on, statement by statement: its session, its conditional UPDATE (the
claim on the session) and the card its answer (idTagInfo) is decided on. The bill is not among them:
on the server it is settled once the stop commits, on a thread of its own (billing.tasks.settle_soon)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import tasks
from billing.models import LedgerEntry, SessionCharge
from csms import scheduler
from tests.billing.builders import (
    balance,
    default_tariff,
    driver,
    open_session,
    prepaid_card,
    stop_transaction,
)


@pytest.fixture
def as_on_the_server(monkeypatch):
    """This process as a server process is: its scheduler's loop running, so work runs beside a frame."""
    monkeypatch.setattr(scheduler, "_loop", object())
    yield
    tasks.drain_settlements()


def test_it_answers_a_stop_before_its_bill_and_settles_it_after(transactional_db, as_on_the_server):
    # transactional_db: the stop's transaction is the outermost one, as on the server.
    default_tariff(price_per_kwh=Decimal("0.3000"))
    card = prepaid_card("DANA-1", balance="20.00", owner=driver())
    session = open_session("DANA-1")

    with CaptureQueriesContext(connection) as queries:
        answer = stop_transaction(session, wh=10_000)

    statements = [query["sql"] for query in queries]
    assert answer.status == "Accepted"
    assert [sql for sql in statements if "billing_" in sql] == []
    assert [sql.split('"')[1] for sql in statements if sql.startswith("SELECT")] == [
        "stations_transaction",  # the session
        "rfid_idtag",  # the card, for the answer
    ]
    assert len([sql for sql in statements if sql.startswith('UPDATE "stations_transaction"')]) == 1
    tasks.drain_settlements()
    charge = SessionCharge.objects.get(transaction=session)
    assert (charge.energy_wh, charge.charged) == (10_000, Decimal("3.00"))
    assert LedgerEntry.objects.get(kind="session_charge").amount == Decimal("-3.00")
    assert balance(card) == Decimal("17.00")


def test_it_settles_a_stop_once_however_often_the_charger_sends_it(transactional_db, as_on_the_server):
    default_tariff(price_per_kwh=Decimal("0.3000"))
    card = prepaid_card("DANA-1", balance="20.00", owner=driver())
    session = open_session("DANA-1")

    for _ in range(3):
        stop_transaction(session, wh=10_000)
    tasks.drain_settlements()

    assert SessionCharge.objects.filter(transaction=session).count() == 1
    assert balance(card) == Decimal("17.00")
