"""REST API v1 of cards (/api/v1/cards/), with the desk's services and rules (rfid.services, billing.services).

- GET  /api/v1/cards/                    operators, the front desk, admins (filters: q, status, mode, owner)
- POST /api/v1/cards/                    issue a card: admins
- GET  /api/v1/cards/<idTag>/            operators, the front desk, admins
- POST /api/v1/cards/<idTag>/block/      block it or mark it lost: admins
- POST /api/v1/cards/<idTag>/replace/    a new card in its place, same wallet and history: admins
- POST /api/v1/cards/<idTag>/topups/     credit a prepaid card: the front desk and admins. With an
                                         `Idempotency-Key` header a retried request credits once and
                                         answers as the first did (201, the same body).

Through the API the front desk reads drivers and cards and tops up, nothing else (issue 15): issuing,
blocking and replacing stay on its pages, where a person holds the card.
"""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import access
from billing import services as billing_services
from billing.models import LedgerEntry
from billing.money import check_top_up_amount
from billing.staff_api import MoneyField
from csms.api import ErrorSerializer, errors, list_schema, paginate, permission_required, read_filters
from rfid import services
from rfid.forms import end_of_day
from rfid.models import MAX_ID_TAG_LENGTH, IdTag, normalise_id_tag

MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_ID = 2**63 - 1  # ids are bigints: a larger owner is a 400 naming it


class CardOwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()


class CardSerializer(serializers.Serializer):
    """A card as staff read it: its status with a passed expiry and a replacement folded in."""

    id_tag = serializers.CharField()
    status = serializers.ChoiceField(choices=services.CardState.choices, source="state")
    mode = serializers.ChoiceField(choices=IdTag.Mode.choices)
    owner = CardOwnerSerializer(allow_null=True, help_text="null: an anonymous prepaid card")
    balance = MoneyField(
        source="account.balance",
        currency_from="wallet_currency",
        allow_null=True,
        help_text="The wallet's; null before it has one",
    )
    currency = serializers.CharField(source="wallet_currency")
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="The first moment it is no longer valid"
    )
    parent_id_tag = serializers.CharField()
    status_reason = serializers.CharField()
    replaces = serializers.CharField(source="replaces.id_tag", allow_null=True, default=None)
    replaced_by = serializers.CharField(source="replaced_by_id_tag", allow_null=True)
    created_at = serializers.DateTimeField()


def _card(id_tag: str) -> IdTag:
    """The card of `id_tag` as CardSerializer reads it (404 when there is none)."""
    return get_object_or_404(services.cards_for_api(), id_tag=normalise_id_tag(id_tag))


class CardsApi(APIView):
    """GET: cards by idTag or owner, narrowed by status, mode and owner. POST: issue a card (admins)."""

    permission_classes = [permission_required(access.SEE_CARDS, to_change=access.MANAGE_CARDS)]

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(
            max_length=100, required=False, allow_blank=True, help_text="idTag, name, phone or email"
        )
        status = serializers.ChoiceField(choices=services.CardState.choices, required=False)
        mode = serializers.ChoiceField(choices=IdTag.Mode.choices, required=False)
        owner = serializers.IntegerField(
            min_value=1, max_value=MAX_ID, required=False, help_text="A driver's id"
        )

    class InputSerializer(serializers.Serializer):
        id_tag = serializers.CharField(max_length=MAX_ID_TAG_LENGTH + 10, help_text="The card's UID")
        mode = serializers.ChoiceField(choices=IdTag.Mode.choices)
        owner = serializers.IntegerField(
            min_value=1,
            max_value=MAX_ID,
            required=False,
            allow_null=True,
            help_text="A driver's id; none: anonymous",
        )
        expires_on = serializers.DateField(
            required=False, allow_null=True, help_text="Valid through this day (site time)"
        )

        def validate_id_tag(self, id_tag: str) -> str:
            return _checked_new_id_tag(id_tag)

        def validate_owner(self, owner_id):
            if owner_id is None:
                return None
            owner = services.driver_or_none(owner_id)
            if owner is None:
                raise ValidationError(_("No driver has this id."))
            return owner

        def validate_expires_on(self, day):
            if day is not None and day < timezone.localdate():
                raise ValidationError(_("That day has passed."))
            return day

    OutputSerializer = CardSerializer

    @list_schema(output=OutputSerializer, filters=FilterSerializer, summary="Find cards", tags=["cards"])
    def get(self, request):
        filters = read_filters(self.FilterSerializer, request)
        cards = services.cards_listed(
            query=filters.get("q", ""),
            state=filters.get("status", ""),
            mode=filters.get("mode", ""),
            owner=filters.get("owner"),
        )
        return paginate(request, services.cards_for_api(cards), self.OutputSerializer)

    @extend_schema(
        tags=["cards"],
        summary="Issue a card",
        request=InputSerializer,
        responses={201: OutputSerializer, **errors(400, 401, 403)},
        examples=[
            OpenApiExample("A driver's prepaid card", {"id_tag": "04A2B3C4", "mode": "prepaid", "owner": 7})
        ],
    )
    def post(self, request):
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            card = services.issue_card(
                id_tag=data["id_tag"],
                mode=data["mode"],
                owner=data.get("owner"),
                expires_at=end_of_day(data["expires_on"]) if data.get("expires_on") else None,
            )
        except services.CardError as problem:  # the same idTag issued meanwhile
            raise ValidationError({"id_tag": [str(problem)]}) from None
        return Response(self.OutputSerializer(_card(card.id_tag)).data, status=status.HTTP_201_CREATED)


def _checked_new_id_tag(raw: str) -> str:
    try:
        return services.check_new_id_tag(raw)
    except services.CardError as problem:
        raise ValidationError(str(problem)) from None


class CardApi(APIView):
    """GET: one card, with its owner, wallet balance and the cards it replaced or was replaced by."""

    permission_classes = [permission_required(access.SEE_CARDS)]

    OutputSerializer = CardSerializer

    @extend_schema(
        tags=["cards"], summary="A card", responses={200: OutputSerializer, **errors(401, 403, 404)}
    )
    def get(self, request, id_tag):
        return Response(self.OutputSerializer(_card(id_tag)).data)


class CardBlockApi(APIView):
    """POST: block the card, or mark it lost (admins). It is refused at every charger from then on."""

    permission_classes = [permission_required(access.MANAGE_CARDS)]

    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=[IdTag.Status.BLOCKED.value, IdTag.Status.LOST.value])
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    OutputSerializer = CardSerializer

    @extend_schema(
        tags=["cards"],
        summary="Block a card or mark it lost",
        request=InputSerializer,
        responses={200: OutputSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, id_tag):
        card = _card(id_tag)
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        card.set_status(given.validated_data["status"], given.validated_data["reason"])
        return Response(self.OutputSerializer(_card(card.id_tag)).data)


class CardReplaceApi(APIView):
    """POST: a new card in place of this one (admins): same owner, mode, wallet and so balance; the old
    card is marked lost. 409 when it was replaced already."""

    permission_classes = [permission_required(access.MANAGE_CARDS)]

    class InputSerializer(serializers.Serializer):
        new_id_tag = serializers.CharField(max_length=MAX_ID_TAG_LENGTH + 10, help_text="The new card's UID")
        reason = serializers.CharField(max_length=150, required=False, default="lost")

        def validate_new_id_tag(self, id_tag: str) -> str:
            return _checked_new_id_tag(id_tag)

    OutputSerializer = CardSerializer

    @extend_schema(
        tags=["cards"],
        summary="Replace a card",
        request=InputSerializer,
        responses={201: OutputSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def post(self, request, id_tag):
        card = _card(id_tag)
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            new = services.replace_card(card=card, **given.validated_data)
        except services.CardError as problem:  # replaced already (or the new idTag issued meanwhile)
            return Response({"detail": str(problem)}, status=status.HTTP_409_CONFLICT)
        return Response(self.OutputSerializer(_card(new.id_tag)).data, status=status.HTTP_201_CREATED)


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH, "pattern": "^[ -~]+$"},
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string (a UUID) per top-up, at most 255 visible ASCII characters. A retried request with "
        "the same key credits once and answers as the first did (201, the same body); the same key with "
        "another card, amount or method is a 422. A refused top-up (400, 409) keeps nothing: its retry is "
        "judged afresh. Keys are your own: another account's never match."
    ),
)


class CardTopUpsApi(APIView):
    """POST: credit a prepaid card (the front desk, admins): one ledger entry, the wallet's balance after it."""

    permission_classes = [permission_required(access.WORK_THE_DESK)]

    class InputSerializer(serializers.Serializer):
        amount = serializers.DecimalField(
            max_digits=12, decimal_places=4, help_text="Positive, in the currency's minor unit at most"
        )
        method = serializers.ChoiceField(choices=LedgerEntry.PaymentMethod.choices)

        def validate_amount(self, amount):
            try:
                check_top_up_amount(amount, self.context["currency"])  # the wallet's
            except ValueError as problem:
                raise ValidationError(str(problem)) from None
            return amount

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(help_text="The ledger entry's id")
        card = serializers.CharField(source="card.id_tag")
        amount = MoneyField(currency_from="account.currency")
        currency = serializers.CharField(source="account.currency")
        method = serializers.CharField(source="payment_method")
        balance_after = MoneyField(
            currency_from="account.currency", help_text="The wallet's balance right after it"
        )
        account = serializers.IntegerField(source="account_id")
        created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
        created_at = serializers.DateTimeField()

    @extend_schema(
        tags=["cards"],
        summary="Top up a prepaid card",
        parameters=[IDEMPOTENCY_KEY],
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            **errors(400, 401, 403, 404),
            409: OpenApiResponse(ErrorSerializer, description="The card is blocked, lost or personal."),
            422: OpenApiResponse(ErrorSerializer, description="The key was used for another top-up."),
        },
        examples=[
            OpenApiExample("Cash at the desk", {"amount": "20.00", "method": "cash"}, request_only=True)
        ],
    )
    def post(self, request, id_tag):
        card = get_object_or_404(IdTag, id_tag=normalise_id_tag(id_tag))
        key = _ledger_key(request)
        currency = billing_services.wallet_currency(card)
        given = self.InputSerializer(data=request.data, context={"currency": currency})
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            entry = billing_services.top_up(
                card=card, source="api", by=request.user, idempotency_key=key, **data
            )
        except billing_services.KeyAlreadyUsed:
            return Response({"detail": KEY_REUSED}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        except billing_services.RefusedMovement as refused:  # blocked, lost or personal
            return Response({"detail": str(refused)}, status=status.HTTP_409_CONFLICT)
        return Response(self.OutputSerializer(entry).data, status=status.HTTP_201_CREATED)


KEY_REUSED = gettext_lazy(
    "This Idempotency-Key was used for a top-up of another card, amount or method; "
    "nothing was credited now. Send a new key for a new top-up."
)


def _ledger_key(request) -> str | None:
    """The ledger's idempotency key for the request's Idempotency-Key header (None without one)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        raise ValidationError(
            {"Idempotency-Key": [_("Send 1 to 255 visible ASCII characters, e.g. a UUID, or no header.")]}
        )
    return billing_services.api_idempotency_key(user=request.user, key=key)
