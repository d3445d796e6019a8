"""A 2.0.1 charger's HTTP Basic password, changed over OCPP as a 1.6 one's is: SetVariables of
SecurityCtrlr.BasicAuthPassword, from the charger page's Password section or the commands API, admins only.
It becomes the charger's password only once the charger took that variable, and it is stored nowhere in
clear: not in the command, its answer, the message log, the device model nor any other row.

The charger is the `ocpp` library's v201 ChargePoint over a real socket (schemas checked both ways)."""

import asyncio
import io

import pytest
import websockets
from django.core.management import call_command
from ocpp.v201 import call

from stations import security
from stations.models import Charger, Command, DeviceModelVariable, MessageLog, PasswordChange
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger201, connected_charger, orm, wait_until
from tests.stations.test_security_whitepaper import api, browser, post_command

OLD_KEY = "old-key-0123456789"
NEW_KEY = "new-key-abcdefghij-42"
PASSWORD = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}
SET_PASSWORD = {"setVariableData": [{**PASSWORD, "attributeValue": NEW_KEY}]}


def answered(status: str) -> dict:
    return {"setVariableResult": [{"attributeStatus": status, **PASSWORD}]}


def live(server, steps, password=OLD_KEY):
    """Run `steps(cp)` with CP-201 connected on `password` and booted; returns what it returns."""

    async def scenario():
        async with connected_charger(server.ws_url, "CP-201", password, cls=AnsweringCharger201) as cp:
            await cp.send(
                call.BootNotification(charging_station={"model": "AC", "vendor_name": "V"}, reason="PowerUp")
            )
            return await steps(cp)

    return asyncio.run(scenario())


def connects(server, password) -> bool:
    async def attempt():
        try:
            async with connected_charger(server.ws_url, "CP-201", password, cls=AnsweringCharger201):
                return True
        except websockets.exceptions.InvalidStatus as refused:
            assert refused.response.status_code == 403
            return False

    return asyncio.run(attempt())


def database_dump() -> str:
    """Every row of every table, as `manage.py dumpdata` writes them."""
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    return out.getvalue()


def test_it_takes_the_new_password_once_the_201_charger_accepted_it_and_keeps_it_nowhere(remote_csms, admin):
    register_charger("CP-201", password=OLD_KEY)
    client = api(admin)

    async def steps(cp):
        answer = await orm(post_command, client, "SetVariables", SET_PASSWORD, charge_point_id="CP-201")
        return answer, cp.calls_of("SetVariables")

    answer, sent = live(remote_csms, steps)

    assert answer.status_code == 201 and answer.json()["status"] == "accepted"
    assert sent == [SET_PASSWORD]  # the charger got the key itself
    assert not connects(remote_csms, OLD_KEY)
    assert connects(remote_csms, NEW_KEY)
    # ...and nobody else did: not the command, its API answer, the message log, the device model, any row
    redacted = {"setVariableData": [{**PASSWORD, "attributeValue": security.REDACTED}]}
    assert Command.objects.get(action="SetVariables").payload == redacted
    assert NEW_KEY not in answer.content.decode()
    assert wait_until(lambda: MessageLog.objects.filter(action="SetVariables").exists())
    assert security.REDACTED in MessageLog.objects.get(action="SetVariables").payload
    assert all(NEW_KEY not in frame for frame in MessageLog.objects.values_list("payload", flat=True))
    assert not DeviceModelVariable.objects.filter(variable="BasicAuthPassword").exists()
    assert not PasswordChange.objects.exists()  # the hash was only kept until the answer
    assert NEW_KEY not in database_dump()
    assert NEW_KEY not in browser(admin).get("/chargers/CP-201/").content.decode()


@pytest.mark.parametrize("status", ["Rejected", "UnknownComponent", "NotSupportedAttributeType"])
def test_it_keeps_the_old_password_when_the_201_charger_does_not_take_the_new_one(remote_csms, admin, status):
    register_charger("CP-201", password=OLD_KEY)

    async def steps(cp):
        cp.answers["SetVariables"] = answered(status)
        form = {"charger-key-key": NEW_KEY}
        page = await orm(lambda: browser(admin).post("/chargers/CP-201/password/", form, follow=True))
        return page, cp.calls_of("SetVariables")

    page, sent = live(remote_csms, steps)

    assert sent == [SET_PASSWORD]
    assert "Change the charger&#x27;s password: rejected" in page.content.decode()
    assert connects(remote_csms, OLD_KEY)
    assert not connects(remote_csms, NEW_KEY)
    assert not PasswordChange.objects.exists()
    assert NEW_KEY not in database_dump()


def test_it_takes_a_password_the_201_charger_takes_at_its_reboot_from_the_page(remote_csms, admin):
    register_charger("CP-201", password=OLD_KEY)

    async def steps(cp):
        cp.answers["SetVariables"] = answered("RebootRequired")
        page = await orm(
            lambda: browser(admin).post(
                "/chargers/CP-201/password/", {"charger-key-key": NEW_KEY}, follow=True
            )
        )
        return page

    page = live(remote_csms, steps)

    # As a 1.6 charger's RebootRequired: the operator learns the key takes effect at the next reboot.
    assert "Change the charger&#x27;s password: accepted — reboot required" in page.content.decode()
    assert 'id="operate-password"' in page.content.decode()
    assert Charger.objects.get().check_password(NEW_KEY)


def change(user, payload):
    return post_command(api(user), "SetVariables", payload, charge_point_id="CP-201")


def test_it_refuses_a_201_password_change_to_an_operator_and_one_ocpp_does_not_allow(db, operator, admin):
    register_charger("CP-201", password=OLD_KEY, ocpp_version="2.0.1")
    spelled_otherwise = {
        "setVariableData": [
            {
                "component": {"name": "securityctrlr"},
                "variable": {"name": "BASICAUTHPASSWORD"},
                "attributeValue": NEW_KEY,
            }
        ]
    }
    with_another = {
        "setVariableData": [*SET_PASSWORD["setVariableData"], {**PASSWORD, "attributeValue": "x"}]
    }

    refused = change(operator, SET_PASSWORD)
    too_short = change(admin, {"setVariableData": [{**PASSWORD, "attributeValue": "short"}]})
    misspelled = change(admin, spelled_otherwise)
    not_alone = change(admin, with_another)
    page = browser(operator).post("/chargers/CP-201/password/", {"charger-key-key": NEW_KEY})
    configuration = browser(admin).post(
        "/chargers/CP-201/operate/change-configuration/",
        {
            "change-configuration-key": "SecurityCtrlr.BasicAuthPassword",
            "change-configuration-value": NEW_KEY,
        },
    )

    assert refused.status_code == 403 and "admins" in refused.json()["detail"]
    errors = too_short.json()["payload"]
    assert too_short.status_code == 400 and "16 to 40" in errors["setVariableData.0.attributeValue"][0]
    assert misspelled.status_code == 400 and "SecurityCtrlr.BasicAuthPassword" in str(misspelled.json())
    assert not_alone.status_code == 400 and "alone" in not_alone.json()["payload"]["setVariableData"][0]
    assert all(NEW_KEY not in answer.content.decode() for answer in (misspelled, not_alone))
    assert page.status_code == 403
    assert configuration.status_code == 400 and "Password section" in configuration.content.decode()
    assert not Command.objects.exists() and Charger.objects.get().check_password(OLD_KEY)
    assert 'id="operate-password"' not in browser(operator).get("/chargers/CP-201/").content.decode()
    assert 'id="operate-password"' in browser(admin).get("/chargers/CP-201/").content.decode()
    assert NEW_KEY not in database_dump()
