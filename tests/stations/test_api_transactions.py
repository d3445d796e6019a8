"""/api/v1/transactions/: sessions for those who see sessions (operators, admins), filtered as the sessions
page filters them (local days as the reports count them), each with its price breakdown once priced and
its meter values; the front desk, drivers and outsiders refused, the signed out asked to sign in."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from billing import services as billing_services
from billing.models import Payment
from stations.models import MeterValue, Transaction
from tests.billing.builders import (
    charger,
    default_tariff,
    finished_session,
    personal_card,
    prepaid_card,
    register_sample,
)
from tests.stations.test_api_chargers import api

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2027, 3, 3, 12, 0, tzinfo=BERLIN)


def local(day, hour, minute=0):
    return datetime(2027, 3, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture(autouse=True)
def site_in_berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def sessions(db, driver):
    """Dana's prepaid card charged on CP-1 on the 1st (priced), a personal card of hers on CP-2 at 00:30
    local time on the 2nd (23:30 UTC on the 1st), a stranger's card still charging, a refused start."""
    default_tariff(price_per_kwh=Decimal("0.3000"), tax_percent=Decimal("19.00"))
    prepaid_card("DANA-PREPAID", balance="50", owner=driver)
    personal_card("DANA-HOME", owner=driver)
    priced = finished_session("DANA-PREPAID", wh=10_000, started_at=local(1, 9), on=charger("CP-1"))
    register_sample(priced, local(1, 9, 30), 6_000)
    billing_services.settle_transaction(transaction=priced)
    after_midnight = finished_session("DANA-HOME", wh=2_000, started_at=local(2, 0, 30), on=charger("CP-2"))
    open_session = Transaction.objects.create(
        charger=charger("CP-1"),
        connector_id=2,
        id_tag="STRANGER",
        id_tag_status="Accepted",
        meter_start=0,
        started_at=local(3, 11),
    )
    refused = Transaction.objects.create(
        charger=charger("CP-2"),
        connector_id=1,
        id_tag="BLOCKED",
        id_tag_status="Blocked",
        meter_start=0,
        started_at=local(3, 10),
    )
    return {"priced": priced, "after_midnight": after_midnight, "open": open_session, "refused": refused}


def ids(answer) -> list[int]:
    assert answer.status_code == 200, answer.json()
    return [session["id"] for session in answer.json()["results"]]


def test_it_lists_the_sessions_newest_first(sessions, operator, driver):
    answer = api(operator).get("/api/v1/transactions/")

    expected = ["open", "refused", "after_midnight", "priced"]
    assert ids(answer) == [sessions[name].pk for name in expected]
    priced = answer.json()["results"][-1]
    assert priced == {
        "id": sessions["priced"].pk,
        "charger": "CP-1",
        "connector_id": 1,
        "id_tag": "DANA-PREPAID",
        "id_tag_status": "Accepted",
        "state": "finished",
        "driver": {"id": driver.pk, "name": "Dana Driver"},
        "started_at": "2027-03-01T08:00:00Z",
        "stopped_at": "2027-03-01T09:00:00Z",
        "meter_start": 1_000,
        "meter_stop": 11_000,
        "energy_kwh": "10.000",
        "stop_reason": "Local",
    }
    still_open = answer.json()["results"][0]
    assert (still_open["state"], still_open["energy_kwh"], still_open["driver"]) == ("charging", None, None)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("charger=CP-2", ["refused", "after_midnight"]),
        ("id_tag=dana-home", ["after_midnight"]),
        ("state=charging", ["open"]),
        ("state=refused", ["refused"]),
        ("state=finished", ["after_midnight", "priced"]),
        # Local days: 00:30 on the 2nd in Berlin is the 1st in UTC, and counts on the 2nd.
        ("from=2027-03-02&to=2027-03-02", ["after_midnight"]),
        ("to=2027-03-01", ["priced"]),
        ("from=2027-03-03", ["open", "refused"]),
        ("charger=CP-1&state=finished", ["priced"]),
    ],
)
def test_it_filters_the_sessions(sessions, operator, query, expected):
    answer = api(operator).get(f"/api/v1/transactions/?{query}")

    assert ids(answer) == [sessions[name].pk for name in expected]


def test_it_finds_a_drivers_sessions_by_card_and_by_payment(sessions, operator, driver, outsider):
    paid = finished_session("PAY-ABCDEFGHIJKLMNOP", wh=1_000, started_at=local(3, 8), on=charger("CP-2"))
    Payment.objects.create(
        driver=driver,
        charger=paid.charger,
        connector_id=1,
        amount=Decimal("10"),
        currency="EUR",
        method="wallet",
        state="settled",
        transaction=paid,
    )

    answer = api(operator).get(f"/api/v1/transactions/?driver={driver.pk}")

    assert ids(answer) == [paid.pk, sessions["after_midnight"].pk, sessions["priced"].pk]
    assert ids(api(operator).get(f"/api/v1/transactions/?driver={outsider.pk}")) == []


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("charger=CP-9", "charger"),
        ("from=yesterday", "from"),
        ("to=2027-02-30", "to"),
        ("from=2027-03-02&to=2027-03-01", "from"),
        ("state=paused", "state"),
        ("driver=dana", "driver"),
    ],
)
def test_it_names_a_wrong_filter(sessions, operator, query, parameter):
    answer = api(operator).get(f"/api/v1/transactions/?{query}")

    assert answer.status_code == 400
    assert list(answer.json()) == [parameter]


def test_it_shows_a_session_with_its_price_breakdown(sessions, operator):
    answer = api(operator).get(f"/api/v1/transactions/{sessions['priced'].pk}/")

    assert answer.status_code == 200
    price = answer.json()["price"]
    # 10 kWh at 0.30 = 3.00 net, 19 % tax 0.57, 3.57 in all, taken from the prepaid wallet.
    assert {name: price[name] for name in ("currency", "net", "tax", "total", "charged", "uncollected")} == {
        "currency": "EUR",
        "net": "3.00",
        "tax": "0.57",
        "total": "3.57",
        "charged": "3.57",
        "uncollected": "0.00",
    }
    assert (price["energy_kwh"], price["free"], price["tariff"]["name"]) == ("10.000", False, "Standard")
    assert [(line["label"], line["amount"]) for line in price["lines"]] == [
        ("Energy", "3.00"),
        ("Tax", "0.57"),
    ]


def test_it_shows_no_price_while_charging(sessions, operator):
    answer = api(operator).get(f"/api/v1/transactions/{sessions['open'].pk}/")

    assert (answer.status_code, answer.json()["price"], answer.json()["state"]) == (200, None, "charging")
    assert api(operator).get("/api/v1/transactions/999999/").status_code == 404


def test_it_lists_a_sessions_meter_values_in_time_order(sessions, operator):
    session = sessions["priced"]
    register_sample(session, local(1, 9, 15), 3_000)

    answer = api(operator).get(f"/api/v1/transactions/{session.pk}/meter-values/?page_size=1")

    body = answer.json()
    assert (answer.status_code, body["count"]) == (200, 2)
    assert body["results"] == [
        {
            "timestamp": "2027-03-01T08:15:00Z",
            "connector_id": 1,
            "measurand": "Energy.Active.Import.Register",
            "phase": "",
            "unit": "Wh",
            "context": "Sample.Periodic",
            "location": "Outlet",
            "format": "Raw",
            "value": "3000",
        }
    ]
    second = api(operator).get(body["next"]).json()["results"]
    assert [sample["value"] for sample in second] == ["6000"]
    assert MeterValue.objects.count() == 2


URLS = ["/api/v1/transactions/", "/api/v1/transactions/{pk}/", "/api/v1/transactions/{pk}/meter-values/"]


@pytest.mark.parametrize("url", URLS)
def test_it_lets_admins_read_too(sessions, admin, url):
    assert api(admin).get(url.format(pk=sessions["priced"].pk)).status_code == 200


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("person", ["clerk", "driver", "outsider"])
def test_it_refuses_everyone_else(sessions, request, person, url):
    answer = api(request.getfixturevalue(person)).get(url.format(pk=sessions["priced"].pk))

    assert answer.status_code == 403
    assert "detail" in answer.json()


@pytest.mark.parametrize("url", URLS)
def test_it_asks_the_signed_out_to_sign_in(sessions, url):
    assert api().get(url.format(pk=sessions["priced"].pk)).status_code == 401


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_it_changes_no_session(sessions, admin, method):
    answer = getattr(api(admin), method)(f"/api/v1/transactions/{sessions['open'].pk}/", {}, format="json")

    assert answer.status_code == 405
    assert Transaction.objects.get(pk=sessions["open"].pk).stopped_at is None


def test_it_counts_local_days_across_a_change_of_clocks(db, operator, settings):
    """Summer time starts on 28 March 2027 in Berlin: that day has 23 hours."""
    late = finished_session("X", started_at=datetime(2027, 3, 28, 23, 30, tzinfo=BERLIN))

    assert ids(api(operator).get("/api/v1/transactions/?from=2027-03-28&to=2027-03-28")) == [late.pk]
    assert ids(api(operator).get("/api/v1/transactions/?from=2027-03-29")) == []
