"""The operators' dashboard: who may see it, what it shows, and its live socket's pushes."""

import asyncio
import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import websockets
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from ocpp.v16 import call
from websockets.exceptions import InvalidStatus

from billing import pricing
from billing.models import Tariff, TariffAssignment
from rfid.models import IdTag
from stations.models import Charger, Connector, MeterValue, Transaction
from tests.conftest import ServerProcess, server_env
from tests.factories import register_charger
from tests.ocpp_client import connected_charger, eventually
from tests.redis_server import CROSS_PROCESS_DB

# --- the page -----------------------------------------------------------------------


def test_it_shows_olga_every_charger_with_its_state_and_session(client, operator, driver):
    now = timezone.now()
    busy = register_charger("CP-BUSY", name="Bay 1", is_connected=True, last_seen_at=now)
    register_charger("CP-GONE", last_seen_at=now - timedelta(hours=3))
    register_charger("CP-NEW", approval=Charger.Approval.PENDING)
    IdTag.objects.create(id_tag="DANA-1", owner=driver)
    charging_session(busy, connector_id=1, id_tag="DANA-1", start=now - timedelta(minutes=30))
    Connector.objects.create(charger=busy, connector_id=2, status="Faulted", error_code="GroundFailure")
    client.force_login(operator)

    page = client.get("/dashboard/").content.decode()

    assert f'id="dash-charger-{busy.pk}"' in page
    assert "Bay 1" in page and "Online" in page and "Offline" in page and "Pending approval" in page
    assert "Last seen" in page  # the offline charger's last word, in the site's zone
    assert "Dana Driver (DANA-1)" in page
    assert "7.4 kW" in page  # the latest power sample
    assert "2.50 kWh" in page  # 12,500 Wh on the register since the start at 10,000
    assert "GroundFailure" in page
    counts = {name: figure_of(page, name) for name in ("online", "offline", "charging", "faulted", "pending")}
    assert counts == {"online": 1, "offline": 2, "charging": 1, "faulted": 1, "pending": 1}


def test_it_counts_a_2_0_1_charger_as_charging_when_its_occupied_connector_has_a_session(client, operator):
    now = timezone.now()
    charging = register_charger("CP-201-A", is_connected=True, last_seen_at=now, ocpp_version="2.0.1")
    plugged = register_charger("CP-201-B", is_connected=True, last_seen_at=now, ocpp_version="2.0.1")
    charging_session(charging, connector_id=1, id_tag="DANA-1", start=now - timedelta(minutes=5))
    Connector.objects.filter(charger=charging).update(status="Occupied")  # what 2.0.1 says while it charges
    Connector.objects.create(
        charger=plugged, connector_id=1, status="Occupied"
    )  # a car plugged in, no session
    client.force_login(operator)

    page = client.get("/dashboard/").content.decode()

    assert figure_of(page, "charging") == 1


def test_it_adds_no_query_per_charger(client, operator, driver):
    client.force_login(operator)
    IdTag.objects.create(id_tag="DANA-1", owner=driver)
    charging_session(register_charger("CP-0", is_connected=True), connector_id=1, id_tag="DANA-1")
    few = queries_of(client, "/dashboard/")
    for number in range(1, 8):
        charging_session(register_charger(f"CP-{number}", is_connected=True), connector_id=1, id_tag="DANA-1")

    assert queries_of(client, "/dashboard/") == few


def test_it_shows_today_energy_and_revenue_as_the_daily_report_counts_them(client, operator, time_machine):
    time_machine.move_to("2026-11-21T12:00:00Z")
    charger = register_charger("CP-1")
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    session = Transaction.objects.create(
        charger=charger, connector_id=1, id_tag="T", id_tag_status="Accepted", meter_start=0, started_at=start
    )
    session.stop(
        meter_stop=4200, stopped_at=start + timedelta(seconds=30), reason="Local", id_tag="", data=None
    )
    charge_of(session, total=Decimal("1.26"))
    client.force_login(operator)

    page = client.get("/dashboard/").content.decode()

    assert "4.20 kWh" in page
    assert "1.26 EUR" in page


@pytest.mark.parametrize("persona", ["clerk", "outsider"])
def test_it_refuses_staff_who_may_not_see_chargers(client, persona, request):
    client.force_login(request.getfixturevalue(persona))

    response = client.get("/dashboard/")

    assert response.status_code == 403


def test_it_sends_signed_out_people_to_sign_in(client, db):
    response = client.get("/dashboard/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/dashboard/"


# --- chargers priced at zero ------------------------------------------------------------


def test_it_warns_when_a_charger_has_no_tariff_and_there_is_no_default(client, operator):
    register_charger("CP-FREE")
    client.force_login(operator)

    page = client.get("/dashboard/").content.decode()

    assert "One charger has no tariff and there is no default tariff" in page
    assert "No tariff: sessions are priced at zero" in page


def test_it_does_not_warn_once_a_default_tariff_exists(client, operator):
    register_charger("CP-1")
    Tariff.objects.create(name="Standard", price_per_kwh=Decimal("0.30"), is_default=True)
    client.force_login(operator)

    page = client.get("/dashboard/").content.decode()

    assert "no default tariff" not in page
    assert "priced at zero" not in page


def test_it_tells_which_chargers_sessions_would_cost_nothing(db):
    tariff = Tariff.objects.create(name="Standard", price_per_kwh=Decimal("0.30"))
    whole = register_charger("CP-WHOLE")
    TariffAssignment.objects.create(charger=whole, tariff=tariff)
    one_of_two = register_charger("CP-HALF")
    TariffAssignment.objects.create(charger=one_of_two, connector_id=1, tariff=tariff)
    for connector_id in (1, 2):
        Connector.objects.create(charger=one_of_two, connector_id=connector_id, status="Available")
    both = register_charger("CP-BOTH")
    TariffAssignment.objects.create(charger=both, connector_id=1, tariff=tariff)
    Connector.objects.create(charger=both, connector_id=1, status="Available")
    bare = register_charger("CP-BARE")
    ids = [whole.pk, one_of_two.pk, both.pk, bare.pk]

    with CaptureQueriesContext(connection) as queries:
        unpriced = pricing.unpriced(ids)

    assert unpriced == {one_of_two.pk, bare.pk}
    assert len(queries) == 3
    assert pricing.is_unpriced(bare) and not pricing.is_unpriced(whole)


# --- the socket ----------------------------------------------------------------------


@pytest.mark.parametrize("persona", [None, "clerk", "outsider"])
def test_it_refuses_the_socket_to_anyone_who_may_not_see_chargers(csms, persona, request):
    cookies = session_cookie(request.getfixturevalue(persona)) if persona else {}

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(open_dashboard(csms, cookies))

    assert refused.value.response.status_code == 403


def test_it_refuses_the_socket_to_a_page_of_another_site(csms, operator):
    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(open_dashboard(csms, session_cookie(operator), origin="https://evil.example"))

    assert refused.value.response.status_code == 403


def test_it_opens_the_socket_to_olga_with_a_snapshot_of_every_charger(csms, operator):
    charger = register_charger("CP-1", name="Bay 1")

    first = asyncio.run(open_dashboard(csms, session_cookie(operator)))

    assert first["complete"] is True
    assert list(first["chargers"]) == [f"dash-charger-{charger.pk}"]
    assert "Bay 1" in first["chargers"][f"dash-charger-{charger.pk}"]
    assert 'data-count="offline">1<' in first["counts"]


def test_it_pushes_a_charger_reporting_fast_at_most_once_a_second(csms, operator):
    charger = register_charger("CP-1")
    IdTag.objects.create(id_tag="TAG-1")
    card, cookies = f"dash-charger-{charger.pk}", session_cookie(operator)

    async def scenario():
        async with dashboard_socket(csms, cookies) as watcher, connected_charger(csms.ws_url, "CP-1") as cp:
            await watcher.next_with(card, lambda html: 'data-state="online"' in html)
            await cp.send(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
            started = await cp.start_transaction(connector_id=1, id_tag="TAG-1", meter_start=1000)
            await watcher.next_with(card, lambda html: "Card TAG-1" in html and "Charging" in html)
            await asyncio.sleep(1.2)  # quiet: the next push is a new one
            watcher.pushes.clear()
            began = time.monotonic()
            for number in range(1, 21):
                # Each reading at its own millisecond: two at the same instant are one sample (a replay).
                at = timezone.now() + timedelta(milliseconds=number)
                await cp.send(meter_values(started.transaction_id, wh=1000 + 100 * number, kw=number, at=at))
            sent_in = time.monotonic() - began
            # The last frame's push comes a second after the one before it, plus its render: awaited,
            # not guessed (a busy machine renders slowly), and timed to bound the pushes before it.
            await watcher.next_with(card, lambda html: "20.0 kW" in html and "2.00 kWh" in html)
            return sent_in, time.monotonic() - began, watcher.about(card)

    sent_in, until_last, pushes = asyncio.run(scenario())

    assert sent_in < 5, "the charger did not report fast enough for this test to mean anything"
    # One push at once, then one per second at most: 2 when the frames came within a second.
    assert 1 <= len(pushes) <= 2 + int(until_last), (
        f"{len(pushes)} pushes for 20 MeterValues in {until_last:.2f}s"
    )
    assert "20.0 kW" in pushes[-1] and "2.00 kWh" in pushes[-1]


def test_it_pushes_a_charger_going_offline(csms, operator):
    charger = register_charger("CP-1")
    card, cookies = f"dash-charger-{charger.pk}", session_cookie(operator)

    async def scenario():
        async with dashboard_socket(csms, cookies) as watcher:
            async with connected_charger(csms.ws_url, "CP-1"):
                await watcher.next_with(card, lambda html: 'data-state="online"' in html)
            return await watcher.next_with(card, lambda html: 'data-state="offline"' in html)

    assert "Last seen" in asyncio.run(scenario())


@pytest.fixture
def two_servers(transactional_db, redis_server):
    """Two server processes on one Redis channel layer, as a larger site runs them."""
    env = server_env(REDIS_URL=redis_server.url(CROSS_PROCESS_DB))
    first = ServerProcess(env)
    try:
        second = ServerProcess(env)
    except Exception:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


@pytest.mark.slow
def test_it_pushes_a_charger_whose_socket_another_server_process_holds(two_servers, operator):
    watched, holder = two_servers
    charger = register_charger("CP-1")
    card, cookies = f"dash-charger-{charger.pk}", session_cookie(operator)

    async def scenario():
        async with (
            dashboard_socket(watched, cookies) as watcher,
            connected_charger(holder.ws_url, "CP-1") as cp,
        ):
            await watcher.next_with(card, lambda html: 'data-state="online"' in html)
            await cp.send(
                call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted")
            )
            return await watcher.next_with(card, lambda html: 'data-status="Faulted"' in html)

    assert "GroundFailure" in asyncio.run(scenario())


# --- helpers ----------------------------------------------------------------------


def charging_session(charger, *, connector_id, id_tag, start=None):
    start = start or timezone.now() - timedelta(minutes=10)
    Connector.objects.update_or_create(
        charger=charger, connector_id=connector_id, defaults={"status": "Charging", "error_code": "NoError"}
    )
    session = Transaction.objects.create(
        charger=charger,
        connector_id=connector_id,
        id_tag=id_tag,
        id_tag_status="Accepted",
        meter_start=10_000,
        started_at=start,
    )
    for minutes, wh, kw in ((5, "11000", "7.1"), (10, "12.5", "7.4")):
        at = start + timedelta(minutes=minutes)
        unit = "Wh" if minutes == 5 else "kWh"
        sample(charger, connector_id, session, at, "Energy.Active.Import.Register", wh, unit)
        sample(charger, connector_id, session, at, "Power.Active.Import", kw, "kW")
    return session


def sample(charger, connector_id, session, at, measurand, value, unit):
    MeterValue.objects.create(
        charger=charger,
        connector_id=connector_id,
        transaction=session,
        timestamp=at,
        measurand=measurand,
        unit=unit,
        value=value,
        numeric_value=Decimal(value),
    )


def charge_of(session, total):
    from billing.models import SessionCharge

    SessionCharge.objects.create(
        transaction=session,
        currency="EUR",
        energy_wh=Decimal(session.energy_wh),
        charging_seconds=30,
        idle_seconds=0,
        net=total,
        tax=Decimal(0),
        total=total,
        charged=total,
    )


def figure_of(page: str, name: str) -> int:
    marker = f'data-count="{name}">'
    start = page.index(marker) + len(marker)
    return int(page[start : page.index("<", start)])


def queries_of(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def meter_values(transaction_id: int, *, wh: int, kw: float, at=None):
    stamp = (at or timezone.now()).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return call.MeterValues(
        connector_id=1,
        transaction_id=transaction_id,
        meter_value=[
            {
                "timestamp": stamp,
                "sampledValue": [
                    {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": str(round(kw * 1000)), "measurand": "Power.Active.Import", "unit": "W"},
                ],
            }
        ],
    )


def session_cookie(user) -> dict:
    client = Client()
    client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


def socket_options(csms, cookies: dict, origin: str | None = None) -> dict:
    headers = {"Origin": origin or csms.url}
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return {"additional_headers": headers, "open_timeout": 10}


async def open_dashboard(csms, cookies: dict, origin: str | None = None) -> dict:
    """Open the dashboard's socket as a browser would and return its first message."""
    url = csms.url.replace("http", "ws") + "/ws/dashboard/?lang=en"
    async with websockets.connect(url, **socket_options(csms, cookies, origin)) as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


class Watcher:
    """A dashboard socket's messages as they arrive: `pushes` after the first snapshot."""

    def __init__(self, ws):
        self.ws, self.pushes, self.arrived = ws, [], asyncio.Event()

    async def read(self):
        async for text in self.ws:
            self.pushes.append(json.loads(text))
            self.arrived.set()

    def about(self, card: str) -> list[str]:
        return [push["chargers"][card] for push in self.pushes if card in push.get("chargers", {})]

    async def next_with(self, card: str, wanted, timeout: float = 10) -> str:
        found = await eventually(lambda: [html for html in self.about(card) if wanted(html)], timeout)
        assert found, f"no push of {card} as wanted; got {self.about(card)}"
        return found[-1]


class dashboard_socket:  # noqa: N801  (used as `async with dashboard_socket(...)`)
    def __init__(self, csms, cookies):
        self.url = csms.url.replace("http", "ws") + "/ws/dashboard/?lang=en"
        self.options = socket_options(csms, cookies)

    async def __aenter__(self) -> Watcher:
        self.connection = websockets.connect(self.url, **self.options)
        ws = await self.connection.__aenter__()
        await asyncio.wait_for(ws.recv(), 10)  # the snapshot
        self.watcher = Watcher(ws)
        self.reading = asyncio.create_task(self.watcher.read())
        return self.watcher

    async def __aexit__(self, *exc):
        self.reading.cancel()
        await self.connection.__aexit__(*exc)
