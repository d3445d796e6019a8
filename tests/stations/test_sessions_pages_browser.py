"""The charts in a real browser: /reports/, a charger's page and a session's page draw them.

Guards what a unit test cannot see: the vendored uPlot and static/js/charts.js load under the
Content-Security-Policy (no inline script, no style attribute), find the data json_script embedded,
and paint the canvas, on a laptop and on a phone.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from billing import services as billing_services
from stations.models import ENERGY_REGISTER, POWER_IMPORT, MeterValue, Transaction
from tests import personas
from tests.billing.builders import charger, default_tariff, prepaid_card
from tests.browser import screenshot, sign_in

RANGE = "?from=2025-03-01&to=2025-03-03"

# What charts.js left on the chart's element, and how many pixels of its canvas are painted.
CHART_STATE = """element => {
    const canvas = element.querySelector("canvas");
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let alpha = 3; alpha < pixels.length; alpha += 4) if (pixels[alpha]) painted++;
    const source = JSON.parse(document.getElementById(element.dataset.chart).textContent);
    return {
        instance: !!element.uplot && typeof element.uplot.setData === "function",
        painted: painted,
        width: canvas.width,
        drawn: element.uplot ? element.uplot.data.slice(1) : null,
        embedded: source.series.map(one => one.values),
    };
}"""


def at(day, hour, minute=0):
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def sample(session, moment, value, measurand=ENERGY_REGISTER, unit="Wh"):
    MeterValue.objects.create(
        charger=session.charger,
        connector_id=session.connector_id,
        transaction=session,
        timestamp=moment,
        measurand=measurand,
        unit=unit,
        value=str(value),
        numeric_value=Decimal(str(value)),
    )


def charged_session(on, started, hours, wh, samples=()) -> Transaction:
    session = Transaction.objects.create(
        charger=on,
        connector_id=1,
        id_tag="DANA01",
        id_tag_status="Accepted",
        meter_start=0,
        started_at=started,
    )
    for moment, energy, power in samples:
        sample(session, moment, energy)
        sample(session, moment, power, POWER_IMPORT, "W")
    session.stop(
        meter_stop=wh,
        stopped_at=started.replace(hour=started.hour + hours),
        reason="Local",
        id_tag="DANA01",
        data=None,
    )
    billing_services.settle_transaction(transaction=session)
    return session


@pytest.fixture
def site(csms):
    """Two days of Dana charging on CP-1, one session sampled every half hour."""
    personas.operator()
    default_tariff(price_per_kwh=Decimal("0.30"), session_fee=Decimal("1.00"))
    prepaid_card("DANA01", balance="100", owner=personas.driver())
    on = charger("CP-1")
    curve = [(at(1, 10, 30), 3_500, 7_000), (at(1, 11), 7_000, 7_000), (at(1, 11, 30), 9_000, 4_000)]
    sampled = charged_session(on, at(1, 10), 2, 10_000, curve)
    charged_session(on, at(2, 18), 1, 4_000)
    return {"csms": csms, "sampled": sampled}


def look_at_chart(page, url: str, name: str) -> dict:
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(url)
    chart = page.locator("[data-chart]")
    expect(chart).to_have_count(1)
    page.wait_for_function("() => document.querySelector('[data-chart]').uplot !== undefined")
    state = chart.evaluate(CHART_STATE)
    chart.scroll_into_view_if_needed()
    screenshot(page, name, full_page=False)  # the chart and what is around it (the charger page is long)
    assert problems == [], problems  # a CSP refusal is a console error
    return state


def assert_drawn(state: dict, page_width: int) -> None:
    assert state["instance"], state
    assert state["drawn"] == state["embedded"]
    assert state["painted"] > 2_000, "the bars, lines and axes paint thousands of pixels"
    assert 0 < state["width"] <= page_width * 3  # within the page (a phone's device pixels are 3 to 1)


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_it_draws_the_charts_on_laptop_and_phone(site, request, size):
    page = request.getfixturevalue("browser_page" if size == "laptop" else "phone_page")
    url, width = site["csms"].url, page.viewport_size["width"]
    sign_in(page, url, "olga")

    report = look_at_chart(page, f"{url}/reports/{RANGE}", f"sessions-report-{size}")
    charger_page = look_at_chart(page, f"{url}/chargers/CP-1/{RANGE}", f"sessions-charger-{size}")
    session = look_at_chart(page, f"{url}/sessions/{site['sampled'].pk}/", f"sessions-detail-{size}")

    for state in (report, charger_page, session):
        assert_drawn(state, width)
    assert report["embedded"][0] == [10.0, 4.0, 0.0]  # kWh per day, the table's figures
    assert session["embedded"] == [[0.0, 3.5, 7.0, 9.0, 10.0], [None, 7.0, 7.0, 4.0, None]]
    screenshot(page, f"sessions-detail-whole-{size}")  # who, where, when, the chart, price and ledger
    page.goto(f"{url}/sessions/?charger=CP-1")
    expect(page.locator("#sessions tbody tr")).to_have_count(2)
    screenshot(page, f"sessions-list-{size}")
