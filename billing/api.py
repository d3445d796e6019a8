"""REST API v1 of the QR-code payment flow, for a driver's app (DRF; token auth of the driver).

The same services as the pay pages (billing.payments); the paths and field names are contracts:

- GET  /api/v1/connectors/<charge point id>/<connector id>/   anyone: live state and tariff
- POST /api/v1/charging-sessions/         201 the session; 402 wallet short; 409 connector busy,
                                          offline or taken; 400 naming the field; card: payment_url
- GET  /api/v1/charging-sessions/<id>/    the driver's own only (404 for anyone else's)
- POST /api/v1/charging-sessions/<id>/stop/
- POST /api/v1/auth/token/                username (or phone) and password → {"token": …}
- POST /api/v1/wallet/top-ups/            {"amount": "20.00"} → 201 with a payment_url (the card gateway);
                                          404 when no gateway is configured; 400 naming the field
- GET  /api/v1/wallet/top-ups/<id>/       the driver's own only: pending, credited, failed or expired
"""

import re
from decimal import Decimal

from django.contrib.auth import authenticate, get_user_model
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import payments, topups
from billing.connector_links import public_connector
from billing.forms import drivers_with_phone
from billing.money import quantize_money
from csms.api import ErrorSerializer, errors
from stations.models import Charger

MILLI = Decimal("0.001")


def money_text(amount: Decimal | None, currency: str) -> str | None:
    """An amount as a string in the currency's minor unit ("12.30"): JSON numbers would be floats."""
    return None if amount is None else str(quantize_money(amount, currency))


def rate_text(rate: Decimal, currency: str) -> str:
    """A tariff rate as stored, at least to the minor unit: "0.35", "0.3249"."""
    shown = quantize_money(rate, currency)
    return f"{shown if shown == rate else rate.normalize():f}"


class TariffOfferSerializer(serializers.Serializer):
    """A connector's tariff as ConnectorApi shows it: rates as strings, never floats (the schema's shape)."""

    currency = serializers.CharField()
    price_per_kwh = serializers.CharField()
    price_per_hour = serializers.CharField()
    session_fee = serializers.CharField()
    tax_percent = serializers.CharField()


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

        @extend_schema_field(TariffOfferSerializer(allow_null=True))
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

    @extend_schema(
        tags=["payments"], responses={200: OutputSerializer, **errors(404)}, summary="A connector's offer"
    )
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


class InsufficientFundsSerializer(serializers.Serializer):
    detail = serializers.CharField()
    balance = serializers.CharField(help_text="The wallet's balance, in the currency's minor unit")


class ConnectorTakenSerializer(serializers.Serializer):
    detail = serializers.CharField()
    session = serializers.IntegerField(required=False, help_text="The caller's own live session on it")


class ChargingSessionsApi(APIView):
    """POST: pay for a session at a connector, from the wallet or by card; the start follows the money."""

    class InputSerializer(serializers.Serializer):
        charger = serializers.CharField(max_length=48)
        connector = serializers.IntegerField(min_value=1)
        amount = serializers.DecimalField(max_digits=12, decimal_places=4)
        method = serializers.ChoiceField(choices=["wallet", "card"])
        idempotency_key = serializers.CharField(max_length=64, required=False)

    OutputSerializer = SessionOutputSerializer

    @extend_schema(
        tags=["payments"],
        summary="Pay for a session at a connector",
        request=InputSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="A retried request with the same key answers as the first did (or the body's "
                "idempotency_key).",
            )
        ],
        responses={
            201: OutputSerializer,
            **errors(400, 401, 403),
            402: OpenApiResponse(
                InsufficientFundsSerializer, description="The wallet holds less than the amount."
            ),
            409: OpenApiResponse(
                ConnectorTakenSerializer, description="The connector is offline, busy, unpriced or taken."
            ),
            503: OpenApiResponse(ErrorSerializer, description="The card gateway could not open a checkout."),
        },
    )
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

    @extend_schema(tags=["payments"], responses={200: OutputSerializer, **errors(401, 403, 404)})
    def get(self, request, payment_id):
        payment = payments.payment_for_driver(driver=request.user, payment_id=payment_id)
        if payment is None:
            raise Http404
        return Response(self.OutputSerializer(session_of(payment)).data)


class ChargingSessionStopApi(APIView):
    """POST: stop the driver's session (or cancel it before it started: the money comes back in full)."""

    OutputSerializer = SessionOutputSerializer

    @extend_schema(
        tags=["payments"], request=None, responses={200: OutputSerializer, **errors(401, 403, 404)}
    )
    def post(self, request, payment_id):
        payment = payments.payment_for_driver(driver=request.user, payment_id=payment_id)
        if payment is None:
            raise Http404
        payment = payments.request_stop(payment=payment, source="api")
        return Response(self.OutputSerializer(session_of(payment)).data)


class TopUpOutputSerializer(serializers.Serializer):
    """A wallet top-up as the app sees it: pay at `payment_url`; `status` becomes credited (or failed,
    expired) once the gateway confirms, and `balance` is the wallet's then."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    failure_reason = serializers.CharField()
    amount = serializers.CharField()
    currency = serializers.CharField()
    balance = serializers.CharField()
    payment_url = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    credited_at = serializers.DateTimeField(allow_null=True)


def top_up_of(top_up) -> dict:
    """What TopUpOutputSerializer shows of an OnlineTopUp."""
    pending = top_up.state == top_up.State.PENDING
    return {
        "id": top_up.pk,
        "status": top_up.state,
        "failure_reason": topups.failure_text(top_up) if top_up.failure_reason else "",
        "amount": money_text(top_up.amount, top_up.currency),
        "currency": top_up.currency,
        "balance": money_text(top_up.account.balance, top_up.account.currency),
        "payment_url": top_up.payment_url if pending and top_up.payment_url else None,
        "created_at": top_up.created_at,
        "credited_at": top_up.credited_at,
    }


class WalletTopUpsApi(APIView):
    """POST: top up the driver's wallet by card: 201 with the `payment_url` to complete in a browser.
    Credited only once the gateway confirms the money (its webhook); 404 when no gateway is configured."""

    class InputSerializer(serializers.Serializer):
        amount = serializers.DecimalField(max_digits=12, decimal_places=4)
        idempotency_key = serializers.CharField(max_length=64, required=False)

    OutputSerializer = TopUpOutputSerializer

    @extend_schema(
        tags=["payments"],
        summary="Top up the wallet by card",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            **errors(400, 401, 403),
            404: OpenApiResponse(ErrorSerializer, description="No card gateway is configured on this site."),
            503: OpenApiResponse(ErrorSerializer, description="The gateway could not open a checkout."),
        },
    )
    def post(self, request):
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        key = data.get("idempotency_key") or request.headers.get("Idempotency-Key") or None
        try:
            top_up = topups.start_top_up(
                driver=request.user, amount=data["amount"], idempotency_key=key, source="api"
            )
        except topups.TopUpError as refused:
            body = {refused.field: [refused.message]} if refused.field else {"detail": refused.message}
            return Response(body, status=refused.status)
        top_up.account.refresh_from_db()
        return Response(self.OutputSerializer(top_up_of(top_up)).data, status=status.HTTP_201_CREATED)


class WalletTopUpApi(APIView):
    """GET: one of the driver's own top-ups (404 for anyone else's, as for one that does not exist)."""

    OutputSerializer = TopUpOutputSerializer

    @extend_schema(tags=["payments"], responses={200: OutputSerializer, **errors(401, 403, 404)})
    def get(self, request, top_up_id):
        top_up = topups.top_up_for_driver(driver=request.user, top_up_id=top_up_id)
        if top_up is None:
            raise Http404
        return Response(self.OutputSerializer(top_up_of(top_up)).data)


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

    @extend_schema(
        tags=["auth"],
        summary="A user's API token",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **errors(400),
            429: OpenApiResponse(ErrorSerializer, description="Too many failed sign-ins from this address."),
        },
    )
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
