"""The payment services without a socket: amounts and limits, the wallet hold, the payment's idTag at
Authorize and StartTransaction, pricing at most the amount, the budget arithmetic, the sweep after a
restart. Each test ends with the ledger's invariant: every stored balance is the sum of its entries."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError
from django.utils import timezone

from billing import budget, payments, tasks
from billing.gateways.wallet import WalletGateway
from billing.models import LedgerEntry, Payment, SessionCharge
from rfid import services as rfid_services
from rfid.models import AuthorizationRefusal
from rfid.services import CardError
from stations import services as station_services
from stations.models import MeterValue
from tests.billing.payments_kit import assert_ledgers_balanced, balance_of, kinds_of, pay_site, wallet_with
from tests.personas import driver, outsider

State = Payment.State
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def ledger_invariant(transactional_db):
    yield
    assert_ledgers_balanced()


def left_mid_way(
    state: str, *, person=None, charger=None, amount="20.00", connector_id=1, **fields
) -> Payment:
    """A wallet payment as a crash would leave it: the hold posted, the state `state`."""
    person = person or driver()
    charger = charger or pay_site()
    wallet = wallet_with(person, "0")
    if wallet.balance < Decimal(amount):
        wallet_with(person, str(Decimal(amount) - wallet.balance))
    payment = Payment.objects.create(
        id_tag=payments.new_id_tag(),
        driver=person,
        account=wallet,
        charger=charger,
        connector_id=connector_id,
        method=Payment.Method.WALLET,
        gateway="wallet",
        currency="EUR",
        amount=Decimal(amount),
        state=state,
        confirmed_at=timezone.now(),
        **fields,
    )
    WalletGateway().hold(payment)
    return payment


# Paying ---------------------------------------------------------------------------------------------


def test_it_gives_the_hold_back_in_full_when_the_charger_cannot_be_reached():
    dana, charger = driver(), pay_site()  # marked connected, but no socket holds it
    wallet_with(dana, "50.00")

    payment = payments.create_payment(
        charger=charger, connector_id=1, amount=Decimal("20.00"), method="wallet", driver=dana
    )

    payment.refresh_from_db()
    assert payment.state == State.RELEASED and payment.failure_reason == "charger_offline"
    assert payment.refunded == Decimal("20.00") and "offline" in payments.failure_text(payment)
    assert kinds_of(dana) == [
        ("top_up", Decimal("50.00")),
        ("hold", Decimal("-20.00")),
        ("release", Decimal("20.00")),
    ]
    assert balance_of(dana) == Decimal("50.00")


def test_it_holds_nothing_when_the_wallet_cannot_cover_the_amount():
    dana, charger = driver(), pay_site()
    wallet_with(dana, "15.00")

    with pytest.raises(payments.InsufficientFunds) as refused:
        payments.create_payment(
            charger=charger, connector_id=1, amount=Decimal("20.00"), method="wallet", driver=dana
        )

    assert refused.value.status == 402 and refused.value.balance == Decimal("15.00")
    assert not Payment.objects.exists() and kinds_of(dana) == [("top_up", Decimal("15.00"))]


@pytest.mark.parametrize(
    "amount, why",
    [
        ("4.99", "between"),
        ("100.01", "between"),
        ("10.001", "smaller coin"),
        ("0", "Enter an amount"),
        ("NaN", "Enter"),
    ],
)
def test_it_names_the_amount_when_it_is_out_of_bounds(amount, why):
    dana = driver()
    wallet_with(dana, "500.00")

    with pytest.raises(payments.InvalidPayment) as refused:
        payments.create_payment(
            charger=pay_site(), connector_id=1, amount=Decimal(amount), method="wallet", driver=dana
        )

    assert refused.value.field == "amount" and why in refused.value.message
    assert not Payment.objects.exists()


def test_it_offers_no_card_without_a_gateway_and_no_wallet_to_nobody():
    charger = pay_site()
    offer = payments.connector_offer(charger=charger, connector_id=1)
    assert offer.methods == ["wallet"] and offer.usable and offer.state == "available"

    with pytest.raises(payments.InvalidPayment) as card:
        payments.create_payment(charger=charger, connector_id=1, amount=Decimal("10"), method="card")
    with pytest.raises(payments.InvalidPayment) as anonymous_wallet:
        payments.create_payment(charger=charger, connector_id=1, amount=Decimal("10"), method="wallet")

    assert card.value.field == anonymous_wallet.value.field == "method"


@pytest.mark.parametrize(
    "status, connected, state",
    [
        ("Available", False, "offline"),
        ("Charging", True, "charging"),
        ("Faulted", True, "faulted"),
        ("Unavailable", True, "unavailable"),
    ],
)
def test_it_refuses_a_connector_that_cannot_charge_before_holding_money(status, connected, state):
    dana, charger = driver(), pay_site(connected=connected, status=status)
    wallet_with(dana, "50.00")

    offer = payments.connector_offer(charger=charger, connector_id=1, driver=dana)
    with pytest.raises(payments.ConnectorUnavailable) as refused:
        payments.create_payment(
            charger=charger, connector_id=1, amount=Decimal("20"), method="wallet", driver=dana
        )

    assert offer.state == state and not offer.usable and offer.reason == refused.value.message
    assert (
        refused.value.status == 409 and balance_of(dana) == Decimal("50.00") and not Payment.objects.exists()
    )


def test_it_lets_the_database_refuse_a_second_live_payment_on_one_connector():
    taken = left_mid_way(State.STARTING)
    mallory = outsider()

    with pytest.raises(IntegrityError):
        Payment.objects.create(
            id_tag=payments.new_id_tag(), charger=taken.charger, connector_id=1, method="card",
            gateway="stripe", currency="EUR", amount=Decimal("10"), state=State.PENDING, driver=mallory,
        )  # fmt: skip


def test_it_tells_a_driver_the_connector_is_taken_and_which_payment_is_their_own():
    dana = driver()
    mine = left_mid_way(State.CHARGING, person=dana)
    mallory = outsider()
    wallet_with(mallory, "50.00")

    with pytest.raises(payments.ConnectorUnavailable) as for_mallory:
        payments.create_payment(
            charger=mine.charger, connector_id=1, amount=Decimal("20"), method="wallet", driver=mallory
        )
    with pytest.raises(payments.ConnectorUnavailable) as for_dana:
        payments.create_payment(
            charger=mine.charger, connector_id=1, amount=Decimal("20"), method="wallet", driver=dana
        )

    assert for_mallory.value.payment is None and for_dana.value.payment == mine
    assert balance_of(mallory) == Decimal("50.00")


def test_it_pays_once_for_a_form_sent_twice():
    dana, charger = driver(), pay_site()
    wallet_with(dana, "50.00")
    request = {
        "charger": charger,
        "connector_id": 1,
        "amount": Decimal("20.00"),
        "method": "wallet",
        "driver": dana,
    }

    first = payments.create_payment(**request, idempotency_key="form-1")
    again = payments.create_payment(**request, idempotency_key="form-1")
    with pytest.raises(payments.InvalidPayment) as other_amount:
        payments.create_payment(**{**request, "amount": Decimal("30.00")}, idempotency_key="form-1")

    assert first.pk == again.pk and Payment.objects.count() == 1
    assert other_amount.value.field == "idempotency_key"
    assert LedgerEntry.objects.filter(kind="hold").count() == 1


# The payment's idTag at the charger ------------------------------------------------------------------


def test_it_accepts_the_payment_s_id_tag_only_at_its_connector_and_only_while_it_is_live():
    payment = left_mid_way(State.STARTING)
    other = pay_site("CP-OTHER")

    def decision(charger, connector_id=None):
        return station_services.authorize(
            charger=charger, id_tag=payment.id_tag.lower(), connector_id=connector_id
        ).status

    assert decision(payment.charger) == "Accepted"  # Authorize names no connector
    assert decision(payment.charger, 1) == "Accepted"
    assert decision(payment.charger, 2) == "Invalid"
    assert decision(other, 1) == "Invalid"
    payments.give_back(payment=payment, reason="cancelled")
    assert decision(payment.charger, 1) == "Invalid"
    assert AuthorizationRefusal.objects.filter(id_tag=payment.id_tag).count() == 3


def test_it_keeps_the_payment_prefix_out_of_the_card_register():
    with pytest.raises(CardError):
        rfid_services.issue_card(id_tag="pay-0000111122223333", mode="prepaid")
    # A card with such a name from before the prefix existed still works: no payment has its idTag.
    card = rfid_services.issue_card(id_tag="PAYDAY", mode="personal")
    assert station_services.authorize(charger=pay_site(), id_tag=card.id_tag).status == "Accepted"


def start_and_stop(payment: Payment, *, wh: int, minutes: int = 30, samples=()):
    session, start = station_services.start_transaction(
        charger=payment.charger, connector_id=payment.connector_id, id_tag=payment.id_tag,
        meter_start=1000, timestamp=T0, reservation_id=None,
    )  # fmt: skip
    stop = station_services.stop_transaction(
        charger=payment.charger, transaction_id=session.pk, meter_stop=1000 + wh,
        timestamp=T0 + timedelta(minutes=minutes), reason="EVDisconnected", id_tag=payment.id_tag,
        transaction_data=None, samples=list(samples),
    )  # fmt: skip
    payment.refresh_from_db()
    return session, start, stop


def test_it_links_the_session_and_takes_the_real_cost_from_the_hold():
    dana = driver()
    wallet_with(dana, "50.00")
    payment = left_mid_way(State.STARTING, person=dana)

    session, start, stop = start_and_stop(payment, wh=10_000)  # 10 kWh × 0.40 + 1.00 = 5.00, + 19 % = 5.95

    assert start.status == stop.status == "Accepted" and payment.transaction_id == session.pk
    assert payment.state == State.SETTLED
    assert (payment.cost, payment.captured, payment.refunded, payment.site_loss) == (
        Decimal("5.95"), Decimal("5.95"), Decimal("14.05"), Decimal("0"),
    )  # fmt: skip
    assert kinds_of(dana)[-3:] == [
        ("hold", Decimal("-20.00")),
        ("release", Decimal("20.00")),
        ("session_charge", Decimal("-5.95")),
    ]
    assert balance_of(dana) == Decimal("44.05")


def test_it_never_takes_more_than_the_amount_and_records_the_rest_as_the_site_s_loss():
    dana = driver()
    wallet_with(dana, "50.00")
    payment = left_mid_way(State.STARTING, person=dana, amount="10.00")

    start_and_stop(payment, wh=30_000)  # (30 × 0.40 + 1.00) × 1.19 = 15.47

    charge = SessionCharge.objects.get(transaction=payment.transaction)
    assert (payment.captured, payment.site_loss, payment.refunded) == (
        Decimal("10.00"),
        Decimal("5.47"),
        Decimal("0"),
    )
    assert (charge.total, charge.charged, charge.uncollected) == (
        Decimal("15.47"),
        Decimal("10.00"),
        Decimal("5.47"),
    )
    assert balance_of(dana) == Decimal("40.00")


def test_it_refuses_a_start_after_the_money_went_back_and_charges_nobody_for_it():
    dana = driver()
    wallet_with(dana, "50.00")
    payment = left_mid_way(State.STARTING, person=dana)
    payments.give_back(payment=payment, reason="no_start")

    session, start, _stop = start_and_stop(payment, wh=5_000)

    assert start.status == "Invalid" and payment.transaction_id is None and payment.state == State.RELEASED
    assert balance_of(dana) == Decimal("50.00")
    assert SessionCharge.objects.get(transaction=session).charged == 0


# The budget, frame by frame ------------------------------------------------------------------------------


def reading(at, wh=None, watts=None):
    rows = []
    if wh is not None:
        rows.append(
            MeterValue(
                timestamp=at,
                measurand="Energy.Active.Import.Register",
                unit="Wh",
                phase="",
                numeric_value=Decimal(wh),
            )
        )
    if watts is not None:
        rows.append(
            MeterValue(
                timestamp=at,
                measurand="Power.Active.Import",
                unit="kW",
                phase="",
                numeric_value=Decimal(watts) / 1000,
            )
        )
    return rows


def test_it_stops_when_one_more_interval_at_the_present_power_would_pass_the_amount():
    rates = budget.Rates(Decimal("0.40"), Decimal("0"), Decimal("1.00"), Decimal("19"), Decimal("0.04"))
    watch = budget.Budget(
        payment_id=7, amount=Decimal("10.00"), rates=rates, meter_start_wh=Decimal(0), started_at=T0
    )
    budget.watch(42, watch)
    try:
        # 11 kW, a sample a minute: (1.00 + kWh × 0.40) × 1.19 + 0.04 reaches 10.00 past ~18.4 kWh.
        minute = [
            budget.observe(42, reading(T0 + timedelta(minutes=m), wh=m * 11_000 / 60, watts=11_000))
            for m in range(1, 101)
        ]
        first_stop = minute.index(7) + 1
        kwh_then = Decimal(first_stop * 11_000 / 60 / 1000)
        assert rates.cost_ceiling(kwh_then * 1000, Decimal(0)) < Decimal(
            "10.00"
        )  # stopped before it is reached
        assert rates.cost_ceiling((kwh_then + Decimal(11) / 60) * 1000, Decimal(0)) >= Decimal("10.00")
        assert minute.count(7) == 1 and set(minute) == {None, 7}
        assert budget.observe(43, reading(T0, wh=10**9)) is None  # a session nobody paid for: left alone
    finally:
        budget.forget(42)


# The sweep after a restart ----------------------------------------------------------------------------------


def test_it_gives_back_a_start_that_never_came_once_the_timeout_passed(settings):
    settings.PAYMENT_START_TIMEOUT_SECONDS = 120
    dana = driver()
    wallet_with(dana, "50.00")
    waiting = left_mid_way(State.STARTING, person=dana, start_sent_at=timezone.now())

    tasks.sweep()
    assert Payment.objects.get(pk=waiting.pk).state == State.STARTING
    with time_machine.travel(timezone.now() + timedelta(seconds=121)):
        tasks.sweep()

    waiting.refresh_from_db()
    assert waiting.state == State.RELEASED and waiting.failure_reason == "no_start"
    assert balance_of(dana) == Decimal("50.00")


def test_it_finishes_after_a_restart_what_the_crash_interrupted():
    dana, mallory = driver(), outsider()
    wallet_with(dana, "50.00")
    wallet_with(mallory, "50.00")
    never_started = left_mid_way(State.HELD, person=dana)  # the server died before sending the start
    charged = left_mid_way(State.STARTING, person=mallory, connector_id=2)
    session, _start = station_services.start_transaction(
        charger=charged.charger,
        connector_id=2,
        id_tag=charged.id_tag,
        meter_start=0,
        timestamp=T0,
        reservation_id=None,
    )
    # The stop committed but its settlement did not (the charger will never resend it):
    session.stop(
        meter_stop=5_000, stopped_at=T0 + timedelta(minutes=20), reason="Local", id_tag="", data=None
    )

    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        done = tasks.sweep()

    never_started.refresh_from_db()
    charged.refresh_from_db()
    assert done["starts"] == 1 and done["ends"] == 1
    # No socket holds the charger in this process: the start found it offline, and gave it all back.
    assert never_started.state == State.RELEASED and never_started.failure_reason == "charger_offline"
    assert charged.state == State.SETTLED and charged.captured == Decimal("3.57")  # (5 × 0.40 + 1) × 1.19
    assert balance_of(dana) == Decimal("50.00") and balance_of(mallory) == Decimal("46.43")
    tasks.sweep()  # a second sweep finds nothing to move
    assert LedgerEntry.objects.count() == 2 + 1 + 1 + 1 + 2  # top-ups, holds, Dana's release, Mallory's end


def test_it_flags_for_staff_what_needs_a_person():
    held_long = left_mid_way(State.HELD)
    Payment.objects.filter(pk=held_long.pk).update(confirmed_at=timezone.now() - timedelta(minutes=6))
    fine = left_mid_way(State.CHARGING, person=outsider(), connector_id=2)

    flagged = list(payments.payments_for_staff(attention_only=True))

    assert flagged == [Payment.objects.get(pk=held_long.pk)]
    assert flagged[0].needs_attention and not Payment.objects.get(pk=fine.pk).needs_attention
