"""REST API v1 of tariffs and the ledger, for staff (billing/api.py is the driver's payment flow).

- GET  /api/v1/tariffs/          operators and admins; POST creates one: admins
- GET  /api/v1/tariffs/<id>/     operators and admins; PATCH changes it: admins
- GET  /api/v1/ledger/           every wallet's entries, oldest first: operators and admins
                                 (filters: account, driver, card, kind, from, to)

Money and rates are strings ("12.30", "0.3249"), never JSON numbers (floats).
"""

from datetime import date, datetime, time, timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import access
from billing import services
from billing.api import money_text, rate_text
from billing.models import LedgerEntry, Tariff
from billing.money import MONEY_FIELD, RATE_FIELD
from csms.api import errors, list_schema, paginate, permission_required, read_filters

# The days a ledger filter may name: beyond them a day's bounds in the site's zone leave what a
# datetime holds (year 1 east of UTC, 9999-12-31's next midnight), and no entry is older than 1970.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2099, 12, 31)
MONEY_SCHEMA = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "example": "20.00"}


@extend_schema_field(MONEY_SCHEMA)
class MoneyField(serializers.Field):
    """An amount as a string in its currency's minor unit ("12.30"); the currency is the object's
    attribute `currency_from` (a dotted path). None (no wallet) is null: say allow_null=True."""

    def __init__(self, *, currency_from: str = "currency", **kwargs):
        self.currency_from = currency_from
        super().__init__(read_only=True, **kwargs)

    def get_attribute(self, instance):
        return instance  # both the amount and its currency are needed

    def to_representation(self, instance):
        amount, currency = _dotted(instance, self.source), _dotted(instance, self.currency_from)
        return None if amount is None else money_text(amount, currency)


@extend_schema_field({"type": "string", "pattern": r"^\d+(\.\d+)?$", "example": "0.3249"})
class RateField(MoneyField):
    """A tariff rate as stored, at least to the minor unit: "0.35", "0.3249"."""

    def to_representation(self, instance):
        rate, currency = _dotted(instance, self.source), _dotted(instance, self.currency_from)
        return None if rate is None else rate_text(rate, currency)


@extend_schema_field(
    {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", "example": "22:00"}
)
class ClockField(serializers.TimeField):
    """A time of day on the site's clock, "22:00" or "22:00:00": never with an offset (OpenAPI's
    `format: time` would ask for one, and a window follows the site's local time anyway)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M:%S", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


def _dotted(instance, path: str):
    for name in path.split("."):
        instance = getattr(instance, name, None) if instance is not None else None
    return instance


# Tariffs ---------------------------------------------------------------------------------


class TariffPeriodSerializer(serializers.Serializer):
    """A time-of-use window in the site's time zone, with its own rates (an end at or before the start
    runs past midnight)."""

    name = serializers.CharField(max_length=50)
    weekdays = serializers.RegexField(
        r"^[1-7]{1,7}$", max_length=7, help_text="ISO weekdays the window starts on, each once: 12345"
    )
    start_time = ClockField()
    end_time = ClockField(help_text="00:00: midnight at the end of the day")
    price_per_kwh = serializers.DecimalField(**RATE_FIELD, min_value=0)
    price_per_hour = serializers.DecimalField(
        **RATE_FIELD, min_value=0, allow_null=True, required=False, help_text="null: the tariff's"
    )

    def validate_weekdays(self, weekdays: str) -> str:
        if len(set(weekdays)) != len(weekdays):
            raise ValidationError(_("List each ISO weekday once, e.g. 12345 for Monday to Friday."))
        return weekdays

    def validate(self, period: dict) -> dict:
        # A PATCH of the tariff is partial, and DRF lets that skip a window's required fields too.
        missing = [name for name, field in self.fields.items() if field.required and name not in period]
        if missing:
            raise ValidationError({name: [_("This field is required.")] for name in missing})
        return period


class TariffPeriodOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    weekdays = serializers.CharField()
    start_time = ClockField()
    end_time = ClockField()
    price_per_kwh = RateField(currency_from="tariff.currency")
    price_per_hour = RateField(
        currency_from="tariff.currency", allow_null=True, help_text="null: the tariff's"
    )


class TariffSerializer(serializers.Serializer):
    """A tariff as the API shows it. Rates exclude tax; tax is added on the total."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    currency = serializers.CharField()
    price_per_kwh = RateField()
    price_per_hour = RateField()
    session_fee = RateField()
    idle_fee_per_hour = RateField()
    idle_grace_minutes = serializers.IntegerField()
    min_balance_to_start = MoneyField()
    tax_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    allow_overdraft = serializers.BooleanField()
    is_default = serializers.BooleanField()
    periods = TariffPeriodOutputSerializer(many=True, source="periods.all")
    created_at = serializers.DateTimeField()


class TariffInputSerializer(serializers.Serializer):
    """What an admin sends to create a tariff (name required) or change one (only the fields sent)."""

    name = serializers.CharField(max_length=100)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, help_text="ISO 4217 code, e.g. EUR")
    price_per_kwh = serializers.DecimalField(**RATE_FIELD, min_value=0, required=False)
    price_per_hour = serializers.DecimalField(**RATE_FIELD, min_value=0, required=False)
    session_fee = serializers.DecimalField(**RATE_FIELD, min_value=0, required=False)
    idle_fee_per_hour = serializers.DecimalField(**RATE_FIELD, min_value=0, required=False)
    idle_grace_minutes = serializers.IntegerField(min_value=0, max_value=7 * 24 * 60, required=False)
    min_balance_to_start = serializers.DecimalField(**MONEY_FIELD, min_value=0, required=False)
    tax_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False
    )
    allow_overdraft = serializers.BooleanField(required=False)
    is_default = serializers.BooleanField(
        required=False,
        help_text="true: used where no charger or connector has its own (takes it from the present one)",
    )
    periods = TariffPeriodSerializer(
        many=True, required=False, help_text="When sent, replaces every time-of-use window of the tariff"
    )

    def validate_name(self, name: str) -> str:
        others = Tariff.objects.filter(name=name)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise ValidationError(_("A tariff with this name exists already."))
        return name


TARIFF_EXAMPLE = OpenApiExample(
    "Day and night",
    request_only=True,
    value={
        "name": "Standard",
        "currency": "EUR",
        "price_per_kwh": "0.3900",
        "session_fee": "0.50",
        "tax_percent": "19.00",
        "is_default": True,
        "periods": [
            {
                "name": "Night",
                "weekdays": "1234567",
                "start_time": "22:00",
                "end_time": "06:00",
                "price_per_kwh": "0.2900",
            }
        ],
    },
)


def _saved(tariff: Tariff | None, data: dict) -> Tariff:
    """The tariff created or changed by `services.save_tariff`; a conflict is a 400 naming its field."""
    try:
        return services.save_tariff(tariff=tariff, **data)
    except services.TariffConflict as conflict:
        raise ValidationError({conflict.field: [str(conflict)]}) from None


def _tariffs():
    return Tariff.objects.prefetch_related("periods__tariff")


class TariffsApi(APIView):
    """GET: the tariffs, by name. POST: a new tariff (admins)."""

    permission_classes = [permission_required(access.SEE_TARIFFS, to_change=access.CHANGE_TARIFFS)]

    InputSerializer = TariffInputSerializer
    OutputSerializer = TariffSerializer

    @list_schema(output=OutputSerializer, summary="The tariffs", tags=["tariffs"])
    def get(self, request):
        return paginate(request, _tariffs().order_by("name", "pk"), self.OutputSerializer)

    @extend_schema(
        tags=["tariffs"],
        summary="Create a tariff",
        request=InputSerializer,
        responses={201: OutputSerializer, **errors(400, 401, 403)},
        examples=[TARIFF_EXAMPLE],
    )
    def post(self, request):
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        tariff = _saved(None, given.validated_data)
        return Response(
            self.OutputSerializer(_tariffs().get(pk=tariff.pk)).data, status=status.HTTP_201_CREATED
        )


class TariffApi(APIView):
    """GET: one tariff with its time-of-use windows. PATCH: change the fields sent (admins)."""

    permission_classes = [permission_required(access.SEE_TARIFFS, to_change=access.CHANGE_TARIFFS)]

    InputSerializer = TariffInputSerializer
    OutputSerializer = TariffSerializer

    @extend_schema(
        tags=["tariffs"], summary="A tariff", responses={200: OutputSerializer, **errors(401, 403, 404)}
    )
    def get(self, request, tariff_id):
        return Response(self.OutputSerializer(get_object_or_404(_tariffs(), pk=tariff_id)).data)

    @extend_schema(
        tags=["tariffs"],
        summary="Change a tariff",
        request=InputSerializer(partial=True),
        responses={200: OutputSerializer, **errors(400, 401, 403, 404)},
    )
    def patch(self, request, tariff_id):
        tariff = get_object_or_404(Tariff, pk=tariff_id)
        given = self.InputSerializer(tariff, data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        _saved(tariff, given.validated_data)
        return Response(self.OutputSerializer(_tariffs().get(pk=tariff.pk)).data)


# The ledger ------------------------------------------------------------------------------


class LedgerApi(APIView):
    """GET: every wallet's ledger entries, oldest first: pages stay put while entries are appended."""

    permission_classes = [permission_required(access.SEE_LEDGER)]

    class FilterSerializer(serializers.Serializer):
        account = serializers.IntegerField(min_value=1, required=False, help_text="A wallet's id")
        driver = serializers.IntegerField(
            min_value=1, required=False, help_text="The wallet of this driver (id)"
        )
        card = serializers.CharField(max_length=40, required=False, help_text="Entries made with this idTag")
        kind = serializers.ChoiceField(choices=LedgerEntry.Kind.choices, required=False)
        vars()["from"] = serializers.DateField(
            required=False, help_text="From this day (site time), included"
        )
        vars()["to"] = serializers.DateField(required=False, help_text="To this day (site time), included")

        def validate(self, filters):
            for name in ("from", "to"):
                if name in filters and not FIRST_DAY <= filters[name] <= LAST_DAY:
                    raise ValidationError({name: [_("Give a day between 1970 and 2099.")]})
            if "from" in filters and "to" in filters and filters["from"] > filters["to"]:
                raise ValidationError({"to": [_("The last day (to) is before the first day (from).")]})
            return filters

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        account = serializers.IntegerField(source="account_id")
        driver = serializers.IntegerField(source="account.owner_id", allow_null=True)
        kind = serializers.ChoiceField(choices=LedgerEntry.Kind.choices)
        amount = MoneyField(currency_from="account.currency", help_text="Positive credits, negative debits")
        currency = serializers.CharField(source="account.currency")
        balance_after = MoneyField(currency_from="account.currency")
        card = serializers.CharField(source="card.id_tag", allow_null=True, default=None)
        transaction = serializers.IntegerField(source="transaction_id", allow_null=True)
        payment_method = serializers.CharField(help_text="cash, card or other for a top-up; else empty")
        reason = serializers.CharField()
        source = serializers.CharField(help_text='What made it: "desk", "api", "ocpp:<charger>", "cli"…')
        created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
        created_at = serializers.DateTimeField()

    @list_schema(output=OutputSerializer, filters=FilterSerializer, summary="The ledger", tags=["ledger"])
    def get(self, request):
        filters = read_filters(self.FilterSerializer, request)
        first_day, last_day = filters.pop("from", None), filters.pop("to", None)
        entries = services.ledger_entries(
            **filters,
            since=_start_of(first_day) if first_day else None,
            until=_start_of(last_day + timedelta(days=1)) if last_day else None,
        )
        return paginate(request, entries, self.OutputSerializer)


def _start_of(day) -> datetime:
    """Midnight at the start of `day` in the site's time zone."""
    return timezone.make_aware(datetime.combine(day, time(0)), timezone.get_default_timezone())
