"""Commands on the embedded default (`make run`): one server process, the in-memory channel layer, no Redis.

The operator's request and the charger's socket are in the same server process, so the
command must go from the HTTP request's thread to the socket's consumer through that
process's own in-memory layer. The test process cannot reach that layer: it acts as the
operator does, over HTTP to the server (the REST API with Olga's token, and the charger
page's form after signing in), while a charger is connected to that same server.
"""

import asyncio
import json
import re
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

from rest_framework.authtoken.models import Token

from stations.models import Command
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger, connected_charger
from tests.personas import PASSWORDS

HTTP_DEADLINE = 60  # seconds: past a command's own waits (2 s acknowledgement + 30 s answer)


class Browser:
    """An operator's browser: cookies kept, redirects followed, the CSRF token read from the page."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base_url + path, timeout=HTTP_DEADLINE) as page:
            return page.read().decode()

    def submit(self, form_page: str, action: str, fields: dict) -> str:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.get(form_page)).group(1)
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        with self.opener.open(self.base_url + action, data=body, timeout=HTTP_DEADLINE) as page:
            return page.read().decode()

    def sign_in(self, username: str) -> None:
        page = self.submit(
            "/admin/login/",
            "/admin/login/?next=/chargers/",
            {"username": username, "password": PASSWORDS[username], "next": "/chargers/"},
        )
        assert "Log out" in page or "logout" in page, "the operator could not sign in"


def post_command(base_url: str, charge_point_id: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base_url}/api/v1/chargers/{charge_point_id}/commands/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
    )
    with urllib.request.urlopen(request, timeout=HTTP_DEADLINE) as answer:
        return answer.status, json.loads(answer.read())


def while_connected(csms, charge_point_id: str, operator_request):
    """Run the blocking `operator_request()` while the charger is connected; its result, the CALLs it got."""

    async def scenario():
        async with connected_charger(csms.ws_url, charge_point_id, cls=AnsweringCharger) as cp:
            await cp.boot()
            result = await asyncio.to_thread(operator_request)
            return result, cp.received

    return asyncio.run(scenario())


def test_it_sends_a_command_of_the_rest_api_to_a_charger_of_the_same_process(csms, operator):
    register_charger("CP-1")
    token = Token.objects.create(user=operator).key
    body = {"action": "UnlockConnector", "payload": {"connectorId": 1}}

    def operator_request():
        return post_command(csms.url, "CP-1", token, body)

    (status, answer), received = while_connected(csms, "CP-1", operator_request)

    assert received == [("UnlockConnector", {"connectorId": 1})]
    assert status == 201
    assert (answer["status"], answer["response"]) == ("accepted", {"status": "Unlocked"})
    assert answer["requested_by"] == "olga"
    command = Command.objects.get()
    assert (command.pk, command.status, command.response, command.source) == (
        answer["id"],
        "accepted",
        {"status": "Unlocked"},
        "api",
    )
    assert command.sent_at is not None and command.answered_at is not None


def test_it_sends_a_command_of_the_charger_page_to_a_charger_of_the_same_process(csms, operator):
    register_charger("CP-1")
    browser = Browser(csms.url)
    browser.sign_in("olga")

    page, received = while_connected(
        csms,
        "CP-1",
        lambda: browser.submit("/chargers/CP-1/", "/chargers/CP-1/operate/reset/", {"reset-type": "Hard"}),
    )

    assert received == [("Reset", {"type": "Hard"})]
    assert "Reset: accepted" in page  # the outcome, shown on the charger page the form leads back to
    command = Command.objects.get()
    assert (command.action, command.status, command.response) == ("Reset", "accepted", {"status": "Accepted"})
    assert (command.requested_by, command.source) == (operator, "web")
