"""/api/v1/chargers/: operators read chargers, their connection and connectors; admins register chargers,
set their passwords, approve pending ones and assign tariffs; the front desk, drivers, outsiders and
the inactive are refused (403), the signed out asked to sign in (401)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from billing.models import Tariff, TariffAssignment
from stations.models import Charger, Connector
from tests.factories import register_charger

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def api(user=None) -> APIClient:
    client = APIClient()
    if user:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def fleet(db, settings):
    """Four chargers, one in each state the dashboard shows: online, silent, offline, pending."""
    settings.OCPP_HEARTBEAT_INTERVAL, settings.OCPP_LAST_SEEN_RESOLUTION = 300, 30  # silent after 630 s
    online = register_charger(
        "CP-ONLINE",
        is_connected=True,
        last_seen_at=NOW - timedelta(seconds=60),
        ocpp_version="1.6",
        vendor="Acme",
        model="Wallbox",
    )
    Connector.objects.create(charger=online, connector_id=1, status="Charging", status_at=NOW)
    Connector.objects.create(charger=online, connector_id=2, status="Available", status_at=NOW)
    register_charger(
        "CP-SILENT", is_connected=True, last_seen_at=NOW - timedelta(hours=1), ocpp_version="1.6"
    )
    register_charger("CP-OFFLINE", last_seen_at=NOW - timedelta(days=1), ocpp_version="1.6")
    register_charger("CP-PENDING", approval=Charger.Approval.PENDING)
    return online


def test_it_lists_the_chargers_with_their_connection_and_connectors(fleet, operator):
    answer = api(operator).get("/api/v1/chargers/")

    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 4
    by_id = {charger["charge_point_id"]: charger for charger in body["results"]}
    online = by_id["CP-ONLINE"]
    assert (online["state"], online["connected"], online["protocol"]) == ("online", True, "ocpp1.6")
    assert online["last_seen_at"] == "2027-03-01T11:59:00Z"
    assert [(c["connector_id"], c["status"]) for c in online["connectors"]] == [
        (1, "Charging"),
        (2, "Available"),
    ]
    assert (by_id["CP-SILENT"]["state"], by_id["CP-SILENT"]["connected"]) == ("silent", True)
    assert (by_id["CP-OFFLINE"]["state"], by_id["CP-OFFLINE"]["connected"]) == ("offline", False)
    assert (by_id["CP-PENDING"]["state"], by_id["CP-PENDING"]["protocol"]) == ("pending", None)
    assert "password" not in online


@pytest.mark.parametrize(
    "query, expected",
    [
        ("state=online", ["CP-ONLINE"]),
        ("state=silent", ["CP-SILENT"]),
        ("state=offline", ["CP-OFFLINE"]),
        ("state=pending", ["CP-PENDING"]),
        ("connected=true", ["CP-ONLINE", "CP-SILENT"]),
        ("connected=false", ["CP-OFFLINE", "CP-PENDING"]),
        ("connected=false&state=offline", ["CP-OFFLINE"]),
    ],
)
def test_it_filters_by_state_and_connection(fleet, operator, query, expected):
    answer = api(operator).get(f"/api/v1/chargers/?{query}")

    assert [charger["charge_point_id"] for charger in answer.json()["results"]] == expected


@pytest.mark.parametrize("query, parameter", [("state=asleep", "state"), ("connected=perhaps", "connected")])
def test_it_names_a_wrong_filter(fleet, operator, query, parameter):
    answer = api(operator).get(f"/api/v1/chargers/?{query}")

    assert answer.status_code == 400
    assert list(answer.json()) == [parameter]


def test_it_pages_the_list(fleet, operator):
    first = api(operator).get("/api/v1/chargers/?page_size=3").json()
    second = api(operator).get(first["next"]).json()

    ids = [c["charge_point_id"] for c in first["results"] + second["results"]]
    assert ids == ["CP-OFFLINE", "CP-ONLINE", "CP-PENDING", "CP-SILENT"]
    assert (first["count"], second["next"]) == (4, None)
    assert api(operator).get("/api/v1/chargers/?page=9").status_code == 404


def test_it_shows_one_charger_by_its_id_even_with_a_slash(db, operator):
    register_charger("SITE/CP-1", name="Car park")

    answer = api(operator).get("/api/v1/chargers/SITE%2FCP-1/")

    assert answer.status_code == 200
    assert (answer.json()["charge_point_id"], answer.json()["name"]) == ("SITE/CP-1", "Car park")
    assert api(operator).get("/api/v1/chargers/NOPE/").status_code == 404


def test_it_registers_a_charger_for_an_admin(db, admin):
    answer = api(admin).post(
        "/api/v1/chargers/",
        {"charge_point_id": "CP-NEW", "name": "Gate", "password": "a-key-of-16-chars-or-more"},
        format="json",
    )

    assert answer.status_code == 201
    assert (answer.json()["state"], answer.json()["has_password"]) == ("offline", True)
    charger = Charger.objects.get(charge_point_id="CP-NEW")
    assert charger.is_approved and charger.name == "Gate"
    assert charger.check_password("a-key-of-16-chars-or-more") and not charger.check_password("wrong")


def test_it_refuses_to_register_an_id_twice_and_changes_nothing(db, admin):
    register_charger("CP-1", password="the-first-password-x")

    answer = api(admin).post("/api/v1/chargers/", {"charge_point_id": "CP-1", "password": ""}, format="json")

    assert answer.status_code == 400
    assert list(answer.json()) == ["charge_point_id"]
    assert Charger.objects.get().check_password("the-first-password-x")


def test_it_refuses_an_id_no_charger_could_send(db, admin):
    answer = api(admin).post("/api/v1/chargers/", {"charge_point_id": "CP\n1"}, format="json")

    assert answer.status_code == 400
    assert list(answer.json()) == ["charge_point_id"]
    assert not Charger.objects.exists()


def test_it_sets_and_clears_a_password(db, admin):
    register_charger("CP-1", password="the-old-password-xx")

    set_answer = api(admin).post(
        "/api/v1/chargers/CP-1/password/", {"password": "a-new-password-16+"}, format="json"
    )
    assert set_answer.status_code == 200 and set_answer.json()["has_password"]
    assert Charger.objects.get().check_password("a-new-password-16+")
    assert not Charger.objects.get().check_password("the-old-password-xx")

    cleared = api(admin).post("/api/v1/chargers/CP-1/password/", {"password": None}, format="json")
    assert cleared.status_code == 200 and not cleared.json()["has_password"]
    assert Charger.objects.get().password == ""


def test_it_keeps_the_connection_a_socket_wrote_when_the_password_changes(db, admin):
    charger = register_charger("CP-1")
    Charger.objects.filter(pk=charger.pk).update(is_connected=True, last_seen_at=NOW)

    api(admin).post("/api/v1/chargers/CP-1/password/", {"password": "a-new-password-16+"}, format="json")

    assert Charger.objects.get().is_connected


def test_it_approves_a_pending_charger(db, admin):
    register_charger("CP-1", approval=Charger.Approval.PENDING)

    answer = api(admin).post("/api/v1/chargers/CP-1/approve/")
    again = api(admin).post("/api/v1/chargers/CP-1/approve/")

    assert (answer.status_code, answer.json()["approval"], answer.json()["state"]) == (
        200,
        "accepted",
        "offline",
    )
    assert again.status_code == 200
    assert Charger.objects.get().is_approved


def test_it_assigns_a_tariff_to_a_charger_and_to_one_connector(db, admin):
    charger = register_charger("CP-1")
    Connector.objects.create(charger=charger, connector_id=1, status="Available")
    day = Tariff.objects.create(name="Day", price_per_kwh=Decimal("0.30"))
    fast = Tariff.objects.create(name="Fast", price_per_kwh=Decimal("0.60"))

    api(admin).put("/api/v1/chargers/CP-1/tariff/", {"tariff": fast.pk}, format="json")
    api(admin).put("/api/v1/chargers/CP-1/tariff/", {"tariff": day.pk}, format="json")
    answer = api(admin).put(
        "/api/v1/chargers/CP-1/tariff/", {"tariff": fast.pk, "connector_id": 1}, format="json"
    )

    assert answer.status_code == 200
    assert answer.json()["tariff"] == {"id": day.pk, "name": "Day"}
    assert answer.json()["connectors"][0]["tariff"] == {"id": fast.pk, "name": "Fast"}
    assert TariffAssignment.objects.count() == 2
    removed = api(admin).put("/api/v1/chargers/CP-1/tariff/", {"tariff": None}, format="json")
    assert removed.json()["tariff"] is None
    assert list(TariffAssignment.objects.values_list("connector_id", flat=True)) == [1]


def test_it_names_a_tariff_that_does_not_exist(db, admin):
    register_charger("CP-1")

    answer = api(admin).put("/api/v1/chargers/CP-1/tariff/", {"tariff": 999}, format="json")

    assert answer.status_code == 400
    assert list(answer.json()) == ["tariff"]
    assert not TariffAssignment.objects.exists()


ADMIN_CHANGES = [
    ("post", "/api/v1/chargers/", {"charge_point_id": "CP-2"}),
    ("post", "/api/v1/chargers/CP-1/password/", {"password": "a-new-password-16+"}),
    ("post", "/api/v1/chargers/CP-1/approve/", None),
    ("put", "/api/v1/chargers/CP-1/tariff/", {"tariff": None}),
]
READS = [("get", "/api/v1/chargers/", None), ("get", "/api/v1/chargers/CP-1/", None)]


def call(client, method, url, body):
    return getattr(client, method)(url, body, format="json") if body else getattr(client, method)(url)


@pytest.mark.parametrize("method, url, body", ADMIN_CHANGES)
def test_it_lets_operators_read_but_not_change(db, operator, method, url, body):
    register_charger("CP-1", approval=Charger.Approval.PENDING, password="the-old-password-xx")

    assert call(api(operator), method, url, body).status_code == 403
    charger = Charger.objects.get()
    assert (Charger.objects.count(), charger.approval) == (1, Charger.Approval.PENDING)
    assert charger.check_password("the-old-password-xx") and not TariffAssignment.objects.exists()


@pytest.mark.parametrize("method, url, body", READS + ADMIN_CHANGES)
@pytest.mark.parametrize("person", ["clerk", "driver", "outsider"])
def test_it_refuses_everyone_else(db, request, person, method, url, body):
    register_charger("CP-1", approval=Charger.Approval.PENDING)

    answer = call(api(request.getfixturevalue(person)), method, url, body)

    assert answer.status_code == 403
    assert "detail" in answer.json()
    assert Charger.objects.get().approval == Charger.Approval.PENDING  # and no second charger


@pytest.mark.parametrize("method, url, body", READS + ADMIN_CHANGES)
def test_it_asks_the_signed_out_to_sign_in(db, method, url, body):
    register_charger("CP-1")

    answer = call(api(), method, url, body)

    assert answer.status_code == 401
    assert answer["WWW-Authenticate"] == "Token"


def test_it_refuses_an_admin_who_was_deactivated(db, admin):
    client = api(admin)
    admin.is_active = False
    admin.save(update_fields=["is_active"])

    assert client.get("/api/v1/chargers/").status_code == 401
    session = APIClient()
    session.force_login(admin)
    assert session.get("/api/v1/chargers/").status_code in (401, 403)


def test_it_reads_with_the_browser_session_too(fleet, operator):
    client = APIClient()
    client.force_login(operator)

    assert client.get("/api/v1/chargers/CP-ONLINE/").json()["state"] == "online"
