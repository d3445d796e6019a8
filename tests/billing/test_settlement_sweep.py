"""A stop that committed is always billed, exactly once, even when its process died before the settlement
that runs after the stop's answer (billing.tasks.settle_soon): the stop's own UPDATE marks the session
with the time its settlement became due, the settlement clears the mark as it commits, and the sweep
settles whatever has carried it for longer than a settlement takes."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from billing import tasks
from billing.models import LedgerEntry, SessionCharge
from stations.models import Transaction
from tests.billing.builders import (
    T0,
    balance,
    default_tariff,
    driver,
    open_session,
    prepaid_card,
    stop_transaction,
)


def stopped_by_a_process_that_died(session: Transaction, wh: int) -> None:
    """The stop's own commit, and nothing after it: the process was killed before settling."""
    session.stop(
        meter_stop=session.meter_start + wh,
        stopped_at=T0 + timedelta(hours=1),
        reason="Local",
        id_tag="",
        data=None,
    )


def sweep_past_the_grace() -> dict:
    return tasks.sweep(now=timezone.now() + tasks.SETTLE_GRACE + timedelta(seconds=1))


def test_it_settles_a_stop_whose_process_died_before_its_settlement_once(db):
    default_tariff(price_per_kwh=Decimal("0.3000"))
    card = prepaid_card("DANA-1", balance="20.00", owner=driver())
    session = open_session("DANA-1")
    stopped_by_a_process_that_died(session, wh=10_000)

    too_early = tasks.sweep()["ends"]  # its own settlement may still be on its way
    first, second = sweep_past_the_grace()["ends"], sweep_past_the_grace()["ends"]

    assert (too_early, first, second) == (0, 1, 0)
    assert SessionCharge.objects.get(transaction=session).charged == Decimal("3.00")
    assert LedgerEntry.objects.get(kind="session_charge").amount == Decimal("-3.00")
    assert balance(card) == Decimal("17.00")
    assert Transaction.objects.get(pk=session.pk).settlement_due_at is None


def test_it_leaves_a_stop_its_own_settlement_billed_to_it(db):
    default_tariff(price_per_kwh=Decimal("0.3000"))
    card = prepaid_card("DANA-1", balance="20.00", owner=driver())
    session = open_session("DANA-1")
    stop_transaction(session, wh=10_000)  # no server loop in this process: settled right here

    assert Transaction.objects.get(pk=session.pk).settlement_due_at is None
    assert sweep_past_the_grace()["ends"] == 0
    assert balance(card) == Decimal("17.00")


def test_it_never_bills_a_session_stopped_before_stops_were_marked(db):
    """A site's sessions from before this mark are settled already, or were never to be billed."""
    default_tariff(price_per_kwh=Decimal("0.3000"))
    card = prepaid_card("DANA-1", balance="20.00", owner=driver())
    session = open_session("DANA-1")
    Transaction.objects.filter(pk=session.pk).update(meter_stop=11_000, stopped_at=T0 + timedelta(hours=1))

    assert sweep_past_the_grace()["ends"] == 0
    assert not SessionCharge.objects.exists()
    assert balance(card) == Decimal("20.00")


def test_it_gives_a_stopped_session_to_one_settlement_only_with_its_row_as_stored(db):
    default_tariff()
    session = open_session("DANA-1")
    stopped_by_a_process_that_died(session, wh=10_000)

    first, second = Transaction.claim_settlement(session.pk), Transaction.claim_settlement(session.pk)

    stored = Transaction.objects.get(pk=session.pk)
    assert second is None
    assert [getattr(first, f.attname) for f in Transaction._meta.concrete_fields] == [
        getattr(stored, f.attname) for f in Transaction._meta.concrete_fields
    ]
    assert (first.meter_stop, first.settlement_due_at) == (11_000, None)
