import functools
import logging
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from csms.compiled import CompiledInsert, CompiledQuery, CompiledUpdate
from stations.hashers import charger_hasher, recently_verified, remember_verified

logger = logging.getLogger(__name__)

# OCPP identities are at most 48 characters (OCPP 2.0.1 identifierString).
MAX_CHARGE_POINT_ID_LENGTH = 48
# A session's idTag: 20 characters in OCPP 1.6 (IdToken), 36 in 2.0.1 (IdTokenType.idToken).
MAX_ID_TOKEN_LENGTH = 36
ENERGY_REGISTER = "Energy.Active.Import.Register"  # the measurand of the meter's Wh register
POWER_IMPORT = "Power.Active.Import"  # the power flowing to the car, W or kW


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


class ChargerQuerySet(models.QuerySet):
    # What a charger is, as the dashboard shows it (stations.dashboard.connection_state).
    STATES = ("online", "silent", "offline", "pending", "rejected")

    def in_state(self, state: str) -> "ChargerQuerySet":
        """Chargers in one of STATES: approval first; an accepted one is online, silent (marked
        connected but unheard: Charger.is_silent) or offline."""
        if state in ("pending", "rejected"):
            return self.filter(approval=state)
        accepted = self.filter(approval=Charger.Approval.ACCEPTED)
        if state == "offline":
            return accepted.filter(is_connected=False)
        silent = Q(last_seen_at__lt=timezone.now() - timedelta(seconds=Charger.silence_allowed()))
        return accepted.filter(silent if state == "silent" else ~silent, is_connected=True)

    def connected(self, connected: bool = True) -> "ChargerQuerySet":
        """Chargers whose socket is open (is_connected), or not."""
        return self.filter(is_connected=connected)

    @transaction.atomic
    def register(
        self, *, charge_point_id: str, password: str | None = None, update: bool = True, **settings
    ) -> tuple["Charger", bool]:
        """Register a charger so that it may connect (accepted; its password when given; `settings`
        such as name), as `manage.py add_charger` and the API do; returns (charger, created).
        `update=False` leaves an existing one as it is. The row is locked: two registrations of one id
        racing make one row; only the columns named here are written, never a socket's connection state."""
        charger, created = self.select_for_update().get_or_create(charge_point_id=charge_point_id)
        if created or update:
            charger.approval = Charger.Approval.ACCEPTED
            for name, value in settings.items():
                setattr(charger, name, value)
            if password is not None:
                charger.set_password(password)
            charger.save(update_fields=["approval", "password", *settings])
        return charger, created


class Charger(models.Model):
    objects = ChargerQuerySet.as_manager()

    class Approval(models.TextChoices):
        ACCEPTED = "accepted", pgettext_lazy("charger approval", "Accepted")
        PENDING = "pending", pgettext_lazy("charger approval", "Pending")
        REJECTED = "rejected", pgettext_lazy("charger approval", "Rejected")

    class SecurityProfile(models.IntegerChoices):
        """The OCPP 1.6 security whitepaper's profiles: how the charger's socket must reach us."""

        BASIC_AUTH = 1, _("1: password (HTTP Basic), ws:// or wss://")
        TLS_BASIC_AUTH = 2, _("2: password (HTTP Basic) over TLS, wss:// only")
        TLS_CLIENT_CERTIFICATE = 3, _("3: TLS with a client certificate naming the charger, wss:// only")

    charge_point_id = models.CharField("charge point id", max_length=MAX_CHARGE_POINT_ID_LENGTH, unique=True)
    name = models.CharField(max_length=100, blank=True)
    # Django password hash; empty means the charger connects without HTTP Basic auth.
    password = models.CharField(max_length=128, blank=True)
    approval = models.CharField(max_length=16, choices=Approval.choices, default=Approval.ACCEPTED)
    security_profile = models.PositiveSmallIntegerField(
        _("security profile"),
        choices=SecurityProfile.choices,
        default=SecurityProfile.BASIC_AUTH,
        help_text=_(
            "2 and 3 refuse a plain ws:// connection (known from the TLS proxy's X-Forwarded-Proto); "
            "3 also needs a client certificate whose subject CN is the charge point id (docs/operations.md)."
        ),
    )

    vendor = models.CharField(max_length=50, blank=True)  # OCPP 2.0.1 vendorName: 50 (1.6: 20)
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
    boot_reason = models.CharField(max_length=24, blank=True, help_text="OCPP 2.0.1 BootNotification reason")
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

    def accepts_transport(self, *, secure: bool, certificate_name: str | None) -> bool:
        """Whether a handshake that came this way meets the charger's security profile.

        `secure`: the socket is wss:// (daphne's own TLS, or a trusted proxy's X-Forwarded-Proto);
        `certificate_name`: the subject CN of a client certificate the trusted proxy verified.
        """
        if self.security_profile == self.SecurityProfile.BASIC_AUTH:
            return True
        if not secure:
            return False
        return self.security_profile == self.SecurityProfile.TLS_BASIC_AUTH or (
            certificate_name == self.charge_point_id
        )

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
        return (timezone.now() - self.last_seen_at).total_seconds() > self.silence_allowed()

    @staticmethod
    def silence_allowed() -> int:
        """Seconds a connected charger may be unheard before it counts as silent."""
        return 2 * settings.OCPP_HEARTBEAT_INTERVAL + settings.OCPP_LAST_SEEN_RESOLUTION

    def approve(self) -> bool:
        """Accept a pending (or rejected) charger at its next boot; False when it already was.

        A conditional UPDATE: two admins approving at once, or a retried request, change it once.
        """
        updated = (
            Charger.objects.filter(pk=self.pk)
            .exclude(approval=self.Approval.ACCEPTED)
            .update(approval=self.Approval.ACCEPTED)
        )
        self.refresh_from_db(fields=["approval"])
        return bool(updated)

    def change_password(self, raw_password: str | None) -> None:
        """A new password (None or "": none), written alone: a save() of the whole row would put back
        the connection state (is_connected, last_seen_at) a socket wrote meanwhile."""
        self.set_password(raw_password)
        Charger.objects.filter(pk=self.pk).update(password=self.password)

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
        if recently_verified(self.password, raw_password):
            return True

        def upgrade(raw):
            self.set_password(raw)
            Charger.objects.filter(pk=self.pk).update(password=self.password)

        verified = check_password(raw_password, self.password, upgrade, charger_hasher(raw_password))
        if verified:
            remember_verified(self.password, raw_password)
        return verified

    def mark_connected(
        self, *, connection_id: str, channel_name: str, ocpp_version: str, remote_address: str
    ) -> None:
        """This socket is the charger's live one (every handshake: its UPDATE's SQL written once)."""
        now = timezone.now()
        _MARK_CONNECTED.run(
            pk=self.pk,
            is_connected=True,
            connection_id=connection_id,
            channel_name=channel_name,
            connected_since=now,
            last_seen_at=now,
            ocpp_version=ocpp_version,
            remote_address=remote_address,
        )

    def note_boot(self, *, at: datetime, **identity: str) -> None:
        """Store what a BootNotification says about the charger, and read its approval back.

        One statement (UPDATE … RETURNING): staff approving or rejecting the charger while it boots is
        answered by the row as this UPDATE left it, not as the handshake read it.
        """
        values = {field: value or "" for field, value in identity.items()}
        for field, value in values.items():
            setattr(self, field, value)
        self.last_boot_at = self.last_seen_at = at
        (self.approval,) = _boot_update(tuple(values)).run(
            pk=self.pk, last_boot_at=at, last_seen_at=at, **values
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

    def mark_offline_if_silent(self, *, connection_id: str, heard_since: datetime) -> bool:
        """Mark the socket `connection_id` offline if nothing came through it since `heard_since`.

        Guards the silence job racing the charger: a charger that reconnected since the job read it
        (a new connection_id, a new last_seen_at) or whose frame's last_seen_at was written meanwhile
        fails the WHERE; two runs at once mark it once (stations.housekeeping).
        """
        return bool(
            Charger.objects.filter(
                pk=self.pk, connection_id=connection_id, is_connected=True, last_seen_at__lt=heard_since
            ).update(is_connected=False, channel_name="", disconnected_at=timezone.now())
        )


_MARK_CONNECTED = CompiledUpdate(
    Charger,
    set=(
        "is_connected",
        "connection_id",
        "channel_name",
        "connected_since",
        "last_seen_at",
        "ocpp_version",
        "remote_address",
    ),
    where=("pk",),
)


@functools.cache
def _boot_update(identity: tuple[str, ...]) -> CompiledUpdate:
    """One per set of fields a protocol's BootNotification fills (1.6's and 2.0.1's)."""
    return CompiledUpdate(
        Charger, set=(*identity, "last_boot_at", "last_seen_at"), where=("pk",), returning=("approval",)
    )


class ServerProcess(models.Model):
    """A server process that holds chargers' sockets, and when it last said it was alive.

    Each process beats every OCPP_PROCESS_BEAT_SECONDS (csms.scheduler, stations.housekeeping). A
    process killed with sockets open cannot mark its chargers disconnected; a job does it for it once
    its beat is older than OCPP_PROCESS_GONE_SECONDS. A row in the database, on SQLite as on
    PostgreSQL, so the job is one conditional UPDATE of the chargers beside it, with or without Redis.
    """

    # The process's channel-layer address (stations.gateway.mailbox): what Charger.channel_name holds.
    channel_name = models.CharField(max_length=200, unique=True)
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    beat_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Set by the job that found it silent; a process that beats again after that takes its sockets back.
    gone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-beat_at"]

    def __str__(self):
        return f"{self.host}:{self.pid} ({self.channel_name})"

    def declare_gone(self, *, silent_since, at) -> bool:
        """Claim this process as gone, unless it beat since `silent_since` or another job claimed it first.

        Guards two races: a job on two workers at once (one claims, one gets False), and the process
        beating again between the job's read and this UPDATE (the beat wins, nothing is cleared).
        """
        return bool(
            ServerProcess.objects.filter(pk=self.pk, gone_at__isnull=True, beat_at__lt=silent_since).update(
                gone_at=at
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

    def of_driver(self, driver_id: int) -> "TransactionQuerySet":
        """The driver's sessions: those of the cards they own, and those their QR payments paid for."""
        from rfid.models import IdTag  # rfid names stations by string: no cycle

        cards = IdTag.objects.filter(owner_id=driver_id).values("id_tag")
        return self.filter(Q(id_tag__in=cards) | Q(payment__driver_id=driver_id))

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

    def insert(self, **fields) -> "Transaction":
        """create(**fields), its INSERT written once per process (csms.compiled): every start waits on it."""
        return _INSERT_TRANSACTION.insert(Transaction(**fields))

    def flagged_open(self) -> "TransactionQuerySet":
        """Open sessions a job flagged for staff (Transaction.flagged_at): they need a person."""
        return self.filter(stopped_at__isnull=True, flagged_at__isnull=False)

    def flag(self, *, reason: str, at) -> int:
        """Flag these sessions for staff with `reason` (a Transaction.Flag); returns how many.

        A conditional UPDATE on open, unflagged sessions: a job on two workers flags each once, and a
        StopTransaction that committed first leaves its session unflagged. A boot's flag is the same
        UPDATE written once (Transaction.flag_opened_before): a change of the rule goes in both.
        """
        return self.filter(stopped_at__isnull=True, flagged_at__isnull=True).update(
            flagged_at=at, flag_reason=reason
        )

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

    class Flag(models.TextChoices):
        """Why an open session needs a person to look at it (flagged_at, flag_reason)."""

        CHARGER_REBOOTED = "charger_rebooted", _("the charger rebooted during the session")
        CHARGER_GONE = "charger_gone", _("the charger has been gone for a long time")

    charger = models.ForeignKey(Charger, on_delete=models.PROTECT, related_name="transactions")
    connector_id = models.PositiveIntegerField()
    # Normalised (rfid.models.normalise_id_tag): OCPP idTags are case-insensitive, and
    # "is this card charging elsewhere" must be an indexed lookup, not a scan of all sessions.
    id_tag = models.CharField("idTag", max_length=MAX_ID_TOKEN_LENGTH)
    id_tag_status = models.CharField(max_length=20, help_text="Authorization answer given at start")
    reservation_id = models.IntegerField(null=True, blank=True)
    meter_start = models.BigIntegerField(help_text="Wh")
    started_at = models.DateTimeField(db_index=True)
    meter_stop = models.BigIntegerField(null=True, blank=True, help_text="Wh")
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=32, blank=True)  # 2.0.1 stoppedReason: up to 25 characters
    stop_id_tag = models.CharField("stop idTag", max_length=MAX_ID_TOKEN_LENGTH, blank=True)
    transaction_data = models.JSONField(null=True, blank=True)
    # OCPP 2.0.1: the charger names its transactions (a string); empty for 1.6, where our pk is the id.
    charger_transaction_id = models.CharField("charger's transactionId", max_length=36, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by a job (stations.housekeeping.flag_open_sessions) when the session looks abandoned: staff
    # look at it; it is never closed or priced for them, since only the charger's stop knows the meter.
    flagged_at = models.DateTimeField(null=True, blank=True)
    flag_reason = models.CharField(max_length=20, choices=Flag.choices, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # A charger resends a StartTransaction it is not sure we received:
            # the same charger, connector, start time and meter reading is the same session.
            # (A 2.0.1 charger names its sessions: for those, charger_transaction_id is the key.)
            models.UniqueConstraint(
                fields=["charger", "connector_id", "started_at", "meter_start"],
                condition=models.Q(charger_transaction_id=""),
                name="unique_transaction_start",
            ),
            models.UniqueConstraint(
                fields=["charger", "charger_transaction_id"],
                condition=~models.Q(charger_transaction_id=""),
                name="unique_charger_transaction_id",
            ),
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

    def stop(self, *, meter_stop: int, stopped_at, reason: str, id_tag: str, data) -> bool:
        """Record the stop once; returns False when it was already stopped.

        Guards the replayed-StopTransaction race: the conditional UPDATE lets
        exactly one of two concurrent stops through. One statement, its SQL
        written once, so no savepoint; the stop's fields are set on this
        instance, not read back (a round trip each, on the path a charger waits on).
        """
        stop = {
            "meter_stop": meter_stop,
            "stopped_at": stopped_at,
            "stop_reason": reason,
            "stop_id_tag": id_tag,
            "transaction_data": data,
        }
        updated = _STOP.run(pk=self.pk, **stop)
        if updated:
            for field, value in stop.items():
                setattr(self, field, value)
        return bool(updated)

    @staticmethod
    def flag_opened_before(*, charger_id: int, before: datetime, reason: str) -> int:
        """TransactionQuerySet.flag of the charger's sessions opened before `before` (its boot): the same
        conditional UPDATE on open, unflagged sessions, its SQL written once (every boot runs it)."""
        return _FLAG_OPENED_BEFORE.run(
            charger=charger_id, created_at__lt=before, flagged_at=before, flag_reason=reason
        )

    @property
    def needs_attention(self) -> bool:
        """Flagged and still open: what the dashboard counts and the session page shows."""
        return self.flagged_at is not None and self.stopped_at is None

    def energy_register_samples(self) -> list[tuple[datetime, Decimal, str]]:
        """The session's numeric Wh-register samples strictly inside it, in order, as (timestamp, value,
        unit): what pricing reads, as a StopTransaction waits on it. Its SQL is written once and takes the
        session alone; the few samples outside the session are left out here, not in SQL."""
        return [row for row in _ENERGY_REGISTER.rows(self.pk) if self.started_at < row[0] < self.stopped_at]


_INSERT_TRANSACTION = CompiledInsert(Transaction)
_STOP = CompiledUpdate(
    Transaction,
    set=("meter_stop", "stopped_at", "stop_reason", "stop_id_tag", "transaction_data"),
    where=("pk", "stopped_at__isnull"),
)
_FLAG_OPENED_BEFORE = CompiledUpdate(
    Transaction,
    set=("flagged_at", "flag_reason"),
    where=("charger", "created_at__lt", "stopped_at__isnull", "flagged_at__isnull"),
)


class Sample(NamedTuple):
    """One sampled value as the message path builds it: plain values named as MeterValue's columns.

    A model instance per sampled value (Django's init and its signals), turned back into values for
    COPY, was a third of the interpreter's work per MeterValues frame: 577 Python calls a frame of
    three samples, 378 with these (docs/performance.md). The write-behind COPYs them as they are.
    """

    charger_id: int
    connector_id: int
    transaction_id: int | None
    timestamp: datetime
    value: str
    numeric_value: Decimal | None
    measurand: str = ENERGY_REGISTER  # the spec's defaults, as MeterValue's
    phase: str = ""
    unit: str = "Wh"
    context: str = "Sample.Periodic"
    location: str = "Outlet"
    format: str = "Raw"


class MeterValueQuerySet(models.QuerySet):
    def store(self, samples: list[Sample]) -> None:
        """Insert samples now (a session's start or stop); a replayed one is a no-op (unique_meter_sample)."""
        self.bulk_create([MeterValue(**sample._asdict()) for sample in samples], ignore_conflicts=True)


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

    objects = MeterValueQuerySet.as_manager()

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


_ENERGY_REGISTER = CompiledQuery(
    lambda session_pk: (
        MeterValue.objects.filter(
            transaction_id=session_pk, measurand=ENERGY_REGISTER, phase="", numeric_value__isnull=False
        )
        .order_by("timestamp", "id")
        .values_list("timestamp", "numeric_value", "unit")
    ),
    -1,
)


class ChargerDayQuerySet(models.QuerySet):
    def forget_from(self, *, charger_id: int, moment: datetime) -> int:
        """A session recorded late, starting at `moment`: the charger's stored days from it on are worked
        out again (stations.reports). No query for a session that starts today, as nearly all do."""
        zone = ZoneInfo(settings.TIME_ZONE)
        day = moment.astimezone(zone).date()
        if day >= timezone.now().astimezone(zone).date():
            return 0
        return self.filter(charger_id=charger_id, day__gte=day).delete()[0]

    def forget_late_sessions(self, *, charger_ids: list[int], recorded_after: datetime) -> int:
        """What a job storing days missed: sessions of these chargers recorded while it worked them out."""
        late = Transaction.objects.filter(charger_id__in=charger_ids, created_at__gt=recorded_after)
        return sum(
            self.forget_from(charger_id=charger, moment=start)
            for charger, start in late.values_list("charger_id", "started_at")
        )


class ChargerDay(models.Model):
    """A charger's working and charging time and its energy on one local day of `zone`, worked out once
    the day is over and every session in it has closed (stations.reports.store_charger_days), so that
    a month's report does not walk every meter sample again. A day of a charger without activity is
    kept too (zeros): each charger's stored days run without a gap up to its first day not stored.
    A session that arrives later for a stored day (a charger's queue replayed) removes the charger's
    days from its start on, and they are worked out again; so does a change of the site's zone."""

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="+")
    zone = models.CharField(max_length=64)
    day = models.DateField()
    working_seconds = models.FloatField()
    charging_seconds = models.FloatField()
    energy_wh = models.FloatField()
    stored_at = models.DateTimeField()

    objects = ChargerDayQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["charger", "zone", "day"], name="unique_charger_day")]


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
        CSMS = "csms", _("the CSMS itself")  # e.g. CertificateSigned, answering a charger's SignCertificate

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
    # A request the charger reports on later by its requestId (GetLog, SignedUpdateFirmware): the latest
    # status it reported (LogStatusNotification, SignedFirmwareStatusNotification), and when.
    progress = models.CharField(max_length=32, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)
    # What the charger reported for it afterwards, by its requestId (2.0.1 GetChargingProfiles: each
    # ReportChargingProfiles, camelCase, in the order they came).
    reported = models.JSONField(null=True, blank=True)

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
        """1.6 answers RebootRequired as its status; 2.0.1's SetVariables per variable, in its results."""
        if self.answer_status == "RebootRequired":
            return True
        results = self.response.get("setVariableResult") if isinstance(self.response, dict) else None
        return any(result.get("attributeStatus") == "RebootRequired" for result in results or ())

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


class PasswordChange(models.Model):
    """A new HTTP Basic password sent to a charger (ChangeConfiguration AuthorizationKey): only its hash,
    kept until the charger answers. It becomes the charger's password only if the charger accepted it
    (stations.outcomes); the key itself is never stored, in the command or anywhere else."""

    command = models.OneToOneField(Command, on_delete=models.CASCADE, related_name="password_change")
    password = models.CharField(max_length=128)  # a Django password hash, as Charger.password

    def apply(self) -> bool:
        """The charger accepted the key: it is its password from now on, the old one refused. Runs in
        the transaction that stores the command's outcome, once (Command.finish guards a late answer)."""
        changed = Charger.objects.filter(pk=self.command.charger_id).update(password=self.password)
        self.delete()  # the hash has done its work
        return bool(changed)


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

    def end(self, *, charger: Charger, reservation_id: int, status: str) -> bool:
        """The charger says it ended this reservation (OCPP 2.0.1 ReservationStatusUpdate): an open one of
        this charger takes `status` (expired, cancelled). A conditional UPDATE: a report racing a start,
        a cancel or the expiry task changes it at most once, and never undoes a use."""
        return bool(
            self.filter(pk=reservation_id, charger=charger, status__in=Reservation.OPEN).update(
                status=status, updated_at=timezone.now()
            )
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


# Kept records live in stations.records (this module would pass a thousand lines); imported last, as
# they refer to the models above, and re-exported so that `from stations.models import …` finds them.
from stations.records import (  # noqa: E402, F401
    DEVICE_MODEL_KEY,
    ChargerConfigurationKey,
    ChargerEvent,
    ConnectionAttempt,
    DataTransferMessage,
    DeviceModelVariable,
    MessageLog,
    RefusedRecord,
    StatusNotification,
    TransactionEvent,
    UnknownTransactionStop,
    storable_text,
)
