"""Drivers and cards, as operators and the front desk use them: /drivers/, /cards/ and their pages.

The front desk's old /desk/ pages fold into these; a top-up of the same amount on the same card
shortly after another asks the clerk first.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import expect

from billing import services as billing_services
from billing.models import LedgerEntry
from rfid import services as rfid_services
from rfid.models import IdTag
from tests import personas
from tests.billing.builders import (
    balance,
    default_tariff,
    finished_session,
    personal_card,
    prepaid_card,
)
from tests.browser import screenshot, sign_in

NOON = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text_of(response) -> str:
    """The page as a person reads it: tags dropped, runs of spaces (non-breaking ones too) made one."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def hidden_key(page) -> str:
    return re.search(r'name="idempotency_key" value="([^"]+)"', page.content.decode()).group(1)


def money_column(page, css_class: str) -> list[Decimal]:
    cells = re.findall(
        rf'<td class="num[^"]*{css_class}[^"]*"[^>]*>\s*([^<]+?)\s*</td>', page.content.decode()
    )
    return [Decimal(cell.replace(",", "").removesuffix(" EUR")) for cell in cells]


def top_up(client, id_tag: str, amount: str, **extra):
    form = client.get(f"/cards/{id_tag}/topup/")
    submission = {"amount": amount, "method": "cash", "idempotency_key": hidden_key(form), **extra}
    return client.post(f"/cards/{id_tag}/topup/", submission)


# Finding people and cards ------------------------------------------------------------


def test_it_finds_a_driver_by_name_phone_however_spaced_email_or_card(db):
    dana = personas.driver()  # +49 170 5550101
    prepaid_card("04A2B3C4", owner=dana)
    personas.driver("erik", name="Erik Eriksson", phone="+46 70 555 0102", email="erik@example.org")
    desk = signed_in(personas.clerk())

    for query in (
        "dana",
        "DANA DRIVER",
        "+49 170 5550101",
        "+49 (170) 555-01-01",
        "0049 170 555 0101",
        "0170-5550101",
        "1705550101",
        "dana@example.org",
        "04a2b3",
    ):
        found = text_of(desk.get("/drivers/", {"q": query}))
        assert "Dana Driver" in found and "Erik" not in found, query
    nobody = text_of(desk.get("/drivers/", {"q": "0170 5550199"}))
    assert "Dana Driver" not in nobody and "No driver matches" in nobody


def test_it_finds_a_phone_stored_without_its_country_code_from_one_typed_with_it(db):
    personas.driver(phone="0170 555 01 01")
    desk = signed_in(personas.clerk())

    assert "Dana Driver" in text_of(desk.get("/drivers/", {"q": "+49 170 5550101"}))
    assert "Dana Driver" in text_of(desk.get("/drivers/", {"q": "0170/5550101"}))
    assert "Dana Driver" not in text_of(desk.get("/drivers/", {"q": "+49 171 5550101"}))


def test_it_finds_a_card_or_its_driver_from_the_one_search_box(db):
    dana = personas.driver()
    prepaid_card("04A2B3C4", owner=dana)
    personas.driver("finn", name="Finn Newcomer", phone="+49 151 0000777", email="finn@example.org")
    desk = signed_in(personas.clerk())

    for query in ("04a2", "dana", "170 555 0101", "dana@example"):
        found = desk.get("/cards/", {"q": query}).content.decode()
        assert "/cards/04A2B3C4/" in found and f"/drivers/{dana.pk}/" in found, query
    # A driver registered but without a card yet is found from the same box, beside no card.
    newcomer = text_of(desk.get("/cards/", {"q": "151 0000777"}))
    assert "Finn Newcomer" in newcomer and "No card matches" in newcomer


def test_it_lists_drivers_with_their_cards_balance_and_last_session(db, settings):
    settings.TIME_ZONE = "UTC"
    default_tariff(price_per_kwh=Decimal("0.5000"))
    dana = personas.driver()
    prepaid_card("DANA-1", owner=dana, balance="20")
    personal_card("DANA-2", owner=dana)
    finished_session("DANA-1", wh=4_000, started_at=NOON)
    billing_services.settle_transaction(
        transaction=finished_session("DANA-1", wh=2_000, started_at=NOON - timedelta(days=1))
    )
    personas.driver("erik", name="Erik Eriksson", phone="+46 70 555 0102", email="erik@example.org")
    personas.operator()  # staff are never listed as drivers

    page = signed_in(personas.operator("olga2")).get("/drivers/")

    rows = re.findall(r"<tr>(.*?)</tr>", page.content.decode(), re.S)[1:]
    dana_row, erik_row = (re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).split() for row in rows)
    assert len(rows) == 2
    assert dana_row == [
        "Dana",
        "Driver",
        "+49",
        "170",
        "5550101",
        "dana@example.org",
        "2",
        "19.00",
        "EUR",
        "2027-03-01",
        "12:00",
    ]
    assert erik_row == ["Erik", "Eriksson", "+46", "70", "555", "0102", "erik@example.org", "0", "—", "—"]


# A driver's page and a card's page --------------------------------------------------


def test_it_shows_a_driver_with_cards_consumption_and_a_running_balance_equal_to_the_ledger(db):
    default_tariff(price_per_kwh=Decimal("0.5000"))
    dana = personas.driver()
    card = prepaid_card("DANA-1", owner=dana, balance="20")
    billing_services.settle_transaction(transaction=finished_session("DANA-1", wh=4_000, minutes=90))
    billing_services.top_up(card=card, amount=Decimal("5"), method="card", source="cli")
    new = rfid_services.replace_card(card=card, new_id_tag="DANA-2", reason="lost")
    billing_services.settle_transaction(
        transaction=finished_session("DANA-2", wh=1_000, started_at=NOON + timedelta(days=1))
    )

    page = signed_in(personas.operator()).get(f"/drivers/{dana.pk}/")

    text = text_of(page)
    assert page.status_code == 200
    assert "+49 170 5550101" in text and "dana@example.org" in text
    assert (
        f"/cards/{card.id_tag}/" in page.content.decode() and f"/cards/{new.id_tag}/" in page.content.decode()
    )
    assert "DANA-1 replaced" in text and "DANA-2 active" in text
    assert "4.000 kWh" in text and "1.000 kWh" in text and "1 hour, 30 minutes" in text
    assert "-2.00 EUR" in text and "-0.50 EUR" in text
    amounts, running = money_column(page, "amount"), money_column(page, "running")
    assert running == [sum(amounts[: i + 1]) for i in range(len(amounts))] == [20, 18, 23, Decimal("22.50")]
    assert running[-1] == balance(new) == Decimal("22.50")
    assert 'class="balance">22.50 EUR' in page.content.decode()


def test_it_shows_a_card_with_its_lineage_sessions_ledger_and_refusals(db):
    default_tariff(price_per_kwh=Decimal("0.5000"))
    old = prepaid_card("OLD-1", balance="10")
    billing_services.settle_transaction(transaction=finished_session("OLD-1", wh=2_000))
    rfid_services.authorize(id_tag="new-1")  # tried before it was registered: refused, and kept
    rfid_services.replace_card(card=old, new_id_tag="NEW-1", reason="lost on the bus")
    olga = signed_in(personas.operator())

    page = olga.get("/cards/new-1/")

    text = text_of(page)
    assert page.status_code == 200 and "Card NEW-1" in text
    assert (
        "Cards it replaced" in text and "/cards/OLD-1/" in page.content.decode() and "lost on the bus" in text
    )
    assert "2.000 kWh" in text and "-1.00 EUR" in text and "Invalid unknown idTag" in text
    assert money_column(page, "running") == [10, 9]
    replaced = text_of(olga.get("/cards/OLD-1/"))
    assert "replaced" in replaced and "Replaced by NEW-1" in replaced


# The card list and its filters ------------------------------------------------------


@pytest.fixture
def cards_of_every_state(db, time_machine):
    time_machine.move_to(NOON, tick=False)
    prepaid_card("ACTIVE-1", owner=personas.driver(), balance="12.50")
    personal_card("HOME-1")
    prepaid_card("BLOCKED-1").set_status(IdTag.Status.BLOCKED, "stolen")
    prepaid_card("LOST-1").set_status(IdTag.Status.LOST, "lost")
    prepaid_card("EXPIRED-1", expires_at=NOON - timedelta(days=1))
    rfid_services.replace_card(card=prepaid_card("REPLACED-1"), new_id_tag="SUCCESSOR-1")


@pytest.mark.parametrize(
    ("filters", "listed"),
    [
        ({}, {"ACTIVE-1", "HOME-1", "BLOCKED-1", "LOST-1", "EXPIRED-1", "REPLACED-1", "SUCCESSOR-1"}),
        ({"state": "active"}, {"ACTIVE-1", "HOME-1", "SUCCESSOR-1"}),
        ({"state": "blocked"}, {"BLOCKED-1"}),
        ({"state": "lost"}, {"LOST-1"}),
        ({"state": "expired"}, {"EXPIRED-1"}),
        ({"state": "replaced"}, {"REPLACED-1"}),
        ({"mode": "personal"}, {"HOME-1"}),
        ({"mode": "prepaid", "state": "active"}, {"ACTIVE-1", "SUCCESSOR-1"}),
        ({"q": "dana"}, {"ACTIVE-1"}),
        ({"q": "ed-1", "state": "replaced"}, {"REPLACED-1"}),
    ],
)
def test_it_filters_the_card_list(cards_of_every_state, filters, listed):
    page = signed_in(personas.operator()).get("/cards/", filters)

    assert page.status_code == 200
    assert set(re.findall(r'<td><a href="/cards/([^/]+)/">', page.content.decode())) == listed


def test_it_shows_each_cards_state_mode_owner_and_balance(cards_of_every_state):
    text = text_of(signed_in(personas.clerk()).get("/cards/"))

    assert "ACTIVE-1 active prepaid Dana Driver +49 170 5550101 12.50 EUR" in text
    assert "HOME-1 active personal anonymous free" in text
    assert "EXPIRED-1 expired prepaid anonymous" in text and "2027-02-28" in text
    assert "REPLACED-1 replaced" in text and "BLOCKED-1 blocked" in text and "7 cards" in text


def test_it_pages_the_lists(db):
    for number in range(55):
        prepaid_card(f"PAGE-{number:02}")
    olga = signed_in(personas.operator())

    first, second = (
        olga.get("/cards/", {"mode": "prepaid"}),
        olga.get("/cards/", {"mode": "prepaid", "page": 2}),
    )

    assert "PAGE-49" in first.content.decode() and "PAGE-50" not in first.content.decode()
    assert "PAGE-50" in second.content.decode() and "PAGE-49" not in second.content.decode()
    assert 'href="?mode=prepaid&amp;page=2"' in first.content.decode()  # the filters stay on the next page


def test_it_lists_many_drivers_and_cards_in_a_constant_number_of_queries(db, django_assert_max_num_queries):
    default_tariff()
    for number in range(30):  # without passwords: hashing 30 of them would be most of the test
        driver = get_user_model().objects.create(
            username=f"driver{number}", name=f"Driver {number}", phone=f"+49 170 5550{number:03}"
        )
        prepaid_card(f"MANY-{number}", owner=driver, balance="10")
        billing_services.settle_transaction(
            transaction=finished_session(f"MANY-{number}", started_at=NOON + timedelta(hours=number))
        )
    olga = signed_in(personas.operator())

    for url in ("/drivers/", "/cards/", "/cards/?q=5550"):
        with django_assert_max_num_queries(8):  # session, user, permissions, count, page, matching drivers
            page = olga.get(url).content.decode()
        assert page.count("/drivers/") >= 30 and (page.count("/cards/MANY-") == 30 or url == "/drivers/"), url


# Who may do what -------------------------------------------------------------------


def test_it_lets_an_operator_read_but_never_top_up(db):
    dana = personas.driver()
    card = prepaid_card("READ-1", owner=dana, balance="10")
    olga = signed_in(personas.operator())

    for url in ("/drivers/", f"/drivers/{dana.pk}/", "/cards/", "/cards/READ-1/"):
        page = olga.get(url)
        assert page.status_code == 200, url
        assert "/topup/" not in page.content.decode() and "/cards/new/" not in page.content.decode(), url
    refused = olga.post("/cards/READ-1/topup/", {"amount": "50", "method": "cash", "idempotency_key": "olga"})

    assert refused.status_code == olga.get("/cards/READ-1/topup/").status_code == 403
    assert olga.get("/cards/new/").status_code == olga.get("/drivers/new/").status_code == 403
    assert balance(card) == Decimal("10")


def test_it_lets_the_front_desk_read_and_top_up(db):
    dana = personas.driver()
    card = prepaid_card("DESK-1", owner=dana)
    claire = signed_in(personas.clerk())

    assert "/cards/DESK-1/topup/" in claire.get("/cards/DESK-1/").content.decode()
    assert f"/cards/new/?owner={dana.pk}" in claire.get(f"/drivers/{dana.pk}/").content.decode()
    credited = top_up(claire, "DESK-1", "15")

    assert credited.status_code == 302 and credited["Location"].startswith("/topups/")
    assert balance(card) == Decimal("15")
    assert "15.00 EUR" in text_of(claire.get(credited["Location"]))


def test_it_refuses_mallory_and_sends_someone_signed_out_to_sign_in(db):
    dana = personas.driver()
    card = prepaid_card("SECRET-1", owner=dana, balance="10")
    entry = LedgerEntry.objects.get()
    mallory = signed_in(personas.outsider())
    pages = [
        "/drivers/",
        f"/drivers/{dana.pk}/",
        "/cards/",
        "/cards/SECRET-1/",
        "/cards/SECRET-1/topup/",
        f"/topups/{entry.pk}/receipt/",
    ]

    for url in pages:
        assert mallory.get(url).status_code == 403, url
        assert Client().get(url)["Location"] == f"/login/?next={url}", url
    assert (
        mallory.post(
            "/cards/SECRET-1/topup/", {"amount": "5", "method": "cash", "idempotency_key": "m"}
        ).status_code
        == 403
    )
    assert balance(card) == Decimal("10")


# The desk's old addresses -------------------------------------------------------------


def test_it_sends_every_old_desk_address_to_its_new_one(db):
    dana = personas.driver()
    prepaid_card("OLD-1", owner=dana, balance="5")
    entry = LedgerEntry.objects.get()
    claire = signed_in(personas.clerk())
    moves = {
        "/desk/?q=dana+driver": "/cards/?q=dana+driver",
        "/desk/cards/new/?owner=7": "/cards/new/?owner=7",
        "/desk/cards/OLD-1/": "/cards/OLD-1/",
        "/desk/cards/OLD-1/topup/": "/cards/OLD-1/topup/",
        "/desk/cards/OLD-1/block/": "/cards/OLD-1/block/",
        "/desk/cards/OLD-1/replace/": "/cards/OLD-1/replace/",
        f"/desk/topups/{entry.pk}/receipt/": f"/topups/{entry.pk}/receipt/",
        "/desk/drivers/new/": "/drivers/new/",
        f"/desk/drivers/{dana.pk}/": f"/drivers/{dana.pk}/",
    }

    for old, new in moves.items():
        moved = claire.get(old)
        assert (moved.status_code, moved["Location"]) == (302, new), old
        assert claire.get(new).status_code == 200, new


def test_it_credits_a_top_up_posted_to_the_old_desk_address_once(db):
    card = prepaid_card("OLD-2")
    claire = signed_in(personas.clerk())
    submission = {"amount": "12", "method": "cash", "idempotency_key": "left-open-since-yesterday"}

    moved = claire.post("/desk/cards/OLD-2/topup/", submission)
    followed = claire.post("/desk/cards/OLD-2/topup/", submission, follow=True)

    assert (moved.status_code, moved["Location"]) == (307, "/cards/OLD-2/topup/")  # method and body kept
    assert followed.status_code == 200 and "Top-up receipt" in followed.content.decode()
    assert balance(card) == Decimal("12")


# The same top-up twice -------------------------------------------------------------------


def test_it_asks_before_crediting_the_same_amount_to_the_same_card_again(db, time_machine):
    time_machine.move_to(NOON, tick=False)
    card = prepaid_card("TWICE-1")
    claire = signed_in(personas.clerk())
    assert top_up(claire, "TWICE-1", "20").status_code == 302
    time_machine.move_to(NOON + timedelta(minutes=3), tick=False)

    asked = top_up(claire, "TWICE-1", "20.00")

    assert asked.status_code == 200 and balance(card) == Decimal("20")
    assert "20.00 EUR was credited to this card 3 minutes ago by Claire Clerk. Top up again?" in text_of(
        asked
    )
    assert 'name="confirm_repeat"' in asked.content.decode()
    confirmation = {
        "amount": "20.00",
        "method": "cash",
        "idempotency_key": hidden_key(asked),
        "confirm_repeat": "on",
    }
    confirmed = claire.post("/cards/TWICE-1/topup/", confirmation)
    double_click = claire.post("/cards/TWICE-1/topup/", confirmation)
    assert confirmed.status_code == double_click.status_code == 302
    assert confirmed["Location"] == double_click["Location"]
    assert balance(card) == Decimal("40")
    assert LedgerEntry.objects.filter(card=card, kind="top_up").count() == 2


def test_it_does_not_ask_for_another_amount_another_card_or_after_ten_minutes(db, time_machine):
    time_machine.move_to(NOON, tick=False)
    card, other = prepaid_card("TWICE-2"), prepaid_card("TWICE-3")
    claire = signed_in(personas.clerk())
    top_up(claire, "TWICE-2", "20")

    assert top_up(claire, "TWICE-2", "25").status_code == 302
    assert top_up(claire, "TWICE-3", "20").status_code == 302
    time_machine.move_to(NOON + timedelta(minutes=9, seconds=59), tick=False)
    assert top_up(claire, "TWICE-2", "25").status_code == 200  # still asks
    time_machine.move_to(NOON + timedelta(minutes=10, seconds=1), tick=False)
    assert top_up(claire, "TWICE-2", "20").status_code == 302
    assert (balance(card), balance(other)) == (Decimal("65"), Decimal("20"))


def test_it_keeps_a_double_click_one_credit_without_asking(db):
    card = prepaid_card("TWICE-4")
    claire = signed_in(personas.clerk())
    form = claire.get("/cards/TWICE-4/topup/")
    submission = {"amount": "20", "method": "cash", "idempotency_key": hidden_key(form)}

    first, second = (
        claire.post("/cards/TWICE-4/topup/", submission),
        claire.post("/cards/TWICE-4/topup/", submission),
    )

    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert balance(card) == Decimal("20")


def test_it_keeps_the_filled_top_up_form_out_of_the_back_button(db):
    prepaid_card("TWICE-5")
    form = signed_in(personas.clerk()).get("/cards/TWICE-5/topup/")

    assert "no-store" in form["Cache-Control"]
    assert re.search(r'<form method="post" class="card topup" autocomplete="off">', form.content.decode())


# In a real browser ------------------------------------------------------------------------


def test_it_lets_claire_find_a_card_top_it_up_and_print_the_receipt(csms, browser_page):
    prepaid_card("04A2B3C4", owner=personas.driver(), balance="5")
    personas.clerk()
    page = browser_page

    sign_in(page, csms.url, "claire")
    page.goto(f"{csms.url}/cards/")
    page.fill("#id_q", "170 555 0101")
    page.press("#id_q", "Enter")
    expect(page.locator(".matches")).to_contain_text("Dana Driver")  # her driver, found from the same box
    screenshot(page, "people-search-laptop")
    page.click("td a[href='/cards/04A2B3C4/']")
    expect(page.locator("h1")).to_have_text("Card 04A2B3C4")
    screenshot(page, "people-found-card-laptop")
    page.click("a[href='/cards/04A2B3C4/topup/']")
    page.fill("#id_amount", "20")
    page.check("input[name=method][value=card]")
    page.click("text=Credit and print receipt")
    expect(page.locator(".receipt")).to_contain_text("20.00 EUR")
    expect(page.locator(".receipt")).to_contain_text("25.00 EUR")
    screenshot(page, "people-receipt-laptop")

    page.go_back()
    expect(page.locator("h1")).to_have_text("Top up card 04A2B3C4")
    expect(page.locator("#id_amount")).to_have_value("")  # not refilled: a second click would ask anyway
    page.fill("#id_amount", "20")
    page.click("text=Credit and print receipt")
    expect(page.locator(".message.warning")).to_contain_text("20.00 EUR was credited to this card")
    screenshot(page, "people-repeat-laptop")
    page.goto(f"{csms.url}/drivers/")
    page.click("td a:has-text('Dana Driver')")
    expect(page.locator(".balance")).to_have_text("25.00 EUR")
    assert balance(IdTag.objects.get(id_tag="04A2B3C4")) == Decimal("25")


def test_it_shows_drivers_and_cards_on_a_laptop_and_a_phone(csms, browser_page, phone_page):
    default_tariff(price_per_kwh=Decimal("0.5000"))
    dana = personas.driver()
    old = prepaid_card("04A2B3C4", owner=dana, balance="5")
    billing_services.settle_transaction(transaction=finished_session("04A2B3C4", wh=3_500))
    rfid_services.authorize(id_tag="04A2B3C5")  # refused before it was registered
    rfid_services.replace_card(card=old, new_id_tag="04A2B3C5", reason="lost on the bus")
    personas.clerk()
    pages = {
        "drivers": "/drivers/?q=dana",
        "driver": f"/drivers/{dana.pk}/",
        "cards": "/cards/",
        "card": "/cards/04A2B3C5/",
        "topup": "/cards/04A2B3C5/topup/",
    }

    for size, page in (("laptop", browser_page), ("phone", phone_page)):
        sign_in(page, csms.url, "claire")
        width = page.viewport_size["width"]
        for name, url in pages.items():
            page.goto(csms.url + url)
            # The page itself never scrolls sideways; on a phone, rows are stacked, not scrolled.
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, size)
            screenshot(page, f"people-{name}-{size}")
