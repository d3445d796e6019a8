"""REST API v1 for remote control of chargers (DRF; token or session auth)."""

from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from stations import commands
from stations.models import Charger, Command

HISTORY_LENGTH = 100


class CanOperateChargers(BasePermission):
    message = "Only staff allowed to operate chargers (stations.operate_charger) may use this."

    def has_permission(self, request, view):
        user = request.user
        return bool(
            user and user.is_authenticated and user.is_staff and user.has_perm("stations.operate_charger")
        )


class CommandOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    charger = serializers.CharField(source="charger.charge_point_id")
    action = serializers.CharField()
    payload = serializers.JSONField()
    status = serializers.CharField()
    response = serializers.JSONField()
    error_code = serializers.CharField()
    error_description = serializers.CharField()
    outcome = serializers.CharField(source="outcome_text")
    source = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username", default=None)
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField()
    answered_at = serializers.DateTimeField()


class ChargerCommandsApi(APIView):
    """GET: the charger's command history, newest first. POST: send one command and wait for its outcome.

    POST {"action": "<OCPP 1.6 action>", "payload": {<fields as OCPP names them>}} answers 201 with
    the stored command whatever the charger said (status accepted / rejected / error / timeout /
    offline), or 400 naming the field before anything is sent. For ReserveNow the CSMS assigns
    reservationId itself (the id of the Reservation it records).
    """

    permission_classes = [CanOperateChargers]

    class InputSerializer(serializers.Serializer):
        action = serializers.CharField(max_length=50)
        payload = serializers.DictField(required=False, default=dict)

    OutputSerializer = CommandOutputSerializer

    def get(self, request, charge_point_id):
        charger = get_object_or_404(Charger, charge_point_id=charge_point_id)
        history = charger.commands.select_related("charger", "requested_by")[:HISTORY_LENGTH]
        return Response(self.OutputSerializer(history, many=True).data)

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
