"""Payment gateways' webhooks: verified by the gateway's own signature check, each event handled once,
for a QR-code payment (billing.payments) or a wallet top-up (billing.topups).

A forged or unsigned request is a 400 and changes nothing. A verified event is stored by its id
(billing.models.GatewayEvent) and handled by billing.payments, which asks the gateway what the
payment stands at; when the gateway cannot be asked, the answer is a 503 and the gateway
delivers the event again later.
"""

import logging

from django.db.models import Q
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotFound, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import payments, tasks, topups
from billing.gateways import gateway_named
from billing.gateways.base import BadSignature, Confirmation, GatewayError
from billing.models import GatewayEvent, Payment

logger = logging.getLogger(__name__)

State = Payment.State


@csrf_exempt  # the gateway signs its requests instead: it has no CSRF token
@require_POST
def stripe_webhook(request):
    try:
        gateway = gateway_named("stripe")
    except GatewayError:
        return HttpResponseNotFound("Stripe is not configured on this server.")
    try:
        event = gateway.parse_webhook(request.body, request.headers)
    except BadSignature as problem:
        logger.warning("refused a Stripe webhook from %s: %s", request.META.get("REMOTE_ADDR"), problem)
        return HttpResponseBadRequest("The signature does not verify.")
    try:
        handle_gateway_event(gateway=gateway, event=event)
    except GatewayError as problem:
        logger.warning("Stripe event %s not handled yet: %s", event.event_id, problem)
        return HttpResponse("The gateway could not be asked; deliver it again.", status=503)
    return JsonResponse({"received": True})


# The gateway's word: webhooks, and asking it ----------------------------------------------------------------


def handle_gateway_event(*, gateway, event) -> None:
    """A verified webhook event, stored once by its id; a redelivery of a handled one changes nothing.

    The event only says WHICH payment to look at: what it stands at is asked from the gateway
    (reconcile), so events late, out of order or repeated all lead to the same state. Raises
    GatewayError when the gateway cannot be asked: the event stays unhandled and is delivered again.
    """
    stored, _created = GatewayEvent.objects.get_or_create(
        provider=gateway.name,
        event_id=event.event_id,
        defaults={"event_type": event.event_type[:100], "payload": event.payload},
    )
    if stored.handled_at is not None:
        return
    payment = _payment_of_event(gateway, event)
    top_up = topups.top_up_of_event(gateway=gateway, event=event) if payment is None else None
    if payment is not None:
        reconcile(payment=payment, gateway=gateway)
    elif top_up is not None:  # a driver's wallet topped up online: credited once the gateway says so
        topups.reconcile(top_up=top_up, gateway=gateway)
    GatewayEvent.objects.filter(pk=stored.pk, handled_at__isnull=True).update(
        handled_at=timezone.now(), payment=payment, top_up=top_up
    )


def _payment_of_event(gateway, event) -> Payment | None:
    """Ours by the id in the metadata we gave it, checked against what we stored of it."""
    candidates = Payment.objects.filter(gateway=gateway.name)
    payment = candidates.filter(pk=event.payment_id).first() if event.payment_id else None
    if payment is None and (event.reference or event.gateway_payment):
        by_reference = Q(gateway_reference=event.reference) if event.reference else Q()
        by_money = Q(gateway_payment=event.gateway_payment) if event.gateway_payment else Q()
        payment = candidates.filter(by_reference | by_money).exclude(gateway_reference="").first()
    if payment is None:
        return None
    mismatch = (
        event.reference and payment.gateway_reference and event.reference != payment.gateway_reference
    ) or (
        event.gateway_payment and payment.gateway_payment and event.gateway_payment != payment.gateway_payment
    )
    return None if mismatch else payment


def reconcile(*, payment: Payment, gateway) -> None:
    """Bring the payment in line with what the gateway says of it now."""
    said = gateway.confirmation(payment)
    if said.gateway_payment and not payment.gateway_payment:
        Payment.objects.filter(pk=payment.pk, gateway_payment="").update(gateway_payment=said.gateway_payment)
        payment.gateway_payment = said.gateway_payment
    if said.status == Confirmation.AUTHORISED:
        _money_confirmed(payment, gateway, said)
    elif said.status in (Confirmation.CANCELLED, Confirmation.FAILED):
        _money_gone(payment, said)
    elif said.status == Confirmation.CAPTURED and payment.state == State.CAPTURING:
        payment.finish_capture(at=timezone.now())


def _money_confirmed(payment: Payment, gateway, said: Confirmation) -> None:
    if payment.state == State.PENDING and (said.amount is None or said.amount >= payment.amount):
        if payment.confirm(
            at=timezone.now(), gateway_payment=said.gateway_payment, expires_at=said.expires_at
        ):
            tasks.soon("start", payment.pk)
        return
    if payment.state == State.PENDING:  # less than chosen: never start on it
        payment.fail(reason="amount_mismatch", at=timezone.now())
    if payment.state == State.FAILED:  # paid after it was given up (timed out, cancelled): back at once
        gateway.cancel(payment) if gateway.holds_funds else gateway.refund(payment, amount=said.amount)


def _money_gone(payment: Payment, said: Confirmation) -> None:
    now = timezone.now()
    if payment.state == State.PENDING:
        payment.fail(
            reason="checkout_expired" if said.status == Confirmation.FAILED else "gateway_cancelled", at=now
        )
    elif payment.state == State.RELEASING:
        payment.finish_release(to=State.RELEASED)
    elif payment.state in (State.HELD, State.STARTING, State.CHARGING, State.CAPTURING):
        payment.note_problem(
            attention=f"The gateway says the authorisation is {said.status} ({said.detail}) before it was captured",
            retry_at=now + payments.MAX_RETRY_DELAY,
        )
