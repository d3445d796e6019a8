"""Stripe, through its official package: a Checkout Session whose PaymentIntent uses manual capture
(and, for a wallet top-up, automatic capture: the money is taken when paid).

The driver authorises the chosen amount on Stripe's page; when the session ends the real cost is
captured (`amount_to_capture`: Stripe lets the rest of the hold go), or the PaymentIntent is
cancelled when nothing is to be taken. Card authorisations lapse after 7 days uncaptured.

Every write carries an idempotency key naming our payment, so a call retried after a crash or a
timeout (by the sweep, by a second process) has Stripe answer the first result instead of acting
twice. Events are verified with Stripe's own Webhook.construct_event, and then only used to know
WHICH payment to look at: what it stands at is asked from Stripe (retrieve), so events may come
in any order, late, or several times.
"""

from datetime import UTC, datetime, timedelta

import stripe
from django.conf import settings

from billing.gateways.base import BadSignature, Checkout, Confirmation, Event, Gateway, GatewayError
from billing.money import from_minor_units, to_minor_units

# Stripe keeps a Checkout Session open 30 minutes at least (and 24 hours at most).
CHECKOUT_MIN_SECONDS, CHECKOUT_MAX_SECONDS = 30 * 60, 24 * 3600
# Errors whose retry cannot succeed: the authorisation lapsed, or the amount is refused.
FINAL_ERROR_CODES = {"charge_expired_for_capture", "amount_too_large", "amount_too_small"}


class StripeGateway(Gateway):
    name = "stripe"
    holds_funds = True
    tops_up_wallets = True
    hold_lifetime = timedelta(days=7)

    def __init__(self, *, secret_key: str, webhook_secret: str, api_base: str):
        self.webhook_secret = webhook_secret
        self.client = stripe.StripeClient(secret_key, base_addresses={"api": api_base}, max_network_retries=2)

    @classmethod
    def from_settings(cls) -> "StripeGateway":
        return cls(
            secret_key=settings.STRIPE_SECRET_KEY,
            webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
            api_base=settings.STRIPE_API_BASE,
        )

    def begin(self, payment, *, return_url: str) -> Checkout:
        expires = _checkout_expiry()
        ours = {"payment": str(payment.pk)}
        params = {
            "mode": "payment",
            "payment_method_types": ["card"],  # manual capture: methods that can hold money
            "line_items": [{"price_data": self._price(payment), "quantity": 1}],
            "payment_intent_data": {"capture_method": "manual", "metadata": ours},
            "metadata": ours,
            "client_reference_id": str(payment.pk),
            "success_url": return_url,
            "cancel_url": return_url,
            "expires_at": int(expires.timestamp()),
        }
        session = self._call(
            self.client.v1.checkout.sessions.create, params=params, options=self._key("checkout", payment)
        )
        return Checkout(reference=session["id"], redirect_url=session["url"], expires_at=expires)

    def begin_top_up(self, top_up, *, return_url: str) -> Checkout:
        """A Checkout Session in payment mode with automatic capture: the money is taken when paid."""
        expires = _checkout_expiry()
        ours = {"top_up": str(top_up.pk)}
        price = {
            "currency": top_up.currency.lower(),
            "unit_amount": to_minor_units(top_up.amount, top_up.currency),
            "product_data": {"name": "Wallet top-up"},
        }
        params = {
            "mode": "payment",
            "payment_method_types": ["card"],
            "line_items": [{"price_data": price, "quantity": 1}],
            "payment_intent_data": {"capture_method": "automatic", "metadata": ours},
            "metadata": ours,
            "client_reference_id": f"top-up-{top_up.pk}",  # never a bare number: that names a Payment
            "success_url": return_url,
            "cancel_url": return_url,
            "expires_at": int(expires.timestamp()),
        }
        key = {"idempotency_key": f"csms-top-up-{top_up.pk}-{top_up.token[:8]}"}
        session = self._call(self.client.v1.checkout.sessions.create, params=params, options=key)
        return Checkout(reference=session["id"], redirect_url=session["url"], expires_at=expires)

    def close_top_up(self, top_up) -> None:
        try:
            self._call(self.client.v1.checkout.sessions.expire, top_up.gateway_reference)
        except GatewayError:
            if self.confirmation(top_up).status != Confirmation.FAILED:  # not expired already: paid meanwhile
                raise

    def _price(self, payment) -> dict:
        where = f"{payment.charger.charge_point_id} #{payment.connector_id}"
        return {
            "currency": payment.currency.lower(),
            "unit_amount": to_minor_units(payment.amount, payment.currency),
            "product_data": {"name": f"Charging at {where} (held; only the real cost is taken)"},
        }

    def confirmation(self, payment) -> Confirmation:
        intent_id = payment.gateway_payment
        if not intent_id:
            checkout = self._call(self.client.v1.checkout.sessions.retrieve, payment.gateway_reference)
            intent_id = _id_of(checkout.get("payment_intent"))
            if not intent_id:
                unpaid = checkout.get("status") == "expired"
                return Confirmation(
                    Confirmation.FAILED if unpaid else Confirmation.OPEN, detail=checkout.get("status", "")
                )
        intent = self._call(self.client.v1.payment_intents.retrieve, intent_id)
        return _confirmation_of(intent, payment.currency, self.hold_lifetime)

    def capture(self, payment, *, amount) -> None:
        if not amount:
            self.cancel(payment)
            return
        try:
            self._call(
                self.client.v1.payment_intents.capture,
                payment.gateway_payment,
                params={"amount_to_capture": to_minor_units(amount, payment.currency)},
                options=self._key("capture", payment),
            )
        except GatewayError:
            if self.confirmation(payment).status != Confirmation.CAPTURED:  # captured by a twin call
                raise

    def cancel(self, payment) -> None:
        if not payment.gateway_payment:
            self._expire_checkout(payment)
            return
        try:
            self._call(
                self.client.v1.payment_intents.cancel,
                payment.gateway_payment,
                options=self._key("cancel", payment),
            )
        except GatewayError:
            if self.confirmation(payment).status != Confirmation.CANCELLED:  # cancelled already
                raise

    def _expire_checkout(self, payment) -> None:
        """A checkout not paid yet: closed, so that it can no longer be paid."""
        try:
            self._call(self.client.v1.checkout.sessions.expire, payment.gateway_reference)
        except GatewayError:
            confirmation = self.confirmation(payment)
            if confirmation.status == Confirmation.AUTHORISED:  # paid meanwhile: void that
                self._call(self.client.v1.payment_intents.cancel, confirmation.gateway_payment)
            elif confirmation.status not in (Confirmation.FAILED, Confirmation.CANCELLED):
                raise

    def refund(self, payment, *, amount) -> None:
        self._call(
            self.client.v1.refunds.create,
            params={
                "payment_intent": payment.gateway_payment,
                "amount": to_minor_units(amount, payment.currency),
            },
            options=self._key("refund", payment),
        )

    def parse_webhook(self, body: bytes, headers) -> Event:
        try:
            event = stripe.Webhook.construct_event(body, headers.get("Stripe-Signature"), self.webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as problem:
            raise BadSignature(str(problem)) from None
        return _event_of(event.to_dict())

    def _key(self, operation: str, payment) -> dict:
        """Twin calls of one attempt (a job and the sweep) share a key: Stripe acts once. Stripe keeps a
        key's first answer, errors too, so a retry after a failed attempt needs a key of its own."""
        return {"idempotency_key": f"csms-{operation}-{payment.pk}-{payment.token[:8]}-{payment.attempts}"}

    def _call(self, method, *args, **kwargs) -> dict:
        """The API call's result as plain JSON data; a GatewayError for anything Stripe refused or could not answer."""
        try:
            return method(*args, **kwargs).to_dict()
        except stripe.StripeError as problem:
            code = getattr(problem, "code", None) or ""
            raise GatewayError(
                f"Stripe: {problem.user_message or problem}".strip()[:250],
                retry=code not in FINAL_ERROR_CODES,
            ) from None


def _checkout_expiry() -> datetime:
    """When a checkout closes: PAYMENT_CHECKOUT_TIMEOUT_SECONDS from now, within what Stripe allows."""
    seconds = min(max(settings.PAYMENT_CHECKOUT_TIMEOUT_SECONDS, CHECKOUT_MIN_SECONDS), CHECKOUT_MAX_SECONDS)
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _id_of(value) -> str:
    """An expandable field: an id, or the object itself."""
    if isinstance(value, str):
        return value
    return value.get("id", "") if value else ""


def _confirmation_of(intent, currency: str, lifetime: timedelta) -> Confirmation:
    status, intent_id = intent.get("status"), intent.get("id", "")
    if status == "requires_capture":
        created = datetime.fromtimestamp(intent.get("created") or datetime.now(UTC).timestamp(), UTC)
        return Confirmation(
            Confirmation.AUTHORISED,
            intent_id,
            from_minor_units(intent.get("amount_capturable") or 0, currency),
            expires_at=created + lifetime,
        )
    if status == "succeeded":
        return Confirmation(
            Confirmation.CAPTURED, intent_id, from_minor_units(intent.get("amount_received") or 0, currency)
        )
    if status == "canceled":
        return Confirmation(Confirmation.CANCELLED, intent_id, detail=intent.get("cancellation_reason") or "")
    return Confirmation(Confirmation.OPEN, intent_id, detail=status or "")


def _event_of(event: dict) -> Event:
    thing = (event.get("data") or {}).get("object") or {}
    kind = thing.get("object")
    metadata = thing.get("metadata") or {}
    ours = metadata.get("payment") or thing.get("client_reference_id") or ""
    top_up = metadata.get("top_up") or ""
    return Event(
        event_id=event.get("id", ""),
        event_type=event.get("type", ""),
        payment_id=int(ours) if str(ours).isdigit() else None,
        reference=thing.get("id", "") if kind == "checkout.session" else "",
        gateway_payment=(
            thing.get("id", "") if kind == "payment_intent" else _id_of(thing.get("payment_intent"))
        ),
        payload=event,
        top_up_id=int(top_up) if str(top_up).isdigit() else None,
    )
