"""REST API v1 of drivers (/api/v1/drivers/): the staff's /drivers/ list and its search, read-only.

- GET /api/v1/drivers/?q=…        by name, username, email, phone (however it was typed) or a card's idTag
- GET /api/v1/drivers/<id>/       one driver, with the wallet's balance and the cards

Operators, the front desk and admins (accounts.view_user). Staff accounts are never drivers here (404).
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import access
from billing.staff_api import MoneyField
from csms.api import errors, list_schema, paginate, permission_required, read_filters
from rfid import services as rfid_services
from rfid.models import IdTag


class DriverCardSerializer(serializers.Serializer):
    id_tag = serializers.CharField()
    status = serializers.ChoiceField(choices=rfid_services.CardState.choices, source="state")
    mode = serializers.ChoiceField(choices=IdTag.Mode.choices)
    expires_at = serializers.DateTimeField(allow_null=True)


class DriversApi(APIView):
    """GET: drivers by name, then username; the search box of /drivers/ as `q`."""

    permission_classes = [permission_required(access.SEE_DRIVERS)]

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(
            max_length=100,
            required=False,
            allow_blank=True,
            help_text="Name, username, email, phone (+49 170 5550101 finds 0170-555 0101) or a card's idTag",
        )

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        name = serializers.CharField()
        email = serializers.CharField()
        phone = serializers.CharField()
        card_count = serializers.IntegerField()
        balance = MoneyField(allow_null=True, help_text="The wallet's balance; null: no wallet yet")
        currency = serializers.CharField(allow_null=True)
        last_session_at = serializers.DateTimeField(allow_null=True)

    @list_schema(output=OutputSerializer, filters=FilterSerializer, summary="Find drivers", tags=["drivers"])
    def get(self, request):
        filters = read_filters(self.FilterSerializer, request)
        return paginate(
            request, rfid_services.drivers_listed(query=filters.get("q", "")), self.OutputSerializer
        )


class DriverApi(APIView):
    """GET: one driver, with the wallet's balance and every card (replaced ones too, with their status)."""

    permission_classes = [permission_required(access.SEE_DRIVERS)]

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        name = serializers.CharField()
        email = serializers.CharField()
        phone = serializers.CharField()
        is_active = serializers.BooleanField()
        date_joined = serializers.DateTimeField()
        balance = MoneyField(
            source="wallet.balance",
            currency_from="wallet.currency",
            allow_null=True,
            help_text="null: no wallet",
        )
        currency = serializers.CharField(source="wallet.currency", allow_null=True, default=None)
        cards = DriverCardSerializer(many=True, source="cards_shown")

    @extend_schema(
        tags=["drivers"], summary="A driver", responses={200: OutputSerializer, **errors(401, 403, 404)}
    )
    def get(self, request, driver_id):
        driver = get_object_or_404(rfid_services.drivers_with_cards(), pk=driver_id)  # never a staff account
        return Response(self.OutputSerializer(driver).data)
