"""/api/v1/tariffs/: operators and admins read tariffs, admins create and change them; nobody else."""

from decimal import Decimal

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from billing import services
from billing.models import Tariff
from tests.billing.builders import default_tariff, peak_window

NEW_TARIFF = {
    "name": "Night owl",
    "currency": "EUR",
    "price_per_kwh": "0.3249",
    "session_fee": "0.5",
    "tax_percent": "19.00",
    "periods": [
        {
            "name": "Night",
            "weekdays": "12345",
            "start_time": "22:00",
            "end_time": "06:00",
            "price_per_kwh": "0.2",
        }
    ],
}


def api(user=None) -> APIClient:
    client = APIClient()
    if user:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_it_shows_operators_the_tariffs_with_their_windows(operator):
    standard = default_tariff(
        price_per_kwh=Decimal("0.3249"), session_fee=Decimal("1"), min_balance_to_start=Decimal("5")
    )
    peak_window(standard)

    listed = api(operator).get("/api/v1/tariffs/")
    one = api(operator).get(f"/api/v1/tariffs/{standard.pk}/")

    assert listed.status_code == one.status_code == 200
    assert listed.json()["results"] == [one.json()]
    tariff = one.json()
    assert (tariff["name"], tariff["is_default"], tariff["currency"]) == ("Standard", True, "EUR")
    # Rates keep their precision, money its minor unit; both strings.
    assert (tariff["price_per_kwh"], tariff["session_fee"], tariff["min_balance_to_start"]) == (
        "0.3249",
        "1.00",
        "5.00",
    )
    assert tariff["periods"] == [
        {
            "name": "Peak",
            "weekdays": "1234567",
            "start_time": "17:00:00",
            "end_time": "21:00:00",
            "price_per_kwh": "0.50",
            "price_per_hour": None,
        }
    ]


def test_it_lets_an_admin_create_a_tariff_that_prices_sessions(admin):
    answer = api(admin).post("/api/v1/tariffs/", NEW_TARIFF, format="json")

    assert answer.status_code == 201, answer.json()
    assert (answer.json()["price_per_kwh"], answer.json()["session_fee"], answer.json()["is_default"]) == (
        "0.3249",
        "0.50",
        False,
    )
    tariff = Tariff.objects.get(name="Night owl")
    assert (tariff.price_per_kwh, tariff.tax_percent) == (Decimal("0.3249"), Decimal("19"))
    assert [(p.name, p.weekdays, p.price_per_kwh) for p in tariff.periods.all()] == [
        ("Night", "12345", Decimal("0.2"))
    ]


def test_it_moves_the_default_to_the_tariff_an_admin_names(admin):
    old = default_tariff()
    new = services.save_tariff(name="Cheaper", price_per_kwh=Decimal("0.2"))

    answer = api(admin).patch(f"/api/v1/tariffs/{new.pk}/", {"is_default": True}, format="json")

    assert answer.status_code == 200
    assert services.tariff_for() == new
    old.refresh_from_db()
    assert not old.is_default


def test_it_changes_only_what_an_admin_sends(admin):
    tariff = default_tariff(session_fee=Decimal("1"))
    peak_window(tariff)

    answer = api(admin).patch(f"/api/v1/tariffs/{tariff.pk}/", {"price_per_kwh": "0.41"}, format="json")

    assert answer.status_code == 200
    tariff.refresh_from_db()
    assert (tariff.price_per_kwh, tariff.session_fee, tariff.is_default) == (
        Decimal("0.41"),
        Decimal("1"),
        True,
    )
    assert tariff.periods.count() == 1  # not sent: kept


def test_it_replaces_the_windows_when_they_are_sent(admin):
    tariff = default_tariff()
    peak_window(tariff)

    api(admin).patch(f"/api/v1/tariffs/{tariff.pk}/", {"periods": []}, format="json")

    assert tariff.periods.count() == 0


@pytest.mark.parametrize(
    "change, field",
    [
        ({"name": "Standard"}, "name"),
        ({"name": ""}, "name"),
        ({"currency": "euro"}, "currency"),
        ({"price_per_kwh": "-0.1"}, "price_per_kwh"),
        ({"price_per_kwh": "0.12345"}, "price_per_kwh"),
        ({"tax_percent": "120"}, "tax_percent"),
        (
            {
                "periods": [
                    {
                        "name": "Peak",
                        "weekdays": "1123",
                        "start_time": "17:00",
                        "end_time": "21:00",
                        "price_per_kwh": "0.5",
                    }
                ]
            },
            "periods",
        ),
        ({"periods": [{"name": "Peak", "start_time": "17:00", "end_time": "21:00"}]}, "periods"),
    ],
)
def test_it_refuses_a_wrong_tariff_naming_the_field(admin, change, field):
    default_tariff()
    other = services.save_tariff(name="Other")

    answer = api(admin).patch(f"/api/v1/tariffs/{other.pk}/", change, format="json")

    assert answer.status_code == 400
    assert list(answer.json()) == [field]
    other.refresh_from_db()
    assert (other.name, other.price_per_kwh, other.periods.count()) == ("Other", 0, 0)


def test_it_asks_a_new_tariff_for_its_name(admin):
    answer = api(admin).post("/api/v1/tariffs/", {"price_per_kwh": "0.3"}, format="json")

    assert answer.status_code == 400 and list(answer.json()) == ["name"]
    assert not Tariff.objects.exists()


@pytest.mark.parametrize("persona", ["operator", "clerk", "outsider", "driver"])
def test_it_lets_only_admins_change_tariffs(request, persona):
    user = request.getfixturevalue(persona)
    tariff = default_tariff()

    assert api(user).post("/api/v1/tariffs/", NEW_TARIFF, format="json").status_code == 403
    assert (
        api(user).patch(f"/api/v1/tariffs/{tariff.pk}/", {"price_per_kwh": "9"}, format="json").status_code
        == 403
    )
    tariff.refresh_from_db()
    assert Tariff.objects.count() == 1 and tariff.price_per_kwh == Decimal("0.3")


@pytest.mark.parametrize(
    "persona, allowed",
    [("clerk", 403), ("outsider", 403), ("driver", 403), ("operator", 200), ("admin", 200)],
)
def test_it_shows_tariffs_to_operators_and_admins_only(request, persona, allowed):
    user = request.getfixturevalue(persona)
    tariff = default_tariff()

    assert api(user).get("/api/v1/tariffs/").status_code == allowed
    assert api(user).get(f"/api/v1/tariffs/{tariff.pk}/").status_code == allowed


def test_it_asks_who_is_signed_out_to_sign_in(db):
    tariff = default_tariff()

    assert api().get("/api/v1/tariffs/").status_code == 401
    assert (
        api().patch(f"/api/v1/tariffs/{tariff.pk}/", {"price_per_kwh": "9"}, format="json").status_code == 401
    )
    assert api().post("/api/v1/tariffs/", NEW_TARIFF, format="json").status_code == 401
