"""What chargers report that is kept as a record for staff, beside the domain's own rows
(stations.models re-exports every name here, so the rest of the code imports them from there):
statuses and events as reported, a charger's configuration keys, transaction messages that matched
nothing, 2.0.1 transaction events and device model, data transfers, every handshake and frame, and
what the database refused."""

import json
import logging

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from stations.models import (
    MAX_CHARGE_POINT_ID_LENGTH,
    MAX_ID_TOKEN_LENGTH,
    Charger,
    MeterValue,
    Sample,
    Transaction,
)

logger = logging.getLogger(__name__)


class StatusNotification(models.Model):
    """Every status a charger reported, kept as history."""

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="status_history")
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=20)
    error_code = models.CharField(max_length=30)
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    # OCPP 2.0.1: connector_id is the EVSE id, this the connector's number within that EVSE.
    evse_connector_id = models.PositiveIntegerField(null=True, blank=True)
    timestamp = models.DateTimeField(null=True, blank=True, help_text="As reported by the charger")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]


class UnknownTransactionStop(models.Model):
    """A StopTransaction for a transactionId we never issued (1.6), or a 2.0.1 TransactionEvent Ended
    for a transaction we have no Started or Updated of: kept for staff to look at."""

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="unknown_stops")
    transaction_id = models.IntegerField("transactionId", null=True, blank=True)  # 1.6
    charger_transaction_id = models.CharField("charger's transactionId", max_length=36, blank=True)  # 2.0.1
    id_tag = models.CharField("idTag", max_length=MAX_ID_TOKEN_LENGTH, blank=True)
    meter_stop = models.BigIntegerField(help_text="Wh")
    timestamp = models.DateTimeField()
    reason = models.CharField(max_length=32, blank=True)  # 2.0.1 stoppedReason: up to 25 characters
    transaction_data = models.JSONField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["charger", "transaction_id", "timestamp", "meter_stop"],
                name="unique_unknown_stop",
            )
        ]


class TransactionEvent(models.Model):
    """An OCPP 2.0.1 TransactionEvent as the charger sent it, stored once whatever the order it came in.

    Unique per (charger, the charger's transactionId, seqNo): a replayed event (offline: true, queued and
    sent again) is a no-op. The session is what stations.transaction_events makes of a transaction's
    events taken in seqNo order; `session` is empty while only an Ended is known (kept for staff).
    """

    class Type(models.TextChoices):
        STARTED = "Started"
        UPDATED = "Updated"
        ENDED = "Ended"

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="transaction_events")
    transaction_id = models.CharField("charger's transactionId", max_length=36)
    session = models.ForeignKey(
        Transaction, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    seq_no = models.PositiveIntegerField("seqNo")
    event_type = models.CharField(max_length=8, choices=Type.choices)
    trigger_reason = models.CharField(max_length=32)
    timestamp = models.DateTimeField()
    offline = models.BooleanField(default=False)
    evse_id = models.PositiveIntegerField(null=True, blank=True)
    connector_id = models.PositiveIntegerField(null=True, blank=True, help_text="Within the EVSE")
    id_token = models.CharField(max_length=MAX_ID_TOKEN_LENGTH, blank=True)
    id_token_type = models.CharField(max_length=20, blank=True)
    charging_state = models.CharField(max_length=20, blank=True)
    stopped_reason = models.CharField(max_length=32, blank=True)
    remote_start_id = models.IntegerField(null=True, blank=True)
    meter_values = models.JSONField(null=True, blank=True, help_text="As sent (keys in snake_case)")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["charger", "transaction_id", "seq_no"]
        constraints = [
            models.UniqueConstraint(
                fields=["charger", "transaction_id", "seq_no"], name="unique_transaction_event"
            )
        ]

    def __str__(self):
        return f"{self.transaction_id} #{self.seq_no} {self.event_type}"


# What names one attribute of a charger's device model: a report sent again updates the same row.
DEVICE_MODEL_KEY = (
    "charger",
    "component",
    "component_instance",
    "evse_id",
    "evse_connector_id",
    "variable",
    "variable_instance",
    "attribute_type",
)


class DeviceModelVariable(models.Model):
    """One attribute of a 2.0.1 charger's device model, as its latest NotifyReport said.

    `evse_id` and `evse_connector_id` are 0 when the component names none (EVSE ids start at 1), so
    that the unique key holds no NULL and a report sent again updates the same rows.
    """

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="device_model")
    component = models.CharField(max_length=50)
    component_instance = models.CharField(max_length=50, blank=True)
    evse_id = models.PositiveIntegerField(default=0)
    evse_connector_id = models.PositiveIntegerField(default=0)
    variable = models.CharField(max_length=50)
    variable_instance = models.CharField(max_length=50, blank=True)
    attribute_type = models.CharField(max_length=8, default="Actual")
    value = models.TextField(blank=True)  # OCPP 2.0.1: at most 2500 characters
    mutability = models.CharField(max_length=10, blank=True)
    characteristics = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    KEY = DEVICE_MODEL_KEY

    class Meta:
        ordering = ["charger", "component", "evse_id", "evse_connector_id", "variable", "attribute_type"]
        constraints = [models.UniqueConstraint(fields=DEVICE_MODEL_KEY, name="unique_device_model_variable")]

    def __str__(self):
        return f"{self.component}.{self.variable}[{self.attribute_type}]={self.value}"


class ChargerEvent(models.Model):
    """What a 2.0.1 charger reported of itself: a NotifyEvent's event, or a SecurityEventNotification."""

    class Kind(models.TextChoices):
        EVENT = "event", _("event (NotifyEvent)")
        SECURITY = "security", _("security event")

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="reported_events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    timestamp = models.DateTimeField()
    name = models.CharField(max_length=50, help_text="The security event's type, or the event's trigger")
    component = models.CharField(max_length=50, blank=True)
    variable = models.CharField(max_length=50, blank=True)
    value = models.TextField(blank=True, help_text="actualValue, or the security event's techInfo")
    data = models.JSONField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self):
        return f"{self.charger_id} {self.kind} {self.name}"


class DataTransferMessage(models.Model):
    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="data_transfers")
    vendor_id = models.CharField(max_length=255)
    message_id = models.CharField(max_length=50, blank=True)
    data = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]


class ConnectionAttempt(models.Model):
    """Every WebSocket handshake: who knocked, from where, and what we answered."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", pgettext_lazy("connection attempt", "Accepted")
        PENDING = "pending", _("accepted as pending")
        UNKNOWN = "unknown", _("refused: unknown charger")
        BAD_PASSWORD = "bad_password", _("refused: wrong or missing password")
        REJECTED = "rejected", _("refused: charger rejected by staff")
        NO_SUBPROTOCOL = "no_subprotocol", _("refused: no supported OCPP version")
        THROTTLED = "throttled", _("refused: too many failed attempts")
        INSECURE = "insecure", _("refused: its security profile needs wss://")
        NO_CERTIFICATE = "no_certificate", _("refused: no client certificate naming it")

    charge_point_id = models.CharField(max_length=255, db_index=True)
    remote_address = models.CharField(max_length=64, blank=True)
    subprotocols = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    # Written behind in batches: the time is taken at the handshake, not at the INSERT.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]


class MessageLog(models.Model):
    """Every OCPP-J frame in and out, per charger."""

    # A frame's row as plain values, in this order (the write-behind keeps no instance per frame).
    VALUE_FIELDS = (
        "charge_point_id",
        "direction",
        "message_type",
        "message_id",
        "action",
        "payload",
        "created_at",
    )

    class Direction(models.TextChoices):
        IN = "in", _("charger → CSMS")
        OUT = "out", _("CSMS → charger")

    charge_point_id = models.CharField(max_length=MAX_CHARGE_POINT_ID_LENGTH, db_index=True)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    message_type = models.PositiveSmallIntegerField(null=True, help_text="2 CALL, 3 CALLRESULT, 4 CALLERROR")
    message_id = models.CharField(max_length=64, blank=True, db_index=True)
    action = models.CharField(max_length=50, blank=True, db_index=True)
    payload = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["charge_point_id", "-created_at"])]

    def __str__(self):
        return f"{self.charge_point_id} {self.direction} {self.action or self.message_type}"


class RefusedRecord(models.Model):
    """A record the database refused to store (the write-behind's dead letters), kept with its error.

    One bad row from one charger costs only itself: the rest of its batch is
    written, and staff can see here what was refused and why.
    """

    kind = models.CharField(max_length=40)
    charge_point_id = models.CharField(max_length=MAX_CHARGE_POINT_ID_LENGTH, blank=True, db_index=True)
    row = models.TextField(help_text="The refused values, with unstorable characters escaped")
    error = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.kind} of {self.charge_point_id or '?'}: {self.error[:60]}"

    @classmethod
    def keep(cls, *, kind: str, row, error: Exception) -> None:
        """Store a refused row as text that any database can hold; log it once, without a traceback."""
        values = _values_of(row)
        charge_point_id = str(values.get("charge_point_id") or values.get("charger") or "")
        text = storable_text(json.dumps(values, default=str, ensure_ascii=False))
        logger.warning("refused %s of %r: %s", kind, charge_point_id, error)
        cls.objects.create(
            kind=kind,
            charge_point_id=storable_text(charge_point_id)[:MAX_CHARGE_POINT_ID_LENGTH],
            row=text[:20_000],
            error=storable_text(f"{type(error).__name__}: {error}")[:2_000],
        )


def _values_of(row) -> dict:
    """A write-behind row as a dict: a model instance, a message-log tuple or a (pk, times) tuple."""
    if isinstance(row, models.Model):
        values = {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields}
        if isinstance(row, (MeterValue, StatusNotification, TransactionEvent)):
            values["charger"] = (
                Charger.objects.filter(pk=row.charger_id).values_list("charge_point_id", flat=True).first()
            )
        return values
    if isinstance(row, Sample):
        values = row._asdict()
        values["charger"] = (
            Charger.objects.filter(pk=row.charger_id).values_list("charge_point_id", flat=True).first()
        )
        return values
    if isinstance(row, tuple) and len(row) == len(MessageLog.VALUE_FIELDS):
        return dict(zip(MessageLog.VALUE_FIELDS, row))
    return {"values": list(row) if isinstance(row, tuple) else row}


def storable_text(text: str) -> str:
    """`text` with what no text column takes escaped: unpaired surrogates (UTF-8) and NUL (PostgreSQL)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


class ChargerConfigurationKey(models.Model):
    """A charger's configuration as its last GetConfiguration (or accepted ChangeConfiguration) told us."""

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="configuration")
    key = models.CharField(max_length=50)
    value = models.TextField(blank=True)  # OCPP 1.6: at most 500 characters; absent means "not set"
    readonly = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["charger", "key"]
        constraints = [models.UniqueConstraint(fields=["charger", "key"], name="unique_configuration_key")]

    def __str__(self):
        return f"{self.charger} {self.key}={self.value}"
