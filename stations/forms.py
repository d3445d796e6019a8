from datetime import timedelta

from django import forms
from django.utils import timezone

from stations import payloads
from stations.models import Charger
from stations.ocpp_time import utc_iso


class ChargerAdminForm(forms.ModelForm):
    """Staff type a charger's password once; only its hash is stored."""

    new_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="HTTP Basic password the charger must present: 16 to 40 random characters, as OCPP "
        "recommends. Leave empty to keep the current one.",
    )
    clear_password = forms.BooleanField(
        required=False, help_text="Let the charger connect without a password."
    )

    class Meta:
        model = Charger
        fields = ("charge_point_id", "name", "approval")

    def save(self, commit=True):
        charger = super().save(commit=False)
        if self.cleaned_data.get("clear_password"):
            charger.set_password(None)
        elif self.cleaned_data.get("new_password"):
            charger.set_password(self.cleaned_data["new_password"])
        if commit:
            charger.save()
        return charger


# --- one form per operation on the charger page ---------------------------------------
# Each builds the camelCase OCPP payload; stations.commands.send checks it against the schema.


class OperationForm(forms.Form):
    action = ""  # the OCPP action sent
    title = ""
    button = "Send"

    def payload(self, charger) -> dict:
        return {}


def connector_field(minimum=1, initial=1, help_text=""):
    return forms.IntegerField(min_value=minimum, initial=initial, label="Connector", help_text=help_text)


LIMIT_UNITS = [("kW", "kW"), ("A", "A")]


class RemoteStartForm(OperationForm):
    action, title, button = "RemoteStartTransaction", "Start charging", "Start"
    connector = connector_field()
    id_tag = forms.CharField(max_length=20, label="idTag")
    limit = forms.DecimalField(
        required=False, min_value=0, decimal_places=3, help_text="Optional limit for this session"
    )
    unit = forms.ChoiceField(choices=LIMIT_UNITS, initial="kW")

    def payload(self, charger):
        data = self.cleaned_data
        payload = {"connectorId": data["connector"], "idTag": data["id_tag"]}
        if data["limit"] is not None:
            payload["chargingProfile"] = payloads.remote_start_profile(limit=data["limit"], unit=data["unit"])
        return payload


class RemoteStopForm(OperationForm):
    action, title, button = "RemoteStopTransaction", "Stop charging", "Stop"
    transaction = forms.IntegerField(min_value=1, label="Transaction id")

    def payload(self, charger):
        return {"transactionId": self.cleaned_data["transaction"]}


class ResetForm(OperationForm):
    action, title, button = "Reset", "Reset", "Reset"
    type = forms.ChoiceField(choices=[("Soft", "Soft"), ("Hard", "Hard")], initial="Soft")

    def payload(self, charger):
        return {"type": self.cleaned_data["type"]}


class UnlockForm(OperationForm):
    action, title, button = "UnlockConnector", "Unlock connector", "Unlock"
    connector = connector_field()

    def payload(self, charger):
        return {"connectorId": self.cleaned_data["connector"]}


class AvailabilityForm(OperationForm):
    action, title, button = "ChangeAvailability", "Change availability", "Change"
    connector = connector_field(minimum=0, initial=0, help_text="0: the whole charger")
    type = forms.ChoiceField(choices=[("Operative", "Operative"), ("Inoperative", "Inoperative")])

    def payload(self, charger):
        return {"connectorId": self.cleaned_data["connector"], "type": self.cleaned_data["type"]}


class GetConfigurationForm(OperationForm):
    action, title, button = "GetConfiguration", "Read configuration", "Read"
    keys = forms.CharField(required=False, help_text="Comma-separated; empty reads every key")

    def payload(self, charger):
        keys = [key.strip() for key in self.cleaned_data["keys"].split(",") if key.strip()]
        return {"key": keys} if keys else {}


class ChangeConfigurationForm(OperationForm):
    action, title, button = "ChangeConfiguration", "Change configuration", "Change"
    key = forms.CharField(max_length=50)
    value = forms.CharField(max_length=500, required=False)

    def payload(self, charger):
        return {"key": self.cleaned_data["key"], "value": self.cleaned_data["value"]}


class ClearCacheForm(OperationForm):
    action, title, button = "ClearCache", "Clear authorization cache", "Clear cache"


class TriggerForm(OperationForm):
    action, title, button = "TriggerMessage", "Ask for a message", "Trigger"
    MESSAGES = [
        "StatusNotification",
        "Heartbeat",
        "BootNotification",
        "MeterValues",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
    ]
    message = forms.ChoiceField(choices=[(m, m) for m in MESSAGES])
    connector = forms.IntegerField(min_value=0, required=False, label="Connector", help_text="Optional")

    def payload(self, charger):
        return {
            "requestedMessage": self.cleaned_data["message"],
            "connectorId": self.cleaned_data["connector"],
        }


class UpdateFirmwareForm(OperationForm):
    action, title, button = "UpdateFirmware", "Update firmware", "Update"
    location = forms.CharField(max_length=512, help_text="URI the charger downloads the firmware from")
    retrieve_at = forms.DateTimeField(required=False, help_text="Site time; empty: now")
    retries = forms.IntegerField(min_value=0, required=False)

    def payload(self, charger):
        data = self.cleaned_data
        return {
            "location": data["location"],
            "retrieveDate": utc_iso(data["retrieve_at"] or timezone.now()),
            "retries": data["retries"],
        }


class GetDiagnosticsForm(OperationForm):
    action, title, button = "GetDiagnostics", "Upload diagnostics", "Request"
    location = forms.CharField(max_length=512, help_text="URI the charger uploads the diagnostics to")
    start = forms.DateTimeField(required=False, help_text="Site time; optional")
    stop = forms.DateTimeField(required=False, help_text="Site time; optional")

    def payload(self, charger):
        data = self.cleaned_data
        return {
            "location": data["location"],
            "startTime": data["start"] and utc_iso(data["start"]),
            "stopTime": data["stop"] and utc_iso(data["stop"]),
        }


class PowerLimitForm(OperationForm):
    action, title, button = "SetChargingProfile", "Limit power", "Limit"
    connector = connector_field(minimum=0, initial=0, help_text="0: the whole charger")
    limit = forms.DecimalField(min_value=0, max_digits=9, decimal_places=4)
    unit = forms.ChoiceField(choices=LIMIT_UNITS, initial="kW")

    def payload(self, charger):
        data = self.cleaned_data
        return payloads.power_limit_payload(
            connector_id=data["connector"], limit=data["limit"], unit=data["unit"]
        )


class ClearLimitForm(OperationForm):
    action, title, button = "ClearChargingProfile", "Remove power limit", "Remove limit"
    connector = connector_field(minimum=0, initial=0, help_text="0: the whole charger")

    def payload(self, charger):
        return payloads.clear_power_limit_payload(connector_id=self.cleaned_data["connector"])


class CompositeScheduleForm(OperationForm):
    action, title, button = "GetCompositeSchedule", "Read the charging schedule", "Read"
    connector = connector_field(minimum=0, initial=0, help_text="0: the whole charger")
    duration = forms.IntegerField(min_value=1, initial=3600, help_text="seconds")

    def payload(self, charger):
        return {"connectorId": self.cleaned_data["connector"], "duration": self.cleaned_data["duration"]}


class SendLocalListForm(OperationForm):
    action, title, button = "SendLocalList", "Send the local authorization list (all cards)", "Send list"

    def payload(self, charger):
        return payloads.local_list_payload(charger=charger)


class LocalListVersionForm(OperationForm):
    action, title, button = "GetLocalListVersion", "Read the local list version", "Read"


class ReserveForm(OperationForm):
    action, title, button = "ReserveNow", "Reserve a connector", "Reserve"
    connector = connector_field()
    id_tag = forms.CharField(max_length=20, label="idTag")
    minutes = forms.IntegerField(min_value=1, max_value=7 * 24 * 60, initial=30, label="For (minutes)")

    def payload(self, charger):
        data = self.cleaned_data
        expires_at = timezone.now() + timedelta(minutes=data["minutes"])
        return {"connectorId": data["connector"], "idTag": data["id_tag"], "expiryDate": utc_iso(expires_at)}


class CancelReservationForm(OperationForm):
    action, title, button = "CancelReservation", "Cancel a reservation", "Cancel reservation"
    reservation = forms.IntegerField(min_value=1, label="Reservation id")

    def payload(self, charger):
        return {"reservationId": self.cleaned_data["reservation"]}


class DataTransferForm(OperationForm):
    action, title, button = "DataTransfer", "Vendor data transfer", "Send"
    vendor_id = forms.CharField(max_length=255, label="vendorId")
    message_id = forms.CharField(max_length=50, required=False, label="messageId")
    data = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def payload(self, charger):
        data = self.cleaned_data
        return {
            "vendorId": data["vendor_id"],
            "messageId": data["message_id"] or None,
            "data": data["data"] or None,
        }


# The URL slug of each operation, in the order the page shows them.
OPERATIONS: dict[str, type[OperationForm]] = {
    "remote-start": RemoteStartForm,
    "remote-stop": RemoteStopForm,
    "limit": PowerLimitForm,
    "clear-limit": ClearLimitForm,
    "composite-schedule": CompositeScheduleForm,
    "reset": ResetForm,
    "unlock": UnlockForm,
    "availability": AvailabilityForm,
    "get-configuration": GetConfigurationForm,
    "change-configuration": ChangeConfigurationForm,
    "clear-cache": ClearCacheForm,
    "trigger": TriggerForm,
    "update-firmware": UpdateFirmwareForm,
    "get-diagnostics": GetDiagnosticsForm,
    "send-local-list": SendLocalListForm,
    "local-list-version": LocalListVersionForm,
    "reserve": ReserveForm,
    "cancel-reservation": CancelReservationForm,
    "data-transfer": DataTransferForm,
}
