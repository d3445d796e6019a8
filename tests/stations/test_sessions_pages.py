"""/sessions/ and /sessions/<id>/, and the charts' data on /reports/ and the charger page.

Guards what staff read there: the list's filters (charger, idTag, driver name and phone, local days,
state), its pages of fifty and its fixed number of queries, a clear message for a filter typed wrong;
one session's who, where and when in the site's zone, its price breakdown and the ledger entries it
caused; the chart data embedded with json_script, which must be the meter values and the report's
figures; and who may open the pages.
"""

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import services as billing_services
from billing.models import LedgerEntry, SessionCharge
from billing.money import quantize_money
from stations import reports
from stations.models import ENERGY_REGISTER, POWER_IMPORT, MeterValue, Transaction
from tests import personas
from tests.billing.builders import charger, default_tariff, prepaid_card

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2027, 3, 2, 12, 0, tzinfo=BERLIN)


def local(day, hour, minute=0):
    return datetime(2027, 3, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture(autouse=True)
def site_in_berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


@pytest.fixture
def now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def start(on, connector_id, started_at, id_tag, meter_start=0, status="Accepted") -> Transaction:
    return Transaction.objects.create(
        charger=on,
        connector_id=connector_id,
        id_tag=id_tag,
        id_tag_status=status,
        meter_start=meter_start,
        started_at=started_at,
    )


def stop(session: Transaction, meter_stop: int, stopped_at, reason="EVDisconnected") -> Transaction:
    session.stop(
        meter_stop=meter_stop, stopped_at=stopped_at, reason=reason, id_tag=session.id_tag, data=None
    )
    return session


def sample(session, at, value, measurand=ENERGY_REGISTER, unit="Wh", phase="") -> MeterValue:
    return MeterValue.objects.create(
        charger=session.charger,
        connector_id=session.connector_id,
        transaction=session,
        timestamp=at,
        measurand=measurand,
        phase=phase,
        unit=unit,
        value=str(value),
        numeric_value=Decimal(str(value)),
    )


@pytest.fixture
def sessions(db, now, outsider):
    """Four sessions over two days of a site in Berlin (figures worked out in the comments)."""
    default_tariff(price_per_kwh=Decimal("0.30"), session_fee=Decimal("1.00"), tax_percent=Decimal("19"))
    dana = personas.driver()
    outsider.phone = "+44 20 7946 0958"  # Mallory has no rights at all, but she may charge a car
    outsider.save(update_fields=["phone"])
    prepaid_card("DANA01", balance="50", owner=dana)
    first, second = charger("CP-1"), charger("CP-2")
    # A: Dana on CP-1, 10:00-12:00 on the 1st, 10 kWh: 3.00 energy + 1.00 fee + 19 % tax = 4.76 EUR.
    dana_s = start(first, 1, local(1, 10), "DANA01", meter_start=1_000)
    sample(dana_s, local(1, 10, 30), 4_000)
    sample(dana_s, local(1, 10, 30), 6_000, POWER_IMPORT, "W")
    sample(dana_s, local(1, 11), "7.0", unit="kWh")
    sample(dana_s, local(1, 11), "5.5", POWER_IMPORT, "kW")
    sample(dana_s, local(1, 11, 30), 10_000)
    for phase in ("L1", "L2", "L3"):
        sample(dana_s, local(1, 11, 30), 2_000, POWER_IMPORT, "W", phase)
    sample(dana_s, local(1, 11, 30), 230, "Voltage", "V", "L1-N")  # not charted
    billing_services.settle_transaction(transaction=stop(dana_s, 11_000, local(1, 12)))
    # B: a card nobody registered on CP-2, 09:00-10:00 on the 2nd, 2 kWh, no samples: priced, nobody pays.
    visitor = start(second, 2, local(2, 9), "VISITOR9", meter_start=500)
    billing_services.settle_transaction(transaction=stop(visitor, 2_500, local(2, 10), reason=""))
    # C: Mallory's card, still charging on CP-2 since 11:00 on the 2nd.
    mallorys = start(second, 1, local(2, 11), "M-CARD")
    prepaid_card("M-CARD", owner=outsider)
    # D: a blocked card on CP-1 at 00:30 on the 2nd (23:30 UTC on the 1st): a local day is not a UTC day.
    blocked = stop(start(first, 2, local(2, 0, 30), "STOLEN1", status="Blocked"), 0, local(2, 0, 35))
    return {"A": dana_s, "B": visitor, "C": mallorys, "D": blocked}


def listed(page) -> list[int]:
    return [session.pk for session in page.context["page"]]


def named(sessions, *keys) -> list[int]:
    """The sessions `keys` names, newest first as the list shows them."""
    chosen = [sessions[key] for key in keys]
    return [s.pk for s in sorted(chosen, key=lambda s: (s.started_at, s.pk), reverse=True)]


def json_of(html: str, element_id: str):
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(found.group(1)) if found else None


# The list --------------------------------------------------------------------------------


def test_it_lists_every_session_newest_first_with_its_figures(sessions, client, operator):
    client.force_login(operator)

    page = client.get("/sessions/")

    assert page.status_code == 200
    assert listed(page) == named(sessions, "A", "B", "C", "D")
    html = page.content.decode()
    row = re.search(rf'<tr>\s*<td><a href="/sessions/{sessions["A"].pk}/">.*?</tr>', html, re.S).group(0)
    for shown in ("CP-1", "Dana Driver", "DANA01", "2027-03-01 10:00", "2027-03-01 12:00", "2\xa0hours"):
        assert shown in row
    assert "10.000 kWh" in row and "4.76 EUR" in row
    assert "4 sessions" in html


# Each query and the sessions it lists (one test for all: the fixture is slow to build).
FILTERS = [
    ("charger=CP-1", ["A", "D"]),
    ("charger=CP-2&state=finished", ["B"]),
    ("who=DANA01", ["A"]),
    ("who=visitor", ["B"]),  # idTags are stored upper case; people type them as they like
    ("who=Dana+Driv", ["A"]),
    ("who=mallory", ["C"]),  # the user name
    ("who=5550101", ["A"]),  # part of Dana's phone "+49 170 5550101"
    ("who=%2B49+170+555-0101", ["A"]),  # written another way
    ("who=7946+0958", ["C"]),
    ("who=nobody", []),
    ("from=2027-03-01&to=2027-03-01", ["A"]),
    ("from=2027-03-02&to=2027-03-02", ["B", "C", "D"]),  # D started 23:30 UTC on the 1st
    ("from=2027-03-02", ["B", "C", "D"]),
    ("to=2027-03-01", ["A"]),
    ("to=2025-03-01", []),  # the year up to that day
    ("state=charging", ["C"]),
    ("state=finished", ["A", "B"]),
    ("state=refused", ["D"]),
    ("charger=&who=&from=&to=&state=", ["A", "B", "C", "D"]),
]


def test_it_filters_the_list(sessions, client, operator):
    client.force_login(operator)

    for query, expected in FILTERS:
        page = client.get("/sessions/?" + query)

        assert page.status_code == 200, query
        assert listed(page) == named(sessions, *expected), query


# Each filter typed wrong and what the page says about it.
BAD_FILTERS = [
    ("from=yesterday", "from: &#x27;yesterday&#x27; is not a day written YYYY-MM-DD."),
    ("to=2027-3-1", "to: &#x27;2027-3-1&#x27; is not a day written YYYY-MM-DD."),
    ("from=2027-03-02&to=2027-03-01", "The first day (from) is after the last day (to)."),
    ("from=2025-01-01&to=2027-01-01", "A report covers at most 366 days."),
    ("from=2027-03-01%00", "is not a day written YYYY-MM-DD."),
    ("state=lost", "State: &#x27;lost&#x27; is not one of charging, finished, refused."),
    ("charger=CP-9", "Charger: there is no charger &#x27;CP-9&#x27;."),
    ("who=DANA%00", "Driver or card: &#x27;DANA\\x00&#x27; has control characters"),
]


def test_it_answers_a_bad_filter_with_a_message_on_the_page(sessions, client, operator):
    client.force_login(operator)

    for query, message in BAD_FILTERS:
        page = client.get("/sessions/?" + query)

        assert page.status_code == 400, query
        html = page.content.decode()
        assert 'id="filter-errors"' in html and message in html, query
        assert 'id="sessions"' not in html, "no list that looks filtered when it is not"
        assert 'id="session-filters"' in html


def test_it_shows_fifty_sessions_a_page(sessions, client, operator):
    on = charger("CP-1")
    Transaction.objects.bulk_create(
        Transaction(
            charger=on,
            connector_id=3,
            id_tag="FLEET",
            id_tag_status="Accepted",
            meter_start=0,
            started_at=local(1, 0) - timedelta(minutes=n),
        )
        for n in range(1, 117)
    )
    client.force_login(operator)
    everything = list(Transaction.objects.order_by("-started_at", "-pk").values_list("pk", flat=True))

    pages = [listed(client.get(f"/sessions/?page={number}")) for number in (1, 2, 3)]

    assert [len(page) for page in pages] == [50, 50, 20]
    assert pages[0] + pages[1] + pages[2] == everything
    assert listed(client.get("/sessions/?page=99")) == pages[2]
    assert listed(client.get("/sessions/?page=first")) == pages[0]
    html = client.get("/sessions/?who=fleet&page=2").content.decode()
    assert 'href="?who=fleet&amp;page=1"' in html and 'href="?who=fleet&amp;page=3"' in html


def test_it_reads_a_page_in_a_fixed_number_of_queries(
    sessions, client, operator, django_assert_max_num_queries
):
    client.force_login(operator)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/sessions/").status_code == 200
    on = charger("CP-3")
    for n in range(60):  # sixty more of Dana's sessions, each priced and paid from her wallet
        session = start(on, 1, local(1, 13) + timedelta(minutes=n), "DANA01", meter_start=0)
        billing_services.settle_transaction(
            transaction=stop(session, 100, local(1, 13, 50) + timedelta(minutes=n))
        )

    with django_assert_max_num_queries(len(few)):
        page = client.get("/sessions/")

    assert len(listed(page)) == 50
    danas = [session for session in page.context["page"] if session.id_tag == "DANA01"]
    assert len(danas) == 47  # below the three sessions of the 2nd
    assert page.content.decode().count(">Dana Driver<") == len(danas)
    assert all(session.charge.total == Decimal("1.23") for session in danas)  # 0.03 + 1.00 + 19 % tax


# One session -------------------------------------------------------------------------------


def test_it_shows_who_where_and_when_in_the_site_zone(sessions, client, operator):
    client.force_login(operator)

    html = client.get(f"/sessions/{sessions['A'].pk}/").content.decode()

    who = re.search(r'id="session-who">(.*?)</dl>', html, re.S).group(1)
    assert "Dana Driver" in who and "DANA01" in who
    where = re.search(r'id="session-where">(.*?)</dl>', html, re.S).group(1)
    assert 'href="/chargers/CP-1/"' in where and "<dd>1</dd>" in where
    when = re.search(r'id="session-when">(.*?)</dl>', html, re.S).group(1)
    assert "2027-03-01 10:00:00" in when and "2027-03-01 12:00:00" in when  # 09:00-11:00 UTC
    assert "2\xa0hours" in when and "EVDisconnected" in when


def test_it_breaks_the_price_down_as_it_was_charged(sessions, client, operator):
    charge = SessionCharge.objects.get(transaction=sessions["A"])
    client.force_login(operator)

    html = client.get(f"/sessions/{sessions['A'].pk}/").content.decode()

    price = re.search(r'<table id="price">(.*?)</table>', html, re.S).group(1)
    lines = re.findall(r"<tr><td>(.*?)</td>.*?<td class=\"num\">([^<]*)</td></tr>", price, re.S)
    assert lines == [("Energy", "3.00 EUR"), ("Session fee", "1.00 EUR"), ("Tax", "0.76 EUR")]
    assert [line["label"] for line in charge.breakdown] == ["Energy", "Session fee", "Tax"]
    assert "10.000 kWh" in price and "0.30 EUR" in price
    total = re.search(r'id="price-total">.*?<th class="num">(.*?)</th>', price, re.S).group(1)
    charged = re.search(r'id="price-charged">.*?<th class="num">(.*?)</th>', price, re.S).group(1)
    assert total == charged == "4.76 EUR" == f"{charge.total.quantize(Decimal('0.01'))} {charge.currency}"


def test_it_lists_the_ledger_entries_the_session_caused(sessions, client, operator):
    entry = LedgerEntry.objects.get(transaction=sessions["A"])
    client.force_login(operator)

    html = client.get(f"/sessions/{sessions['A'].pk}/").content.decode()

    ledger = re.search(r'<table id="ledger">(.*?)</table>', html, re.S).group(1)
    assert ledger.count("<tr>") == 1 + 1  # the head and the session's one charge, not Dana's top-up
    assert "-4.76 EUR" in ledger and "45.24 EUR" in ledger
    assert entry.amount == Decimal("-4.76") and entry.balance_after == Decimal("45.24")


def test_it_says_when_nobody_paid_and_nothing_was_sampled(sessions, client, operator):
    client.force_login(operator)

    html = client.get(f"/sessions/{sessions['B'].pk}/").content.decode()

    assert "a card nobody registered" in html
    assert 'id="no-samples"' in html and json_of(html, "session-chart-data") is None
    assert "This session moved no money." in html
    assert "<dd>Local</dd>" in html, "a stop without a reason is a local stop (OCPP 1.6)"
    charging = client.get(f"/sessions/{sessions['C'].pk}/").content.decode()
    assert "still charging" in charging and 'id="not-priced"' in charging


def test_it_charts_the_meter_values_of_the_session(sessions, client, operator):
    client.force_login(operator)

    data = json_of(client.get(f"/sessions/{sessions['A'].pk}/").content.decode(), "session-chart-data")

    moments = [local(1, 10), local(1, 10, 30), local(1, 11), local(1, 11, 30), local(1, 12)]
    assert data["x"] == [moment.timestamp() for moment in moments]
    energy, power = data["series"]
    assert (energy["unit"], power["unit"]) == ("kWh", "kW")
    # Delivered since meterStart (1,000 Wh): the samples, the 7.0 kWh one converted, then meterStop.
    assert energy["values"] == [0.0, 3.0, 6.0, 9.0, 10.0]
    # 6,000 W; 5.5 kW; L1 + L2 + L3 of 2,000 W where no total was sent; nothing at the stop.
    assert power["values"] == [None, 6.0, 5.5, 6.0, None]
    stored = MeterValue.objects.filter(transaction=sessions["A"], measurand=ENERGY_REGISTER)
    registers = [float(v.numeric_value) * (1000 if v.unit == "kWh" else 1) for v in stored]
    assert [(wh - 1_000) / 1000 for wh in registers] == energy["values"][1:4]
    assert data["zone"] == "Europe/Berlin"


def test_it_answers_an_unknown_session_with_404(sessions, client, operator):
    client.force_login(operator)

    assert client.get("/sessions/999999/").status_code == 404


# Who may look --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/sessions/", "/sessions/{A}/"])
def test_it_opens_to_operators_only(sessions, client, operator, clerk, outsider, path):
    path = path.format(A=sessions["A"].pk)
    client.force_login(operator)
    assert client.get(path).status_code == 200
    for person in (clerk, outsider):
        client.force_login(person)
        assert client.get(path).status_code == 403
    client.logout()
    signed_out = client.get(path)
    assert signed_out.status_code == 302 and signed_out["Location"].startswith("/login/")


# The daily charts --------------------------------------------------------------------------


def test_it_charts_the_site_totals_per_day_on_the_reports_page(sessions, client, operator):
    client.force_login(operator)

    html = client.get("/reports/?from=2027-03-01&to=2027-03-03").content.decode()

    data = json_of(html, "daily-chart-data")
    assert data["x"] == ["2027-03-01", "2027-03-02", "2027-03-03"]
    report = reports.daily_report(local(1, 0).date(), local(3, 0).date())
    totals = {day.isoformat(): total for day, _rows, total in report.days()}
    energy, fees = data["series"]
    assert energy["values"] == [float(totals[day].energy_kwh) if day in totals else 0.0 for day in data["x"]]
    assert energy["values"][0] == 10.0 and energy["values"][2] == 0.0
    assert fees["unit"] == "EUR"
    assert fees["values"] == [eur(totals.get(day)) for day in data["x"]]
    assert fees["values"][0] == 4.76
    one_day = client.get("/reports/?from=2027-03-01&to=2027-03-03&day=2027-03-01").content.decode()
    assert 'href="/sessions/?charger=CP-1&amp;from=2027-03-01&amp;to=2027-03-01">1</a>' in one_day


def eur(total) -> float:
    return float(quantize_money(total.fees.get("EUR", 0), "EUR")) if total else 0.0


def test_it_charts_the_chargers_own_days_on_its_page(sessions, client, operator):
    client.force_login(operator)

    html = client.get("/chargers/CP-1/?from=2027-03-01&to=2027-03-02").content.decode()

    data = json_of(html, "daily-chart-data")
    assert data["x"] == ["2027-03-01", "2027-03-02"]
    assert [one["values"] for one in data["series"]] == [[10.0, 0.0], [4.76, 0.0]]
    assert 'href="/sessions/?charger=CP-1&amp;from=2027-03-02&amp;to=2027-03-02">1</a>' in html
    linked = client.get("/sessions/?charger=CP-1&from=2027-03-02&to=2027-03-02")
    assert listed(linked) == [sessions["D"].pk]


def test_it_draws_no_chart_for_days_without_activity(sessions, client, operator):
    client.force_login(operator)

    html = client.get("/reports/?from=2027-02-01&to=2027-02-02").content.decode()

    assert json_of(html, "daily-chart-data") is None and "No activity in these days." in html
