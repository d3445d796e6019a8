"""/api/v1/reports/daily/: the staff reports' figures (stations.reports) with their definitions, one item
per line of the CSV and named as its header; for those who see sessions, refused to everyone else."""

import csv
import io
from decimal import Decimal

import pytest

from billing.models import SessionCharge
from tests.stations.test_api_chargers import api
from tests.stations.test_reports import RANGE, now, sessions, site_in_berlin  # noqa: F401  (fixtures)

EXPECTED = [
    {
        "date": "2027-03-01",
        "charger": "CP-1",
        "sessions": 1,
        "working_hours": "2.000",
        "charging_hours": "2.000",
        "energy_kwh": "8.000",
        "fees": "0.00",
        "currency": "EUR",
    },
    {
        "date": "2027-03-02",
        "charger": "CP-1",
        "sessions": 1,
        "working_hours": "3.000",
        "charging_hours": "2.000",
        "energy_kwh": "5.000",
        "fees": "4.70",
        "currency": "EUR",
    },
    {
        "date": "2027-03-02",
        "charger": "CP-2",
        "sessions": 1,
        "working_hours": "2.000",
        "charging_hours": "1.000",
        "energy_kwh": "1.500",
        "fees": "0.00",
        "currency": "EUR",
    },
]


def csv_items(client, query) -> list[dict]:
    """The staff CSV's lines as the API spells them (numbers of sessions as numbers)."""
    lines = csv.DictReader(io.StringIO(client.get("/reports/daily.csv" + query).content.decode()))
    return [{**line, "sessions": int(line["sessions"])} for line in lines]


@pytest.mark.usefixtures("sessions")
def test_it_answers_the_figures_of_the_staff_report(operator, client):
    answer = api(operator).get("/api/v1/reports/daily/" + RANGE)

    assert answer.status_code == 200
    assert answer.json()["results"] == EXPECTED
    client.force_login(operator)
    assert answer.json()["results"] == csv_items(client, RANGE)


@pytest.mark.usefixtures("sessions")
def test_it_reports_this_month_by_default(operator):
    answer = api(operator).get("/api/v1/reports/daily/")

    assert answer.json()["results"] == EXPECTED


@pytest.mark.usefixtures("sessions")
def test_it_reports_one_charger(operator):
    answer = api(operator).get("/api/v1/reports/daily/" + RANGE + "&charger=CP-2")

    assert answer.json()["results"] == EXPECTED[2:]


@pytest.mark.usefixtures("sessions")
def test_it_puts_fees_in_a_second_currency_on_an_item_of_their_own(admin, client):
    charge = SessionCharge.objects.order_by("pk").first()
    SessionCharge.objects.filter(pk=charge.pk).update(
        currency="JPY", total=Decimal(1234), charged=Decimal(1234)
    )

    items = api(admin).get("/api/v1/reports/daily/" + RANGE).json()["results"]

    client.force_login(admin)
    assert items == csv_items(client, RANGE)
    assert [(item["fees"], item["currency"]) for item in items if item["charger"] == "CP-1"][1:] == [
        ("0.90", "EUR"),
        ("1234", "JPY"),
    ]


@pytest.mark.usefixtures("sessions")
def test_it_pages_the_items(operator):
    first = api(operator).get("/api/v1/reports/daily/" + RANGE + "&page_size=2").json()

    assert (first["count"], first["results"]) == (3, EXPECTED[:2])
    assert api(operator).get(first["next"]).json()["results"] == EXPECTED[2:]


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("?from=2027-13-01", "from"),
        ("?to=yesterday", "to"),
        ("?from=2027-03-02&to=2027-03-01", "from"),
        ("?from=2025-01-01&to=2027-01-01", "to"),
        ("?charger=CP-9", "charger"),
        ("?from=2027-03-01%00", "from"),
    ],
)
@pytest.mark.usefixtures("sessions")
def test_it_names_a_wrong_parameter(admin, query, parameter):
    answer = api(admin).get("/api/v1/reports/daily/" + query)

    assert answer.status_code == 400
    assert list(answer.json()) == [parameter]


@pytest.mark.parametrize("person", ["clerk", "driver", "outsider"])
def test_it_refuses_everyone_else(db, request, person):
    answer = api(request.getfixturevalue(person)).get("/api/v1/reports/daily/")

    assert answer.status_code == 403


def test_it_asks_the_signed_out_to_sign_in(db):
    assert api().get("/api/v1/reports/daily/").status_code == 401
