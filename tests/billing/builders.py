"""Named things of the money tests: cards, tariffs, sessions (the people are in tests.personas)."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from billing import services as billing_services
from billing.models import Tariff, TariffPeriod
from rfid import services as rfid_services
from rfid.models import IdTag
from stations import services as station_services
from stations.models import Charger, MeterValue, Transaction
from tests.factories import register_charger
from tests.personas import clerk, driver, operator, outsider  # noqa: F401  (the cast, for these tests)

T0 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)  # a Monday


def default_tariff(**fields) -> Tariff:
    fields = {
        "name": "Standard",
        "currency": "EUR",
        "price_per_kwh": Decimal("0.3000"),
        "is_default": True,
        **fields,
    }
    return Tariff.objects.create(**fields)


def peak_window(
    tariff: Tariff, start=time(17), end=time(21), price_per_kwh="0.5000", **fields
) -> TariffPeriod:
    return TariffPeriod.objects.create(
        tariff=tariff,
        name="Peak",
        start_time=start,
        end_time=end,
        price_per_kwh=Decimal(price_per_kwh),
        **fields,
    )


def prepaid_card(id_tag="PREPAID1", balance="0", owner=None, **fields) -> IdTag:
    card = rfid_services.issue_card(id_tag=id_tag, mode=IdTag.Mode.PREPAID, owner=owner, **fields)
    if Decimal(balance):
        billing_services.top_up(card=card, amount=Decimal(balance), method="cash", source="test")
    card.refresh_from_db()
    return card


def personal_card(id_tag="HOME1", owner=None, **fields) -> IdTag:
    return rfid_services.issue_card(id_tag=id_tag, mode=IdTag.Mode.PERSONAL, owner=owner, **fields)


def charger(charge_point_id="CP-1") -> Charger:
    return Charger.objects.filter(charge_point_id=charge_point_id).first() or register_charger(
        charge_point_id
    )


def open_session(id_tag, started_at=T0, meter_start=1_000, on=None) -> Transaction:
    """A session a charger started with the card, accepted, still charging."""
    return Transaction.objects.create(
        charger=on or charger(),
        connector_id=1,
        id_tag=id_tag,
        id_tag_status="Accepted",
        meter_start=meter_start,
        started_at=started_at,
    )


def finished_session(id_tag, wh=10_000, started_at=T0, minutes=60, meter_start=1_000, on=None) -> Transaction:
    """A session that ran `minutes` and metered `wh`, stopped as a charger would stop it."""
    session = open_session(id_tag, started_at=started_at, meter_start=meter_start, on=on)
    session.stop(
        meter_stop=meter_start + wh,
        stopped_at=started_at + timedelta(minutes=minutes),
        reason="Local",
        id_tag=id_tag,
        data=None,
    )
    return session


def stop_transaction(session: Transaction, wh: int, minutes=60):
    """The charger's StopTransaction of `session` with its own card, as the gateway hands it over."""
    return station_services.stop_transaction(
        charger=session.charger,
        transaction_id=session.pk,
        meter_stop=session.meter_start + wh,
        timestamp=session.started_at + timedelta(minutes=minutes),
        reason="Local",
        id_tag=session.id_tag,
        transaction_data=None,
        samples=[],
    )


def register_sample(session: Transaction, at: datetime, value, unit="Wh") -> MeterValue:
    return MeterValue.objects.create(
        charger=session.charger,
        connector_id=session.connector_id,
        transaction=session,
        timestamp=at,
        value=str(value),
        numeric_value=Decimal(str(value)),
        unit=unit,
    )


def balance(card: IdTag) -> Decimal:
    card.refresh_from_db()
    return billing_services.balance_of(card)
