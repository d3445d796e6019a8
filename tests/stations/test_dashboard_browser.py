"""The dashboard in a real browser: it changes by itself while a charger reports."""

import re

from ocpp.v16 import call
from playwright.sync_api import expect

from rfid.models import IdTag
from tests.browser import screenshot, sign_in
from tests.factories import register_charger
from tests.ocpp_client import connected_charger
from tests.stations.test_dashboard import meter_values


def test_it_changes_by_itself_when_a_charger_starts_charging(
    csms, operator, driver, browser_page, phone_page, charger_loop
):
    charger = register_charger("CP-1", name="Bay 1")
    register_charger("CP-2", name="Bay 2")
    IdTag.objects.create(id_tag="DANA-1", owner=driver)
    sign_in(browser_page, csms.url, "olga")
    browser_page.goto(csms.url + "/dashboard/")
    card = browser_page.locator(f"#dash-charger-{charger.pk}")
    expect(card).to_have_attribute("data-state", "offline")
    expect(browser_page.locator("#dash-live")).to_have_attribute("data-state", "live")

    cp = charger_loop.enter(connected_charger(csms.ws_url, "CP-1"))
    expect(card).to_have_attribute("data-state", "online")
    charger_loop.run(
        cp.send(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
    )
    started = charger_loop.run(cp.start_transaction(connector_id=1, id_tag="DANA-1", meter_start=0))
    charger_loop.run(cp.send(meter_values(started.transaction_id, wh=1250, kw=7.4)))

    connector = card.locator('[data-connector="1"]')
    expect(connector).to_have_attribute("data-status", "Charging")
    expect(connector.locator(".dash-who")).to_have_text("Dana Driver (DANA-1)")
    expect(connector.locator(".dash-power")).to_have_text("7.4 kW")
    expect(connector.locator(".dash-energy")).to_have_text("1.25 kWh")
    expect(browser_page.locator('[data-count="charging"]')).to_have_text("1")
    expect(browser_page.locator('[data-count="online"]')).to_have_text("1")
    screenshot(browser_page, "dashboard-laptop")

    sign_in(phone_page, csms.url, "olga")
    phone_page.goto(csms.url + "/dashboard/")
    expect(phone_page.locator(f"#dash-charger-{charger.pk} .dash-status")).to_have_text(
        re.compile("Charging")
    )
    screenshot(phone_page, "dashboard-phone")
