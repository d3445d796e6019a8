"""What a StopTransaction waits on, statement by statement: the stop's own UPDATE is its claim on the
session, so its settlement reads nothing back, opens no savepoint, never asks "settled already?", and
the card it read to bill the session is the one its answer (idTagInfo) is decided on."""

from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import SessionCharge
from stations import services
from stations.models import Transaction
from tests.billing.builders import T0, charger, default_tariff, driver, personal_card


def test_it_stops_and_settles_a_card_session_reading_the_card_once_and_nothing_back(transactional_db):
    # transactional_db: the stop's transaction is the outermost one, as on the server.
    default_tariff(price_per_kwh=Decimal("0.3000"))
    personal_card("DANA-HOME", owner=driver())
    station = charger("CP-1")
    session = Transaction.objects.create(
        charger=station,
        connector_id=1,
        id_tag="DANA-HOME",
        id_tag_status="Accepted",
        meter_start=1_000,
        started_at=T0,
    )

    with CaptureQueriesContext(connection) as queries:
        answer = services.stop_transaction(
            charger=station,
            transaction_id=session.pk,
            meter_stop=11_000,
            timestamp=T0 + timedelta(hours=1),
            reason="Local",
            id_tag="DANA-HOME",
            transaction_data=None,
            samples=[],
        )

    statements = [query["sql"] for query in queries]
    assert answer.status == "Accepted"
    assert SessionCharge.objects.get(transaction=session).energy_wh == 10_000
    assert [sql for sql in statements if "SAVEPOINT" in sql] == []
    assert [sql for sql in statements if 'FROM "billing_sessioncharge"' in sql] == []
    assert len([sql for sql in statements if 'FROM "rfid_idtag"' in sql]) == 1
    assert len([sql for sql in statements if 'FROM "stations_transaction"' in sql]) == 1
