"""Admin actions on chargers go through stations.commands like every other command."""

import asyncio

from django.test import Client

from stations.models import Command
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger, connected_charger, orm
from tests.personas import operators_group


def run_action(user, action, chargers):
    client = Client()
    client.force_login(user)
    return client.post(
        "/admin/stations/charger/",
        {
            "action": action,
            "_selected_action": [charger.pk for charger in chargers],
        },
        follow=True,
    )


def test_it_reads_the_configuration_of_live_and_offline_chargers(remote_csms, operator):
    live, gone = register_charger("CP-1"), register_charger("CP-2")

    async def scenario():
        async with connected_charger(remote_csms.ws_url, "CP-1", cls=AnsweringCharger) as cp:
            await cp.boot()
            return await orm(run_action, operator, "get_configuration", [live, gone])

    page = asyncio.run(scenario())

    shown = [str(message) for message in page.context["messages"]]
    assert shown == [
        "CP-1: GetConfiguration accepted",
        "CP-2: GetConfiguration charger offline: the charger is not connected",
    ]
    assert live.configuration.count() == 2
    assert set(Command.objects.values_list("source", flat=True)) == {"admin"}


def test_it_does_not_offer_the_actions_to_a_clerk(remote_csms, clerk):
    from django.contrib.auth.models import Permission

    operators_group()  # makes sure the stations permissions exist in the flushed test database
    clerk.user_permissions.add(
        Permission.objects.get(content_type__app_label="stations", codename="view_charger")
    )
    charger = register_charger("CP-1")

    page = run_action(clerk, "reset_soft", [charger])

    assert "reset_soft" not in page.content.decode()
    assert not Command.objects.exists()
