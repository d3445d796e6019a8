import asyncio
import json
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from stations.models import MessageLog
from tests.factories import register_charger
from tests.ocpp_client import connected_charger, wait_until


def test_it_logs_every_frame_in_and_out(csms):
    register_charger("CP-LOG")

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-LOG") as cp:
            await cp.boot()

    asyncio.run(scenario())

    logged = MessageLog.objects.filter(charge_point_id="CP-LOG").order_by("id")
    assert wait_until(lambda: logged.count() == 2)
    request, reply = logged
    assert (request.direction, request.message_type, request.action) == ("in", 2, "BootNotification")
    assert (reply.direction, reply.message_type, reply.message_id) == ("out", 3, request.message_id)
    assert json.loads(reply.payload)[2]["status"] == "Accepted"


def test_it_prunes_entries_older_than_the_retention(db):
    old = MessageLog.objects.create(
        charge_point_id="CP-1", direction="in", payload="[]", created_at=timezone.now() - timedelta(days=91)
    )
    recent = MessageLog.objects.create(charge_point_id="CP-1", direction="in", payload="[]")

    call_command("prune_message_log")

    assert list(MessageLog.objects.all()) == [recent]
    assert not MessageLog.objects.filter(pk=old.pk).exists()
