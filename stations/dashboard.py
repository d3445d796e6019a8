"""The operators' live dashboard: every charger's state and sessions, the counts and today's figures.

/dashboard/ renders a snapshot (it works without JavaScript). static/js/dashboard.js then holds
a WebSocket at /ws/dashboard/ (DashboardConsumer), in the channel-layer group GROUP. Every server
process's stations.gateway.live collects the chargers whose sockets reported something and,
at most once a second, sends the group one `update` built here: the changed chargers' cards,
rendered once per language with the page's own templates, so the browser only swaps them in.
A handful of queries per update, whatever the number of chargers; none per OCPP frame.
"""

import asyncio
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.db.models import Case, Count, Exists, F, OuterRef, Q, Subquery, When
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.access import SEE_CHARGERS
from billing import pricing
from billing.money import format_money
from billing.services import site_currency
from rfid.models import IdTag
from stations import reports, security
from stations.models import ENERGY_REGISTER, Charger, Connector, MeterValue, Transaction

logger = logging.getLogger(__name__)

GROUP = "dashboard"  # the browsers' sockets
PUBLISHERS = "dashboard.publishers"  # every server process's mailbox (stations.gateway.live)
WATCHED = "dashboard.watched"  # a dashboard socket's lease, renewed while it is open
RENEW = "dashboard.renew"  # a process that just joined PUBLISHERS asks the sockets for their lease
WATCH_RENEW_S = 10.0
WATCH_LEASE_S = 30.0
POWER = "Power.Active.Import"
ZERO = Decimal(0)
CHARGER_TEMPLATE = "stations/_dashboard_charger.html"
COUNTS_TEMPLATE = "stations/_dashboard_counts.html"
TODAY_TEMPLATE = "stations/_dashboard_today.html"

STATE_LABELS = {
    "online": pgettext_lazy("charger connection", "Online"),
    "silent": pgettext_lazy("charger connection", "Not heard from"),
    "offline": pgettext_lazy("charger connection", "Offline"),
    "pending": _("Pending approval"),
    "rejected": _("Rejected"),
}
STATUS_LABELS = {  # OCPP 1.6 ChargePointStatus
    "Available": pgettext_lazy("connector status", "Available"),
    "Preparing": pgettext_lazy("connector status", "Preparing"),
    "Charging": pgettext_lazy("connector status", "Charging"),
    "SuspendedEV": pgettext_lazy("connector status", "Suspended by the car"),
    "SuspendedEVSE": pgettext_lazy("connector status", "Suspended by the charger"),
    "Finishing": pgettext_lazy("connector status", "Finishing"),
    "Reserved": pgettext_lazy("connector status", "Reserved"),
    "Unavailable": pgettext_lazy("connector status", "Unavailable"),
    "Faulted": pgettext_lazy("connector status", "Faulted"),
}


# What a card shows ------------------------------------------------------------


@dataclass
class SessionLine:
    id: int
    id_tag: str
    driver: str
    started_at: datetime
    energy_wh: float
    flag: str = ""  # Transaction.Flag when a job flagged it for staff

    @property
    def energy_kwh(self) -> float:
        return self.energy_wh / 1000

    @property
    def flag_label(self) -> str:
        return Transaction.Flag(self.flag).label if self.flag else ""

    @property
    def started_today(self) -> bool:
        return timezone.localdate(self.started_at) == timezone.localdate()


@dataclass
class ConnectorLine:
    connector_id: int
    status: str = ""
    error_code: str = ""
    power_w: float | None = None
    session: SessionLine | None = None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status) or _("Not reported")

    @property
    def power_kw(self) -> float | None:
        return None if self.power_w is None else self.power_w / 1000


@dataclass
class ChargerLine:
    id: int
    charge_point_id: str
    name: str
    state: str
    last_seen_at: datetime | None
    unpriced: bool
    flagged_sessions: int = 0  # open sessions a job flagged for staff (stations.housekeeping)
    security_alerts: int = 0  # critical security events of the last security.ALERT_HOURS
    security_alert: str = ""  # the latest one's type
    whole_status: str = ""  # connector 0: the charger as a whole, shown when it is not fine
    connectors: list[ConnectorLine] = field(default_factory=list)

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def whole_status_label(self) -> str:
        return STATUS_LABELS.get(self.whole_status, self.whole_status)


def charger_lines(charger_ids=None) -> list[ChargerLine]:
    """The cards of these chargers (all when None), in eight queries however many there are."""
    chargers = Charger.objects.order_by("charge_point_id")
    if charger_ids is not None:
        chargers = chargers.filter(pk__in=charger_ids)
    chargers = list(chargers)
    ids = [charger.pk for charger in chargers]
    unpriced = pricing.unpriced(ids)
    flagged = _flagged_sessions(ids)
    alerts = _security_alerts(ids)
    by_charger = defaultdict(dict)
    for (charger_id, number), connector in _connector_lines(ids).items():
        by_charger[charger_id][number] = connector
    lines = [_charger_line(charger, charger.pk in unpriced) for charger in chargers]
    for line in lines:
        line.flagged_sessions = flagged.get(line.id, 0)
        line.security_alerts, line.security_alert = alerts.get(line.id, (0, ""))
        connectors = by_charger[line.id]
        line.whole_status = _whole_status(connectors.pop(0, None))
        line.connectors = [connectors[number] for number in sorted(connectors)]
    return lines


def _flagged_sessions(charger_ids: list[int]) -> dict[int, int]:
    """charger -> its open sessions flagged for staff; all of them, also one a newer session hides."""
    flagged = Transaction.objects.flagged_open().filter(charger_id__in=charger_ids)
    return dict(flagged.values("charger_id").annotate(count=Count("pk")).values_list("charger_id", "count"))


def _security_alerts(charger_ids: list[int]) -> dict[int, tuple[int, str]]:
    """charger -> (its raised critical security events, the latest one's type), in one query."""
    alerts = {}
    events = security.raised_security_events().filter(charger_id__in=charger_ids)
    for charger_id, name in events.order_by("-received_at", "-id").values_list("charger_id", "name"):
        count, latest = alerts.get(charger_id, (0, name))
        alerts[charger_id] = (count + 1, latest)
    return alerts


def _charger_line(charger: Charger, unpriced: bool) -> ChargerLine:
    return ChargerLine(
        id=charger.pk,
        charge_point_id=charger.charge_point_id,
        name=charger.name,
        state=connection_state(charger),
        last_seen_at=charger.last_seen_at or charger.disconnected_at,
        unpriced=unpriced,
    )


def connection_state(charger: Charger) -> str:
    if charger.approval != Charger.Approval.ACCEPTED:
        return "pending" if charger.approval == Charger.Approval.PENDING else "rejected"
    if charger.is_connected:
        return "silent" if charger.is_silent else "online"
    return "offline"


def _whole_status(line: ConnectorLine | None) -> str:
    return line.status if line and line.status in ("Faulted", "Unavailable") else ""


def _connector_lines(charger_ids: list[int]) -> dict[tuple[int, int], ConnectorLine]:
    """(charger, connector) -> its line: the reported status, and the open session if any."""
    lines = {
        (c.charger_id, c.connector_id): ConnectorLine(c.connector_id, c.status, c.error_code)
        for c in Connector.objects.filter(charger_id__in=charger_ids)
    }
    sessions = list(_open_sessions(charger_ids))
    drivers = _drivers({session.id_tag for session in sessions})
    for session in sessions:  # oldest first: a newer open session on the same connector wins
        line = lines.setdefault(
            (session.charger_id, session.connector_id), ConnectorLine(session.connector_id)
        )
        line.power_w = _number(session.power_w)
        line.session = SessionLine(
            session.pk,
            session.id_tag,
            drivers.get(session.id_tag, ""),
            session.started_at,
            _energy(session),
            session.flag_reason if session.flagged_at else "",
        )
    return lines


def _open_sessions(charger_ids: list[int]):
    """Open sessions with their latest power and register readings since they started, in one query."""
    return (
        Transaction.objects.filter(charger_id__in=charger_ids, stopped_at__isnull=True)
        .annotate(power_w=_latest(POWER, "W"), register_wh=_latest(ENERGY_REGISTER, "Wh"))
        .order_by("started_at", "pk")
    )


def _latest(measurand: str, unit: str) -> Subquery:
    """The session's latest whole-charger sample of `measurand`, in `unit` (k`unit` is scaled).

    By charger, connector and time: the unique index on meter samples begins with those.
    """
    samples = MeterValue.objects.filter(
        charger_id=OuterRef("charger_id"),
        connector_id=OuterRef("connector_id"),
        timestamp__gte=OuterRef("started_at"),
        measurand=measurand,
        phase="",
        numeric_value__isnull=False,
    ).order_by("-timestamp", "-id")
    in_unit = Case(When(unit__iexact=f"k{unit}", then=F("numeric_value") * 1000), default=F("numeric_value"))
    return Subquery(samples.annotate(in_unit=in_unit).values("in_unit")[:1])


def _energy(session: Transaction) -> float:
    register = _number(session.register_wh)
    return max(0.0, register - session.meter_start) if register is not None else 0.0


def _number(value) -> float | None:
    return None if value is None else float(value)


def _drivers(id_tags: set[str]) -> dict[str, str]:
    """idTag -> its owner's name, for cards that have an owner."""
    cards = IdTag.objects.filter(id_tag__in=id_tags, owner__isnull=False).select_related("owner")
    return {card.id_tag: str(card.owner) for card in cards}


# The figures above the cards --------------------------------------------------


def counts() -> dict[str, int]:
    """Chargers online (heard from lately), offline, with a connector charging or faulted, with an open
    session flagged for staff, with a critical security event raised; one query."""
    allowed = 2 * settings.OCPP_HEARTBEAT_INTERVAL + settings.OCPP_LAST_SEEN_RESOLUTION
    heard = Q(last_seen_at__isnull=True) | Q(last_seen_at__gte=timezone.now() - timedelta(seconds=allowed))
    online = Q(is_connected=True) & heard
    return Charger.objects.aggregate(
        total=Count("pk"),
        online=Count("pk", filter=online),
        offline=Count("pk", filter=~online),
        charging=Count("pk", filter=Q(Exists(_connectors_charging()))),
        faulted=Count("pk", filter=Q(Exists(_connectors_in("Faulted")))),
        pending=Count("pk", filter=Q(approval=Charger.Approval.PENDING)),
        flagged=Count(
            "pk", filter=Q(Exists(Transaction.objects.flagged_open().filter(charger_id=OuterRef("pk"))))
        ),
        security=Count(
            "pk", filter=Q(Exists(security.raised_security_events().filter(charger_id=OuterRef("pk"))))
        ),
    )


def _connectors_in(status: str):
    return Connector.objects.filter(charger_id=OuterRef("pk"), status=status)


def _connectors_charging():
    """1.6 says Charging; a 2.0.1 charger says only Occupied, which is charging when a session is open there."""
    open_session = Transaction.objects.charging().filter(
        charger_id=OuterRef("charger_id"), connector_id=OuterRef("connector_id")
    )
    occupied_in_session = Q(status="Occupied") & Q(Exists(open_session))
    return Connector.objects.filter(Q(status="Charging") | occupied_in_session, charger_id=OuterRef("pk"))


@dataclass
class Today:
    day: object
    sessions: int
    energy_kwh: object
    fees: list[str]
    unpriced: int  # chargers whose sessions are priced at zero


def today() -> Today:
    """Today's figures as stations.reports defines them (the site's local day), for all chargers."""
    day = reports.local_today()
    total = reports.daily_report(day, day).total()
    fees = [format_money(amount, currency) for amount, currency in total.fee_lines]
    fees = fees or [format_money(ZERO, site_currency())]
    unpriced = len(pricing.unpriced(Charger.objects.values_list("pk", flat=True)))
    return Today(day, total.sessions, total.energy_kwh, fees, unpriced)


# Rendering: the page, a socket's first snapshot, the pushes -------------------


def page_context() -> dict:
    return {"chargers": charger_lines(), "counts": counts(), "today": today(), "now": timezone.now()}


def _render(lines: list[ChargerLine], figures: dict, day: Today | None) -> dict:
    """The parts a browser swaps in by element id, in the active language."""
    return {
        "chargers": {
            f"dash-charger-{line.id}": render_to_string(CHARGER_TEMPLATE, {"charger": line}) for line in lines
        },
        "counts": render_to_string(COUNTS_TEMPLATE, {"counts": figures}),
        "today": render_to_string(TODAY_TEMPLATE, {"today": day}) if day else None,
    }


def update(*, charger_ids: list[int], with_totals: bool) -> dict:
    """The group event of one push (stations.gateway.live): each language's parts, rendered once."""
    lines, figures = charger_lines(charger_ids), counts()
    day = today() if with_totals else None
    parts = {}
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            parts[language] = _render(lines, figures, day)
    return {"type": "dashboard.update", "parts": parts}


def push(*, charger_ids: list[int]) -> None:
    """Chargers changed away from their sockets (a job: stations.housekeeping), sent to open dashboards
    from whichever process or worker; the pages are right on their next load anyway, so a channel
    layer that fails here costs a log line, not the job."""
    if not charger_ids:
        return
    try:
        async_to_sync(get_channel_layer().group_send)(
            GROUP, update(charger_ids=charger_ids, with_totals=False)
        )
    except Exception:
        logger.exception("pushing %d chargers to the dashboard failed", len(charger_ids))


def snapshot(language: str) -> dict:
    """Everything, for a socket that just opened (the page may be older than its socket)."""
    with translation.override(language):
        return {**_render(charger_lines(), counts(), today()), "complete": True}


# The page and its socket -------------------------------------------------------


def may_watch(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(SEE_CHARGERS))


def chosen_language(scope: dict) -> str:
    """The page's language, which dashboard.js passes as ?lang=; the site's default otherwise."""
    asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang", [""])[0]
    try:
        return translation.get_supported_language_variant(asked)
    except LookupError:
        return settings.LANGUAGE_CODE


class DashboardConsumer(AsyncWebsocketConsumer):
    """A staff member's live dashboard: refused at the handshake (HTTP 403) unless they may see chargers."""

    renewing: asyncio.Task | None = None

    async def connect(self):
        if not await database_sync_to_async(may_watch)(self.scope.get("user")):
            return await self.close()
        self.language = chosen_language(self.scope)
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()
        self.renewing = asyncio.create_task(self._keep_watching())
        await self.send_json(await database_sync_to_async(snapshot)(self.language))

    async def disconnect(self, code):
        if self.renewing is not None:
            self.renewing.cancel()
            await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def dashboard_update(self, event):
        await self.send_json(event["parts"].get(self.language) or event["parts"][settings.LANGUAGE_CODE])

    async def dashboard_renew(self, event):
        await self.channel_layer.group_send(PUBLISHERS, {"type": WATCHED})

    async def send_json(self, content: dict) -> None:
        await self.send(text_data=json.dumps(content, ensure_ascii=False))

    async def _keep_watching(self):
        """Renew the lease every process's publisher watches (stations.gateway.live) while open."""
        while True:
            await self.channel_layer.group_send(PUBLISHERS, {"type": WATCHED})
            await asyncio.sleep(WATCH_RENEW_S)
