"""/api/v1/drivers/: the staff's drivers list and its search through the REST API, read-only, by role;
and staff getting their API token the way drivers do."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import personas
from tests.billing.builders import personal_card, prepaid_card


def api(user=None) -> APIClient:
    client = APIClient()
    if user:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def found(user, query: str) -> list[str]:
    answer = api(user).get("/api/v1/drivers/", {"q": query})
    assert answer.status_code == 200, answer.json()
    return [driver["username"] for driver in answer.json()["results"]]


def test_it_finds_drivers_as_the_drivers_page_does(clerk):
    dana = personas.driver()
    personas.driver("erik", name="Erik Example", phone="0171 2223334", email="erik@example.org")
    prepaid_card("04A2B3C4", owner=dana)

    assert found(clerk, "") == ["dana", "erik"]  # by name
    for query in ("dana", "DANA@example", "+49 170 5550101", "0170-555 0101", "04a2"):
        assert found(clerk, query) == ["dana"], query
    assert found(clerk, "nobody") == []


def test_it_lists_a_drivers_cards_balance_and_last_session(operator):
    dana = personas.driver()
    prepaid_card("DANA-1", balance="12.3", owner=dana)
    personal_card("DANA-2", owner=dana)

    listed = api(operator).get("/api/v1/drivers/").json()

    assert listed["count"] == 1
    assert {
        key: listed["results"][0][key] for key in ("id", "name", "phone", "card_count", "balance", "currency")
    } == {
        "id": dana.pk,
        "name": "Dana Driver",
        "phone": "+49 170 5550101",
        "card_count": 2,
        "balance": "12.30",
        "currency": "EUR",
    }
    assert listed["results"][0]["last_session_at"] is None


def test_it_shows_one_driver_with_every_card(clerk):
    dana = personas.driver()
    old = prepaid_card("DANA-1", balance="30", owner=dana)
    old.set_status("blocked", "stolen")
    personal_card("DANA-2", owner=dana)

    answer = api(clerk).get(f"/api/v1/drivers/{dana.pk}/")

    assert answer.status_code == 200
    body = answer.json()
    assert (body["username"], body["email"], body["balance"], body["currency"]) == (
        "dana",
        "dana@example.org",
        "30.00",
        "EUR",
    )
    assert [(card["id_tag"], card["status"], card["mode"]) for card in body["cards"]] == [
        ("DANA-1", "blocked", "prepaid"),
        ("DANA-2", "active", "personal"),
    ]


def test_it_shows_a_driver_without_a_wallet(clerk):
    erik = personas.driver("erik", phone="0171 2223334")

    body = api(clerk).get(f"/api/v1/drivers/{erik.pk}/").json()

    assert (body["balance"], body["currency"], body["cards"]) == (None, None, [])


def test_it_shows_no_staff_account_as_a_driver(clerk, operator):
    assert api(clerk).get(f"/api/v1/drivers/{operator.pk}/").status_code == 404
    assert api(clerk).get("/api/v1/drivers/999999/").status_code == 404
    assert found(clerk, "olga") == []


def test_it_refuses_drivers_to_an_outsider_and_to_drivers(outsider, driver):
    for user in (outsider, driver):
        assert api(user).get("/api/v1/drivers/").status_code == 403
        assert api(user).get(f"/api/v1/drivers/{driver.pk}/").status_code == 403


def test_it_asks_who_is_signed_out_to_sign_in(db):
    dana = personas.driver()

    for url in ("/api/v1/drivers/", f"/api/v1/drivers/{dana.pk}/"):
        answer = api().get(url)
        assert answer.status_code == 401 and answer["WWW-Authenticate"] == "Token"


def test_it_offers_no_way_to_change_a_driver(admin):
    dana = personas.driver()

    assert api(admin).post("/api/v1/drivers/", {"username": "x"}, format="json").status_code == 405
    assert api(admin).patch(f"/api/v1/drivers/{dana.pk}/", {"name": "X"}, format="json").status_code == 405


@pytest.mark.parametrize("persona", ["clerk", "operator", "admin"])
def test_it_gives_staff_a_token_the_way_drivers_get_one(db, persona):
    user = getattr(personas, persona)()

    answer = APIClient().post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": personas.PASSWORDS[user.username]},
        format="json",
    )

    assert answer.status_code == 200
    token = answer.json()["token"]
    assert token == Token.objects.get(user=user).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/drivers/").status_code == 200
