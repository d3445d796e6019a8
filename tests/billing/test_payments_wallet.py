"""Dana pays from her wallet through the JSON API, end to end: a real `manage.py serve`, a real charger
(the `ocpp` library over a socket) answering RemoteStart with a real StartTransaction and sending
meter values, and the server's own payment jobs and sweep (no Redis: the embedded default).
Mallory, paying at the same time or looking at Dana's session, is refused. Every scenario ends
with the ledger's invariant."""

import asyncio
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from ocpp.v16 import call

from billing import payments
from billing.gateways.wallet import WalletGateway
from billing.models import LedgerEntry, Payment
from tests.billing.payments_kit import (
    ObedientCharger,
    assert_ledgers_balanced,
    balance_of,
    energy_and_power,
    http,
    kinds_of,
    pay_site,
    payment_state,
    state_becomes,
    token_for,
    wait_for,
    wallet_with,
)
from tests.conftest import ServerProcess, own_server, server_env
from tests.ocpp_client import connected_charger, eventually, orm
from tests.personas import PASSWORDS, driver, outsider

START_TIMEOUT_S = 10
paysrv_process, paysrv = own_server(
    "paysrv", PAYMENT_SWEEP_SECONDS="1", PAYMENT_START_TIMEOUT_SECONDS=str(START_TIMEOUT_S)
)


@pytest.fixture(autouse=True)
def ledger_invariant(paysrv):
    yield
    assert_ledgers_balanced()


def api(server, method, path, body=None, token=None, **headers):
    return http(method, server.url + path, body, token, headers)


async def api_async(server, method, path, body=None, token=None, **headers):
    return await asyncio.to_thread(api, server, method, path, body, token, **headers)


def dana_ready(server, balance="50.00"):
    dana = driver()
    wallet_with(dana, balance)
    return dana, token_for(server.url, "+49 170 5550101", PASSWORDS["dana"])  # she signs in with her phone


def pay(amount="20.00", method="wallet", charger="CP-PAY", connector=1):
    return {"charger": charger, "connector": connector, "amount": amount, "method": method}


def test_it_takes_dana_from_the_qr_code_to_her_receipt_through_the_api(paysrv):
    pay_site(connected=False)
    dana, token = dana_ready(paysrv)

    async def scenario():
        async with connected_charger(paysrv.ws_url, "CP-PAY", cls=ObedientCharger) as cp:
            status, connector = await api_async(paysrv, "GET", "/api/v1/connectors/CP-PAY/1/")
            assert status == 200 and connector["status"] == "available"
            assert connector["tariff"] == {
                "currency": "EUR", "price_per_kwh": "0.40", "price_per_hour": "0.00",
                "session_fee": "1.00", "tax_percent": "19",
            }  # fmt: skip
            status, created = await api_async(paysrv, "POST", "/api/v1/charging-sessions/", pay(), token)
            assert status == 201 and created["status"] in ("authorized", "starting", "charging"), created
            assert await eventually(lambda: cp.transaction_id, timeout=15)
            session = f"/api/v1/charging-sessions/{created['id']}/"
            assert (await api_async(paysrv, "GET", session, token=token))[1]["status"] == "charging"
            await cp.meter(3000, 11_000)
            charging = await eventually_in_thread(lambda: _energy_shown(paysrv, session, token) == "3.000")
            status, stopping = await api_async(paysrv, "POST", session + "stop/", token=token)
            assert status == 200 and await eventually(cp.stopped.is_set, timeout=15)
            assert await state_becomes(created["id"], "settled")
            return created, charging, (await api_async(paysrv, "GET", session, token=token))[1]

    created, charging, finished = asyncio.run(scenario())

    assert charging
    cost = Decimal("2.62")  # (3 kWh × 0.40 + 1.00) × 1.19 = 2.618
    assert finished["status"] == "finished" and finished["energy_kwh"] == "3.000"
    assert (finished["cost"], finished["refunded"], finished["amount"]) == (str(cost), "17.38", "20.00")
    assert finished["transaction_id"] and finished["started_at"] and finished["stopped_at"]
    assert balance_of(dana) == Decimal("50.00") - cost
    assert [kind for kind, _ in kinds_of(dana)] == ["top_up", "hold", "release", "session_charge"]


async def eventually_in_thread(predicate, timeout=10.0):
    return await asyncio.to_thread(wait_for, predicate, timeout)


def _energy_shown(server, session, token):
    return api(server, "GET", session, token=token)[1].get("energy_kwh")


def test_it_stops_the_session_itself_before_the_cost_passes_what_was_paid(paysrv):
    pay_site(connected=False)
    dana, token = dana_ready(paysrv)

    async def scenario():
        async with connected_charger(paysrv.ws_url, "CP-PAY", cls=ObedientCharger) as cp:
            cp.delivered_after_stop_wh = 2000  # what it still delivers after the stop: the site's loss
            status, created = await api_async(
                paysrv, "POST", "/api/v1/charging-sessions/", pay("5.00"), token
            )
            assert status == 201
            assert await eventually(lambda: cp.transaction_id, timeout=15)
            started = await orm(lambda: Payment.objects.get(pk=created["id"]).transaction.started_at)
            for minute in range(1, 15):  # 1 kWh a minute at 60 kW
                cp.meter_wh += 1000
                at = (started + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
                await cp.send(_meter(cp, at))  # the stop is decided before this frame is answered
                if await eventually(lambda: cp.calls_of("RemoteStopTransaction"), timeout=1.0):
                    break
            assert await eventually(cp.stopped.is_set, timeout=15)
            assert await state_becomes(created["id"], "settled")
            return created, cp

    created, cp = asyncio.run(scenario())

    payment = Payment.objects.get(pk=created["id"])
    # (1.00 + kWh × 0.40) × 1.19 reaches 5.00 at 7.9 kWh: with one more minute's kWh, stopped at 7 kWh.
    assert cp.meter_at_remote_stop - 1000 == 7000 and len(cp.calls_of("RemoteStopTransaction")) == 1
    assert payment.transaction.energy_wh == 9000 and payment.stop_requested_at is not None
    # 9 kWh cost 5.47; Dana pays what she authorised, the rest is recorded as the site's.
    assert (payment.cost, payment.captured, payment.site_loss) == (
        Decimal("5.47"),
        Decimal("5.00"),
        Decimal("0.47"),
    )
    assert payment.refunded == 0 and payment.transaction.charge.uncollected == Decimal("0.47")
    assert balance_of(dana) == Decimal("45.00")


def _meter(cp, at):
    return call.MeterValues(
        connector_id=1,
        transaction_id=cp.transaction_id,
        meter_value=[energy_and_power(cp.meter_wh, 60_000, at)],
    )


def test_it_lets_one_of_two_drivers_paying_at_once_take_the_connector(paysrv):
    pay_site(connected=False)
    dana, dana_token = dana_ready(paysrv)
    mallory = outsider()
    wallet_with(mallory, "50.00")
    mallory_token = token_for(paysrv.url, "mallory", PASSWORDS["mallory"])
    answers = {}

    async def scenario():
        async with connected_charger(paysrv.ws_url, "CP-PAY", cls=ObedientCharger) as cp:
            barrier = threading.Barrier(2)

            def both(name, token):
                barrier.wait()
                answers[name] = api(paysrv, "POST", "/api/v1/charging-sessions/", pay(), token)

            await asyncio.gather(
                asyncio.to_thread(both, "dana", dana_token), asyncio.to_thread(both, "mallory", mallory_token)
            )
            assert await eventually(lambda: cp.transaction_id, timeout=15)
            return cp

    cp = asyncio.run(scenario())

    statuses = sorted(status for status, _body in answers.values())
    assert statuses == [201, 409], answers
    winner = next(name for name, (status, _) in answers.items() if status == 201)
    loser = dana if winner == "mallory" else mallory
    assert balance_of(loser) == Decimal("50.00") and [k for k, _ in kinds_of(loser)] == ["top_up"]
    assert len(cp.calls_of("RemoteStartTransaction")) == 1 and Payment.objects.count() == 1


def test_it_shows_a_session_to_its_driver_only(paysrv):
    pay_site(connected=False)
    dana, dana_token = dana_ready(paysrv)
    outsider()
    mallory_token = token_for(paysrv.url, "mallory", PASSWORDS["mallory"])

    async def scenario():
        async with connected_charger(paysrv.ws_url, "CP-PAY", cls=ObedientCharger) as cp:
            status, created = await api_async(paysrv, "POST", "/api/v1/charging-sessions/", pay(), dana_token)
            assert await eventually(lambda: cp.transaction_id, timeout=15)
            session = f"/api/v1/charging-sessions/{created['id']}/"
            seen = {
                "mallory get": (await api_async(paysrv, "GET", session, token=mallory_token))[0],
                "mallory stop": (await api_async(paysrv, "POST", session + "stop/", token=mallory_token))[0],
                "nobody get": (await api_async(paysrv, "GET", session))[0],
                "dana get": (await api_async(paysrv, "GET", session, token=dana_token))[0],
            }
            return seen, cp

    seen, cp = asyncio.run(scenario())

    assert seen == {"mallory get": 404, "mallory stop": 404, "nobody get": 401, "dana get": 200}
    assert not cp.calls_of("RemoteStopTransaction") and payment_state(Payment.objects.get().pk) == "charging"


def test_it_answers_bad_requests_naming_what_is_wrong(paysrv):
    pay_site(connected=True)  # marked connected though no socket holds it
    dana, token = dana_ready(paysrv, balance="15.00")
    post = lambda body: api(paysrv, "POST", "/api/v1/charging-sessions/", body, token)  # noqa: E731

    assert post({**pay(), "amount": "lots"})[0] == 400 and "amount" in post({**pay(), "amount": "lots"})[1]
    assert post({**pay(), "method": "cash"})[1].keys() == {"method"}
    assert post({**pay(), "charger": "NOPE"}) == (400, {"charger": ["No charger has this id."]})
    assert post({**pay(), "connector": 9})[1].keys() == {"connector"}
    assert post(pay("1.00"))[1].keys() == {"amount"}
    assert post({**pay(), "method": "card"})[1].keys() == {"method"}  # no card gateway on this server
    status, short = post(pay("20.00"))
    assert (status, short["balance"]) == (402, "15.00")
    assert api(paysrv, "POST", "/api/v1/charging-sessions/", pay())[0] == 401
    assert api(paysrv, "GET", "/api/v1/connectors/NOPE/1/")[0] == 404
    assert not Payment.objects.exists() and balance_of(dana) == Decimal("15.00")


def test_it_pays_once_for_a_request_sent_twice(paysrv):
    pay_site(connected=False)
    dana, token = dana_ready(paysrv)

    async def scenario():
        async with connected_charger(paysrv.ws_url, "CP-PAY", cls=ObedientCharger) as cp:
            key = {"Idempotency-Key": "app-tap-1"}
            first = await api_async(paysrv, "POST", "/api/v1/charging-sessions/", pay(), token, **key)
            again = await api_async(paysrv, "POST", "/api/v1/charging-sessions/", pay(), token, **key)
            assert await eventually(lambda: cp.transaction_id, timeout=15)
            unkeyed = await api_async(paysrv, "POST", "/api/v1/charging-sessions/", pay(), token)
            return first, again, unkeyed, cp

    first, again, unkeyed, cp = asyncio.run(scenario())

    assert first[0] == again[0] == 201 and first[1]["id"] == again[1]["id"]
    assert unkeyed == (409, {"detail": unkeyed[1]["detail"], "session": first[1]["id"]})
    assert Payment.objects.count() == 1 and len(cp.calls_of("RemoteStartTransaction")) == 1
    assert LedgerEntry.objects.filter(kind="hold").count() == 1


@pytest.mark.parametrize("failure", ["rejected", "no session"])
def test_it_gives_everything_back_when_the_charger_does_not_start(paysrv, failure):
    pay_site(connected=False)
    dana, token = dana_ready(paysrv)

    async def scenario():
        async with connected_charger(paysrv.ws_url, "CP-PAY", cls=ObedientCharger) as cp:
            if failure == "rejected":
                cp.answers["RemoteStartTransaction"] = {"status": "Rejected"}
            else:
                cp.auto_start = False  # accepts, then no cable: no StartTransaction ever comes
            status, created = await api_async(paysrv, "POST", "/api/v1/charging-sessions/", pay(), token)
            assert status == 201
            gone = await state_becomes(created["id"], "released", timeout=START_TIMEOUT_S + 10)
            return (
                created,
                gone,
                (await api_async(paysrv, "GET", f"/api/v1/charging-sessions/{created['id']}/", token=token))[
                    1
                ],
            )

    created, gone, shown = asyncio.run(scenario())

    assert (
        gone and shown["status"] == "cancelled" and shown["refunded"] == "20.00" and shown["cost"] == "0.00"
    )
    assert ("refused" if failure == "rejected" else "did not begin") in shown["failure_reason"]
    assert balance_of(dana) == Decimal("50.00")


def test_it_finishes_a_payment_a_crash_left_held_and_watches_its_budget_after_a_restart(
    paysrv_process, paysrv
):
    """The server dies after the money was held; another server on the same database starts the session,
    dies too while it charges, and the next one still stops it at the amount."""
    paysrv_process.stop()  # this test runs its own servers on the module's database
    try:
        _crash_and_recover()
    finally:
        paysrv_process.__init__(
            server_env(PAYMENT_SWEEP_SECONDS="1", PAYMENT_START_TIMEOUT_SECONDS=str(START_TIMEOUT_S))
        )


def _crash_and_recover():
    dana = driver()
    wallet_with(dana, "50.00")
    charger = pay_site(connected=False)
    payment = Payment.objects.create(
        id_tag=payments.new_id_tag(), driver=dana, account=dana.wallet, charger=charger, connector_id=1,
        method="wallet", gateway="wallet", currency="EUR", amount=Decimal("5.00"), state="held",
        confirmed_at=timezone.now(),
    )  # fmt: skip
    WalletGateway().hold(payment)
    env = server_env(PAYMENT_SWEEP_SECONDS="1", PAYMENT_START_TIMEOUT_SECONDS="60")

    async def charge_on(server, cp_state):
        async with connected_charger(server.ws_url, "CP-PAY", cls=ObedientCharger) as cp:
            cp.transaction_id, cp.meter_wh, cp.id_tag = cp_state
            assert await eventually(lambda: cp.transaction_id, timeout=20)
            if cp_state[0] is None:  # the first server: it started the session after the crash
                return cp.transaction_id, cp.meter_wh, cp.id_tag
            await asyncio.sleep(3)  # the new server's ticker has rebuilt its budget watch
            for _minute in range(12):
                if cp.calls_of("RemoteStopTransaction"):
                    break
                await cp.meter(1000, 60_000)
                await asyncio.sleep(0.3)
            assert await eventually(cp.stopped.is_set, timeout=15)
            return cp

    first = ServerProcess(env)
    try:
        state = asyncio.run(charge_on(first, (None, 1000, None)))
    finally:
        first.process.kill()  # a crash: no clean shutdown
        first.process.wait()
        first.log.close()
    assert payment_state(payment.pk) == "charging"
    second = ServerProcess(env)
    try:
        cp = asyncio.run(charge_on(second, state))
        assert wait_for(lambda: payment_state(payment.pk) == "settled")
    finally:
        second.stop()
    payment.refresh_from_db()
    assert len(cp.calls_of("RemoteStopTransaction")) == 1 and payment.captured <= Decimal("5.00")
    assert balance_of(dana) == Decimal("50.00") - payment.captured


def test_it_slows_down_guessing_a_password_for_an_api_token(paysrv):
    """Last in this module: Mallory stays throttled on its server for the window's quarter of an hour."""
    outsider()
    guess = {"username": "mallory", "password": "not-her-password"}

    answers = [api(paysrv, "POST", "/api/v1/auth/token/", guess)[0] for _attempt in range(6)]
    right_password_now = api(
        paysrv, "POST", "/api/v1/auth/token/", {**guess, "password": PASSWORDS["mallory"]}
    )

    assert answers == [400] * 5 + [429]
    assert right_password_now[0] == 429  # refused unchecked until the window has passed
    driver()
    assert token_for(
        paysrv.url, "+49 170 5550101", PASSWORDS["dana"]
    )  # someone else still signs in from here
