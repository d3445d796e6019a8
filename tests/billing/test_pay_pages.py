"""The driver's pay pages: QR codes and stickers, the pay page, signing in and up, paying, the live
session page and the receipt; and the staff's payment list.

QR codes are read back with a real decoder (zxing-cpp) from the PNG and from the SVG's squares,
so a test passes only if a phone's camera would land on the right page.
"""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import quote

import png
import pytest
import time_machine
import zxingcpp
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from ocpp.v16 import call
from playwright.sync_api import expect

from accounts.backends import SIGN_IN_FAILURES
from billing import connector_links
from billing import services as billing_services
from billing.models import LedgerEntry, Payment, TariffPeriod
from billing.tariff_wording import describe_tariff
from stations.models import Charger, Connector
from tests import browser, personas
from tests.billing.builders import default_tariff, finished_session, peak_window
from tests.billing.payments_kit import (
    STRIPE_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    ObedientCharger,
    post_webhook,
    stripe_event,
    wallet_with,
)
from tests.browser import LAPTOP, open_page, screenshot
from tests.conftest import own_server
from tests.factories import register_charger
from tests.ocpp_client import connected_charger, wait_until
from tests.personas import PASSWORDS

ODD_ID = (
    "Site A/Bay 1?#%é"  # a charge point id with "/", a query and fragment mark, "%" and a non-ASCII letter
)


@pytest.fixture(autouse=True)
def fresh_sign_in_counts():
    SIGN_IN_FAILURES.clear()
    yield
    SIGN_IN_FAILURES.clear()


def charger_with_connectors(
    charge_point_id="CP-1", name="Bay 1", statuses=("Available", "Available"), **fields
):
    charger = register_charger(charge_point_id, name=name, is_connected=True, **fields)
    for number, status in enumerate(statuses, start=1):
        Connector.objects.create(charger=charger, connector_id=number, status=status)
    return charger


def page_path(charge_point_id, connector_id, suffix=""):
    return f"/c/{quote(charge_point_id, safe='')}/{connector_id}/{suffix}"


# --- reading QR codes back ---------------------------------------------------------------


def decode_png(content: bytes) -> list[str]:
    width, height, rows, _ = png.Reader(bytes=content).asDirect()
    pixels = bytes(255 if value else 0 for row in rows for value in row)  # 1-bit grey → 8-bit grey
    return [code.text for code in zxingcpp.read_barcodes(memoryview(pixels).cast("B", (height, width)))]


def decode_svg(content: bytes, scale=6) -> list[str]:
    """Paint the SVG's dark squares (qrcode's one path of "Mx,yHx2Vy2H…z" squares) and read the picture."""
    svg = ET.fromstring(content)
    size = int(float(svg.get("viewBox").split()[2]))
    dark = set()
    for path in svg.iter("{http://www.w3.org/2000/svg}path"):
        for x, y, x2, y2 in re.findall(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)", path.get("d")):
            for column in range(int(float(x)), int(float(x2))):
                for row in range(int(float(y)), int(float(y2))):
                    dark.add((column, row))
    pixels = bytes(
        0 if (x // scale, y // scale) in dark else 255
        for y in range(size * scale)
        for x in range(size * scale)
    )
    view = memoryview(pixels).cast("B", (size * scale, size * scale))
    return [code.text for code in zxingcpp.read_barcodes(view)]


# --- QR codes ---------------------------------------------------------------------------------


def test_it_puts_the_public_address_of_the_connector_in_its_qr_codes(client, settings, db):
    settings.PUBLIC_BASE_URL = "https://charge.example.org"
    charger_with_connectors(ODD_ID)
    expected = "https://charge.example.org/c/Site%20A%2FBay%201%3F%23%25%C3%A9/2/"

    as_png = client.get(page_path(ODD_ID, 2, "qr.png"))
    as_svg = client.get(page_path(ODD_ID, 2, "qr.svg"))

    assert as_png["Content-Type"] == "image/png" and decode_png(as_png.content) == [expected]
    assert as_svg["Content-Type"] == "image/svg+xml" and decode_svg(as_svg.content) == [expected]
    assert "max-age" in as_png["Cache-Control"] and as_png["ETag"] == as_svg["ETag"]
    assert client.get(expected.removeprefix("https://charge.example.org")).status_code in (200, 302)


def test_it_answers_a_repeated_qr_request_with_not_modified(client, db):
    charger_with_connectors()
    first = client.get("/c/CP-1/1/qr.png")

    again = client.get("/c/CP-1/1/qr.png", HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    ["/c/CP-9/1/qr.svg", "/c/CP-1/3/qr.svg", "/c/CP-1/0/qr.png", "/c/CP-1/1/x/qr.png", "/c/PENDING/1/qr.svg"],
)
def test_it_has_no_qr_code_for_an_unknown_charger_or_connector(client, db, path):
    charger_with_connectors()
    charger_with_connectors("PENDING", approval=Charger.Approval.PENDING)

    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    "value",
    ["ftp://example.org", "https://example.org/?a=1", "https://example.org/#top", "example.org", "https://"],
)
def test_it_refuses_a_public_base_url_that_is_not_a_plain_web_address(monkeypatch, value):
    from csms.settings import envurl

    monkeypatch.setenv("PUBLIC_BASE_URL", value)
    with pytest.raises(ImproperlyConfigured, match="PUBLIC_BASE_URL"):
        envurl("PUBLIC_BASE_URL", "http://127.0.0.1:8000")


def test_it_keeps_a_public_base_url_with_a_path_without_its_last_slash(monkeypatch):
    from csms.settings import envurl

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://example.org:8443/charging/")
    assert envurl("PUBLIC_BASE_URL", "http://127.0.0.1:8000") == "https://example.org:8443/charging"


# --- the typed code --------------------------------------------------------------------------


def test_it_gives_every_connector_its_own_code_and_a_typo_finds_no_other(db):
    for number in range(12):
        charger_with_connectors(f"CP-{number}", statuses=["Available"] * 3)
    codes = {connector_links.connector_code(c): c for c in Connector.objects.select_related("charger")}

    assert len(codes) == Connector.objects.count() == 36
    for code, connector in codes.items():
        assert connector_links.connector_by_code(f" {code[:2]} {code[2:]} ") == connector
        for position in range(len(code)):
            for digit in "0123456789":
                typo = code[:position] + digit + code[position + 1 :]
                assert typo == code or connector_links.connector_by_code(typo) is None
        swapped = code[1] + code[0] + code[2:]
        assert swapped == code or connector_links.connector_by_code(swapped) is None


def test_it_leads_a_typed_code_to_the_connectors_pay_page(client, db):
    charger_with_connectors(ODD_ID)
    connector = Connector.objects.get(connector_id=2)

    answer = client.get("/c/", {"code": connector_links.connector_code(connector)})

    assert answer.status_code == 302 and answer["Location"] == page_path(ODD_ID, 2)


def test_it_says_so_when_no_connector_has_the_typed_code(client, db):
    charger_with_connectors()

    answer = client.get("/c/", {"code": "12345"})

    assert answer.status_code == 400
    assert "No connector has the code 12345" in answer.content.decode()


# --- stickers ---------------------------------------------------------------------------------


def test_it_prints_a_sticker_per_connector_for_staff_who_see_chargers(client, operator, settings):
    settings.SITE_NAME, settings.PUBLIC_BASE_URL = "Garage Nord", "https://charge.example.org"
    charger_with_connectors(ODD_ID, name="Hall bay")
    charger_with_connectors("CP-2", name="Street", statuses=["Available"])
    client.force_login(operator)

    one = client.get(f"/chargers/{quote(ODD_ID, safe='')}/stickers/").content.decode()
    every = client.get("/stickers/").content.decode()

    codes = [connector_links.connector_code(c) for c in Connector.objects.order_by("pk")]
    assert one.count('class="sticker"') == 2 and every.count('class="sticker"') == 3
    assert all(code in every for code in codes) and codes[0] in one and codes[2] not in one
    assert "Garage Nord" in one and "Hall bay" in one and "Connector 2" in one
    assert f'src="{page_path(ODD_ID, 2, "qr.svg")}"' in one.replace("&#x27;", "'")
    assert "https://charge.example.org/c/" in one


def test_it_prints_no_sticker_leading_to_a_charger_not_yet_accepted(client, operator):
    charger_with_connectors("NEW-1", approval=Charger.Approval.PENDING)
    client.force_login(operator)

    text = client.get("/chargers/NEW-1/stickers/").content.decode()

    assert 'class="sticker"' not in text and "Accept this charger first" in text


@pytest.mark.parametrize("who", ["clerk", "outsider", "driver"])
def test_it_keeps_stickers_from_people_who_do_not_see_chargers(client, db, request, who):
    charger_with_connectors()
    client.force_login(request.getfixturevalue(who))

    assert client.get("/stickers/").status_code == 403
    assert client.get("/chargers/CP-1/stickers/").status_code == 403


def test_it_sends_a_signed_out_visitor_of_the_stickers_to_sign_in(client, db):
    charger_with_connectors()

    answer = client.get("/chargers/CP-1/stickers/")

    assert answer.status_code == 302 and answer["Location"].startswith("/login/")


# --- the tariff in words ------------------------------------------------------------------------


def test_it_words_a_tariff_as_a_driver_reads_it(db):
    tariff = default_tariff(
        price_per_kwh=Decimal("0.3500"), session_fee=Decimal("1.0000"), tax_percent=Decimal("19.00")
    )

    words = describe_tariff(tariff, [])

    assert words.headline == "0.35 EUR per kWh + 1.00 EUR per session, 19 % tax included in the total"
    assert words.windows == []


def test_it_words_every_rate_unrounded_and_each_time_of_use_window(db):
    tariff = default_tariff(
        price_per_kwh=Decimal("0.3249"),
        price_per_hour=Decimal("2.0000"),
        idle_fee_per_hour=Decimal("6.0000"),
        idle_grace_minutes=30,
    )
    peak_window(tariff, start=time(17), end=time(21), weekdays="12345")
    TariffPeriod.objects.create(
        tariff=tariff,
        name="Night",
        weekdays="67",
        start_time=time(22),
        end_time=time(0),
        price_per_kwh=Decimal("0.2"),
    )

    words = describe_tariff(tariff, list(tariff.periods.all()))

    assert words.headline == (
        "0.3249 EUR per kWh + 2.00 EUR per hour of charging"
        " + 6.00 EUR per hour left plugged in more than 30 minutes after charging"
    )
    assert words.windows == [
        "Peak (Mon–Fri, 17:00–21:00): 0.50 EUR per kWh",
        "Night (Sat–Sun, 22:00–24:00): 0.20 EUR per kWh",
    ]


def test_it_words_a_tariff_with_nothing_to_pay_as_free(db):
    assert describe_tariff(default_tariff(price_per_kwh=Decimal("0")), []).headline == "Free of charge"


# --- signing in and up on the pay pages --------------------------------------------------------


def sign_in(client, username, password, address="203.0.113.5"):
    return client.post(
        "/c/sign-in/", {"username": username, "password": password, "next": "/c/CP-1/1/"}, REMOTE_ADDR=address
    )


def signed_in_as(client):
    return client.session.get("_auth_user_id")


@pytest.mark.parametrize("typed", ["dana", "+49 170 5550101", "+491705550101", "+49-170-555 0101"])
def test_it_signs_a_driver_in_by_user_name_or_phone_and_returns_to_the_pay_page(client, driver, typed):
    answer = sign_in(client, typed, PASSWORDS["dana"])

    assert answer.status_code == 302 and answer["Location"] == "/c/CP-1/1/"
    assert signed_in_as(client) == str(driver.pk)


def test_it_keeps_the_sign_in_throttle_when_guessing_by_phone(client, driver):
    for guess in range(5):
        assert sign_in(client, "+49 170 5550101", f"guess-{guess}").status_code == 400

    paused = sign_in(client, "dana", PASSWORDS["dana"])

    assert paused.status_code == 400 and signed_in_as(client) is None
    assert "Too many failed sign-ins from here" in paused.content.decode()
    assert sign_in(client, "dana", PASSWORDS["dana"], address="198.51.100.7").status_code == 302


def test_it_returns_only_to_a_page_of_this_site_after_signing_in(client, driver):
    answer = client.post(
        "/c/sign-in/", {"username": "dana", "password": PASSWORDS["dana"], "next": "https://evil.example/"}
    )

    assert answer["Location"] == "/c/"


def sign_up(client, **fields):
    fields = {"name": "Sam Newcomer", "phone": "+44 7700 900123", "password": "plug-and-charge-42", **fields}
    return client.post("/c/sign-up/", {**fields, "next": "/c/CP-1/1/"})


def test_it_signs_up_a_new_driver_on_the_spot_and_signs_them_in(client, db, django_user_model):
    answer = sign_up(client)

    driver = django_user_model.objects.get(phone="+447700900123")
    assert answer.status_code == 302 and answer["Location"] == "/c/CP-1/1/"
    assert signed_in_as(client) == str(driver.pk)
    assert driver.name == "Sam Newcomer" and driver.check_password("plug-and-charge-42")
    assert not driver.is_staff and not driver.groups.exists()
    client.logout()
    assert sign_in(client, "+44 7700 900 123", "plug-and-charge-42").status_code == 302


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"phone": "+49 (170) 555-0101"}, "phone", "already registered"),
        ({"phone": "call me"}, "phone", "Enter a phone number"),
        ({"phone": "12345"}, "phone", "6 to 15 digits"),
        ({"password": "short"}, "password", "too short"),
        ({"password": "password123"}, "password", "too common"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_it_refuses_a_sign_up_it_cannot_take(client, driver, django_user_model, fields, field, message):
    answer = sign_up(client, **fields)

    assert answer.status_code == 400 and message in answer.content.decode()
    assert field in answer.context["form"].errors
    assert django_user_model.objects.count() == 1 and signed_in_as(client) is None


def test_it_tells_a_driver_to_sign_in_when_a_second_sign_up_takes_the_same_number(
    client, db, django_user_model
):
    assert sign_up(client).status_code == 302
    client.logout()

    again = sign_up(client, phone="00447700900123".replace("0044", "+44"))

    assert again.status_code == 400 and "already registered" in again.content.decode()
    assert django_user_model.objects.count() == 1


def test_it_shows_no_staff_navigation_to_a_driver(client, driver):
    client.force_login(driver)

    page = client.get("/c/sign-up/").content.decode()

    assert "Chargers" not in page and "/desk/" not in page and "Sign out" in page


def test_it_signs_a_driver_out_back_to_the_page_they_were_on(client, driver):
    client.force_login(driver)

    answer = client.post("/logout/", {"next": "/c/CP-1/1/"})

    assert answer["Location"] == "/c/CP-1/1/" and signed_in_as(client) is None


# --- the pay page ----------------------------------------------------------------------------------


def pay_page(client, charge_point_id="CP-1", connector_id=1):
    return client.get(page_path(charge_point_id, connector_id))


def test_it_shows_an_available_connector_its_price_and_what_to_pay(client, driver):
    charger_with_connectors(name="Hall bay")
    tariff = default_tariff(
        price_per_kwh=Decimal("0.35"), session_fee=Decimal("1"), tax_percent=Decimal("19")
    )
    peak_window(tariff, start=time(17), end=time(21), weekdays="12345")
    wallet_with(driver, "25.00")
    client.force_login(driver)

    page = pay_page(client)
    text = page.content.decode()

    assert page.status_code == 200 and page.context["offer"].state == "available"
    assert "Hall bay · Connector 1" in text and ">available<" in text
    assert "0.35 EUR per kWh + 1.00 EUR per session, 19 % tax included in the total" in text
    assert "Peak (Mon–Fri, 17:00–21:00): 0.50 EUR per kWh" in text
    assert "My wallet: 25.00 EUR" in text
    assert all(f'name="amount" value="{preset}"' in text for preset in page.context["offer"].presets)
    assert 'name="idempotency_key"' in text and "Dashboard" not in text


@pytest.mark.parametrize(
    "status, connected, state, reason",
    [
        ("Charging", True, "charging", ""),
        ("Faulted", True, "faulted", ""),
        ("Unavailable", True, "unavailable", ""),
        ("Available", False, "offline", "offline"),
    ],
)
def test_it_says_why_a_connector_cannot_be_used_and_offers_nothing_to_pay(
    client, db, status, connected, state, reason
):
    charger = charger_with_connectors(statuses=[status])
    Charger.objects.filter(pk=charger.pk).update(is_connected=connected)
    default_tariff()

    page = pay_page(client)
    text = page.content.decode()

    offer = page.context["offer"]
    assert (offer.state, offer.usable) == (state, False) and offer.reason in text
    assert reason in offer.reason
    assert "pay-form" not in text and 'name="amount"' not in text


def test_it_offers_nothing_to_pay_where_no_price_is_set(client, driver):
    charger_with_connectors()
    client.force_login(driver)

    text = pay_page(client).content.decode()

    assert "No price is set for this connector" in text and 'name="amount"' not in text


def test_it_asks_a_signed_out_visitor_to_sign_in_to_pay_from_a_wallet(client, db):
    charger_with_connectors()
    default_tariff()

    text = pay_page(client).content.decode()

    assert "/c/sign-in/?next=/c/CP-1/1/" in text and "/c/sign-up/?next=/c/CP-1/1/" in text
    assert "My wallet" not in text


# --- paying ------------------------------------------------------------------------------------------


def pay(client, amount="10", other="", method="wallet", key="key-1", charge_point_id="CP-1", connector_id=1):
    fields = {"amount": amount, "other_amount": other, "method": method, "idempotency_key": key}
    return client.post(page_path(charge_point_id, connector_id, "pay/"), fields)


@pytest.fixture
def ready(driver, settings):
    """Dana signed in at a priced connector with 25.00 EUR in her wallet; the charger never answers."""
    settings.PAYMENT_START_TIMEOUT_SECONDS = 120
    charger_with_connectors()
    default_tariff()
    return wallet_with(driver, "25.00")


@pytest.mark.parametrize(
    "amount, other, field, message",
    [
        ("7", "", "amount", "Choose one of the amounts shown"),
        ("other", "", "other_amount", "Type an amount"),
        ("other", "0.5", "other_amount", ""),
        ("other", "100000", "other_amount", ""),
        ("other", "12.345", "other_amount", ""),
        ("other", "abc", "other_amount", "Enter a number"),
    ],
)
def test_it_refuses_an_amount_it_cannot_take_and_holds_nothing(
    client, driver, ready, amount, other, field, message
):
    client.force_login(driver)

    answer = pay(client, amount=amount, other=other)

    assert answer.status_code == 400 and field in answer.context["form"].errors
    assert message in answer.content.decode()
    assert not Payment.objects.exists() and ready.entries.count() == 1


def test_it_says_in_plain_words_when_the_wallet_cannot_cover_the_amount(client, driver, ready):
    client.force_login(driver)

    answer = pay(client, amount="other", other="30")

    assert answer.status_code == 402 and answer.context["problem"]
    assert answer.context["problem"] in answer.content.decode()
    assert not Payment.objects.exists() and ready.entries.count() == 1


def test_it_tells_the_second_driver_the_connector_is_taken(client, driver, ready):
    other = personas.driver("sam", phone="+44 7700 900123")
    wallet_with(other, "25.00")
    client.force_login(other)
    assert pay(client, key="sams-key").status_code == 303
    client.force_login(driver)

    answer = pay(client, key="danas-key")

    assert answer.status_code == 409 and answer.context["problem"] in answer.content.decode()
    assert Payment.objects.count() == 1 and Payment.objects.get().driver == other


def test_it_pays_once_for_a_double_click_a_reload_or_back(client, driver, ready):
    client.force_login(driver)

    first = pay(client, key="one-page")
    again = pay(client, key="one-page")

    payment = Payment.objects.get()
    assert first.status_code == again.status_code == 303
    assert first["Location"] == again["Location"] == f"/s/{payment.token}/"
    assert (payment.driver, payment.amount, payment.method) == (driver, Decimal("10"), "wallet")
    assert ready.entries.filter(kind=LedgerEntry.Kind.HOLD).count() == 1


def test_it_pays_nothing_more_when_the_page_is_sent_again_after_its_payment_ended(client, driver, ready):
    """Back to the pay page, whose form still holds the first key, and Pay again: the first payment, not a new one."""
    client.force_login(driver)
    first = pay(client, key="page-shown-once")
    client.post(first["Location"] + "stop/")  # cancelled: the connector is free again

    again = pay(client, key="page-shown-once")

    assert again.status_code == 303 and again["Location"] == first["Location"]
    assert Payment.objects.count() == 1 and ready.entries.filter(kind=LedgerEntry.Kind.HOLD).count() == 1


def test_it_refuses_a_card_payment_when_no_gateway_is_configured(client, db, settings):
    settings.STRIPE_SECRET_KEY = ""
    charger_with_connectors()
    default_tariff()

    answer = pay(client, method="card")

    assert answer.status_code == 400 and not Payment.objects.exists()


# --- the live page and the receipt: only with the token, only for the payer ----------------------


def a_payment(driver=None, state="charging", **fields):
    charger = Charger.objects.first() or charger_with_connectors()
    fields = {
        "charger": charger,
        "connector_id": 1,
        "method": "wallet" if driver else "card",
        "gateway": "wallet" if driver else "stripe",
        "currency": "EUR",
        "amount": Decimal("20.00"),
        "state": state,
        "driver": driver,
        "id_tag": f"PAY-{Payment.objects.count():016d}",
        **fields,
    }
    return Payment.objects.create(**fields)


@pytest.mark.parametrize("suffix", ["", "status.json", "receipt/"])
def test_it_shows_no_session_page_without_its_token(client, driver, suffix):
    a_payment(driver)
    client.force_login(driver)

    assert client.get(f"/s/{'x' * 22}/{suffix}").status_code == 404
    assert client.post(f"/s/{'x' * 22}/stop/").status_code == 404


@pytest.mark.parametrize("suffix", ["", "status.json", "receipt/"])
def test_it_shows_a_drivers_session_to_no_other_driver(client, driver, suffix):
    payment = a_payment(driver)
    client.force_login(personas.driver("sam", phone="+44 7700 900123"))

    assert client.get(f"/s/{payment.token}/{suffix}").status_code == 404
    assert client.post(f"/s/{payment.token}/stop/").status_code == 404
    payment.refresh_from_db()
    assert payment.state == "charging" and payment.stop_requested_at is None


def test_it_asks_a_signed_out_driver_to_sign_in_for_their_session(client, driver):
    payment = a_payment(driver)

    answer = client.get(f"/s/{payment.token}/")

    assert answer.status_code == 302 and answer["Location"] == f"/c/sign-in/?next=%2Fs%2F{payment.token}%2F"


def test_it_shows_a_card_session_to_whoever_holds_its_token(client, db):
    payment = a_payment(None, state="pending", payment_url="https://checkout.example/pay/abc")

    page = client.get(f"/s/{payment.token}/?pay=1")
    status = client.get(f"/s/{payment.token}/status.json").json()

    text = page.content.decode()
    assert page.status_code == 200 and "waiting for the payment" in text
    assert '<meta http-equiv="refresh" content="0; url=https://checkout.example/pay/abc">' in text
    assert status["state"] == "pending" and status["amount"] == "20.00 EUR"


def test_it_refreshes_the_live_page_without_javascript_and_polls_with_it(client, driver):
    payment = a_payment(driver, state="starting")
    client.force_login(driver)

    text = client.get(f"/s/{payment.token}/").content.decode()

    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in text
    assert (
        'src="/static/js/session.js"' in text and f'data-status-url="/s/{payment.token}/status.json"' in text
    )
    assert "<script>" not in text and "starting…" in text


def test_it_cancels_a_payment_that_has_not_started_when_the_driver_presses_stop(client, driver, ready):
    client.force_login(driver)
    pay(client)
    payment = Payment.objects.get()

    answer = client.post(f"/s/{payment.token}/stop/")

    payment.refresh_from_db()
    assert answer.status_code == 302 and answer["Location"] == f"/s/{payment.token}/"
    assert payment.state in ("released", "releasing") and ready.balance == Decimal("25.00")
    page = client.get(f"/s/{payment.token}/").content.decode()
    assert (
        ">cancelled<" in page and "You cancelled. Nothing was charged; the money held was given back." in page
    )


def test_it_prints_the_receipt_in_the_sites_time_zone_with_what_was_held_taken_and_given_back(
    client, driver, settings
):
    settings.TIME_ZONE = "Europe/Berlin"
    session = finished_session(
        "PAY-0000000000000001", wh=3_000, started_at=datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
    )
    payment = a_payment(
        driver,
        state="settled",
        transaction=session,
        cost=Decimal("2.44"),
        captured=Decimal("2.44"),
        refunded=Decimal("7.56"),
        amount=Decimal("10.00"),
    )
    client.force_login(driver)

    text = client.get(f"/s/{payment.token}/receipt/").content.decode()

    assert "2027-03-01 09:00" in text and "2027-03-01 10:00" in text and "Times in Europe/Berlin" in text
    assert "3.000 kWh" in text
    for figure in ("10.00 EUR", "2.44 EUR", "7.56 EUR"):
        assert figure in text
    assert "Released back to the wallet" in text and ">wallet<" in text


# --- staff: the payments ------------------------------------------------------------------------


def test_it_lists_payments_with_their_money_and_flags_those_needing_a_person(client, operator, driver):
    client.force_login(operator)
    a_payment(
        driver, state="settled", captured=Decimal("7.25"), refunded=Decimal("12.75"), cost=Decimal("7.25")
    )
    a_payment(None, state="capturing", attention="capture failed: card_declined", connector_id=2)

    page = client.get("/payments/")
    text = page.content.decode()

    assert page.status_code == 200
    assert "7.25 EUR" in text and "12.75 EUR" in text and "capture failed: card_declined" in text
    rows = list(page.context["page"])
    assert [row.needs_attention for row in rows] == [True, False]


def test_it_flags_money_held_without_a_session_and_an_authorisation_about_to_lapse(client, operator, driver):
    with time_machine.travel(datetime(2027, 3, 1, 8, 0, tzinfo=UTC), tick=False):
        client.force_login(operator)
        a_payment(driver, state="starting", confirmed_at=timezone.now() - timedelta(minutes=30))
        a_payment(
            None,
            state="charging",
            authorization_expires_at=timezone.now() + timedelta(hours=5),
            connector_id=2,
        )
        a_payment(
            None,
            state="charging",
            authorization_expires_at=timezone.now() + timedelta(days=6),
            connector_id=3,
        )

        text = client.get("/payments/", {"attention": "1"}).content.decode()

    assert "money held since 2027-03-01 07:30, no session" in text
    assert "the card authorisation lapses 2027-03-01 13:00" in text
    assert text.count("⚑") == 2


def test_it_filters_payments_by_state_and_by_needing_a_person(client, operator, driver):
    client.force_login(operator)
    a_payment(driver, state="settled", captured=Decimal("1"), refunded=Decimal("19"))
    a_payment(None, state="capturing", attention="capture failed", connector_id=2)

    settled = client.get("/payments/", {"state": "settled"}).context["page"]
    attention = client.get("/payments/", {"attention": "1"}).context["page"]

    assert [p.state for p in settled] == ["settled"] and [p.state for p in attention] == ["capturing"]


def test_it_lists_any_number_of_payments_in_the_same_number_of_queries(client, operator, driver):
    client.force_login(operator)
    a_payment(driver, state="settled", captured=Decimal("1"), refunded=Decimal("19"))
    with CaptureQueriesContext(connection) as few:
        assert client.get("/payments/").status_code == 200
    for number in range(2, 30):
        charger_with_connectors(f"CP-{number}", statuses=["Available"])
        a_payment(
            driver,
            state="settled",
            captured=Decimal("1"),
            refunded=Decimal("19"),
            charger=Charger.objects.get(charge_point_id=f"CP-{number}"),
        )

    with CaptureQueriesContext(connection) as many:
        assert client.get("/payments/").status_code == 200

    assert len(many) == len(few)


def test_it_pages_payments_fifty_at_a_time_keeping_the_filter(client, operator, driver):
    client.force_login(operator)
    for _ in range(51):
        a_payment(driver, state="settled", captured=Decimal("1"), refunded=Decimal("19"))

    first = client.get("/payments/", {"state": "settled"})
    second = client.get("/payments/", {"state": "settled", "page": "2"})

    assert len(first.context["page"]) == 50 and len(second.context["page"]) == 1
    assert "?state=settled&amp;page=2" in first.content.decode()


@pytest.mark.parametrize(
    "who, status", [("operator", 200), ("admin", 200), ("clerk", 403), ("outsider", 403), ("driver", 403)]
)
def test_it_shows_payments_to_those_who_may_see_them(client, request, who, status):
    client.force_login(request.getfixturevalue(who))

    assert client.get("/payments/").status_code == status


# --- end to end, in a phone's browser, with a real charger ----------------------------------------


def shoot(page, name):
    """A screenshot of the page at this size (looked at by hand: $CSMS_VAR_DIR/shots/)."""
    return screenshot(page, name)


def test_it_scans_signs_in_pays_from_the_wallet_charges_stops_and_the_receipt_matches_the_wallet(
    csms, driver, operator, phone_page, chromium, charger_loop
):
    register_charger("CP-1", name="Hall bay")  # connected by the charger below, as in real life
    default_tariff(price_per_kwh=Decimal("0.35"), session_fee=Decimal("1"), tax_percent=Decimal("19"))
    wallet = wallet_with(driver, "25.00")
    cp = charger_loop.enter(connected_charger(csms.ws_url, "CP-1", cls=ObedientCharger))
    charger_loop.run(cp.boot())
    charger_loop.run(
        cp.send(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
    )
    wait_until(lambda: Connector.objects.filter(connector_id=1, status="Available").exists())

    # Scan: the sticker's QR code, read back, names the pay page.
    scanned = decode_png(phone_page.request.get(csms.url + "/c/CP-1/1/qr.png").body())[0]
    assert scanned == "http://127.0.0.1:8000/c/CP-1/1/"
    phone_page.goto(csms.url + scanned.removeprefix("http://127.0.0.1:8000"))
    expect(phone_page.locator(".state")).to_have_text("available")
    shoot(phone_page, "pay-1-scanned-phone")

    # Sign in with the phone number, back to the pay page, pay 10 EUR from the wallet.
    phone_page.get_by_role("link", name="Sign in").click()
    phone_page.fill("#id_username", "+49 170 5550101")
    phone_page.fill("#id_password", PASSWORDS["dana"])
    shoot(phone_page, "pay-2-sign-in-phone")
    phone_page.get_by_role("button", name="Sign in").click()
    expect(phone_page.get_by_text("My wallet: 25.00 EUR")).to_be_visible()
    shoot(phone_page, "pay-3-signed-in-phone")
    phone_page.get_by_role("button", name="10.00 EUR").click()

    # The live page: starting, then charging once the charger started and metered.
    expect(phone_page.locator(".live .state")).to_have_text("charging", timeout=20_000)
    token = phone_page.url.rstrip("/").rsplit("/", 1)[-1]
    charger_loop.run(cp.meter(3_000, 7_400))  # 3 kWh more, at 7.4 kW
    expect(phone_page.locator('[data-field="energy"]')).to_have_text("3.00 kWh", timeout=15_000)
    expect(phone_page.locator('[data-field="power"]')).to_have_text("7.4 kW")
    shoot(phone_page, "pay-4-charging-phone")

    phone_page.get_by_role("button", name="Stop charging").click()
    expect(phone_page.locator(".live .state")).to_have_text("stopped", timeout=20_000)
    expect(phone_page.get_by_role("link", name="See the receipt")).to_be_visible(timeout=20_000)
    shoot(phone_page, "pay-5-stopped-phone")
    phone_page.get_by_role("link", name="See the receipt").click()
    paid = Decimal(phone_page.locator(".paid").inner_text().split()[0])
    given_back = Decimal(phone_page.locator(".given-back").inner_text().split()[0])
    shoot(phone_page, "pay-6-receipt-phone")

    # 3 kWh × 0.35 + 1.00 = 2.05, + 19 % = 2.44 (2.4395 rounded half up): to the cent, wallet and receipt agree.
    wallet.refresh_from_db()
    assert paid == Decimal("2.44") and given_back == Decimal("7.56")
    assert wallet.balance == Decimal("25.00") - paid == billing_services.ledger_total(wallet)
    receipt_text = phone_page.locator(".receipt-lines").inner_text()
    assert "3 kWh × 0.35 EUR" in receipt_text and "1 session × 1.00 EUR" in receipt_text, receipt_text

    charger_loop.run(
        cp.send(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
    )
    wait_until(lambda: Connector.objects.filter(connector_id=1, status="Available").exists())
    shoot_at_laptop_size(chromium, csms.url, token)


def shoot_at_laptop_size(chromium, url, token):
    """Every page of the flow at a laptop's size too, and the staff's stickers and payments."""
    laptop = open_page(chromium, **LAPTOP)
    laptop.goto(f"{url}/c/sign-in/?next=/c/CP-1/1/")
    laptop.fill("#id_username", "dana")
    laptop.fill("#id_password", PASSWORDS["dana"])
    laptop.get_by_role("button", name="Sign in").click()
    for name, path in [
        ("pay", "/c/CP-1/1/"),
        ("stopped", f"/s/{token}/"),
        ("receipt", f"/s/{token}/receipt/"),
    ]:
        laptop.goto(url + path)
        shoot(laptop, f"pay-{name}-laptop")
    laptop.context.close()
    staff = open_page(chromium, **LAPTOP)
    browser.sign_in(staff, url, "olga")
    for name, path in [("payments", "/payments/"), ("stickers", "/stickers/")]:
        staff.goto(url + path)
        expect(staff.locator("h1")).to_be_visible()
        shoot(staff, f"pay-{name}-laptop")
    staff.context.close()


# --- the card path, in a phone's browser, against the stand-in for Stripe ---------------------------

STRIPE = FakeStripe()
cardweb_process, cardweb = own_server(
    "cardweb",
    STRIPE_SECRET_KEY=STRIPE_KEY,
    STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    STRIPE_API_BASE=STRIPE.url,
    PAYMENT_SWEEP_SECONDS="1",
)


@pytest.fixture(scope="module")
def stripe_api():
    with STRIPE:
        yield STRIPE


def test_it_pays_by_card_without_an_account_and_gives_back_what_the_session_did_not_use(
    stripe_api, cardweb, phone_page, charger_loop
):
    stripe_api.reset()
    register_charger("CP-1", name="Hall bay")
    default_tariff(price_per_kwh=Decimal("0.35"), session_fee=Decimal("1"), tax_percent=Decimal("19"))
    cp = charger_loop.enter(connected_charger(cardweb.ws_url, "CP-1", cls=ObedientCharger))
    charger_loop.run(
        cp.send(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
    )
    wait_until(lambda: Connector.objects.filter(connector_id=1, status="Available").exists())
    # Stripe's own page is not reachable from here: the stand-in's checkout address answers a page of ours.
    phone_page.route("https://checkout.stripe.test/**", lambda route: route.fulfill(body="<h1>Checkout</h1>"))

    phone_page.goto(cardweb.url + "/c/CP-1/1/")
    expect(phone_page.get_by_label("Card (no account needed)")).to_be_checked()
    phone_page.get_by_role("button", name="20.00 EUR").click()
    phone_page.wait_for_url("https://checkout.stripe.test/**")  # sent on by the session page, not by the POST
    payment = Payment.objects.get()
    assert (payment.state, payment.driver, payment.amount) == ("pending", None, Decimal("20.00"))

    # The driver pays at the gateway; only its signed webhook confirms the money, then the charger starts.
    [checkout] = stripe_api.sessions.values()
    assert (
        post_webhook(cardweb.url, stripe_event("checkout.session.completed", stripe_api.pay(checkout["id"])))
        == 200
    )
    phone_page.goto(checkout["success_url"].replace(settings.PUBLIC_BASE_URL, cardweb.url))
    expect(phone_page.locator(".live .state")).to_have_text("charging", timeout=20_000)
    charger_loop.run(cp.meter(3_000, 11_000))
    expect(phone_page.locator('[data-field="energy"]')).to_have_text("3.00 kWh", timeout=15_000)
    shoot(phone_page, "card-1-charging-phone")
    phone_page.get_by_role("button", name="Stop charging").click()
    phone_page.get_by_role("link", name="See the receipt").click(timeout=20_000)
    shoot(phone_page, "card-2-receipt-phone")

    paid = Decimal(phone_page.locator(".paid").inner_text().split()[0])
    given_back = Decimal(phone_page.locator(".given-back").inner_text().split()[0])
    [capture] = stripe_api.calls(r"/v1/payment_intents/pi_test_\d+/capture")
    assert (paid, given_back) == (Decimal("2.44"), Decimal("17.56"))
    assert capture == {"amount_to_capture": "244"} and "Given back to the card" in phone_page.content()
    assert not LedgerEntry.objects.exists()  # a card payment never touches a wallet
