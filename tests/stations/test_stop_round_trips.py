"""What a StopTransaction waits on, statement by statement: the stop's own UPDATE is its claim on the
session, so its settlement reads nothing back, opens no savepoint, never asks "settled already?", and
the card it read to bill the session is the one its answer (idTagInfo) is decided on."""

from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import SessionCharge
from tests.billing.builders import default_tariff, driver, open_session, personal_card, stop_transaction


def test_it_stops_and_settles_a_card_session_reading_the_card_once_and_nothing_back(transactional_db):
    # transactional_db: the stop's transaction is the outermost one, as on the server.
    default_tariff(price_per_kwh=Decimal("0.3000"))
    personal_card("DANA-HOME", owner=driver())
    session = open_session("DANA-HOME")

    with CaptureQueriesContext(connection) as queries:
        answer = stop_transaction(session, wh=10_000)

    statements = [query["sql"] for query in queries]
    assert answer.status == "Accepted"
    assert SessionCharge.objects.get(transaction=session).energy_wh == 10_000
    assert [sql for sql in statements if "SAVEPOINT" in sql] == []
    assert [sql for sql in statements if 'FROM "billing_sessioncharge"' in sql] == []
    assert len([sql for sql in statements if 'FROM "rfid_idtag"' in sql]) == 1
    assert len([sql for sql in statements if 'FROM "stations_transaction"' in sql]) == 1
