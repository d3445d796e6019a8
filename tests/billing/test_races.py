"""Money under concurrency: threads with their own database connections.

On PostgreSQL this exercises select_for_update on the wallet row; on SQLite
IMMEDIATE transactions serialise the writers and the same assertions hold.
"""

import threading
import time
from decimal import Decimal

from django.db import connections

from billing import pricing, services
from billing.models import LedgerEntry, SessionCharge
from tests.billing.builders import (
    balance,
    charger,
    default_tariff,
    driver,
    finished_session,
    open_session,
    prepaid_card,
    stop_transaction,
)


def run_together(*calls, timeout: float = 30):
    """Start every call at the same moment, each on its own thread and connection; return results.

    Fails unless every thread finished within `timeout` and none of them raised.
    """
    barrier, results, errors = threading.Barrier(len(calls)), [None] * len(calls), []

    def worker(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as error:  # surfaced in the test thread below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, call), daemon=True) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"still running after {timeout} s (deadlocked?): {stuck}"
    assert not errors, errors
    return results


def slow_pricing(monkeypatch):
    """Widen the race window: pricing runs between reading the balance and writing the charge."""
    price_session = pricing.price_session

    def slowly(**kwargs):
        time.sleep(0.2)
        return price_session(**kwargs)

    monkeypatch.setattr(pricing, "price_session", slowly)


def test_it_lets_two_sessions_racing_on_one_balance_spend_it_only_once(transactional_db, monkeypatch):
    slow_pricing(monkeypatch)
    default_tariff(price_per_kwh=Decimal("1.0000"))
    dana = driver()  # her car's and her van's cards share one wallet
    card = prepaid_card("DANA-CAR", balance="10", owner=dana)
    prepaid_card("DANA-VAN", owner=dana)
    first = finished_session("DANA-CAR", wh=8_000, on=charger("CP-1"))
    second = finished_session("DANA-VAN", wh=8_000, on=charger("CP-2"))

    charges = run_together(
        lambda: services.settle_transaction(transaction=first),
        lambda: services.settle_transaction(transaction=second),
    )

    assert sorted(c.charged for c in charges) == [Decimal("2.00"), Decimal("8.00")]
    assert sum(c.uncollected for c in charges) == Decimal("6.00")
    assert balance(card) == 0
    assert services.ledger_total(card.account) == balance(card)


def test_it_moves_money_once_when_two_stops_of_one_session_race(transactional_db, monkeypatch):
    slow_pricing(monkeypatch)
    default_tariff(price_per_kwh=Decimal("1.0000"))
    card = prepaid_card("RACE2", balance="10")
    session = finished_session("RACE2", wh=3_000)

    charges = run_together(*[lambda: services.settle_transaction(transaction=session)] * 3)

    assert len([c for c in charges if c is not None]) == 1
    assert SessionCharge.objects.count() == 1
    assert LedgerEntry.objects.filter(kind="session_charge").count() == 1
    assert balance(card) == Decimal("7.00")


def test_it_moves_money_once_when_three_stop_transactions_of_one_session_race(transactional_db, monkeypatch):
    # Each stop settles in its own database transaction without asking "settled already?": the stop's
    # conditional UPDATE must let exactly one of them through to the money.
    slow_pricing(monkeypatch)
    default_tariff(price_per_kwh=Decimal("1.0000"))
    card = prepaid_card("RACE4", balance="10")
    session = open_session("RACE4", on=charger("CP-4"))

    def stop():
        return stop_transaction(session, wh=3_000)

    answers = run_together(stop, stop, stop)

    assert [answer.status for answer in answers] == ["Accepted"] * 3
    assert SessionCharge.objects.count() == 1
    assert LedgerEntry.objects.filter(kind="session_charge").count() == 1
    assert balance(card) == Decimal("7.00")


def test_it_credits_once_when_a_double_click_submits_one_top_up_twice(transactional_db):
    card = prepaid_card("RACE3")

    entries = run_together(
        *[
            lambda: services.top_up(
                card=card, amount=Decimal("15"), method="cash", source="desk", idempotency_key="form-123"
            )
        ]
        * 2
    )

    assert entries[0].pk == entries[1].pk
    assert balance(card) == Decimal("15")
