"""REST API v1 of the QR-code payment flow, for a driver's app (DRF; token auth of the driver).

The same services as the pay pages (billing.payments); the paths and field names are contracts:

- GET  /api/v1/connectors/<charge point id>/<connector id>/   anyone: live state and tariff
- POST /api/v1/charging-sessions/         201 the session; 402 wallet short; 409 connector busy,
                                          offline or taken; 400 naming the field; card: payment_url
- GET  /api/v1/charging-sessions/<id>/    the driver's own only (404 for anyone else's)
- POST /api/v1/charging-sessions/<id>/stop/
- POST /api/v1/auth/token/                username (or phone) and password → {"token": …}
"""

import re
from decimal import Decimal

from django.contrib.auth import authenticate, get_user_model
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import payments
from billing.connector_links import public_connector
from billing.forms import drivers_with_phone
from billing.money import quantize_money
from stations.models import Charger

MILLI = Decimal("0.001")


def money_text(amount: Decimal | None, currency: str) -> str | None:
    """An amount as a string in the currency's minor unit ("12.30"): JSON numbers would be floats."""
    return None if amount is None else str(quantize_money(amount, currency))


def rate_text(rate: Decimal, currency: str) -> str:
    """A tariff rate as stored, at least to the minor unit: "0.35", "0.3249"."""
    shown = quantize_money(rate, currency)
    return f"{shown if shown == rate else rate.normalize():f}"


class ConnectorApi(APIView):
    """GET: the connector's live state and its tariff, for anyone holding its QR code."""

    authentication_classes = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        charger = serializers.CharField(source="charger.charge_point_id")
        connector = serializers.IntegerField(source="connector_id")
        status = serializers.CharField(source="state")
        usable = serializers.BooleanField()
        reason = serializers.CharField()
        tariff = serializers.SerializerMethodField()
        currency = serializers.CharField()
        presets = serializers.SerializerMethodField()
        min_amount = serializers.SerializerMethodField()
        max_amount = serializers.SerializerMethodField()
        methods = serializers.ListField(child=serializers.CharField())

        def get_tariff(self, offer) -> dict | None:
            tariff = offer.tariff
            if tariff is None:
                return None
            return {
                "currency": tariff.currency,
                **{
                    name: rate_text(getattr(tariff, name), tariff.currency)
                    for name in ("price_per_kwh", "price_per_hour", "session_fee")
                },
                "tax_percent": f"{tariff.tax_percent.normalize():f}",
            }

        def get_presets(self, offer) -> list[str]:
            return [money_text(preset, offer.currency) for preset in offer.presets]

        def get_min_amount(self, offer) -> str:
            return money_text(offer.min_amount, offer.currency)

        def get_max_amount(self, offer) -> str:
            return money_text(offer.max_amount, offer.currency)

    def get(self, request, charge_point_id, connector_id):
        connector = public_connector(charge_point_id, connector_id)
        if connector is None:
            raise Http404
        offer = payments.connector_offer(charger=connector.charger, connector_id=connector_id)
        return Response(self.OutputSerializer(offer).data)


class SessionOutputSerializer(serializers.Serializer):
    """A charging session as the app sees it: a payment, and the session it paid for."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    failure_reason = serializers.CharField()
    charger = serializers.CharField()
    connector = serializers.IntegerField()
    amount = serializers.CharField()
    currency = serializers.CharField()
    energy_kwh = serializers.CharField()
    cost = serializers.CharField()
    refunded = serializers.CharField(allow_null=True)
    transaction_id = serializers.IntegerField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    payment_url = serializers.CharField(allow_null=True)
    live_url = serializers.CharField()


def session_of(payment) -> dict:
    """What SessionOutputSerializer shows of a payment: its live figures, or its final ones."""
    live = payments.live_status(payment=payment)
    payment.refresh_from_db()  # live_status may have moved it on (a start past its deadline)
    currency = payment.currency
    cost = payment.captured if payment.captured is not None else live.cost_so_far
    return {
        "id": payment.pk,
        "status": payment.api_status,
        "failure_reason": payments.failure_text(payment) if payment.failure_reason else "",
        "charger": payment.charger.charge_point_id,
        "connector": payment.connector_id,
        "amount": money_text(payment.amount, currency),
        "currency": currency,
        "energy_kwh": str(live.energy_kwh.quantize(MILLI)),
        "cost": money_text(cost, currency),
        "refunded": money_text(payment.refunded, currency),
        "transaction_id": payment.transaction_id,
        "started_at": live.started_at,
        "stopped_at": live.stopped_at,
        "payment_url": payment.payment_url if payment.state == payment.State.PENDING else None,
        "live_url": payments.live_page_url(payment),
    }


class ChargingSessionsApi(APIView):
    """POST: pay for a session at a connector, from the wallet or by card; the start follows the money."""

    class InputSerializer(serializers.Serializer):
        charger = serializers.CharField(max_length=48)
        connector = serializers.IntegerField(min_value=1)
        amount = serializers.DecimalField(max_digits=12, decimal_places=4)
        method = serializers.ChoiceField(choices=["wallet", "card"])
        idempotency_key = serializers.CharField(max_length=64, required=False)

    OutputSerializer = SessionOutputSerializer

    def post(self, request):
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        connector = _connector_or_400(data["charger"], data["connector"])
        key = data.get("idempotency_key") or request.headers.get("Idempotency-Key") or None
        try:
            payment = payments.create_payment(
                charger=connector.charger,
                connector_id=connector.connector_id,
                amount=data["amount"],
                method=data["method"],
                driver=request.user,
                idempotency_key=key,
                source="api",
            )
        except payments.PaymentError as refused:
            return _refusal(refused)
        return Response(self.OutputSerializer(session_of(payment)).data, status=status.HTTP_201_CREATED)


def _connector_or_400(charge_point_id: str, connector_id: int):
    connector = public_connector(charge_point_id, connector_id)
    if connector is not None:
        return connector
    if not Charger.objects.filter(
        charge_point_id=charge_point_id, approval=Charger.Approval.ACCEPTED
    ).exists():
        raise serializers.ValidationError({"charger": [_("No charger has this id.")]})
    raise serializers.ValidationError({"connector": [_("This charger has no such connector.")]})


def _refusal(refused: payments.PaymentError) -> Response:
    if isinstance(refused, payments.InvalidPayment):
        return Response({refused.field: [refused.message]}, status=status.HTTP_400_BAD_REQUEST)
    body = {"detail": refused.message}
    if isinstance(refused, payments.InsufficientFunds):
        body["balance"] = money_text(refused.balance, refused.currency)
    if isinstance(refused, payments.ConnectorUnavailable) and refused.payment is not None:
        body["session"] = refused.payment.pk  # the caller's own payment takes it: show that one
    return Response(body, status=refused.status)


class ChargingSessionApi(APIView):
    """GET: one of the driver's own sessions (404 for anyone else's, as for one that does not exist)."""

    OutputSerializer = SessionOutputSerializer

    def get(self, request, payment_id):
        payment = payments.payment_for_driver(driver=request.user, payment_id=payment_id)
        if payment is None:
            raise Http404
        return Response(self.OutputSerializer(session_of(payment)).data)


class ChargingSessionStopApi(APIView):
    """POST: stop the driver's session (or cancel it before it started: the money comes back in full)."""

    OutputSerializer = SessionOutputSerializer

    def post(self, request, payment_id):
        payment = payments.payment_for_driver(driver=request.user, payment_id=payment_id)
        if payment is None:
            raise Http404
        payment = payments.request_stop(payment=payment, source="api")
        return Response(self.OutputSerializer(session_of(payment)).data)


class AuthTokenApi(APIView):
    """POST username (or phone number) and password: the driver's API token. Failed attempts are
    counted and slowed like every sign-in (accounts.backends): past the limit, 429."""

    authentication_classes = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(source="key")

    def post(self, request):
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        username = _username_for(given.validated_data["username"])
        user = authenticate(request, username=username, password=given.validated_data["password"])
        if getattr(request, "sign_in_throttled", False):
            return Response(
                {"detail": _("Too many failed sign-ins from here. Wait a quarter of an hour.")},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
        if user is None or not user.is_active:
            return Response(
                {"detail": _("The user name or phone number and the password do not match.")},
                status=status.HTTP_400_BAD_REQUEST,
            )
        token, _created = Token.objects.get_or_create(user=user)
        return Response(self.OutputSerializer(token).data)


def _username_for(typed: str) -> str:
    """A phone number stands for the one account that has it; anything else is a user name."""
    if get_user_model().objects.filter(username=typed).exists() or len(re.sub(r"\D", "", typed)) < 6:
        return typed
    usernames = list(drivers_with_phone(typed).values_list("username", flat=True)[:2])
    return usernames[0] if len(usernames) == 1 else typed
