"""What the payment tests share: a site to pay at, Dana's wallet, the ledger's invariant, a charger
that starts and stops when told, and a stand-in for Stripe's API with webhooks signed as Stripe signs them."""

import asyncio
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from django.utils import timezone
from ocpp.v16 import call

from billing import services as billing_services
from billing.models import Account, LedgerEntry, Payment, Tariff
from stations.models import Charger, Connector
from stations.ocpp_time import utc_iso
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger
from tests.redis_server import free_port

STRIPE_KEY = "sk_test_paycore"
WEBHOOK_SECRET = "whsec_paycore_test_secret"
HTTP_DEADLINE = 60


# The site and the people's money -------------------------------------------------------------------


def pay_site(
    charge_point_id="CP-PAY", *, connected=True, status="Available", connectors=(1, 2), **tariff
) -> Charger:
    """A charger with its connectors and the site's default tariff (0.40 EUR/kWh, 1.00 per session, 19 % tax)."""
    Tariff.objects.get_or_create(
        is_default=True,
        defaults={
            "name": "Standard",
            "currency": "EUR",
            "price_per_kwh": Decimal("0.4000"),
            "session_fee": Decimal("1.0000"),
            "tax_percent": Decimal("19.00"),
            **tariff,
        },
    )
    charger = Charger.objects.filter(charge_point_id=charge_point_id).first() or register_charger(
        charge_point_id
    )
    if connected:  # as a socket's admission marks it (no socket: commands find it offline at once)
        Charger.objects.filter(pk=charger.pk).update(is_connected=True, last_seen_at=timezone.now())
        charger.refresh_from_db()
    for connector_id in connectors:
        Connector.objects.update_or_create(
            charger=charger, connector_id=connector_id, defaults={"status": status}
        )
    return charger


def wallet_with(person, amount: str) -> Account:
    wallet = billing_services.wallet_for_owner(person)
    if Decimal(amount):
        wallet.post(
            kind=LedgerEntry.Kind.TOP_UP, amount=Decimal(amount), source="test", payment_method="cash"
        )
    return wallet


def balance_of(person) -> Decimal:
    return Account.objects.get(owner=person).balance


def assert_ledgers_balanced() -> None:
    """The invariant of every wallet: the stored balance is the sum of its entries."""
    for account in Account.objects.all():
        assert account.balance == billing_services.ledger_total(account), f"{account}: balance != entries"


def kinds_of(person) -> list[tuple[str, Decimal]]:
    return list(Account.objects.get(owner=person).entries.order_by("id").values_list("kind", "amount"))


# HTTP, as a driver's app speaks it -----------------------------------------------------------------


def http(method: str, url: str, body=None, token=None, headers=None) -> tuple[int, dict]:
    """(status, JSON body) of a request; an HTTP error's status and body alike."""
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    if token:
        request.add_header("Authorization", f"Token {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_DEADLINE) as answer:
            return answer.status, _json(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, _json(refused.read())


def _json(raw: bytes):
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return {"text": raw.decode(errors="replace")}


def token_for(base_url: str, username: str, password: str) -> str:
    status, body = http(
        "POST", f"{base_url}/api/v1/auth/token/", {"username": username, "password": password}
    )
    assert status == 200, body
    return body["token"]


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def payment_state(payment_id: int) -> str:
    return Payment.objects.filter(pk=payment_id).values_list("state", flat=True).first()


# A charger that does what it is told ------------------------------------------------------------------


def energy_and_power(wh: int, watts: int, at: str | None = None) -> dict:
    return {
        "timestamp": at or utc_iso(),
        "sampledValue": [
            {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": str(watts), "measurand": "Power.Active.Import", "unit": "W"},
        ],
    }


class ObedientCharger(AnsweringCharger):
    """Accepts RemoteStart and then starts with that idTag (a real StartTransaction); accepts RemoteStop
    and then stops (a real StopTransaction). `meter_wh` is its register; `meter` sends it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.meter_wh = 1000
        self.transaction_id: int | None = None
        self.start_answer = None
        self.stopped = asyncio.Event()
        self.auto_start = True
        self.meter_at_remote_stop: int | None = None
        self.delivered_after_stop_wh = 0
        self._own: set[asyncio.Task] = set()

    async def route_message(self, raw_msg):
        calls_before = len(self.received)
        await super().route_message(raw_msg)
        if len(self.received) == calls_before:  # an answer to one of our own calls
            return
        action, payload = self.received[-1]
        if (
            action == "RemoteStartTransaction"
            and self.answers[action]["status"] == "Accepted"
            and self.auto_start
        ):
            self._later(self.begin_session(payload["connectorId"], payload["idTag"]))
        if action == "RemoteStopTransaction" and payload.get("transactionId") == self.transaction_id:
            self.meter_at_remote_stop = self.meter_wh
            self.meter_wh += self.delivered_after_stop_wh  # a charger winding down still delivers a little
            self._later(self.stop("Remote"))

    def _later(self, work) -> None:
        task = asyncio.create_task(work)
        self._own.add(task)
        task.add_done_callback(self._own.discard)

    async def begin_session(self, connector_id: int, id_tag: str):
        self.id_tag = id_tag
        self.start_answer = await self.start_transaction(
            connector_id=connector_id, id_tag=id_tag, meter_start=self.meter_wh
        )
        if self.start_answer.id_tag_info["status"] == "Accepted":
            self.transaction_id = self.start_answer.transaction_id

    async def meter(self, add_wh: int, watts: int, connector_id: int = 1):
        self.meter_wh += add_wh
        await self.send(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=self.transaction_id,
                meter_value=[energy_and_power(self.meter_wh, watts)],
            )
        )

    async def stop(self, reason: str = "Local"):
        if self.transaction_id is None or self.stopped.is_set():
            return
        self.stopped.set()
        await self.stop_transaction(self.transaction_id, self.meter_wh, reason=reason, id_tag=self.id_tag)


def calls(charger: AnsweringCharger, action: str) -> list[dict]:
    return charger.calls_of(action)


# Stripe, as far as the payment flow speaks to it -------------------------------------------------------


def stripe_signature(payload: str, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """The Stripe-Signature header as Stripe computes it: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<body>")."""
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


_event_numbers = iter(range(1, 10**9))


def stripe_event(event_type: str, thing: dict) -> dict:
    return {
        "id": f"evt_test_{next(_event_numbers):06d}",
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": thing},
    }


def post_webhook(base_url: str, event: dict, secret: str = WEBHOOK_SECRET, signature: str | None = None):
    payload = json.dumps(event)
    header = stripe_signature(payload, secret) if signature is None else signature
    request = urllib.request.Request(
        f"{base_url}/payments/stripe/webhook/",
        data=payload.encode(),
        method="POST",
        headers={"Content-Type": "application/json", **({"Stripe-Signature": header} if header else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_DEADLINE) as answer:
            return answer.status
    except urllib.error.HTTPError as refused:
        return refused.code


class FakeStripe:
    """A small HTTP server answering like Stripe's API for Checkout Sessions and PaymentIntents.

    It keeps what it acted on (`requests`), honours idempotency keys as Stripe does (the same key
    answers the first result), and lets a test play the driver (`pay`) or the card network
    (`fail_captures`, `lapse`).
    """

    def __init__(self):
        self.sessions: dict[str, dict] = {}
        self.intents: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.idempotent: dict[str, tuple[int, dict]] = {}
        self.fail_captures = 0  # that many capture calls answer a card error first
        self.lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        # Served afresh on each entry: a module's fixture may be set up again when pytest interleaves
        # modules, and a thread starts only once. The port stays the one server processes were given.
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def reset(self):
        with self.lock:
            self.sessions.clear()
            self.intents.clear()
            self.requests.clear()
            self.idempotent.clear()
            self.fail_captures = 0

    # what the driver and the card network do
    def pay(self, session_id: str) -> dict:
        """The driver completes the checkout: the PaymentIntent holds the amount (requires_capture), or
        with automatic capture (a wallet top-up) takes it at once (succeeded)."""
        with self.lock:
            session = self.sessions[session_id]
            intent_id = f"pi_test_{len(self.intents) + 1:04d}"
            automatic = session["payment_intent_data"]["capture_method"] == "automatic"
            amount = session["amount_total"]
            intent = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_capturable": 0 if automatic else amount,
                "amount_received": amount if automatic else 0,
                "capture_method": session["payment_intent_data"]["capture_method"],
                "currency": session["currency"],
                "status": "succeeded" if automatic else "requires_capture",
                "created": int(time.time()),
                "metadata": session["payment_intent_data"]["metadata"],
                "cancellation_reason": None,
            }
            self.intents[intent_id] = intent
            paid = "paid" if automatic else "unpaid"
            session.update(status="complete", payment_status=paid, payment_intent=intent_id)
            return dict(session)

    def intent(self, intent_id: str) -> dict:
        with self.lock:
            return dict(self.intents[intent_id])

    def calls(self, path_pattern: str) -> list[dict]:
        return [params for method, path, params in self.requests if re.fullmatch(path_pattern, path)]

    # the API
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer("GET", {})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                params = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                self._answer("POST", params)

            def _answer(self, method, params):
                if self.headers.get("Authorization") != f"Bearer {STRIPE_KEY}":
                    return self._send(401, {"error": {"type": "invalid_request_error", "message": "bad key"}})
                key = self.headers.get("Idempotency-Key")
                with fake.lock:
                    if key and method == "POST" and key in fake.idempotent:  # a retry: answered, not acted on
                        return self._send(*fake.idempotent[key])
                    fake.requests.append((method, self.path, params))
                    status, body = fake.route(method, self.path, params)
                    if key and method == "POST":
                        fake.idempotent[key] = (status, body)
                self._send(status, body)

            def _send(self, status, body):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Request-Id", "req_test")
                self.end_headers()
                self.wfile.write(raw)

        return Handler

    def route(self, method, path, params):
        path = path.split("?")[0]
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._create_session(params)
        if match := re.fullmatch(r"/v1/checkout/sessions/([^/]+)", path):
            return self._found(self.sessions, match[1])
        if match := re.fullmatch(r"/v1/checkout/sessions/([^/]+)/expire", path):
            return self._expire(match[1])
        if match := re.fullmatch(r"/v1/payment_intents/([^/]+)", path):
            return self._found(self.intents, match[1])
        if match := re.fullmatch(r"/v1/payment_intents/([^/]+)/capture", path):
            return self._capture(match[1], params)
        if match := re.fullmatch(r"/v1/payment_intents/([^/]+)/cancel", path):
            return self._cancel(match[1])
        return 404, _error("resource_missing", f"no route {method} {path}")

    def _create_session(self, params):
        session_id = f"cs_test_{len(self.sessions) + 1:04d}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_total": int(params["line_items[0][price_data][unit_amount]"]),
            "currency": params["line_items[0][price_data][currency]"],
            "client_reference_id": params.get("client_reference_id"),
            "metadata": _nested(params, "metadata"),
            "payment_intent_data": {
                "capture_method": params["payment_intent_data[capture_method]"],
                "metadata": _nested(params, "payment_intent_data[metadata]"),
            },
            "mode": params["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "payment_intent": None,
            "success_url": params["success_url"],
            "expires_at": int(params["expires_at"]),
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
        }
        self.sessions[session_id] = session
        return 200, session

    def _found(self, things, thing_id):
        return (200, things[thing_id]) if thing_id in things else (404, _error("resource_missing", thing_id))

    def _expire(self, session_id):
        session = self.sessions.get(session_id)
        if session is None or session["status"] != "open":
            return 400, _error("checkout_session_not_open", "only an open session can be expired")
        session["status"] = "expired"
        return 200, session

    def _capture(self, intent_id, params):
        intent = self.intents.get(intent_id)
        if intent is None or intent["status"] != "requires_capture":
            return 400, _error("payment_intent_unexpected_state", "not capturable")
        if self.fail_captures:
            self.fail_captures -= 1
            return 402, _error("card_declined", "the card network refused the capture", kind="card_error")
        amount = int(params.get("amount_to_capture", intent["amount_capturable"]))
        if amount > intent["amount_capturable"]:
            return 400, _error("amount_too_large", "more than authorised")
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        return 200, intent

    def _cancel(self, intent_id):
        intent = self.intents.get(intent_id)
        if intent is None or intent["status"] not in ("requires_capture", "requires_payment_method"):
            return 400, _error("payment_intent_unexpected_state", "cannot cancel")
        intent.update(status="canceled", amount_capturable=0, cancellation_reason="requested_by_customer")
        return 200, intent


def _nested(params: dict, prefix: str) -> dict:
    """A form-encoded hash as Stripe reads it: {"metadata[payment]": "7"} → {"payment": "7"}."""
    return {key[len(prefix) + 1 : -1]: value for key, value in params.items() if key.startswith(prefix + "[")}


def _error(code, message, kind="invalid_request_error"):
    return {"error": {"type": kind, "code": code, "message": message}}


async def state_becomes(payment_id: int, state: str, timeout: float = 20.0) -> bool:
    """Inside a charger scenario: wait, without blocking the charger's loop, for the payment to reach `state`."""
    from tests.ocpp_client import orm

    deadline = time.monotonic() + timeout
    while True:
        if await orm(payment_state, payment_id) == state:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
