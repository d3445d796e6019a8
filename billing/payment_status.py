"""What the driver's live page, the receipt and the staff's payment list read of a payment.

Reads on the web path (a few queries per poll), never on the OCPP path. Named in billing.payments
as well, which the pay pages and the API use for everything.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from billing import payments, pricing
from billing import services as billing_services
from billing.models import Payment, SessionCharge
from stations.models import ENERGY_REGISTER, POWER_IMPORT, Charger, MeterValue, Transaction

State = Payment.State
ZERO = Decimal("0")
HELD_WITHOUT_SESSION = timedelta(minutes=5)
EXPIRY_WARNING = timedelta(days=1)


# What the driver sees ---------------------------------------------------------------------------------------


@dataclass
class LiveStatus:
    state: str
    api_status: str
    state_label: str
    failure_reason: str
    amount: Decimal
    currency: str
    energy_kwh: Decimal = ZERO
    power_kw: Decimal | None = None
    elapsed_seconds: int = 0
    cost_so_far: Decimal = ZERO
    captured: Decimal | None = None
    refunded: Decimal | None = None
    can_stop: bool = False
    finished: bool = False
    started_at: datetime | None = None
    stopped_at: datetime | None = None


def live_status(*, payment: Payment) -> LiveStatus:
    """The live page's figures (polled): a few queries, on the web path, never on the OCPP path.
    A payment past its start deadline is given back right here, so the page is never stale."""
    _move_if_overdue(payment)
    status = LiveStatus(
        state=payment.state,
        api_status=payment.api_status,
        state_label=str(payment.get_state_display()),
        failure_reason=payments.failure_text(payment) if payment.failure_reason else "",
        amount=payment.amount,
        currency=payment.currency,
        captured=payment.captured,
        refunded=payment.refunded,
        can_stop=payment.can_stop,
        finished=payment.state in (State.CAPTURING, *Payment.FINAL_STATES),
    )
    session = payment.transaction
    if session is not None:
        _add_session_figures(status, payment, session)
    return status


def _move_if_overdue(payment: Payment) -> None:
    timeout = timedelta(seconds=settings.PAYMENT_START_TIMEOUT_SECONDS)
    if (
        payment.state == State.STARTING
        and payment.start_sent_at
        and payment.start_sent_at < timezone.now() - timeout
    ):
        payments.give_back(payment=payment, reason="no_start")
        payment.refresh_from_db()


def _add_session_figures(status: LiveStatus, payment: Payment, session: Transaction) -> None:
    status.started_at, status.stopped_at = session.started_at, session.stopped_at
    end = session.stopped_at or timezone.now()
    status.elapsed_seconds = max(0, int((end - session.started_at).total_seconds()))
    if session.stopped_at is not None:
        status.energy_kwh = Decimal(session.energy_wh or 0) / 1000
        status.cost_so_far = payment.captured if payment.captured is not None else ZERO
        return
    wh = _latest(session, ENERGY_REGISTER)
    power = _latest(session, POWER_IMPORT)
    status.energy_kwh = max(ZERO, (wh or session.meter_start) - session.meter_start) / 1000
    status.power_kw = power / 1000 if power is not None else None
    status.cost_so_far = min(_priced_so_far(session, wh), payment.amount)


def _latest(session: Transaction, measurand: str) -> Decimal | None:
    """The newest reading of a measurand in W or Wh (kW, kWh converted)."""
    sample = (
        MeterValue.objects.filter(
            transaction=session, measurand=measurand, phase="", numeric_value__isnull=False
        )
        .order_by("-timestamp", "-id")
        .only("numeric_value", "unit")
        .first()
    )
    if sample is None:
        return None
    return sample.numeric_value * (1000 if sample.unit.lower() in ("kwh", "kw") else 1)


def _priced_so_far(session: Transaction, wh: Decimal | None) -> Decimal:
    """What the session would cost were it stopped now: the real pricing on the samples so far."""
    tariff = billing_services.tariff_for(charger=session.charger, connector_id=session.connector_id)
    if tariff is None:
        return ZERO
    now = timezone.now()
    so_far = Transaction(
        pk=session.pk,
        charger=session.charger,
        connector_id=session.connector_id,
        meter_start=session.meter_start,
        started_at=session.started_at,
        stopped_at=max(now, session.started_at),
        meter_stop=int(max(wh or session.meter_start, session.meter_start)),
    )
    price = pricing.price_session(
        tariff=tariff,
        periods=list(tariff.periods.all()),
        started_at=so_far.started_at,
        stopped_at=so_far.stopped_at,
        readings=billing_services.meter_readings(so_far),
    )
    return price.total


def live_status_json(payment: Payment) -> dict:
    """live_status as JSON-ready strings, for the page's polling script."""
    status = live_status(payment=payment)
    return {
        key: (str(value) if isinstance(value, Decimal | datetime) else value)
        for key, value in status.__dict__.items()
    }


@dataclass
class Receipt:
    payment: Payment
    charge: SessionCharge | None
    currency: str
    cost: Decimal
    captured: Decimal
    refunded: Decimal
    site_loss: Decimal
    net: Decimal = ZERO
    tax: Decimal = ZERO
    energy_kwh: Decimal = ZERO
    lines: list = field(default_factory=list)
    started_at: datetime | None = None
    stopped_at: datetime | None = None

    @property
    def charger(self) -> Charger:
        return self.payment.charger

    @property
    def connector_id(self) -> int:
        return self.payment.connector_id

    @property
    def method(self) -> str:
        return self.payment.method


def receipt(*, payment: Payment) -> Receipt | None:
    """The driver's receipt once nothing will change: None while the session runs or the money moves."""
    if payment.state not in Payment.FINAL_STATES:
        return None
    charge = (
        SessionCharge.objects.filter(transaction_id=payment.transaction_id).first()
        if payment.transaction_id
        else None
    )
    session = payment.transaction
    return Receipt(
        payment=payment,
        charge=charge,
        currency=payment.currency,
        cost=payment.cost or ZERO,
        captured=payment.captured or ZERO,
        refunded=payment.refunded if payment.refunded is not None else ZERO,
        site_loss=payment.site_loss,
        net=charge.net if charge else ZERO,
        tax=charge.tax if charge else ZERO,
        energy_kwh=Decimal(session.energy_wh or 0) / 1000 if session is not None else ZERO,
        lines=charge.breakdown if charge else [],
        started_at=session.started_at if session is not None else None,
        stopped_at=session.stopped_at if session is not None else None,
    )


# What staff see ------------------------------------------------------------------------------------------------


def needs_attention(payment: Payment, now: datetime | None = None) -> bool:
    """A person should look: a gateway call failed, money held without a session, a hold about to lapse."""
    now = now or timezone.now()
    if payment.attention:
        return True
    if (
        payment.state in (State.HELD, State.STARTING)
        and payment.confirmed_at
        and payment.confirmed_at < now - HELD_WITHOUT_SESSION
    ):
        return True
    lapsing = payment.authorization_expires_at and payment.authorization_expires_at < now + EXPIRY_WARNING
    return bool(lapsing and payment.state in (State.HELD, State.STARTING, State.CHARGING, State.CAPTURING))


def payments_for_staff(*, state: str = "", attention_only: bool = False):
    """Payments newest first with their charger, driver and session; `attention_only` keeps those
    needing a person (computed in SQL, like needs_attention)."""
    rows = Payment.objects.select_related("charger", "driver", "transaction")
    if state:
        rows = rows.filter(state=state)
    if attention_only:
        now = timezone.now()
        held_long = Q(state__in=[State.HELD, State.STARTING], confirmed_at__lt=now - HELD_WITHOUT_SESSION)
        lapsing = Q(
            state__in=[State.HELD, State.STARTING, State.CHARGING, State.CAPTURING],
            authorization_expires_at__lt=now + EXPIRY_WARNING,
        )
        rows = rows.filter(~Q(attention="") | held_long | lapsing)
    return rows.order_by("-created_at", "-id")
