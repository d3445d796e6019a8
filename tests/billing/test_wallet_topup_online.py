"""A driver tops up their wallet online through the card gateway, with the Stripe adapter's real code: the
stripe package pointed at the local stand-in for Stripe's API (tests.billing.payments_kit.FakeStripe),
webhook events in Stripe's own format signed here as Stripe signs them.

The page, the checkout (payment mode, automatic capture, the chosen amount), the signed webhook that
alone credits the wallet, exactly once (one TOP_UP entry keyed by the PaymentIntent id), whatever the
order and number of deliveries; forged webhooks, foreign checkouts, expired ones, late ones; signed-out
visitors, other drivers, no gateway. End to end over a real server through the JSON API.
"""

import functools
import json
import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
import time_machine
from django.utils import timezone

from billing import services as billing_services
from billing import tasks, topups, webhooks
from billing.gateways import gateway_named
from billing.models import Account, GatewayEvent, LedgerEntry, OnlineTopUp
from tests import personas
from tests.billing.payments_kit import (
    STRIPE_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    assert_ledgers_balanced,
    http,
    pay_site,
    post_webhook,
    stripe_event,
    stripe_signature,
    token_for,
    wallet_with,
)
from tests.billing.test_races import run_together
from tests.conftest import own_server
from tests.personas import PASSWORDS

STRIPE = FakeStripe()
State = OnlineTopUp.State
TOP_UP = LedgerEntry.Kind.TOP_UP
WEBHOOK = "/payments/stripe/webhook/"

topupsrv_process, topupsrv = own_server(
    "topupsrv",
    STRIPE_SECRET_KEY=STRIPE_KEY,
    STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    STRIPE_API_BASE=STRIPE.url,
    PAYMENT_SWEEP_SECONDS="0",  # the sweep stays out of it: only the webhook credits here
)


@pytest.fixture(scope="module", autouse=True)
def stripe_api():
    with STRIPE:
        yield STRIPE


@pytest.fixture(autouse=True)
def fresh_stripe(db):
    STRIPE.reset()
    yield
    assert_ledgers_balanced()


@pytest.fixture
def stripe_settings(settings):
    settings.STRIPE_SECRET_KEY = STRIPE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = STRIPE.url
    settings.PUBLIC_BASE_URL = "https://charge.example.org"
    return settings


@pytest.fixture
def signed_in(client, driver, stripe_settings):
    """Dana, signed in, with the card gateway configured."""
    client.force_login(driver)
    return client


def top_up_form(amount="20", other="", key="key-1", back_to=""):
    return {"amount": amount, "other_amount": other, "idempotency_key": key, "next": back_to}


def deliver(client, event: dict, secret=WEBHOOK_SECRET, signature=None) -> int:
    """A webhook delivery, signed with `secret` (or the given Stripe-Signature header; "" for none)."""
    body = json.dumps(event)
    header = stripe_signature(body, secret) if signature is None else signature
    headers = {"Stripe-Signature": header} if header else {}
    return client.post(WEBHOOK, data=body, content_type="application/json", headers=headers).status_code


def completed(session: dict) -> dict:
    return stripe_event("checkout.session.completed", session)


def succeeded(intent: dict) -> dict:
    return stripe_event("payment_intent.succeeded", intent)


def started(driver, amount="20.00") -> OnlineTopUp:
    return topups.start_top_up(driver=driver, amount=Decimal(amount), idempotency_key=f"key-{amount}")


def top_up_entries(driver) -> list[tuple[str, Decimal, str]]:
    entries = LedgerEntry.objects.filter(account__owner=driver, kind=TOP_UP, payment_method="card")
    return list(entries.values_list("idempotency_key", "amount", "source"))


def balance(driver) -> Decimal:
    return Account.objects.get(owner=driver).balance


# The page, the checkout, the webhook ---------------------------------------------------------------------


def test_it_tops_up_a_wallet_by_card_and_credits_it_only_when_the_signed_webhook_confirms(signed_in, driver):
    wallet_with(driver, "5.00")
    page = signed_in.get("/wallet/top-up/").content.decode()
    assert "5.00 EUR" in page and 'value="20"' in page and 'value="50"' in page

    answer = signed_in.post("/wallet/top-up/", top_up_form(back_to="/c/CP-PAY/1/"))

    top_up = OnlineTopUp.objects.get()
    back = quote("/c/CP-PAY/1/", safe="")
    assert (
        answer.status_code == 303
        and answer["Location"] == f"/wallet/top-up/{top_up.token}/?pay=1&next={back}"
    )
    [checkout] = STRIPE.calls(r"/v1/checkout/sessions")
    assert (checkout["mode"], checkout["payment_intent_data[capture_method]"]) == ("payment", "automatic")
    assert checkout["line_items[0][price_data][unit_amount]"] == "2000"
    assert checkout["line_items[0][price_data][currency]"] == "eur"
    assert checkout["metadata[top_up]"] == str(top_up.pk) and "metadata[payment]" not in checkout
    assert checkout["success_url"] == f"https://charge.example.org/wallet/top-up/{top_up.token}/?next={back}"
    on_the_way = signed_in.get(answer["Location"]).content.decode()
    assert f'content="0; url={top_up.payment_url}"' in on_the_way  # sent on to Stripe's page, no script
    assert 'href="/c/CP-PAY/1/"' in on_the_way  # and back to the charger from here
    session = STRIPE.pay(top_up.gateway_reference)

    back = signed_in.get(checkout["success_url"].removeprefix("https://charge.example.org"))  # proves nothing
    assert (
        "Waiting for the payment provider" in back.content.decode()
        and 'http-equiv="refresh"' in back.content.decode()
    )
    assert balance(driver) == Decimal("5.00") and not top_up_entries(driver)

    assert deliver(signed_in, completed(session)) == 200

    top_up.refresh_from_db()
    assert top_up.state == State.CREDITED and top_up.gateway_payment == session["payment_intent"]
    assert top_up_entries(driver) == [(session["payment_intent"], Decimal("20.0000"), "stripe")]
    assert top_up.ledger_entry.balance_after == balance(driver) == Decimal("25.00")
    credited = signed_in.get(
        checkout["success_url"].removeprefix("https://charge.example.org")
    ).content.decode()
    assert "20.00 EUR was added to your wallet" in credited and "25.00 EUR" in credited
    assert 'http-equiv="refresh"' not in credited and 'href="/c/CP-PAY/1/"' in credited


def test_it_credits_once_whatever_the_order_and_number_of_webhook_deliveries(client, driver, stripe_settings):
    top_up = started(driver)
    session = STRIPE.pay(top_up.gateway_reference)
    intent = STRIPE.intent(session["payment_intent"])
    # The PaymentIntent's event overtakes the Checkout Session's; each then arrives again; a fresh one late.
    events = [succeeded(intent), completed(session)]

    answers = [deliver(client, event) for event in events + events + [completed(session)]]

    assert answers == [200] * 5
    assert top_up_entries(driver) == [(session["payment_intent"], Decimal("20.0000"), "stripe")]
    assert balance(driver) == Decimal("20.00") and OnlineTopUp.objects.get().state == State.CREDITED
    assert GatewayEvent.objects.count() == 3
    assert set(GatewayEvent.objects.values_list("top_up", "payment")) == {(top_up.pk, None)}
    assert not GatewayEvent.objects.filter(handled_at=None).exists()


def test_it_credits_once_when_two_deliveries_arrive_at_the_same_moment(
    transactional_db, driver, stripe_settings
):
    top_up = started(driver)
    session = STRIPE.pay(top_up.gateway_reference)
    events = [completed(session), succeeded(STRIPE.intent(session["payment_intent"]))]

    def handle(event: dict):  # as the webhook view does, on a thread and connection of its own
        gateway = gateway_named("stripe")
        body = json.dumps(event)
        verified = gateway.parse_webhook(body.encode(), {"Stripe-Signature": stripe_signature(body)})
        webhooks.handle_gateway_event(gateway=gateway, event=verified)

    run_together(*(functools.partial(handle, event) for event in events))

    assert top_up_entries(driver) == [(session["payment_intent"], Decimal("20.0000"), "stripe")]
    assert balance(driver) == Decimal("20.00") and OnlineTopUp.objects.get().state == State.CREDITED


def test_it_refuses_a_forged_or_unsigned_webhook_and_credits_nothing(client, driver, stripe_settings):
    top_up = started(driver)
    session = STRIPE.pay(top_up.gateway_reference)  # even with the money really taken, only Stripe may say so

    answers = [
        deliver(client, completed(session), secret="whsec_guessed"),
        deliver(client, completed(session), signature=""),
        deliver(client, completed(session), signature="t=1,v1=00"),
    ]

    assert answers == [400, 400, 400]
    assert OnlineTopUp.objects.get().state == State.PENDING and not top_up_entries(driver)
    assert not GatewayEvent.objects.exists() and balance(driver) == 0


def test_it_credits_nothing_for_a_checkout_it_never_opened(client, driver, stripe_settings):
    top_up = started(driver)
    STRIPE.pay(top_up.gateway_reference)
    strangers = [
        {"id": "cs_test_elsewhere", "object": "checkout.session", "metadata": {}, "payment_intent": "pi_x"},
        # Our top-up's id, but not the checkout we opened for it: believed neither.
        {"id": "cs_test_other", "object": "checkout.session", "metadata": {"top_up": str(top_up.pk)}},
        {"id": "pi_test_other", "object": "payment_intent", "metadata": {"top_up": "999999"}},
    ]

    answers = [deliver(client, completed(thing)) for thing in strangers]

    assert answers == [200, 200, 200] and GatewayEvent.objects.filter(handled_at__isnull=False).count() == 3
    assert not GatewayEvent.objects.exclude(top_up=None).exists()
    assert OnlineTopUp.objects.get().state == State.PENDING and not top_up_entries(driver)


def test_it_marks_an_expired_checkout_and_credits_nothing(signed_in, driver):
    top_up = started(driver)
    STRIPE.sessions[top_up.gateway_reference]["status"] = "expired"  # the driver never paid

    assert (
        deliver(
            signed_in, stripe_event("checkout.session.expired", STRIPE.sessions[top_up.gateway_reference])
        )
        == 200
    )

    top_up.refresh_from_db()
    assert (top_up.state, top_up.failure_reason) == (State.EXPIRED, "checkout_expired")
    page = signed_in.get(f"/wallet/top-up/{top_up.token}/").content.decode()
    assert "not completed in time. Nothing was charged" in page and 'http-equiv="refresh"' not in page
    assert not top_up_entries(driver) and balance(driver) == 0


@pytest.mark.parametrize(
    "stripe_says, state, reason",
    [
        ({"status": "requires_capture", "amount_capturable": 2000, "amount_received": 0}, State.PENDING, ""),
        ({"amount_received": 1000}, State.FAILED, "amount_mismatch"),
        ({"status": "canceled", "amount_received": 0}, State.FAILED, "gateway_cancelled"),
    ],
    ids=["only-held", "another-amount", "cancelled"],
)
def test_it_credits_only_money_the_gateway_took_in_full(
    client, driver, stripe_settings, stripe_says, state, reason
):
    top_up = started(driver)
    session = STRIPE.pay(top_up.gateway_reference)
    STRIPE.intents[session["payment_intent"]].update(stripe_says)

    assert deliver(client, completed(session)) == 200

    top_up.refresh_from_db()
    assert (top_up.state, top_up.failure_reason) == (state, reason)
    assert not top_up_entries(driver) and balance(driver) == 0


# The sweep: a late webhook, a checkout nobody paid -----------------------------------------------------------


def test_it_asks_the_gateway_when_the_webhook_is_late_and_credits_once(client, driver, stripe_settings):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        top_up = started(driver)
        session = STRIPE.pay(top_up.gateway_reference)
        tasks.sweep()  # too early to ask: the webhook is on its way
        assert OnlineTopUp.objects.get().state == State.PENDING

        clock.shift(timedelta(seconds=61))
        tasks.sweep()
        tasks.sweep()
        assert deliver(client, completed(session)) == 200  # the webhook, at last

    assert OnlineTopUp.objects.get().state == State.CREDITED
    assert top_up_entries(driver) == [(session["payment_intent"], Decimal("20.0000"), "stripe")]


def test_it_closes_a_checkout_nobody_paid_once_it_times_out(driver, stripe_settings):
    stripe_settings.PAYMENT_CHECKOUT_TIMEOUT_SECONDS = 900
    with time_machine.travel(timezone.now(), tick=False) as clock:
        top_up = started(driver)
        clock.shift(timedelta(seconds=901))

        tasks.sweep()

    top_up.refresh_from_db()
    assert (top_up.state, top_up.failure_reason) == (State.EXPIRED, "checkout_expired")
    assert STRIPE.sessions[top_up.gateway_reference]["status"] == "expired"  # it can no longer be paid
    assert not top_up_entries(driver)


def test_it_credits_a_payment_the_gateway_took_after_the_top_up_was_given_up(client, driver, stripe_settings):
    """The driver paid at the very moment the checkout timed out: the money is credited, not lost."""
    top_up = started(driver)
    top_up.give_up(to=State.EXPIRED, reason="checkout_expired", at=timezone.now())
    session = STRIPE.pay(top_up.gateway_reference)

    assert deliver(client, completed(session)) == 200

    assert OnlineTopUp.objects.get().state == State.CREDITED and balance(driver) == Decimal("20.00")


# Who may, and what is refused ---------------------------------------------------------------------------


def test_it_sends_a_signed_out_visitor_to_sign_in_and_back(client, driver, stripe_settings):
    top_up = started(driver)

    answers = [client.get("/wallet/top-up/"), client.post("/wallet/top-up/", top_up_form())]
    status_page = client.get(f"/wallet/top-up/{top_up.token}/")

    assert [answer["Location"] for answer in answers] == ["/c/sign-in/?next=%2Fwallet%2Ftop-up%2F"] * 2
    assert status_page["Location"] == f"/c/sign-in/?next=%2Fwallet%2Ftop-up%2F{top_up.token}%2F"
    assert OnlineTopUp.objects.count() == 1 and len(STRIPE.calls(r"/v1/checkout/sessions")) == 1


def test_it_shows_a_drivers_top_up_to_no_other_driver(client, driver, stripe_settings):
    top_up = started(driver)
    client.force_login(personas.driver("sam", phone="+44 7700 900123"))

    assert client.get(f"/wallet/top-up/{top_up.token}/").status_code == 404
    assert client.get(f"/api/v1/wallet/top-ups/{top_up.pk}/").status_code == 404


@pytest.mark.parametrize("configured", [True, False])
def test_it_offers_the_online_top_up_only_when_a_card_gateway_is_configured(
    signed_in, driver, stripe_settings, configured
):
    stripe_settings.STRIPE_SECRET_KEY = STRIPE_KEY if configured else ""
    pay_site()

    pay_page = signed_in.get("/c/CP-PAY/1/").content.decode()
    own_page = signed_in.get("/wallet/top-up/")
    api = signed_in.post("/api/v1/wallet/top-ups/", {"amount": "20.00"}, content_type="application/json")

    link = 'href="/wallet/top-up/?next=/c/CP-PAY/1/"'
    assert "My wallet: 0.00 EUR" in pay_page and (link in pay_page) == configured
    assert (own_page.status_code, api.status_code) == ((200, 201) if configured else (404, 404))
    assert ("not offered on this site" in own_page.content.decode()) != configured


@pytest.mark.parametrize(
    "amount, other, field, message",
    [
        ("7", "", "amount", "Choose one of the amounts shown"),
        ("other", "1", "other_amount", "Top up between 5.00 EUR and 200.00 EUR"),
        ("other", "500", "other_amount", "Top up between 5.00 EUR and 200.00 EUR"),
        ("other", "12.345", "other_amount", "no smaller coin than 0.01"),
    ],
)
def test_it_refuses_an_amount_it_cannot_take_and_opens_no_checkout(signed_in, amount, other, field, message):
    answer = signed_in.post("/wallet/top-up/", top_up_form(amount, other))

    assert answer.status_code == 400 and field in answer.context["form"].errors
    assert message in answer.content.decode()
    assert not OnlineTopUp.objects.exists() and not STRIPE.calls(r"/v1/checkout/sessions")


def test_it_opens_one_checkout_for_a_double_click(signed_in):
    first = signed_in.post("/wallet/top-up/", top_up_form(key="one-page"))
    again = signed_in.post("/wallet/top-up/", top_up_form(key="one-page"))

    assert first.status_code == again.status_code == 303 and first["Location"] == again["Location"]
    assert OnlineTopUp.objects.count() == 1 and len(STRIPE.calls(r"/v1/checkout/sessions")) == 1


def test_it_says_so_when_the_gateway_cannot_open_a_checkout_and_takes_nothing(signed_in, stripe_settings):
    stripe_settings.STRIPE_SECRET_KEY = "sk_test_revoked"  # Stripe answers 401

    answer = signed_in.post("/wallet/top-up/", top_up_form())

    assert answer.status_code == 503 and "not available right now" in answer.content.decode()
    assert OnlineTopUp.objects.get().failure_reason == "gateway_unavailable"


def test_it_shows_staff_the_online_top_ups_in_the_admin(client, driver, operator, stripe_settings):
    top_up = started(driver)
    client.force_login(operator)

    page = client.get("/admin/billing/onlinetopup/")

    assert page.status_code == 200 and "Dana Driver" in page.content.decode()
    assert client.get(f"/admin/billing/onlinetopup/{top_up.pk}/change/").status_code == 200


# End to end, over a real server: the app's JSON API ------------------------------------------------------


def test_it_tops_up_through_the_api_and_the_webhook_over_a_real_server(topupsrv):
    dana = personas.driver()
    billing_services.wallet_for_owner(dana)
    token = token_for(topupsrv.url, "dana", PASSWORDS["dana"])
    top_ups = f"{topupsrv.url}/api/v1/wallet/top-ups/"
    assert http("POST", top_ups, {"amount": "2.50"}, token)[0] == 400

    status, created = http("POST", top_ups, {"amount": "20.00"}, token)

    assert status == 201 and (created["status"], created["amount"], created["balance"]) == (
        "pending",
        "20.00",
        "0.00",
    )
    assert re.fullmatch(r"https://checkout\.stripe\.test/c/pay/cs_test_\d+", created["payment_url"])
    session = STRIPE.pay(OnlineTopUp.objects.get(pk=created["id"]).gateway_reference)
    assert post_webhook(topupsrv.url, completed(session)) == 200
    assert post_webhook(topupsrv.url, completed(session), secret="whsec_guessed") == 400
    status, now = http("GET", f"{top_ups}{created['id']}/", token=token)
    assert status == 200 and (now["status"], now["balance"], now["payment_url"]) == (
        "credited",
        "20.00",
        None,
    )
    assert top_up_entries(dana) == [(session["payment_intent"], Decimal("20.0000"), "stripe")]
