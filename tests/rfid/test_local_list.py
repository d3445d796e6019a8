"""SendLocalList entries are built from the same cards and rules as Authorize."""

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

from ocpp.messages import Call, validate_payload

from rfid.models import IdTag
from stations.payloads import local_authorization_list
from tests.billing.builders import default_tariff, personal_card, prepaid_card


def test_it_builds_the_local_authorization_list_from_the_cards(db):
    default_tariff(min_balance_to_start=Decimal("2"))
    personal_card("HOME-1", expires_at=datetime(2030, 1, 1, tzinfo=UTC), parent_id_tag="fleet-1")
    personal_card("GONE-1").set_status(IdTag.Status.LOST)
    prepaid_card("RICH-1", balance="10")
    prepaid_card("POOR-1", balance="1")

    entries = local_authorization_list()

    assert entries == [
        {"idTag": "GONE-1", "idTagInfo": {"status": "Blocked"}},
        {
            "idTag": "HOME-1",
            "idTagInfo": {
                "status": "Accepted",
                "expiryDate": "2030-01-01T00:00:00.000Z",
                "parentIdTag": "FLEET-1",
            },
        },
        {"idTag": "POOR-1", "idTagInfo": {"status": "Blocked"}},
        {"idTag": "RICH-1", "idTagInfo": {"status": "Accepted"}},
    ]


def test_it_sends_a_list_the_ocpp_schema_accepts(db):
    personal_card("HOME-1", expires_at=datetime(2030, 1, 1, tzinfo=UTC))
    personal_card("PLAIN-1")
    payload = {"listVersion": 1, "updateType": "Full", "localAuthorizationList": local_authorization_list()}

    asyncio.run(validate_payload(Call("1", "SendLocalList", payload), "1.6"))  # raises when invalid

    entries = {entry["idTag"]: entry["idTagInfo"] for entry in payload["localAuthorizationList"]}
    assert entries == {
        "HOME-1": {"status": "Accepted", "expiryDate": "2030-01-01T00:00:00.000Z"},
        "PLAIN-1": {"status": "Accepted"},
    }
