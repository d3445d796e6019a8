"""What the conformance tests share: the OCTT tool's part (a charger on a real socket, answering the
central system's calls) and the operator's part (the charger page's forms and the commands API).

Each test plays one OCA test case for a central system ("Test case document OCTT for OCPP 1.6",
section 3, SUT = Central System): the charger's messages in the case's order, the operator's
action where the case has the central system send something, and the case's validations on what
the central system sent and answered (docs/conformance.md lists them all).
"""

import asyncio

from django.test import Client
from ocpp.v16 import call
from rest_framework.test import APIClient

from stations.models import Connector
from tests.ocpp_client import AnsweringCharger, connected_charger, orm

CONNECTOR = 1  # the OCTT's <Configured ConnectorId>


def as_charger(server, charge_point_id: str, scenario, *, boot=True, password=None):
    """Run `scenario(cp)` with the charger connected (and booted, Accepted); returns its result."""

    async def run():
        async with connected_charger(server.ws_url, charge_point_id, password, cls=AnsweringCharger) as cp:
            if boot:
                answer = await cp.boot()
                assert answer.status == "Accepted"
            return await scenario(cp)

    return asyncio.run(run())


async def status(cp, state: str, connector_id: int = CONNECTOR, error_code: str = "NoError"):
    """A StatusNotification.req; the central system's StatusNotification.conf is empty."""
    answer = await cp.send(
        call.StatusNotification(connector_id=connector_id, error_code=error_code, status=state)
    )
    assert answer is not None
    return answer


async def operate(user, charge_point_id: str, operation: str, **fields):
    """Olga posts one of the charger page's operation forms; returns the page she is sent back to."""
    form = {f"{operation}-{name}": value for name, value in fields.items()}
    url = f"/chargers/{charge_point_id}/operate/{operation}/"

    def post():
        client = Client()
        client.force_login(user)
        return client.post(url, form, follow=True)

    return await orm(post)


async def command_api(user, charge_point_id: str, action: str, payload: dict) -> dict:
    """POST /api/v1/chargers/<id>/commands/ as `user`; returns the stored command as the API shows it."""

    def post():
        client = APIClient()
        client.force_authenticate(user)
        answer = client.post(
            f"/api/v1/chargers/{charge_point_id}/commands/",
            {"action": action, "payload": payload},
            format="json",
        )
        assert answer.status_code == 201, answer.content
        return answer.json()

    return await orm(post)


def message_of(page) -> str:
    """The one outcome line the charger page shows after an operation."""
    return " ".join(str(message) for message in page.context["messages"])


def connector_status(charger, connector_id: int = CONNECTOR) -> tuple[str, str] | None:
    """(status, errorCode) the central system keeps as the connector's latest; None before any."""
    row = Connector.objects.filter(charger=charger, connector_id=connector_id).first()
    return (row.status, row.error_code) if row else None
