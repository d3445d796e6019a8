import hashlib
import hmac
import json
import logging
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

logger = logging.getLogger(__name__)

# OCPP identities are at most 48 characters (OCPP 2.0.1 identifierString).
MAX_CHARGE_POINT_ID_LENGTH = 48
ENERGY_REGISTER = "Energy.Active.Import.Register"  # the measurand of the meter's Wh register
POWER_IMPORT = "Power.Active.Import"  # the power flowing to the car, W or kW

CHARGER_HASHER = "pbkdf2_sha256_charger"  # stations.hashers.ChargerPasswordHasher, for short passwords
CHARGER_KEY_HASHER = "pbkdf2_sha256_charger_key"  # stations.hashers.ChargerKeyHasher
CHARGER_KEY_LENGTH = 16  # OCPP 2.0.1 BasicAuthPassword: 16 to 40 characters (1.6 whitepaper: a 20-byte key)


def charger_hasher(raw_password: str) -> str:
    """A key as long as OCPP asks needs no slow hash; a shorter password keeps a slower one."""
    return CHARGER_KEY_HASHER if len(raw_password) >= CHARGER_KEY_LENGTH else CHARGER_HASHER


# Passwords this process has verified against a stored hash. A site's chargers
# dropping off together (power, network) come back with the same passwords
# while the server keeps running: each reconnect skips the deliberately slow
# hash. Keyed by the stored hash, so a new password forgets the old one; only
# a digest of the presented password is kept, never the password.
_verified: dict[str, bytes] = {}
_VERIFIED_LIMIT = 50_000


def _presented_digest(encoded: str, raw_password: str) -> bytes:
    return hashlib.sha256(f"{encoded}\0{raw_password}".encode()).digest()


def _recently_verified(encoded: str, raw_password: str) -> bool:
    known = _verified.get(encoded)
    return known is not None and hmac.compare_digest(known, _presented_digest(encoded, raw_password))


def _remember_verified(encoded: str, raw_password: str) -> None:
    if len(_verified) >= _VERIFIED_LIMIT:
        _verified.clear()
    _verified[encoded] = _presented_digest(encoded, raw_password)


class SiteConfiguration(models.Model):
    """Site-wide switches staff change in the admin without a restart."""

    accept_unknown_chargers = models.BooleanField(
        default=False,
        help_text="Let chargers that nobody registered connect as 'pending', for approval in the admin.",
    )

    class Meta:
        verbose_name = "site configuration"
        verbose_name_plural = "site configuration"

    def __str__(self):
        return "Site configuration"

    @classmethod
    def load(cls) -> "SiteConfiguration":
        config, _ = cls.objects.get_or_create(pk=1)
        return config


class Charger(models.Model):
    class Approval(models.TextChoices):
        ACCEPTED = "accepted", pgettext_lazy("charger approval", "Accepted")
        PENDING = "pending", pgettext_lazy("charger approval", "Pending")
        REJECTED = "rejected", pgettext_lazy("charger approval", "Rejected")

    charge_point_id = models.CharField("charge point id", max_length=MAX_CHARGE_POINT_ID_LENGTH, unique=True)
    name = models.CharField(max_length=100, blank=True)
    # Django password hash; empty means the charger connects without HTTP Basic auth.
    password = models.CharField(max_length=128, blank=True)
    approval = models.CharField(max_length=16, choices=Approval.choices, default=Approval.ACCEPTED)

    vendor = models.CharField(max_length=20, blank=True)
    model = models.CharField(max_length=20, blank=True)
    serial_number = models.CharField("charge point serial", max_length=25, blank=True)
    charge_box_serial_number = models.CharField(max_length=25, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    iccid = models.CharField("ICCID", max_length=20, blank=True)
    imsi = models.CharField("IMSI", max_length=20, blank=True)
    meter_type = models.CharField(max_length=25, blank=True)
    meter_serial_number = models.CharField(max_length=25, blank=True)

    ocpp_version = models.CharField(max_length=8, blank=True)
    is_connected = models.BooleanField(default=False)
    # Which socket is the live one: a reconnect replaces the old socket, and the
    # old one's late disconnect must not mark the charger offline.
    connection_id = models.CharField(max_length=36, blank=True)
    # The channel-layer address of the server process holding that socket
    # (stations.gateway.mailbox): commands and the replace notice go there.
    channel_name = models.CharField(max_length=200, blank=True, editable=False)
    connected_since = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_boot_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    remote_address = models.CharField(max_length=64, blank=True)

    firmware_status = models.CharField(max_length=32, blank=True)
    firmware_status_at = models.DateTimeField(null=True, blank=True)
    diagnostics_status = models.CharField(max_length=32, blank=True)
    diagnostics_status_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["charge_point_id"]

    def __str__(self):
        return self.name or self.charge_point_id

    @property
    def is_approved(self) -> bool:
        return self.approval == self.Approval.ACCEPTED

    # All that a live socket's handlers read of their charger.
    SOCKET_FIELDS = ("id", "charge_point_id", "approval")

    def for_socket(self) -> "Charger":
        """A copy holding only SOCKET_FIELDS, for a socket to keep while it is open.

        A full row costs about 3 KB more, times ten thousand sockets on a large
        site. Another field read on the copy is loaded on first use, in the
        thread that reads it; on the event loop that is an error, not a hidden query.
        """
        return Charger.from_db(
            self._state.db, self.SOCKET_FIELDS, [getattr(self, f) for f in self.SOCKET_FIELDS]
        )

    @property
    def is_silent(self) -> bool:
        """Marked connected, but unheard for two heartbeat intervals.

        The flag cannot be cleared by a server process that died holding the
        socket; silence is how staff tell that apart from a live charger.
        """
        if not self.is_connected or self.last_seen_at is None:
            return False
        allowed = 2 * settings.OCPP_HEARTBEAT_INTERVAL + settings.OCPP_LAST_SEEN_RESOLUTION
        return (timezone.now() - self.last_seen_at).total_seconds() > allowed

    def set_password(self, raw_password: str | None) -> None:
        self.password = (
            make_password(raw_password, hasher=charger_hasher(raw_password)) if raw_password else ""
        )

    def check_password(self, raw_password: str | None) -> bool:
        """Whether the presented password is right; an older, slower hash is upgraded on success."""
        if not self.password:
            return True
        if not raw_password:
            return False
        if _recently_verified(self.password, raw_password):
            return True

        def upgrade(raw):
            self.set_password(raw)
            Charger.objects.filter(pk=self.pk).update(password=self.password)

        verified = check_password(raw_password, self.password, upgrade, charger_hasher(raw_password))
        if verified:
            _remember_verified(self.password, raw_password)
        return verified

    def mark_connected(
        self, *, connection_id: str, channel_name: str, ocpp_version: str, remote_address: str
    ) -> None:
        now = timezone.now()
        Charger.objects.filter(pk=self.pk).update(
            is_connected=True,
            connection_id=connection_id,
            channel_name=channel_name,
            connected_since=now,
            last_seen_at=now,
            ocpp_version=ocpp_version,
            remote_address=remote_address,
        )

    def mark_disconnected(self, *, connection_id: str) -> bool:
        """Mark offline unless a newer socket took over.

        Guards the reconnect race: the replaced socket closes after the new one
        registered, so the update only applies to the socket that is still current.
        """
        return bool(
            Charger.objects.filter(pk=self.pk, connection_id=connection_id).update(
                is_connected=False, channel_name="", disconnected_at=timezone.now()
            )
        )


class Connector(models.Model):
    """A connector's latest status; connector 0 stands for the whole charger."""

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="connectors")
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=20, blank=True)
    error_code = models.CharField(max_length=30, blank=True)
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["charger", "connector_id"]
        constraints = [
            models.UniqueConstraint(fields=["charger", "connector_id"], name="unique_connector_per_charger")
        ]

    def __str__(self):
        return f"{self.charger.charge_point_id} #{self.connector_id}"


class StatusNotification(models.Model):
    """Every status a charger reported, kept as history."""

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="status_history")
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=20)
    error_code = models.CharField(max_length=30)
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    timestamp = models.DateTimeField(null=True, blank=True, help_text="As reported by the charger")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]


class TransactionQuerySet(models.QuerySet):
    def of_id_tags(self, id_tags: list) -> "TransactionQuerySet":
        """Sessions of these (normalised) idTags; transactions store them normalised, indexed."""
        return self.filter(id_tag__in=id_tags)

    def charging(self) -> "TransactionQuerySet":
        """Accepted sessions still open: what makes another start of their card ConcurrentTx."""
        return self.filter(stopped_at__isnull=True, id_tag_status="Accepted")

    def in_state(self, state: str) -> "TransactionQuerySet":
        """Sessions in one of Transaction.State (a state is not a column: the start's answer and the stop)."""
        accepted = Q(id_tag_status="Accepted")
        return self.filter(
            {
                Transaction.State.CHARGING: accepted & Q(stopped_at__isnull=True),
                Transaction.State.FINISHED: accepted & Q(stopped_at__isnull=False),
                Transaction.State.REFUSED: ~accepted,
            }[state]
        )

    def started_on_local_days(self, first_day, last_day) -> "TransactionQuerySet":
        """Sessions that started from `first_day` to `last_day` (both included), local days of the site."""
        zone = ZoneInfo(settings.TIME_ZONE)
        since = datetime.combine(first_day, time(0), tzinfo=zone)
        until = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone)
        return self.filter(started_at__gte=since, started_at__lt=until)

    def of_person_or_card(self, text: str) -> "TransactionQuerySet":
        """Sessions whose idTag contains `text`, or of a card whose owner the drivers' search finds by
        `text` (name, user name, email, or phone however it was spaced: rfid.services.person_matches)."""
        from rfid.models import IdTag, normalise_id_tag  # rfid names stations by string: no cycle
        from rfid.services import person_matches

        text = text.strip()
        cards = IdTag.objects.filter(person_matches(text, path="owner__"))
        return self.filter(Q(id_tag__icontains=normalise_id_tag(text)) | Q(id_tag__in=cards.values("id_tag")))

    def with_people(self) -> "TransactionQuerySet":
        """Each session's card and driver in the same query: `card_known`, `driver_pk`, `driver_name`.

        Sessions keep the idTag a charger sent, not a key to the card (a session may come from a card
        nobody registered), so these are subqueries on the unique idTag.
        """
        from rfid.models import IdTag

        card = IdTag.objects.filter(id_tag=OuterRef("id_tag"))
        shown_name = Coalesce(NullIf("owner__name", Value("")), "owner__username")
        return self.annotate(
            card_known=Exists(card),
            driver_pk=Subquery(card.values("owner_id")[:1]),
            driver_name=Subquery(card.annotate(shown=shown_name).values("shown")[:1]),
        )


class Transaction(models.Model):
    """A charging session. Its primary key is the OCPP 1.6 transactionId the CSMS assigns."""

    objects = TransactionQuerySet.as_manager()

    class State(models.TextChoices):
        """Not a column: what the start's answer and the stop make of a session (TransactionQuerySet.in_state)."""

        CHARGING = "charging", _("charging")
        FINISHED = "finished", _("finished")
        REFUSED = "refused", _("idTag refused at start")

    charger = models.ForeignKey(Charger, on_delete=models.PROTECT, related_name="transactions")
    connector_id = models.PositiveIntegerField()
    # Normalised (rfid.models.normalise_id_tag): OCPP idTags are case-insensitive, and
    # "is this card charging elsewhere" must be an indexed lookup, not a scan of all sessions.
    id_tag = models.CharField("idTag", max_length=20)
    id_tag_status = models.CharField(max_length=20, help_text="Authorization answer given at start")
    reservation_id = models.IntegerField(null=True, blank=True)
    meter_start = models.BigIntegerField(help_text="Wh")
    started_at = models.DateTimeField(db_index=True)
    meter_stop = models.BigIntegerField(null=True, blank=True, help_text="Wh")
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=20, blank=True)
    stop_id_tag = models.CharField("stop idTag", max_length=20, blank=True)
    transaction_data = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # A charger resends a StartTransaction it is not sure we received:
            # the same charger, connector, start time and meter reading is the same session.
            models.UniqueConstraint(
                fields=["charger", "connector_id", "started_at", "meter_start"],
                name="unique_transaction_start",
            )
        ]
        indexes = [
            models.Index(fields=["id_tag", "-started_at"], name="transaction_id_tag"),
            models.Index(
                fields=["id_tag"], condition=models.Q(stopped_at__isnull=True), name="transaction_open_id_tag"
            ),
        ]

    def __str__(self):
        return f"Transaction {self.pk}"

    @property
    def is_active(self) -> bool:
        return self.stopped_at is None

    @property
    def state(self) -> "Transaction.State":
        if self.id_tag_status != "Accepted":
            return self.State.REFUSED
        return self.State.CHARGING if self.stopped_at is None else self.State.FINISHED

    @property
    def energy_wh(self) -> int | None:
        if self.meter_stop is None:
            return None
        return self.meter_stop - self.meter_start

    @transaction.atomic
    def stop(self, *, meter_stop: int, stopped_at, reason: str, id_tag: str, data) -> bool:
        """Record the stop once; returns False when it was already stopped.

        Guards the replayed-StopTransaction race: the conditional UPDATE lets
        exactly one of two concurrent stops through.
        """
        updated = Transaction.objects.filter(pk=self.pk, stopped_at__isnull=True).update(
            meter_stop=meter_stop,
            stopped_at=stopped_at,
            stop_reason=reason,
            stop_id_tag=id_tag,
            transaction_data=data,
        )
        if updated:
            self.refresh_from_db()
        return bool(updated)

    def energy_register_samples(self):
        """The session's numeric Wh-register samples strictly inside it, in order: what pricing reads."""
        return self.meter_values.filter(
            measurand=ENERGY_REGISTER,
            phase="",
            numeric_value__isnull=False,
            timestamp__gt=self.started_at,
            timestamp__lt=self.stopped_at,
        ).order_by("timestamp", "id")


class UnknownTransactionStop(models.Model):
    """A StopTransaction for a transactionId we never issued, kept for staff to look at."""

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="unknown_stops")
    transaction_id = models.IntegerField("transactionId")
    id_tag = models.CharField("idTag", max_length=20, blank=True)
    meter_stop = models.BigIntegerField(help_text="Wh")
    timestamp = models.DateTimeField()
    reason = models.CharField(max_length=20, blank=True)
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


class MeterValue(models.Model):
    """One sampled value. Spec defaults are stored explicitly so replays deduplicate."""

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="meter_values")
    connector_id = models.PositiveIntegerField()
    transaction = models.ForeignKey(
        Transaction, on_delete=models.CASCADE, null=True, blank=True, related_name="meter_values"
    )
    timestamp = models.DateTimeField()
    measurand = models.CharField(max_length=40, default=ENERGY_REGISTER)
    phase = models.CharField(max_length=8, blank=True)
    unit = models.CharField(max_length=12, default="Wh")
    context = models.CharField(max_length=24, default="Sample.Periodic")
    location = models.CharField(max_length=8, default="Outlet")
    format = models.CharField(max_length=12, default="Raw")
    value = models.TextField(help_text="As sent; SignedData values are kept verbatim")
    numeric_value = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    NUMERIC_LIMIT = Decimal(10) ** (24 - 6)

    class Meta:
        ordering = ["timestamp", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["charger", "connector_id", "timestamp", "measurand", "phase", "location", "context"],
                name="unique_meter_sample",
            )
        ]
        indexes = [models.Index(fields=["charger", "timestamp"])]

    @staticmethod
    def parse_number(value: str) -> Decimal | None:
        try:
            number = Decimal(value)
        except (InvalidOperation, TypeError):
            return None
        # numeric_value holds 18 digits before the point: a larger reading is kept as text only.
        return number if number.is_finite() and abs(number) < MeterValue.NUMERIC_LIMIT else None


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
        if isinstance(row, (MeterValue, StatusNotification)):
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


class Command(models.Model):
    """One CSMS→charger call: who asked, what was sent, what came back.

    Every state change is a conditional UPDATE on a pending row: the requester
    (timeout, offline) and the process holding the socket (the answer) may both
    try to close the same command, and only the first one wins.
    """

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("command status", "Pending")
        ACCEPTED = "accepted", pgettext_lazy("command status", "Accepted")
        REJECTED = "rejected", pgettext_lazy("command status", "Rejected")
        ERROR = "error", "CALLERROR"
        TIMEOUT = "timeout", _("timed out")
        OFFLINE = "offline", _("charger offline")

    class Source(models.TextChoices):
        API = "api", _("REST API")
        WEB = "web", _("charger page")
        ADMIN = "admin", _("admin action")

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="commands")
    action = models.CharField(max_length=50)
    payload = models.JSONField(default=dict, blank=True, help_text="As sent, camelCase")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    response = models.JSONField(null=True, blank=True, help_text="The charger's CALLRESULT payload")
    error_code = models.CharField(max_length=40, blank=True)
    error_description = models.TextField(blank=True)
    # The socket (ChargerConnection.connection_id) that ran the call.
    handled_by = models.CharField(max_length=36, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["charger", "-created_at"])]
        permissions = [("operate_charger", "Can send commands to chargers")]

    def __str__(self):
        return f"{self.action} → {self.charger} ({self.status})"

    @property
    def answer_status(self) -> str:
        """The `status` field of the charger's answer (Accepted, RebootRequired…), if any."""
        return (self.response or {}).get("status", "") if isinstance(self.response, dict) else ""

    @property
    def reboot_required(self) -> bool:
        return self.answer_status == "RebootRequired"

    @property
    def outcome_text(self) -> str:
        """What came back, in a line staff can read: "accepted — reboot required", "CALLERROR NotSupported: …"."""
        if self.status == self.Status.ERROR:
            return f"CALLERROR {self.error_code}: {self.error_description}".rstrip(": ")
        if self.status in (self.Status.TIMEOUT, self.Status.OFFLINE):
            return f"{self.get_status_display()}: {self.error_description}".rstrip(": ")
        if self.reboot_required:
            return "accepted — reboot required"
        answer = self.answer_status
        return f"{self.status} ({answer})" if answer and answer.lower() != self.status else self.status

    def claim(self, *, connection_id: str) -> bool:
        """Let exactly one socket run this command.

        Guards the reconnect race: a command sent while the charger reconnects
        may reach its old socket and, resent, its new one; only the first to
        claim sends it. It also skips a command the requester already gave up on.
        """
        return bool(
            Command.objects.filter(pk=self.pk, status=self.Status.PENDING, handled_by="").update(
                handled_by=connection_id
            )
        )

    def finish(self, *, status: str, **fields) -> bool:
        """Close a pending command; False when something else closed it first.

        Guards the late-answer race: an answer arriving after the requester
        stored `timeout` (or `offline`) must not overwrite it.
        """
        fields.setdefault("answered_at", timezone.now())
        updated = Command.objects.filter(pk=self.pk, status=self.Status.PENDING).update(
            status=status, **fields
        )
        self.refresh_from_db()
        return bool(updated)


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


class ReservationQuerySet(models.QuerySet):
    def expire_overdue(self, *, now=None) -> int:
        """Mark open reservations past their expiry as expired; returns how many."""
        now = now or timezone.now()
        return self.filter(status__in=Reservation.OPEN, expires_at__lte=now).update(
            status=Reservation.Status.EXPIRED, updated_at=timezone.now()
        )

    def use(self, *, charger: Charger, reservation_id: int, at=None) -> bool:
        """A session started `at` (now) named this reservation: only an active, unexpired one of this charger
        becomes used, whether or not the expiry task has run since.

        A conditional UPDATE: a start racing the expiry task or a cancel uses it at most once.
        """
        at = at or timezone.now()
        # EXPIRED too: a start dated before the expiry may arrive (queued offline) after the expiry task ran.
        return bool(
            self.filter(
                pk=reservation_id,
                charger=charger,
                status__in=[Reservation.Status.ACTIVE, Reservation.Status.EXPIRED],
                expires_at__gt=at,
            ).update(status=Reservation.Status.USED, updated_at=timezone.now())
        )


class Reservation(models.Model):
    """A ReserveNow; its primary key is the OCPP reservationId."""

    objects = ReservationQuerySet.as_manager()

    class Status(models.TextChoices):
        REQUESTED = "requested", "requested (waiting for the charger)"
        ACTIVE = "active"
        FAILED = "failed", "refused or not answered"
        CANCELLED = "cancelled"
        EXPIRED = "expired"
        USED = "used"

    OPEN = (Status.REQUESTED, Status.ACTIVE)

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="reservations")
    connector_id = models.PositiveIntegerField()
    id_tag = models.CharField("idTag", max_length=20)
    parent_id_tag = models.CharField("parent idTag", max_length=20, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-expires_at", "-id"]

    def __str__(self):
        return f"Reservation {self.pk} {self.charger} #{self.connector_id}"

    @property
    def reservation_id(self) -> int:
        return self.pk

    @property
    def effective_status(self) -> str:
        """The status as of now: an open reservation past its expiry is expired even before the task ran."""
        if self.status in self.OPEN and self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.status

    def move(self, *, to: str, allowed_from) -> bool:
        """Change status only from the given ones; guards e.g. a cancel racing the expiry task."""
        updated = Reservation.objects.filter(pk=self.pk, status__in=allowed_from).update(
            status=to, updated_at=timezone.now()
        )
        self.refresh_from_db(fields=["status", "updated_at"])
        return bool(updated)
