"""REST API v1 of the charger domain (DRF; token or session auth; csms.api has the shared parts).

- /api/v1/chargers/ (GET; POST registers), /api/v1/chargers/<charge point id>/ and its password/,
  approve/ and tariff/ (admins), commands/ (operators: remote control)
- /api/v1/transactions/, /api/v1/transactions/<id>/ (with its price), …/<id>/meter-values/
- /api/v1/reports/daily/ (the staff reports' figures, one item per line of their CSV)
"""

from datetime import date, timedelta
from decimal import Decimal

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import access
from billing import services as billing_services
from billing.api import money_text
from billing.models import Tariff
from billing.services import site_currency
from csms.api import (
    DayRangeFilterSerializer,
    UtcDateTimeField,
    errors,
    list_schema,
    paginate,
    permission_required,
    read_filters,
)
from rfid.models import normalise_id_tag
from stations import commands, reports
from stations.dashboard import connection_state
from stations.models import MAX_CHARGE_POINT_ID_LENGTH, Charger, ChargerQuerySet, Command, Transaction
from stations.services import is_valid_charge_point_id
from stations.views import CSV_HEADER, csv_lines

HISTORY_LENGTH = 100


class CanOperateChargers(BasePermission):
    message = "Only staff allowed to operate chargers (stations.operate_charger) may use this."

    def has_permission(self, request, view):
        user = request.user
        return bool(
            user and user.is_authenticated and user.is_staff and user.has_perm("stations.operate_charger")
        )


@extend_schema_field(
    {"type": "object", "additionalProperties": True, "description": "OCPP fields, camelCase"}
)
class OcppPayloadField(serializers.JSONField):
    """An OCPP payload as sent or answered: JSON as it is, an object in the schema."""


class CommandOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    charger = serializers.CharField(source="charger.charge_point_id")
    action = serializers.CharField()
    payload = OcppPayloadField()
    status = serializers.CharField()
    response = OcppPayloadField(allow_null=True, help_text="The charger's answer; null before it came")
    reported = OcppPayloadField(
        allow_null=True,
        help_text="What the charger reported afterwards by the command's requestId (GetChargingProfiles: each "
        "ReportChargingProfiles, in the order they came); null when nothing",
    )
    error_code = serializers.CharField()
    error_description = serializers.CharField()
    outcome = serializers.CharField(source="outcome_text")
    source = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username", default=None)
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField()
    answered_at = serializers.DateTimeField()


COMMAND_REFUSED = inline_serializer(
    "CommandRefused",
    {
        "action": serializers.ListField(child=serializers.CharField(), required=False),
        "payload": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="Each wrong field of the payload by its path (e.g. chargingProfile.stackLevel)",
        ),
    },
)


class ChargerCommandsApi(APIView):
    """GET: the charger's command history, newest first. POST: send one command and wait for its outcome.

    POST {"action": "<OCPP 1.6 action>", "payload": {<fields as OCPP names them>}} answers 201 with
    the stored command whatever the charger said (status accepted / rejected / error / timeout /
    offline), or 400 naming the field before anything is sent. For ReserveNow the CSMS assigns
    reservationId itself (the id of the Reservation it records); for GetLog and SignedUpdateFirmware (and
    2.0.1's GetBaseReport, UpdateFirmware and GetChargingProfiles), requestId when none is given (the
    command's id). ChangeConfiguration of AuthorizationKey, or 2.0.1's SetVariables of
    SecurityCtrlr.BasicAuthPassword (the charger's password), is for admins only (403 otherwise); the key
    is stored nowhere (docs/ocpp.md).
    """

    permission_classes = [CanOperateChargers]

    class InputSerializer(serializers.Serializer):
        action = serializers.CharField(max_length=50)
        payload = serializers.DictField(required=False, default=dict)

    OutputSerializer = CommandOutputSerializer

    @extend_schema(
        tags=["chargers"],
        summary="A charger's command history",
        responses={200: OutputSerializer(many=True), **errors(401, 403, 404)},
    )
    def get(self, request, charge_point_id):
        charger = get_object_or_404(Charger, charge_point_id=charge_point_id)
        history = charger.commands.select_related("charger", "requested_by")[:HISTORY_LENGTH]
        return Response(self.OutputSerializer(history, many=True).data)

    @extend_schema(
        tags=["chargers"],
        summary="Send a command to a charger",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: OpenApiResponse(
                COMMAND_REFUSED,
                description="Nothing was sent: the action is unknown, or the payload's fields (by their "
                "OCPP path) are wrong.",
            ),
            **errors(401, 403, 404),
        },
    )
    def post(self, request, charge_point_id):
        charger = get_object_or_404(Charger, charge_point_id=charge_point_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            command = commands.send(
                charger=charger, user=request.user, source=Command.Source.API, **serializer.validated_data
            )
        except commands.CommandRefused as refused:
            raise ValidationError(_refusal_detail(refused.errors))
        return Response(self.OutputSerializer(command).data, status=status.HTTP_201_CREATED)


def _refusal_detail(errors: dict[str, str]) -> dict:
    """{"action": [...]} for an unknown action, else {"payload": {"<field path>": [...]}}."""
    if "action" in errors:
        return {"action": [errors["action"]]}
    return {"payload": {field: [problem] for field, problem in errors.items()}}


# Chargers ---------------------------------------------------------------------------------
# Operators (and everyone with stations.view_charger) read; admins (stations.add_charger,
# stations.change_charger) register, set passwords, approve and assign tariffs.


class TariffRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ChargerConnectorSerializer(serializers.Serializer):
    connector_id = serializers.IntegerField(help_text="0 stands for the whole charger")
    status = serializers.CharField(help_text="OCPP ChargePointStatus as last reported; empty if never")
    error_code = serializers.CharField()
    info = serializers.CharField()
    status_at = UtcDateTimeField(allow_null=True)
    tariff = TariffRefSerializer(allow_null=True, help_text="This connector's own tariff, if any")


class ChargerOutputSerializer(serializers.Serializer):
    charge_point_id = serializers.CharField()
    name = serializers.CharField()
    state = serializers.ChoiceField(
        choices=ChargerQuerySet.STATES,
        help_text="As the dashboard shows it: pending or rejected (approval), else online, silent (marked "
        "connected but unheard for two heartbeat intervals) or offline",
    )
    approval = serializers.ChoiceField(choices=Charger.Approval.choices)
    connected = serializers.BooleanField(source="is_connected")
    protocol = serializers.CharField(
        allow_null=True, help_text='The OCPP subprotocol of its last connection ("ocpp1.6"); null if never'
    )
    has_password = serializers.BooleanField()
    last_seen_at = UtcDateTimeField(allow_null=True)
    connected_since = UtcDateTimeField(allow_null=True)
    disconnected_at = UtcDateTimeField(allow_null=True)
    last_boot_at = UtcDateTimeField(allow_null=True)
    vendor = serializers.CharField()
    model = serializers.CharField()
    serial_number = serializers.CharField()
    firmware_version = serializers.CharField()
    tariff = TariffRefSerializer(
        allow_null=True, help_text="The charger's own tariff; null: the site's default"
    )
    connectors = ChargerConnectorSerializer(many=True)


def charger_data(charger: Charger) -> dict:
    """What ChargerOutputSerializer shows: the charger's row, its connectors, its own tariffs.
    The charger comes from chargers_shown() (connectors and tariffs prefetched)."""
    tariffs = {assignment.connector_id: assignment.tariff for assignment in charger.tariff_assignments.all()}
    return {
        **{name: getattr(charger, name) for name in CHARGER_FIELDS},
        "state": connection_state(charger),
        "protocol": f"ocpp{charger.ocpp_version}" if charger.ocpp_version else None,
        "has_password": bool(charger.password),
        "tariff": tariffs.get(None),
        "connectors": [
            {**{name: getattr(c, name) for name in CONNECTOR_FIELDS}, "tariff": tariffs.get(c.connector_id)}
            for c in charger.connectors.all()
        ],
    }


CHARGER_FIELDS = (
    "charge_point_id",
    "name",
    "approval",
    "is_connected",
    "last_seen_at",
    "connected_since",
    "disconnected_at",
    "last_boot_at",
    "vendor",
    "model",
    "serial_number",
    "firmware_version",
)
CONNECTOR_FIELDS = ("connector_id", "status", "error_code", "info", "status_at")


def chargers_shown():
    """Chargers with what ChargerOutputSerializer shows, in three queries for any number of them."""
    return Charger.objects.prefetch_related("connectors", "tariff_assignments__tariff").order_by(
        "charge_point_id", "pk"
    )


def shown_charger(charge_point_id: str) -> Charger:
    return get_object_or_404(chargers_shown(), charge_point_id=charge_point_id)


class ChargersApi(APIView):
    """GET: the chargers, by charge point id. POST (admins): register a charger so that it may connect."""

    permission_classes = [permission_required(access.SEE_CHARGERS, to_change=access.REGISTER_CHARGERS)]

    class FilterSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=ChargerQuerySet.STATES, required=False)
        connected = serializers.BooleanField(required=False, allow_null=True, default=None)

    class InputSerializer(serializers.Serializer):
        charge_point_id = serializers.CharField(max_length=MAX_CHARGE_POINT_ID_LENGTH, trim_whitespace=False)
        name = serializers.CharField(max_length=100, required=False, default="")
        password = serializers.CharField(
            max_length=40,
            required=False,
            allow_blank=True,
            write_only=True,
            trim_whitespace=False,
            help_text="HTTP Basic password the charger must present (OCPP: 16 to 40 random characters); "
            "stored hashed. Absent or empty: it connects without one.",
        )

        def validate_charge_point_id(self, value):
            if not is_valid_charge_point_id(value):
                raise serializers.ValidationError(_("A charge point id has 1 to 48 printable characters."))
            if Charger.objects.filter(charge_point_id=value).exists():
                raise serializers.ValidationError(_("A charger with this id is registered already."))
            return value

    OutputSerializer = ChargerOutputSerializer

    @list_schema(
        output=ChargerOutputSerializer, filters=FilterSerializer, tags=["chargers"], summary="Chargers"
    )
    def get(self, request):
        filters = read_filters(self.FilterSerializer, request)
        chargers = chargers_shown()
        if "state" in filters:
            chargers = chargers.in_state(filters["state"])
        if "connected" in filters:
            chargers = chargers.connected(filters["connected"])
        return paginate(request, chargers, self.OutputSerializer, shape=charger_data)

    @extend_schema(
        tags=["chargers"],
        summary="Register a charger",
        request=InputSerializer,
        responses={201: OutputSerializer, **errors(400, 401, 403)},
    )
    def post(self, request):
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        _charger, created = Charger.objects.register(
            charge_point_id=data["charge_point_id"],
            password=data.get("password"),
            name=data["name"],
            update=False,
        )
        if not created:  # registered by someone else since the check
            raise ValidationError({"charge_point_id": [_("A charger with this id is registered already.")]})
        charger = shown_charger(data["charge_point_id"])
        return Response(self.OutputSerializer(charger_data(charger)).data, status=status.HTTP_201_CREATED)


class ChargerApi(APIView):
    """GET: one charger, its connectors and their status."""

    permission_classes = [permission_required(access.SEE_CHARGERS)]
    OutputSerializer = ChargerOutputSerializer

    @extend_schema(
        tags=["chargers"], summary="A charger", responses={200: OutputSerializer, **errors(401, 403, 404)}
    )
    def get(self, request, charge_point_id):
        return Response(self.OutputSerializer(charger_data(shown_charger(charge_point_id))).data)


class ChargerPasswordApi(APIView):
    """POST (admins): the charger's new HTTP Basic password; empty or null: it connects without one."""

    permission_classes = [permission_required(access.CHANGE_CHARGERS)]

    class InputSerializer(serializers.Serializer):
        password = serializers.CharField(
            max_length=40, allow_blank=True, allow_null=True, trim_whitespace=False, write_only=True
        )

    OutputSerializer = ChargerOutputSerializer

    @extend_schema(
        tags=["chargers"],
        summary="Set a charger's password",
        request=InputSerializer,
        responses={200: OutputSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, charge_point_id):
        charger = get_object_or_404(Charger, charge_point_id=charge_point_id)
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        charger.change_password(given.validated_data["password"])
        return Response(self.OutputSerializer(charger_data(shown_charger(charge_point_id))).data)


class ChargerApprovalApi(APIView):
    """POST (admins): accept a pending (or rejected) charger; it is Accepted at its next boot."""

    permission_classes = [permission_required(access.CHANGE_CHARGERS)]
    OutputSerializer = ChargerOutputSerializer

    @extend_schema(
        tags=["chargers"],
        summary="Approve a charger",
        request=None,
        responses={200: OutputSerializer, **errors(401, 403, 404)},
    )
    def post(self, request, charge_point_id):
        get_object_or_404(Charger, charge_point_id=charge_point_id).approve()
        return Response(self.OutputSerializer(charger_data(shown_charger(charge_point_id))).data)


class ChargerTariffApi(APIView):
    """PUT (admins): the charger's own tariff, or one connector's; `tariff: null` takes it away."""

    permission_classes = [permission_required(access.CHANGE_CHARGERS)]

    class InputSerializer(serializers.Serializer):
        tariff = serializers.PrimaryKeyRelatedField(
            queryset=Tariff.objects.all(), allow_null=True, help_text="A tariff's id; null: none of its own"
        )
        connector_id = serializers.IntegerField(
            min_value=1,
            max_value=2**31 - 1,
            required=False,
            allow_null=True,
            default=None,
            help_text="A connector's own tariff; absent or null: the whole charger's",
        )

    OutputSerializer = ChargerOutputSerializer

    @extend_schema(
        tags=["chargers"],
        summary="Assign a tariff to a charger",
        request=InputSerializer,
        responses={200: OutputSerializer, **errors(400, 401, 403, 404)},
    )
    def put(self, request, charge_point_id):
        charger = get_object_or_404(Charger, charge_point_id=charge_point_id)
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        billing_services.assign_tariff(charger=charger, **given.validated_data)
        return Response(self.OutputSerializer(charger_data(shown_charger(charge_point_id))).data)


# Transactions (charging sessions) --------------------------------------------------------
# Everyone with stations.view_transaction (operators, admins) reads them; nobody changes them here.

EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2099, 12, 31)  # the times a charger may send (bounds.py)


class DriverRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TransactionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The OCPP transactionId")
    charger = serializers.CharField(source="charger.charge_point_id")
    connector_id = serializers.IntegerField()
    id_tag = serializers.CharField()
    id_tag_status = serializers.CharField(help_text="The authorization answer given at the start")
    state = serializers.ChoiceField(choices=Transaction.State.choices)
    driver = DriverRefSerializer(allow_null=True, help_text="The card's owner; null for a card nobody owns")
    started_at = UtcDateTimeField()
    stopped_at = UtcDateTimeField(allow_null=True)
    meter_start = serializers.IntegerField(help_text="Wh")
    meter_stop = serializers.IntegerField(allow_null=True, help_text="Wh; null while charging")
    energy_kwh = serializers.DecimalField(
        max_digits=16,
        decimal_places=3,
        allow_null=True,
        help_text="meterStop - meterStart; null while charging",
    )
    stop_reason = serializers.CharField()


def transaction_data(session: Transaction) -> dict:
    """What TransactionOutputSerializer shows of a session from sessions_shown()."""
    driver = {"id": session.driver_pk, "name": session.driver_name} if session.driver_pk else None
    energy = None if session.energy_wh is None else Decimal(session.energy_wh) / 1000
    return {
        **{name: getattr(session, name) for name in TRANSACTION_FIELDS},
        "driver": driver,
        "energy_kwh": energy,
    }


TRANSACTION_FIELDS = (
    "id",
    "charger",
    "connector_id",
    "id_tag",
    "id_tag_status",
    "state",
    "started_at",
    "stopped_at",
    "meter_start",
    "meter_stop",
    "stop_reason",
)


def sessions_shown():
    """Sessions with their charger, charge and people, newest first (the id breaks ties: pages never overlap)."""
    return (
        Transaction.objects.select_related("charger", "charge__tariff")
        .with_people()
        .order_by("-started_at", "-pk")
    )


class PriceLineSerializer(serializers.Serializer):
    label = serializers.CharField(help_text='As billing stores it, in English: "Energy (Peak)", "Tax"')
    quantity = serializers.CharField(help_text="In `unit`; empty for tax")
    unit = serializers.CharField(help_text='"kWh", "h", "session"…; empty for tax')
    unit_price = serializers.CharField(help_text="The tariff's rate, as stored; empty for tax")
    amount = serializers.CharField()


class PriceSerializer(serializers.Serializer):
    """The session's price once it stopped and was settled (billing.models.SessionCharge)."""

    currency = serializers.CharField()
    tariff = TariffRefSerializer(allow_null=True)
    energy_kwh = serializers.DecimalField(max_digits=16, decimal_places=3)
    charging_seconds = serializers.IntegerField()
    idle_seconds = serializers.IntegerField()
    net = serializers.CharField()
    tax = serializers.CharField()
    total = serializers.CharField()
    charged = serializers.CharField(help_text="What the payer's wallet or payment was charged")
    uncollected = serializers.CharField(help_text="What the balance could not cover")
    free = serializers.BooleanField(
        help_text="A personal card's session: priced for the record, never charged"
    )
    lines = PriceLineSerializer(many=True)


def price_data(charge) -> dict | None:
    if charge is None:
        return None
    money = {name: money_text(getattr(charge, name), charge.currency) for name in PRICE_AMOUNTS}
    return {
        "currency": charge.currency,
        "tariff": charge.tariff,
        "energy_kwh": charge.energy_wh / 1000,
        "charging_seconds": charge.charging_seconds,
        "idle_seconds": charge.idle_seconds,
        "free": charge.free,
        "lines": charge.breakdown,
        **money,
    }


PRICE_AMOUNTS = ("net", "tax", "total", "charged", "uncollected")


class TransactionDetailSerializer(TransactionOutputSerializer):
    price = PriceSerializer(
        allow_null=True, help_text="null while charging, or when settling has not happened"
    )


class TransactionsApi(APIView):
    """GET: the sessions, newest first, filtered."""

    permission_classes = [permission_required(access.SEE_SESSIONS)]

    class FilterSerializer(DayRangeFilterSerializer):
        charger = serializers.CharField(required=False, help_text="A charge point id")
        id_tag = serializers.CharField(required=False, help_text="A card's idTag (any case)")
        driver = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=2**63 - 1,
            help_text="A driver's id: their cards' and payments' sessions",
        )
        state = serializers.ChoiceField(choices=Transaction.State.choices, required=False)

        def validate_charger(self, value):
            if not Charger.objects.filter(charge_point_id=value).exists():
                raise serializers.ValidationError(_("There is no charger %(id)r.") % {"id": value})
            return value

    OutputSerializer = TransactionOutputSerializer

    @list_schema(
        output=TransactionOutputSerializer,
        filters=FilterSerializer,
        tags=["transactions"],
        summary="Sessions",
    )
    def get(self, request):
        filters = read_filters(self.FilterSerializer, request)
        return paginate(request, filtered_sessions(**filters), self.OutputSerializer, shape=transaction_data)


def filtered_sessions(**filters):
    """sessions_shown() narrowed by TransactionsApi's filters (local days as the reports count them)."""
    sessions = sessions_shown()
    if "charger" in filters:
        sessions = sessions.filter(charger__charge_point_id=filters["charger"])
    if "id_tag" in filters:
        sessions = sessions.filter(id_tag=normalise_id_tag(filters["id_tag"]))
    if "driver" in filters:
        sessions = sessions.of_driver(filters["driver"])
    if "from" in filters or "to" in filters:
        sessions = sessions.started_on_local_days(
            filters.get("from", EARLIEST_DAY), filters.get("to", LATEST_DAY)
        )
    if "state" in filters:
        sessions = sessions.in_state(filters["state"])
    return sessions


class TransactionApi(APIView):
    """GET: one session, with its price breakdown once it is priced."""

    permission_classes = [permission_required(access.SEE_SESSIONS)]
    OutputSerializer = TransactionDetailSerializer

    @extend_schema(
        tags=["transactions"], summary="A session", responses={200: OutputSerializer, **errors(401, 403, 404)}
    )
    def get(self, request, transaction_id):
        session = get_object_or_404(sessions_shown(), pk=transaction_id)
        price = price_data(getattr(session, "charge", None))
        return Response(self.OutputSerializer({**transaction_data(session), "price": price}).data)


class TransactionMeterValuesApi(APIView):
    """GET: the session's meter samples in time order, as the charger sent them (the session page's chart
    is drawn from them, so whoever sees sessions sees these)."""

    permission_classes = [permission_required(access.SEE_SESSIONS)]

    class OutputSerializer(serializers.Serializer):
        timestamp = UtcDateTimeField()
        connector_id = serializers.IntegerField()
        measurand = serializers.CharField()
        phase = serializers.CharField()
        unit = serializers.CharField()
        context = serializers.CharField()
        location = serializers.CharField()
        format = serializers.CharField()
        value = serializers.CharField(help_text="As sent (SignedData kept verbatim)")

    @list_schema(output=OutputSerializer, tags=["transactions"], summary="A session's meter values")
    def get(self, request, transaction_id):
        session = get_object_or_404(Transaction, pk=transaction_id)
        return paginate(request, session.meter_values.order_by("timestamp", "id"), self.OutputSerializer)


# Reports ------------------------------------------------------------------------------------


class DailyReportApi(APIView):
    """GET: the daily figures per charger and local day, as the staff reports and their CSV count them
    (stations.reports): one item per CSV line, fees in a second currency on an item of their own."""

    permission_classes = [permission_required(access.SEE_SESSIONS)]

    class FilterSerializer(DayRangeFilterSerializer):
        charger = serializers.CharField(required=False, help_text="A charge point id: only its figures")

        def validate_charger(self, value):
            charger = Charger.objects.filter(charge_point_id=value).first()
            if charger is None:
                raise serializers.ValidationError(_("There is no charger %(id)r.") % {"id": value})
            return charger

        def validate(self, attrs):
            attrs = super().validate(attrs)
            first, last = attrs.get("from"), attrs.get("to")
            if first and last and (last - first).days >= reports.MAX_DAYS:
                message = _("A report covers at most %(days)d days.") % {"days": reports.MAX_DAYS}
                raise serializers.ValidationError({"to": [message]})
            return attrs

    class OutputSerializer(serializers.Serializer):
        date = serializers.DateField(help_text="The site's local day")
        charger = serializers.CharField(help_text="The charge point id")
        sessions = serializers.IntegerField(help_text="Sessions that started that day")
        working_hours = serializers.DecimalField(max_digits=12, decimal_places=3)
        charging_hours = serializers.DecimalField(max_digits=12, decimal_places=3)
        energy_kwh = serializers.DecimalField(max_digits=16, decimal_places=3)
        fees = serializers.CharField(
            help_text="What the sessions that ended that day were charged, taxes included"
        )
        currency = serializers.CharField()

    @list_schema(output=OutputSerializer, filters=FilterSerializer, tags=["reports"], summary="Daily figures")
    def get(self, request):
        filters = read_filters(self.FilterSerializer, request)
        first, last = report_range(filters)
        report = reports.daily_report(first, last, charger=filters.get("charger"))
        currency = site_currency()
        lines = [line for row in report.rows for line in csv_lines(row, currency)]
        return paginate(request, lines, self.OutputSerializer, shape=lambda line: dict(zip(CSV_HEADER, line)))


def report_range(filters: dict) -> tuple[date, date]:
    """The days asked for; this month as the staff report has it when neither is given, else a missing end
    is as far from the given one as a report reaches (or today)."""
    first, last = filters.get("from"), filters.get("to")
    if first is None and last is None:
        return reports.this_month()
    if first is None:
        return last - timedelta(days=reports.MAX_DAYS - 1), last
    return first, last or max(first, min(reports.local_today(), first + timedelta(days=reports.MAX_DAYS - 1)))
