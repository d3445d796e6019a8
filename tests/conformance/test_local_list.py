"""OCTT 1.6, central system: Local Auth List Management profile, from the charger page and the API."""

import pytest

from rfid.models import IdTag
from stations.models import Command
from tests.conformance.kit import as_charger, command_api, message_of, operate
from tests.factories import register_charger


@pytest.mark.parametrize("version", [-1, 0], ids=["TC_042_1-not-supported", "TC_042_2-empty"])
def test_it_reads_the_local_list_version(remote_csms, operator, version):
    """TC_042_1_CSMS Get Local List Version (not supported: -1), TC_042_2_CSMS (empty: 0): kept as
    answered; the next list sent is version 1 either way."""
    register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")

    async def scenario(cp):
        cp.answers["GetLocalListVersion"] = {"listVersion": version}
        page = await operate(operator, "CP-1", "local-list-version")
        await operate(operator, "CP-1", "send-local-list")
        return page, cp.calls_of("GetLocalListVersion"), cp.calls_of("SendLocalList")

    page, asked, sent = as_charger(remote_csms, "CP-1", scenario)

    assert asked == [{}]
    assert message_of(page) == "Read the local list version: accepted"
    assert Command.objects.filter(action="GetLocalListVersion").get().response == {"listVersion": version}
    assert sent[0]["listVersion"] == 1


@pytest.mark.parametrize(
    "answer",
    ["NotSupported", "Failed", "Accepted"],
    ids=["TC_043_1-not-supported", "TC_043_3-failed", "TC_043_4-full"],
)
def test_it_sends_the_full_local_list(remote_csms, operator, answer):
    """TC_043_1_CSMS Send Local Authorization List – NotSupported, TC_043_3_CSMS – Failed, TC_043_4_CSMS –
    Full: SendLocalList.req updateType Full, every entry with its idTagInfo; each answer kept and shown."""
    register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")
    IdTag.objects.create(id_tag="DRIVER-2", status=IdTag.Status.BLOCKED)

    async def scenario(cp):
        cp.answers["SendLocalList"] = {"status": answer}
        page = await operate(operator, "CP-1", "send-local-list")
        return page, cp.calls_of("SendLocalList")

    page, sent = as_charger(remote_csms, "CP-1", scenario)

    assert sent[0]["updateType"] == "Full"
    assert sent[0]["localAuthorizationList"] == [
        {"idTag": "DRIVER-1", "idTagInfo": {"status": "Accepted"}},
        {"idTag": "DRIVER-2", "idTagInfo": {"status": "Blocked"}},
    ]
    shown = {"Accepted": "accepted", "Failed": "rejected (Failed)", "NotSupported": "rejected (NotSupported)"}
    assert message_of(page) == f"Send the local authorization list (all cards): {shown[answer]}"


def test_it_sends_a_differential_update_through_the_api(remote_csms, operator):
    """TC_043_5_CSMS Send Local Authorization List – Differential: after a full list, a Differential
    update with a higher listVersion and one new card with its idTagInfo, Accepted."""
    register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")
    update = {
        "listVersion": 2,
        "updateType": "Differential",
        "localAuthorizationList": [{"idTag": "DRIVER-3", "idTagInfo": {"status": "Accepted"}}],
    }

    async def scenario(cp):
        await operate(operator, "CP-1", "send-local-list")
        shown = await command_api(operator, "CP-1", "SendLocalList", update)
        return shown, cp.calls_of("SendLocalList")

    shown, sent = as_charger(remote_csms, "CP-1", scenario)

    assert [payload["listVersion"] for payload in sent] == [1, 2]
    assert sent[1] == update
    assert (shown["status"], shown["response"]) == ("accepted", {"status": "Accepted"})
