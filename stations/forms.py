from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from stations import payloads, security
from stations.models import Charger
from stations.ocpp_time import utc_iso


class ChargerAdminForm(forms.ModelForm):
    """Staff type a charger's password once; only its hash is stored."""

    new_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label=_("New password"),
        help_text=_(
            "HTTP Basic password the charger must present: 16 to 40 random characters, as OCPP "
            "recommends. Leave empty to keep the current one."
        ),
    )
    clear_password = forms.BooleanField(
        required=False,
        label=_("Clear the password"),
        help_text=_("Let the charger connect without a password."),
    )

    class Meta:
        model = Charger
        fields = ("charge_point_id", "name", "approval", "security_profile")

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
# A form is of one protocol: OPERATION_FORMS (at the end) holds each protocol's form of each operation.


class OperationForm(forms.Form):
    action = ""  # the OCPP action sent
    title = ""
    button = _("Send")
    # {payload field path: form field}: a refusal of the payload (stations.commands.CommandRefused) naming
    # one of these paths is shown as that field's error.
    payload_fields: dict[str, str] = {}

    def payload(self, charger) -> dict:
        return {}

    def request(self, charger) -> tuple[str, dict]:
        """(action, payload) to send; a form whose action depends on what was typed says so here."""
        return self.action, self.payload(charger)


def connector_field(minimum=1, initial=1, help_text=""):
    return forms.IntegerField(min_value=minimum, initial=initial, label=_("Connector"), help_text=help_text)


def whole_charger_connector_field():
    return connector_field(minimum=0, initial=0, help_text=_("0: the whole charger"))


def id_tag_field():
    return forms.CharField(max_length=20, label=pgettext_lazy("RFID card number", "idTag"))


LIMIT_UNITS = [("kW", "kW"), ("A", "A")]
UNIT_LABEL = _("Unit")


class RemoteStartForm(OperationForm):
    action, title, button = "RemoteStartTransaction", _("Start charging"), _("Start")
    connector = connector_field()
    id_tag = id_tag_field()
    limit = forms.DecimalField(
        required=False,
        min_value=0,
        decimal_places=3,
        label=_("Power limit"),
        help_text=_("Optional limit for this session"),
    )
    unit = forms.ChoiceField(choices=LIMIT_UNITS, initial="kW", label=UNIT_LABEL)

    def payload(self, charger):
        data = self.cleaned_data
        payload = {"connectorId": data["connector"], "idTag": data["id_tag"]}
        if data["limit"] is not None:
            payload["chargingProfile"] = payloads.remote_start_profile(limit=data["limit"], unit=data["unit"])
        return payload


class RemoteStopForm(OperationForm):
    action, title, button = "RemoteStopTransaction", _("Stop charging"), _("Stop")
    transaction = forms.IntegerField(min_value=1, label=_("Transaction id"))

    def payload(self, charger):
        return {"transactionId": self.cleaned_data["transaction"]}


class ResetForm(OperationForm):
    action, title, button = "Reset", _("Reset"), _("Reset")
    type = forms.ChoiceField(
        choices=[("Soft", pgettext_lazy("reset", "Soft")), ("Hard", pgettext_lazy("reset", "Hard"))],
        initial="Soft",
        label=pgettext_lazy("kind of reset or availability", "Type"),
    )

    def payload(self, charger):
        return {"type": self.cleaned_data["type"]}


class UnlockForm(OperationForm):
    action, title, button = "UnlockConnector", _("Unlock connector"), _("Unlock")
    connector = connector_field()

    def payload(self, charger):
        return {"connectorId": self.cleaned_data["connector"]}


class AvailabilityForm(OperationForm):
    action, title, button = "ChangeAvailability", _("Change availability"), _("Change")
    connector = whole_charger_connector_field()
    type = forms.ChoiceField(
        choices=[("Operative", _("Operative")), ("Inoperative", _("Inoperative"))],
        label=pgettext_lazy("kind of reset or availability", "Type"),
    )

    def payload(self, charger):
        return {"connectorId": self.cleaned_data["connector"], "type": self.cleaned_data["type"]}


class GetConfigurationForm(OperationForm):
    action, title, button = "GetConfiguration", _("Read configuration"), _("Read")
    keys = forms.CharField(
        required=False, label=_("Keys"), help_text=_("Comma-separated; empty reads every key")
    )

    def payload(self, charger):
        keys = [key.strip() for key in self.cleaned_data["keys"].split(",") if key.strip()]
        return {"key": keys} if keys else {}


class ChangeConfigurationForm(OperationForm):
    action, title, button = "ChangeConfiguration", _("Change configuration"), _("Change")
    key = forms.CharField(max_length=50, label=_("Key"))
    value = forms.CharField(max_length=500, required=False, label=_("Value"))

    def payload(self, charger):
        return {"key": self.cleaned_data["key"], "value": self.cleaned_data["value"]}


class ClearCacheForm(OperationForm):
    action, title, button = "ClearCache", _("Clear authorization cache"), _("Clear cache")


class TriggerForm(OperationForm):
    action, title, button = "TriggerMessage", _("Ask for a message"), _("Trigger")
    MESSAGES = [
        "StatusNotification",
        "Heartbeat",
        "BootNotification",
        "MeterValues",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
    ]
    message = forms.ChoiceField(choices=[(m, m) for m in MESSAGES], label=_("Message"))
    connector = forms.IntegerField(min_value=0, required=False, label=_("Connector"), help_text=_("Optional"))

    def payload(self, charger):
        return {
            "requestedMessage": self.cleaned_data["message"],
            "connectorId": self.cleaned_data["connector"],
        }


class UpdateFirmwareForm(OperationForm):
    action, title, button = "UpdateFirmware", _("Update firmware"), _("Update")
    location = forms.CharField(
        max_length=512, label=_("Location"), help_text=_("URI the charger downloads the firmware from")
    )
    retrieve_at = forms.DateTimeField(
        required=False, label=_("Retrieve at"), help_text=_("Site time; empty: now")
    )
    retries = forms.IntegerField(min_value=0, required=False, label=_("Retries"))

    def payload(self, charger):
        data = self.cleaned_data
        return {
            "location": data["location"],
            "retrieveDate": utc_iso(data["retrieve_at"] or timezone.now()),
            "retries": data["retries"],
        }


class GetDiagnosticsForm(OperationForm):
    action, title, button = "GetDiagnostics", _("Upload diagnostics"), _("Request")
    location = forms.CharField(
        max_length=512, label=_("Location"), help_text=_("URI the charger uploads the diagnostics to")
    )
    start = forms.DateTimeField(required=False, label=_("From"), help_text=_("Site time; optional"))
    stop = forms.DateTimeField(required=False, label=_("To"), help_text=_("Site time; optional"))

    def payload(self, charger):
        data = self.cleaned_data
        return {
            "location": data["location"],
            "startTime": data["start"] and utc_iso(data["start"]),
            "stopTime": data["stop"] and utc_iso(data["stop"]),
        }


class PowerLimitForm(OperationForm):
    action, title, button = "SetChargingProfile", _("Limit power"), _("Limit")
    connector = whole_charger_connector_field()
    limit = forms.DecimalField(min_value=0, max_digits=9, decimal_places=4, label=_("Power limit"))
    unit = forms.ChoiceField(choices=LIMIT_UNITS, initial="kW", label=UNIT_LABEL)
    transaction = forms.IntegerField(
        min_value=1,
        required=False,
        label=_("Transaction id"),
        help_text=_("Optional: limit only this session running on the connector"),
    )
    payload_fields = {"connectorId": "connector", "csChargingProfiles.transactionId": "transaction"}

    def payload(self, charger):
        data = self.cleaned_data
        return payloads.power_limit_payload(
            connector_id=data["connector"],
            limit=data["limit"],
            unit=data["unit"],
            transaction_id=data["transaction"],
        )


class ClearLimitForm(OperationForm):
    action, title, button = "ClearChargingProfile", _("Remove power limit"), _("Remove limit")
    connector = whole_charger_connector_field()

    def payload(self, charger):
        return payloads.clear_power_limit_payload(connector_id=self.cleaned_data["connector"])


class CompositeScheduleForm(OperationForm):
    action, title, button = "GetCompositeSchedule", _("Read the charging schedule"), _("Read")
    connector = whole_charger_connector_field()
    duration = forms.IntegerField(min_value=1, initial=3600, label=_("Duration"), help_text=_("seconds"))

    def payload(self, charger):
        return {"connectorId": self.cleaned_data["connector"], "duration": self.cleaned_data["duration"]}


class SendLocalListForm(OperationForm):
    action, title, button = (
        "SendLocalList",
        _("Send the local authorization list (all cards)"),
        _("Send list"),
    )

    def payload(self, charger):
        return payloads.local_list_payload(charger=charger)


class LocalListVersionForm(OperationForm):
    action, title, button = "GetLocalListVersion", _("Read the local list version"), _("Read")


class ReserveForm(OperationForm):
    action, title, button = "ReserveNow", _("Reserve a connector"), _("Reserve")
    # 0 reserves the charger as a whole: the first connector free (OCPP 1.6 §5.13, OCTT TC_049).
    connector = connector_field(minimum=0, help_text=_("0: any connector of the charger"))
    id_tag = id_tag_field()
    minutes = forms.IntegerField(min_value=1, max_value=7 * 24 * 60, initial=30, label=_("For (minutes)"))

    def payload(self, charger):
        data = self.cleaned_data
        expires_at = timezone.now() + timedelta(minutes=data["minutes"])
        return payloads.reserve_now_payload(
            connector_id=data["connector"], id_tag=data["id_tag"], expires_at=expires_at
        )


class CancelReservationForm(OperationForm):
    action, title, button = "CancelReservation", _("Cancel a reservation"), _("Cancel reservation")
    reservation = forms.IntegerField(min_value=1, label=_("Reservation id"))

    def payload(self, charger):
        return {"reservationId": self.cleaned_data["reservation"]}


class DataTransferForm(OperationForm):
    action, title, button = "DataTransfer", _("Vendor data transfer"), _("Send")
    vendor_id = forms.CharField(max_length=255, label=pgettext_lazy("OCPP field", "vendorId"))
    message_id = forms.CharField(
        max_length=50, required=False, label=pgettext_lazy("OCPP field", "messageId")
    )
    data = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("Data"))

    def payload(self, charger):
        data = self.cleaned_data
        return {
            "vendorId": data["vendor_id"],
            "messageId": data["message_id"] or None,
            "data": data["data"] or None,
        }


# --- the security whitepaper's operations (docs/ocpp.md "Security Whitepaper") ---------------------

CERTIFICATE_TYPES = [
    ("CentralSystemRootCertificate", _("Central system root: the CA of this server's TLS certificate")),
    ("ManufacturerRootCertificate", _("Manufacturer root: the CA that signs firmware")),
]
HASH_ALGORITHMS = [("SHA256", "SHA-256"), ("SHA384", "SHA-384"), ("SHA512", "SHA-512")]
PEM_WIDGET = forms.Textarea(attrs={"rows": 3, "placeholder": "-----BEGIN CERTIFICATE-----"})


def certificate_type_field():
    return forms.ChoiceField(choices=CERTIFICATE_TYPES, label=_("Certificate type"))


def retry_fields():
    return (
        forms.IntegerField(min_value=0, required=False, label=_("Retries")),
        forms.IntegerField(min_value=0, required=False, label=_("Retry interval"), help_text=_("seconds")),
    )


def site_time_iso(moment) -> str | None:
    return moment and utc_iso(moment)


class InstallCertificateForm(OperationForm):
    action, title, button = "InstallCertificate", _("Install a root certificate"), _("Install")
    certificate_type = certificate_type_field()
    certificate = forms.CharField(max_length=5500, widget=PEM_WIDGET, label=_("Certificate (PEM)"))

    def payload(self, charger):
        data = self.cleaned_data
        return {"certificateType": data["certificate_type"], "certificate": data["certificate"].strip()}


class InstalledCertificatesForm(OperationForm):
    action, title, button = "GetInstalledCertificateIds", _("List the installed root certificates"), _("List")
    certificate_type = certificate_type_field()

    def payload(self, charger):
        return {"certificateType": self.cleaned_data["certificate_type"]}


class DeleteCertificateForm(OperationForm):
    action, title, button = "DeleteCertificate", _("Delete a root certificate"), _("Delete")
    hash_algorithm = forms.ChoiceField(choices=HASH_ALGORITHMS, label=_("Hash algorithm"))
    issuer_name_hash = forms.CharField(max_length=128, label=pgettext_lazy("OCPP field", "issuerNameHash"))
    issuer_key_hash = forms.CharField(max_length=128, label=pgettext_lazy("OCPP field", "issuerKeyHash"))
    serial_number = forms.CharField(
        max_length=40,
        label=pgettext_lazy("OCPP field", "serialNumber"),
        help_text=_("As “List the installed root certificates” answered"),
    )

    def payload(self, charger):
        data = self.cleaned_data
        hash_data = {
            "hashAlgorithm": data["hash_algorithm"],
            "issuerNameHash": data["issuer_name_hash"],
            "issuerKeyHash": data["issuer_key_hash"],
            "serialNumber": data["serial_number"],
        }
        return {"certificateHashData": hash_data}


class ExtendedTriggerForm(TriggerForm):
    """The security extension's TriggerMessage: the same fields and payload, its own list of messages."""

    action, title, button = "ExtendedTriggerMessage", _("Ask for a message (extended)"), _("Trigger")
    MESSAGES = [
        "SignChargePointCertificate",
        "LogStatusNotification",
        "FirmwareStatusNotification",
        "StatusNotification",
        "BootNotification",
        "Heartbeat",
        "MeterValues",
    ]
    message = forms.ChoiceField(choices=[(m, m) for m in MESSAGES], label=_("Message"))


class GetLogForm(OperationForm):
    action, title, button = "GetLog", _("Upload a log"), _("Request")
    log_type = forms.ChoiceField(
        choices=[("DiagnosticsLog", _("Diagnostics log")), ("SecurityLog", _("Security log"))], label=_("Log")
    )
    location = forms.CharField(
        max_length=512, label=_("Location"), help_text=_("URI the charger uploads the log to")
    )
    oldest = forms.DateTimeField(required=False, label=_("From"), help_text=_("Site time; optional"))
    latest = forms.DateTimeField(required=False, label=_("To"), help_text=_("Site time; optional"))
    retries, retry_interval = retry_fields()

    def payload(self, charger):
        data = self.cleaned_data
        log = {
            "remoteLocation": data["location"],
            "oldestTimestamp": site_time_iso(data["oldest"]),
            "latestTimestamp": site_time_iso(data["latest"]),
        }
        return {
            "logType": data["log_type"],
            "log": {name: value for name, value in log.items() if value is not None},
            "retries": data["retries"],
            "retryInterval": data["retry_interval"],
        }


class SignedUpdateFirmwareForm(OperationForm):
    action, title, button = "SignedUpdateFirmware", _("Update firmware (signed)"), _("Update")
    location = forms.CharField(
        max_length=512, label=_("Location"), help_text=_("URI the charger downloads the firmware from")
    )
    retrieve_at = forms.DateTimeField(
        required=False, label=_("Retrieve at"), help_text=_("Site time; empty: now")
    )
    install_at = forms.DateTimeField(
        required=False, label=_("Install at"), help_text=_("Site time; optional")
    )
    signing_certificate = forms.CharField(
        max_length=5500, widget=PEM_WIDGET, label=_("Signing certificate (PEM)")
    )
    signature = forms.CharField(
        max_length=800,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=_("Signature"),
        help_text=_("Base64, of the firmware file, by the signing certificate's key"),
    )
    retries, retry_interval = retry_fields()

    def payload(self, charger):
        data = self.cleaned_data
        firmware = {
            "location": data["location"],
            "retrieveDateTime": utc_iso(data["retrieve_at"] or timezone.now()),
            "installDateTime": site_time_iso(data["install_at"]),
            "signingCertificate": data["signing_certificate"].strip(),
            "signature": data["signature"].strip(),
        }
        return {
            "firmware": {name: value for name, value in firmware.items() if value is not None},
            "retries": data["retries"],
            "retryInterval": data["retry_interval"],
        }


class ChargerKeyForm(OperationForm):
    """The charger's new HTTP Basic password, sent as AuthorizationKey (stations.security): admins only,
    its own form and URL; stored (hashed) once the charger accepted it."""

    action, title, button = (
        "ChangeConfiguration",
        _("Change the charger's password"),
        _("Send the new password"),
    )
    key = forms.CharField(
        min_length=16,
        max_length=40,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        label=_("New password"),
        help_text=_(
            "16 to 40 characters, sent as AuthorizationKey. The charger uses it from its next connection; "
            "the server takes it only once the charger accepted it, and refuses the old one from then on."
        ),
    )

    def payload(self, charger):
        return {"key": security.AUTHORIZATION_KEY, "value": self.cleaned_data["key"]}


class ChargerKey201Form(ChargerKeyForm):
    """The same password for an OCPP 2.0.1 charger: SetVariables of SecurityCtrlr.BasicAuthPassword, taken
    once the charger answers that variable Accepted (or RebootRequired)."""

    action = "SetVariables"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key"].help_text = _(
            "16 to 40 characters, sent as SecurityCtrlr.BasicAuthPassword. The charger uses it from its next "
            "connection; the server takes it only once the charger accepted it, and refuses the old one from "
            "then on."
        )

    def payload(self, charger):
        component, variable = security.PASSWORD_VARIABLE
        password = {"component": {"name": component}, "variable": {"name": variable}}
        return {"setVariableData": [{**password, "attributeValue": self.cleaned_data["key"]}]}


# The Password section's form, per protocol (stations.views).
KEY_FORMS: dict[str, type[ChargerKeyForm]] = {"1.6": ChargerKeyForm, "2.0.1": ChargerKey201Form}


# --- the same operations for an OCPP 2.0.1 charger ----------------------------------------------------
# Where 2.0.1 says the same thing in other words: the 1.6 form, its fields (a connector is an EVSE there,
# docs/ocpp.md), 2.0.1's action and payload (stations.payloads); other fields only where 2.0.1 asks for them.


def charger_transaction_id(charger, typed: str) -> str:
    """A 2.0.1 session as staff name it: by the charger's own transactionId, or by its number on these pages
    (the charger's id wins when both match). Anything else is sent as typed: the charger may know it."""
    sessions = charger.transactions.exclude(charger_transaction_id="")
    if not typed.isdigit() or len(typed) > 18 or sessions.filter(charger_transaction_id=typed).exists():
        return typed
    ours = sessions.filter(pk=int(typed)).values_list("charger_transaction_id", flat=True).first()
    return ours or typed


def transaction_id_201_field(**options):
    return forms.CharField(
        max_length=36,
        label=_("Transaction id"),
        help_text=_("The session's number on these pages, or the charger's own transaction id"),
        **options,
    )


class RemoteStart201Form(RemoteStartForm):
    action = "RequestStartTransaction"  # its remoteStartId is the command's id (stations.commands)

    def payload(self, charger):
        data = self.cleaned_data
        payload = {"evseId": data["connector"], "idToken": payloads.card_token(data["id_tag"])}
        if data["limit"] is not None:
            profile = payloads.remote_start_profile(limit=data["limit"], unit=data["unit"])
            payload["chargingProfile"] = payloads.charging_profile_201(profile)
        return payload


class RemoteStop201Form(RemoteStopForm):
    action = "RequestStopTransaction"
    transaction = transaction_id_201_field()

    def payload(self, charger):
        return {"transactionId": charger_transaction_id(charger, self.cleaned_data["transaction"])}


class Reset201Form(ResetForm):
    type = forms.ChoiceField(
        choices=[
            ("OnIdle", pgettext_lazy("reset", "On idle: once no session runs")),
            ("Immediate", pgettext_lazy("reset", "Immediate: running sessions are stopped")),
        ],
        initial="OnIdle",
        label=pgettext_lazy("kind of reset or availability", "Type"),
    )


class Unlock201Form(UnlockForm):
    plug = forms.IntegerField(
        min_value=1,
        initial=1,
        label=_("Plug"),
        help_text=_("Of that connector (OCPP 2.0.1 connectorId): 1 unless it has several"),
    )

    def payload(self, charger):
        return {"evseId": self.cleaned_data["connector"], "connectorId": self.cleaned_data["plug"]}


class Availability201Form(AvailabilityForm):
    def payload(self, charger):
        data = self.cleaned_data
        payload = {"operationalStatus": data["type"]}
        if data["connector"]:  # 0, the whole charger, is no EVSE at all in 2.0.1
            payload["evse"] = {"id": data["connector"]}
        return payload


def variable_reference(text: str) -> dict:
    """A device model variable as staff type it, "Component.Variable", as 2.0.1 names it."""
    component, dot, variable = text.strip().partition(".")
    if not (dot and component and variable) or max(len(component), len(variable)) > 50:
        raise forms.ValidationError(
            _("Write each variable as Component.Variable (e.g. OCPPCommCtrlr.HeartbeatInterval): %(text)s"),
            params={"text": text},
        )
    return {"component": {"name": component}, "variable": {"name": variable}}


class GetVariablesForm(GetConfigurationForm):
    """2.0.1 has no configuration keys but a device model: variables read by name, or the whole of it."""

    keys = forms.CharField(
        required=False,
        label=_("Variables"),
        help_text=_(
            "Component.Variable, comma-separated (e.g. OCPPCommCtrlr.HeartbeatInterval); empty reads the whole "
            "device model"
        ),
    )

    def clean_keys(self):
        return [variable_reference(name) for name in self.cleaned_data["keys"].split(",") if name.strip()]

    def request(self, charger):
        if not self.cleaned_data["keys"]:
            # Answered Accepted; the charger then reports its device model in NotifyReports.
            return "GetBaseReport", {"reportBase": "FullInventory"}
        return "GetVariables", {"getVariableData": self.cleaned_data["keys"]}


class SetVariableForm(ChangeConfigurationForm):
    action = "SetVariables"
    key = forms.CharField(
        max_length=101,
        label=_("Variable"),
        help_text=_("Component.Variable, e.g. OCPPCommCtrlr.HeartbeatInterval"),
    )
    value = forms.CharField(max_length=1000, required=False, label=_("Value"))

    def clean_key(self):
        reference = variable_reference(self.cleaned_data["key"])
        # The charger's password is write-only and never shown: only the Password section (admins) sends it.
        if security.names_password_variable(reference["component"]["name"], reference["variable"]["name"]):
            raise forms.ValidationError(
                _("The charger's password is not changed here: admins change it in the Password section.")
            )
        return reference

    def payload(self, charger):
        return {
            "setVariableData": [{**self.cleaned_data["key"], "attributeValue": self.cleaned_data["value"]}]
        }


class Trigger201Form(TriggerForm):
    MESSAGES = [
        "StatusNotification",
        "Heartbeat",
        "BootNotification",
        "MeterValues",
        "TransactionEvent",
        "FirmwareStatusNotification",
        "LogStatusNotification",
    ]
    message = forms.ChoiceField(choices=[(m, m) for m in MESSAGES], label=_("Message"))

    def payload(self, charger):
        payload = {"requestedMessage": self.cleaned_data["message"]}
        if self.cleaned_data["connector"]:
            payload["evse"] = {"id": self.cleaned_data["connector"]}
        return payload


class UpdateFirmware201Form(UpdateFirmwareForm):
    """2.0.1's UpdateFirmware is 1.6's SignedUpdateFirmware too: the signature is optional."""

    install_at = forms.DateTimeField(
        required=False, label=_("Install at"), help_text=_("Site time; optional")
    )
    signing_certificate = forms.CharField(
        required=False, max_length=5500, widget=PEM_WIDGET, label=_("Signing certificate (PEM)")
    )
    signature = forms.CharField(
        required=False,
        max_length=800,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=_("Signature"),
        help_text=_("Optional: Base64, of the firmware file, by the signing certificate's key"),
    )
    retry_interval = retry_fields()[1]

    def payload(self, charger):
        data = self.cleaned_data
        firmware = {
            "location": data["location"],
            "retrieveDateTime": utc_iso(data["retrieve_at"] or timezone.now()),
            "installDateTime": site_time_iso(data["install_at"]),
            "signingCertificate": data["signing_certificate"].strip() or None,
            "signature": data["signature"].strip() or None,
        }
        return {"firmware": firmware, "retries": data["retries"], "retryInterval": data["retry_interval"]}


class PowerLimit201Form(PowerLimitForm):
    transaction = transaction_id_201_field(required=False)
    payload_fields = {"evseId": "connector", "chargingProfile.transactionId": "transaction"}

    def payload(self, charger):
        data = self.cleaned_data
        transaction_id = charger_transaction_id(charger, data["transaction"]) if data["transaction"] else None
        limit = payloads.power_limit_payload(
            connector_id=data["connector"],
            limit=data["limit"],
            unit=data["unit"],
            transaction_id=transaction_id,
        )
        return {
            "evseId": data["connector"],
            "chargingProfile": payloads.charging_profile_201(limit["csChargingProfiles"]),
        }


class ClearLimit201Form(ClearLimitForm):
    def payload(self, charger):
        cleared = payloads.clear_power_limit_payload(connector_id=self.cleaned_data["connector"])
        return {"chargingProfileId": cleared["id"]}


class CompositeSchedule201Form(CompositeScheduleForm):
    def payload(self, charger):
        return {"evseId": self.cleaned_data["connector"], "duration": self.cleaned_data["duration"]}


class ChargingProfiles201Form(OperationForm):
    """2.0.1 only: the profiles the charger has installed, reported in ReportChargingProfiles after its
    answer and kept on the command (stations.security.record_reported_profiles)."""

    action, title, button = "GetChargingProfiles", _("Read the charging profiles"), _("Read")
    PURPOSES = [
        "ChargingStationMaxProfile",
        "TxDefaultProfile",
        "TxProfile",
        "ChargingStationExternalConstraints",
    ]
    connector = forms.IntegerField(
        min_value=0,
        required=False,
        label=_("Connector"),
        help_text=_("Optional: 0 for the whole charger; empty: every connector"),
    )
    purpose = forms.ChoiceField(
        choices=[("", _("Any")), *[(purpose, purpose) for purpose in PURPOSES]],
        required=False,
        label=_("Purpose"),
    )

    def payload(self, charger):
        data = self.cleaned_data
        criterion = {"chargingProfilePurpose": data["purpose"]} if data["purpose"] else {}
        return {"evseId": data["connector"], "chargingProfile": criterion}  # requestId: the command's id


class SendLocalList201Form(SendLocalListForm):
    def payload(self, charger):
        return payloads.local_list_payload_201(charger=charger)


class Reserve201Form(ReserveForm):
    def payload(self, charger):
        data = self.cleaned_data
        expires_at = timezone.now() + timedelta(minutes=data["minutes"])
        return payloads.reserve_now_payload_201(
            evse_id=data["connector"], id_tag=data["id_tag"], expires_at=expires_at
        )


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
    "install-certificate": InstallCertificateForm,
    "installed-certificates": InstalledCertificatesForm,
    "delete-certificate": DeleteCertificateForm,
    "extended-trigger": ExtendedTriggerForm,
    "get-log": GetLogForm,
    "signed-update-firmware": SignedUpdateFirmwareForm,
}

# The charger page's sections: each operation (of either protocol) in exactly one, in this order (tests hold
# it to that).
OPERATION_GROUPS: list[tuple[str, object, list[str]]] = [
    (
        "session",
        _("Sessions and reservations"),
        ["remote-start", "remote-stop", "unlock", "reserve", "cancel-reservation"],
    ),
    ("power", _("Power"), ["limit", "clear-limit", "composite-schedule", "charging-profiles"]),
    ("availability", _("Availability and reset"), ["availability", "reset"]),
    (
        "configuration",
        _("Configuration and messages"),
        ["get-configuration", "change-configuration", "trigger", "data-transfer"],
    ),
    (
        "firmware",
        _("Firmware and diagnostics"),
        ["update-firmware", "get-diagnostics", "signed-update-firmware", "get-log"],
    ),
    ("local-list", _("Local list and cache"), ["send-local-list", "local-list-version", "clear-cache"]),
    (
        "security",
        _("Certificates and security"),
        ["install-certificate", "installed-certificates", "delete-certificate", "extended-trigger"],
    ),
]


# A 2.0.1 charger's operations, by the same slugs; 1.6's form where both send the same, and charging-profiles,
# which 1.6 has not (GetChargingProfiles). Not offered there:
# get-diagnostics (2.0.1's is GetLog, offered), signed-update-firmware (2.0.1's UpdateFirmware takes the
# signature), the 1.6 security extension's certificates (2.0.1's are not sent yet) and extended-trigger
# (2.0.1's TriggerMessage has its messages).
OPERATIONS_201: dict[str, type[OperationForm]] = {
    "remote-start": RemoteStart201Form,
    "remote-stop": RemoteStop201Form,
    "limit": PowerLimit201Form,
    "clear-limit": ClearLimit201Form,
    "composite-schedule": CompositeSchedule201Form,
    "charging-profiles": ChargingProfiles201Form,
    "reset": Reset201Form,
    "unlock": Unlock201Form,
    "availability": Availability201Form,
    "get-configuration": GetVariablesForm,
    "change-configuration": SetVariableForm,
    "clear-cache": ClearCacheForm,
    "trigger": Trigger201Form,
    "update-firmware": UpdateFirmware201Form,
    "send-local-list": SendLocalList201Form,
    "local-list-version": LocalListVersionForm,
    "reserve": Reserve201Form,
    "cancel-reservation": CancelReservationForm,
    "data-transfer": DataTransferForm,
    "get-log": GetLogForm,
}

# The one place an operation of the page (and of the admin's actions) becomes a protocol's (action, payload):
# each protocol's form of it. An operation missing from a protocol's table is not offered to its chargers.
OPERATION_FORMS: dict[str, dict[str, type[OperationForm]]] = {"1.6": OPERATIONS, "2.0.1": OPERATIONS_201}


def protocol_of(charger) -> str:
    """The charger's OCPP version; a charger that never connected is taken for a 1.6 one (stations.commands)."""
    return charger.ocpp_version or "1.6"


def operation_forms(charger) -> dict[str, type[OperationForm]]:
    """The operations of this charger's protocol, by slug."""
    return OPERATION_FORMS[protocol_of(charger)]
