"""Paying by card through Stripe, with the adapter's real code: the stripe package pointed at a small
local HTTP server answering like Stripe's API (Checkout Sessions, PaymentIntents with manual capture),
and webhook events in Stripe's own format, signed here as Stripe signs them.

End to end on a real server and charger: checkout, the signed webhook, the start, the capture of the
real cost and the rest let go; webhooks replayed, out of order, forged. In-process: the checkout that
times out and is paid at that very moment, a capture that fails and is retried, a start that fails."""

import asyncio
import json
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from billing import payments, tasks, webhooks
from billing.gateways import gateway_named
from billing.models import GatewayEvent, LedgerEntry, Payment
from stations.models import Transaction
from tests.billing.payments_kit import (
    STRIPE_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    ObedientCharger,
    assert_ledgers_balanced,
    http,
    pay_site,
    payment_state,
    post_webhook,
    state_becomes,
    stripe_event,
    stripe_signature,
    token_for,
)
from tests.conftest import own_server
from tests.ocpp_client import connected_charger, eventually
from tests.personas import PASSWORDS, driver

STRIPE = FakeStripe()
State = Payment.State

cardsrv_process, cardsrv = own_server(
    "cardsrv",
    STRIPE_SECRET_KEY=STRIPE_KEY,
    STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    STRIPE_API_BASE=STRIPE.url,
    PAYMENT_SWEEP_SECONDS="1",
)


@pytest.fixture(scope="module", autouse=True)
def stripe_api():
    with STRIPE:
        yield STRIPE


@pytest.fixture(autouse=True)
def fresh_stripe(transactional_db):
    STRIPE.reset()
    yield
    assert_ledgers_balanced()
    assert not LedgerEntry.objects.exclude(kind="top_up").exists()  # a card payment never touches a wallet


@pytest.fixture
def stripe_settings(settings):
    settings.STRIPE_SECRET_KEY = STRIPE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = STRIPE.url
    return settings


def completed(session: dict) -> dict:
    return stripe_event("checkout.session.completed", session)


def capturable(intent: dict) -> dict:
    return stripe_event("payment_intent.amount_capturable_updated", intent)


def card_payment(server, token, amount="20.00"):
    status, created = http(
        "POST",
        f"{server.url}/api/v1/charging-sessions/",
        {"charger": "CP-PAY", "connector": 1, "amount": amount, "method": "card"},
        token,
    )
    assert status == 201, created
    return created


# End to end ------------------------------------------------------------------------------------------


def test_it_captures_the_real_cost_of_a_card_session_and_lets_the_rest_go(cardsrv):
    pay_site(connected=False)
    driver()
    token = token_for(cardsrv.url, "dana", PASSWORDS["dana"])

    async def scenario():
        async with connected_charger(cardsrv.ws_url, "CP-PAY", cls=ObedientCharger) as cp:
            created = await asyncio.to_thread(card_payment, cardsrv, token)
            assert created["status"] == "pending" and created["payment_url"].startswith(
                "https://checkout.stripe.test/"
            )
            await asyncio.sleep(1.5)  # the driver is on Stripe's page: nothing starts meanwhile
            assert not cp.calls_of("RemoteStartTransaction")
            [checkout] = STRIPE.sessions.values()
            session = STRIPE.pay(checkout["id"])
            assert await asyncio.to_thread(post_webhook, cardsrv.url, completed(session)) == 200
            assert await eventually(lambda: cp.transaction_id, timeout=15)
            await cp.meter(3000, 11_000)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(
                http, "POST", f"{cardsrv.url}/api/v1/charging-sessions/{created['id']}/stop/", None, token
            )
            assert await eventually(cp.stopped.is_set, timeout=15)
            assert await state_becomes(created["id"], "settled")
            return created, session, cp

    created, session, cp = asyncio.run(scenario())

    payment = Payment.objects.get(pk=created["id"])
    [checkout_request] = STRIPE.calls(r"/v1/checkout/sessions")
    assert checkout_request["payment_intent_data[capture_method]"] == "manual"
    assert checkout_request["line_items[0][price_data][unit_amount]"] == "2000"
    [capture] = STRIPE.calls(r"/v1/payment_intents/pi_test_\d+/capture")
    assert capture == {"amount_to_capture": "262"}  # (3 kWh × 0.40 + 1.00) × 1.19 = 2.62 EUR
    assert STRIPE.intent(session["payment_intent"])["amount_received"] == 262
    assert (payment.captured, payment.refunded, payment.gateway_payment) == (
        Decimal("2.62"), Decimal("17.38"), session["payment_intent"],
    )  # fmt: skip
    assert len(cp.calls_of("RemoteStartTransaction")) == 1


def test_it_handles_webhooks_late_repeated_and_out_of_order_once(cardsrv):
    pay_site(connected=False)
    driver()
    token = token_for(cardsrv.url, "dana", PASSWORDS["dana"])

    async def scenario():
        async with connected_charger(cardsrv.ws_url, "CP-PAY", cls=ObedientCharger) as cp:
            created = await asyncio.to_thread(card_payment, cardsrv, token)
            [checkout] = STRIPE.sessions.values()
            session = STRIPE.pay(checkout["id"])
            intent = STRIPE.intent(session["payment_intent"])
            # The PaymentIntent's event overtakes the Checkout Session's; each then arrives again.
            events = [capturable(intent), completed(session)]
            answers = [await asyncio.to_thread(post_webhook, cardsrv.url, event) for event in events + events]
            assert await eventually(lambda: cp.transaction_id, timeout=15)
            late = await asyncio.to_thread(post_webhook, cardsrv.url, completed(session))  # a fresh id, late
            await asyncio.sleep(1.0)
            return created, answers + [late], cp

    created, answers, cp = asyncio.run(scenario())

    assert answers == [200] * 5
    assert len(cp.calls_of("RemoteStartTransaction")) == 1 and payment_state(created["id"]) == "charging"
    assert GatewayEvent.objects.count() == 3 and not GatewayEvent.objects.filter(handled_at=None).exists()


def test_it_refuses_a_forged_or_unsigned_webhook_and_changes_nothing(cardsrv):
    pay_site(connected=True)  # marked connected: nothing will be sent to it anyway
    driver()
    token = token_for(cardsrv.url, "dana", PASSWORDS["dana"])
    created = card_payment(cardsrv, token)
    [checkout] = STRIPE.sessions.values()
    session = STRIPE.pay(checkout["id"])  # even with the money really held, only Stripe may say so

    answers = [
        post_webhook(cardsrv.url, completed(session), secret="whsec_guessed"),
        post_webhook(cardsrv.url, completed(session), signature=""),
        post_webhook(cardsrv.url, completed(session), signature="t=1,v1=00"),
    ]

    assert answers == [400, 400, 400]
    assert payment_state(created["id"]) == "pending" and not GatewayEvent.objects.exists()


# In-process: what goes wrong with the card ----------------------------------------------------------------------


def test_it_asks_stripe_before_giving_up_a_checkout_and_gives_all_back_when_the_start_fails(stripe_settings):
    stripe_settings.PAYMENT_CHECKOUT_TIMEOUT_SECONDS = 900
    payment = payments.create_payment(
        charger=pay_site(), connector_id=1, amount=Decimal("20.00"), method="card"
    )
    session = STRIPE.pay(payment.gateway_reference)  # the driver pays at the last moment…

    with time_machine.travel(timezone.now() + timedelta(seconds=901)):
        tasks.sweep()  # …while the sweep asks Stripe first: paid, so it is held and the start goes out

    payment.refresh_from_db()
    intent = STRIPE.intent(session["payment_intent"])
    # The charger is unreachable from here: the start fails and the authorisation is cancelled in full.
    assert payment.state == State.RELEASED and payment.failure_reason == "charger_offline"
    assert intent["status"] == "canceled" and intent["amount_received"] == 0


def test_it_cancels_an_authorisation_that_arrives_after_the_payment_was_given_up(stripe_settings):
    payment = payments.create_payment(
        charger=pay_site(), connector_id=1, amount=Decimal("20.00"), method="card"
    )
    payments.request_stop(payment=payment)  # the driver cancels on the pay page
    payment.refresh_from_db()
    assert payment.state == State.FAILED and STRIPE.sessions[payment.gateway_reference]["status"] == "expired"
    STRIPE.sessions[payment.gateway_reference]["status"] = "open"  # …but Stripe had taken the card already
    session = STRIPE.pay(payment.gateway_reference)
    gateway = gateway_named("stripe")

    webhooks.handle_gateway_event(gateway=gateway, event=gateway.parse_webhook(*_signed(completed(session))))

    assert STRIPE.intent(session["payment_intent"])["status"] == "canceled"
    assert Payment.objects.get(pk=payment.pk).state == State.FAILED


def _signed(event: dict):
    body = json.dumps(event)
    return body.encode(), {"Stripe-Signature": stripe_signature(body)}


def capturing_card_payment(captured="7.50") -> Payment:
    payment = payments.create_payment(
        charger=pay_site(), connector_id=1, amount=Decimal("20.00"), method="card"
    )
    session = STRIPE.pay(payment.gateway_reference)
    Payment.objects.filter(pk=payment.pk).update(
        state=State.CAPTURING, gateway_payment=session["payment_intent"], captured=Decimal(captured),
        cost=Decimal(captured), ended_at=timezone.now(),
    )  # fmt: skip
    payment.refresh_from_db()
    return payment


def test_it_retries_a_failed_capture_and_shows_it_to_staff_meanwhile(stripe_settings):
    payment = capturing_card_payment()
    STRIPE.fail_captures = 1

    payments.collect(payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.state == State.CAPTURING and "Capture failed" in payment.attention
    assert payment.needs_attention and list(payments.payments_for_staff(attention_only=True)) == [payment]
    tasks.sweep()  # too early: the retry waits its turn
    assert Payment.objects.get(pk=payment.pk).state == State.CAPTURING

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        tasks.sweep()

    payment.refresh_from_db()
    assert payment.state == State.SETTLED and payment.attention == "" and payment.refunded == Decimal("12.50")
    assert STRIPE.intent(payment.gateway_payment)["amount_received"] == 750
    assert len(STRIPE.calls(r"/v1/payment_intents/pi_test_\d+/capture")) == 2


def test_it_stops_a_session_whose_authorisation_is_about_to_lapse(stripe_settings):
    payment = capturing_card_payment()
    Payment.objects.filter(pk=payment.pk).update(
        state=State.CHARGING, authorization_expires_at=timezone.now() + timedelta(minutes=50)
    )
    session = Transaction.objects.create(
        charger=payment.charger, connector_id=1, id_tag=payment.id_tag, id_tag_status="Accepted",
        meter_start=0, started_at=timezone.now(),
    )  # fmt: skip
    Payment.objects.filter(pk=payment.pk).update(transaction=session)

    assert tasks.sweep()["stops"] == 1  # a stop goes out (here it finds the charger offline)

    payment.refresh_from_db()
    assert payment.stop_requested_at is not None and payment.needs_attention
