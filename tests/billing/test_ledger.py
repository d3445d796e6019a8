"""The wallet: an append-only ledger; top-ups, session charges, refunds and adjustments."""

from decimal import Decimal

import pytest

from billing import services
from billing.models import AppendOnlyError, LedgerEntry, SessionCharge
from rfid.models import IdTag
from tests.billing.builders import (
    balance,
    default_tariff,
    driver,
    finished_session,
    operator,
    personal_card,
    prepaid_card,
)


def test_it_refuses_to_change_or_delete_a_ledger_entry(db):
    card = prepaid_card("LEDGER1", balance="20")
    entry = LedgerEntry.objects.get(card=card)

    entry.amount = Decimal("1000")
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=Decimal("1000"))
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.all().delete()
    assert LedgerEntry.objects.get(pk=entry.pk).amount == Decimal("20")


def test_it_credits_a_top_up_once_per_idempotency_key(db):
    card = prepaid_card("TOPUP1")

    first = services.top_up(
        card=card, amount=Decimal("25.00"), method="cash", source="desk", idempotency_key="k1"
    )
    again = services.top_up(
        card=card, amount=Decimal("25.00"), method="cash", source="desk", idempotency_key="k1"
    )

    assert first.pk == again.pk
    assert balance(card) == Decimal("25.00")
    assert first.balance_after == Decimal("25.00") and first.source == "desk"


def test_it_refuses_an_idempotency_key_replayed_on_another_card_or_amount(db):
    first, second = prepaid_card("TOPUP1"), prepaid_card("TOPUP2")
    services.top_up(card=first, amount=Decimal("25.00"), method="cash", source="desk", idempotency_key="k1")

    with pytest.raises(services.RefusedMovement, match="another card or amount"):
        services.top_up(
            card=second, amount=Decimal("25.00"), method="cash", source="desk", idempotency_key="k1"
        )
    with pytest.raises(services.RefusedMovement, match="another card or amount"):
        services.top_up(
            card=first, amount=Decimal("30.00"), method="cash", source="desk", idempotency_key="k1"
        )

    assert (balance(first), balance(second)) == (Decimal("25.00"), Decimal("0"))
    assert LedgerEntry.objects.count() == 1


@pytest.mark.parametrize("status", [IdTag.Status.BLOCKED, IdTag.Status.LOST])
def test_it_refuses_to_top_up_a_blocked_or_lost_card(db, status):
    card = prepaid_card("GONE1", balance="5")
    card.set_status(status)

    with pytest.raises(services.RefusedMovement, match=status):
        services.top_up(card=card, amount=Decimal("10"), method="cash", source="cli")
    assert balance(card) == Decimal("5")


def test_it_refuses_to_top_up_a_personal_card(db):
    card = personal_card("HOME1")

    with pytest.raises(services.RefusedMovement, match="personal"):
        services.top_up(card=card, amount=Decimal("10"), method="cash", source="cli")
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize("amount", ["0", "-5", "10.001", "5000.01"])
def test_it_refuses_top_up_amounts_that_are_not_positive_cents_under_the_limit(db, amount):
    card = prepaid_card("AMOUNT1")

    with pytest.raises(services.RefusedMovement):
        services.top_up(card=card, amount=Decimal(amount), method="cash", source="cli")
    assert balance(card) == 0


def test_it_shares_one_wallet_between_an_owners_cards(db):
    dana = driver()
    car = prepaid_card("DANA-CAR", balance="30", owner=dana)
    van = prepaid_card("DANA-VAN", owner=dana)

    assert car.account_id == van.account_id == dana.wallet.pk
    assert balance(van) == Decimal("30")


def test_it_deducts_a_prepaid_session_once_however_often_it_is_settled(db):
    default_tariff(price_per_kwh=Decimal("0.4000"))
    card = prepaid_card("ONCE1", balance="50")
    session = finished_session("ONCE1", wh=10_000)

    first = services.settle_transaction(transaction=session)
    second = services.settle_transaction(transaction=session)

    assert first.charged == Decimal("4.00") and second is None
    assert balance(card) == Decimal("46.00")
    entry = LedgerEntry.objects.get(kind="session_charge")
    assert (entry.amount, entry.transaction_id, entry.source) == (Decimal("-4.00"), session.pk, "ocpp:CP-1")


def test_it_charges_a_personal_card_nothing_but_records_the_session(db):
    default_tariff(price_per_kwh=Decimal("0.4000"))
    personal_card("HOME2", owner=driver())
    session = finished_session("HOME2", wh=10_000)

    charge = services.settle_transaction(transaction=session)

    assert charge.free and charge.charged == 0 and charge.total == Decimal("4.00")
    assert not LedgerEntry.objects.filter(kind="session_charge").exists()


def test_it_never_takes_a_balance_below_zero_without_an_overdraft(db):
    default_tariff(price_per_kwh=Decimal("1.0000"))
    card = prepaid_card("LOW1", balance="3")
    session = finished_session("LOW1", wh=10_000)

    charge = services.settle_transaction(transaction=session)

    assert (charge.total, charge.charged, charge.uncollected) == (
        Decimal("10.00"),
        Decimal("3.00"),
        Decimal("7.00"),
    )
    assert balance(card) == 0


def test_it_lets_a_tariff_with_overdraft_take_the_balance_below_zero(db):
    default_tariff(price_per_kwh=Decimal("1.0000"), allow_overdraft=True)
    card = prepaid_card("OVER1", balance="3")

    services.settle_transaction(transaction=finished_session("OVER1", wh=10_000))

    assert balance(card) == Decimal("-7.00")


def test_it_refunds_at_most_what_a_session_took(db):
    default_tariff(price_per_kwh=Decimal("1.0000"))
    card = prepaid_card("REFUND1", balance="20")
    charge = services.settle_transaction(transaction=finished_session("REFUND1", wh=5_000))
    olga = operator()

    services.refund(charge=charge, amount=Decimal("3.00"), reason="cable fault", by=olga)
    with pytest.raises(services.RefusedMovement, match="2.0000|2.00"):
        services.refund(charge=charge, amount=Decimal("2.01"), reason="again", by=olga)

    assert balance(card) == Decimal("18.00")
    assert LedgerEntry.objects.get(kind="refund").created_by == olga


def test_it_needs_a_reason_for_a_staff_adjustment_and_keeps_the_balance_non_negative(db):
    card = prepaid_card("ADJ1", balance="5")
    olga = operator()

    with pytest.raises(services.RefusedMovement, match="reason"):
        services.adjust(account=card.account, amount=Decimal("2"), reason=" ", by=olga)
    with pytest.raises(services.RefusedMovement):
        services.adjust(account=card.account, amount=Decimal("-6"), reason="typo", by=olga)
    services.adjust(account=card.account, amount=Decimal("-5"), reason="cash returned", by=olga)

    assert balance(card) == 0
    assert services.ledger_total(card.account) == 0


def test_it_settles_nothing_for_a_session_still_charging(db):
    from stations.models import Transaction
    from tests.billing.builders import T0, charger

    prepaid_card("OPEN1", balance="5")
    session = Transaction.objects.create(
        charger=charger(),
        connector_id=1,
        id_tag="OPEN1",
        meter_start=0,
        started_at=T0,
        id_tag_status="Accepted",
    )

    assert services.settle_transaction(transaction=session) is None
    assert not SessionCharge.objects.exists()
