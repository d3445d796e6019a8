"""A simulated OCPP 2.0.1 charger against the real server, driven by the CSMS's own commands
(stations.commands, from this process over the Redis channel layer, as a page or the API sends them):
it starts the session it is asked to, with the remoteStartId, reads out its variables, and stops
the session by the transactionId it gave it."""

import asyncio

from rfid.models import IdTag
from stations import commands
from stations.models import Charger, Command, StatusNotification, Transaction
from stations.simulator import FleetOptions, run_fleet
from tests.factories import register_charger
from tests.ocpp_client import orm

HEARTBEAT = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}


async def until(query, timeout: float = 20.0, interval: float = 0.1):
    """Poll an ORM query (run off the event loop) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := await orm(query)) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(interval)
    return found


def send(action: str, payload: dict, user) -> Command:
    charger = Charger.objects.get(charge_point_id="SIM-00001")  # as the server stored it: speaking 2.0.1
    return commands.send(charger=charger, action=action, payload=payload, user=user)


def test_it_starts_reads_out_and_stops_as_the_csms_commands(remote_csms, operator):
    register_charger("SIM-00001")
    IdTag.objects.create(id_tag="DRIVER-1")
    fleet = FleetOptions(
        url=remote_csms.ws_url,
        chargers=1,
        protocol="ocpp2.0.1",
        charging_share=0,  # only the sessions the CSMS asks for
        meter_interval=1,
        heartbeat_interval=60,
        seed=1,
        duration=120,
    )

    async def scenario():
        stop = asyncio.Event()
        running = asyncio.create_task(run_fleet(fleet, stop=stop))
        try:
            assert await until(lambda: StatusNotification.objects.filter(connector_id=2).exists())
            token = {"idToken": "DRIVER-1", "type": "Central"}
            start = await orm(send, "RequestStartTransaction", {"idToken": token, "evseId": 1}, operator)
            session = await until(
                lambda: Transaction.objects.filter(events__remote_start_id=start.pk).first()
            )
            read = await orm(send, "GetVariables", {"getVariableData": [HEARTBEAT]}, operator)
            assert session is not None, "the remote start began no session"
            stopping = {"transactionId": session.charger_transaction_id}
            stopped = await orm(send, "RequestStopTransaction", stopping, operator)
            ended = await until(
                lambda: Transaction.objects.filter(pk=session.pk, stopped_at__isnull=False).first()
            )
        finally:
            stop.set()
            report = await running
        return start, read, stopped, ended, report

    start, read, stopped, ended, report = asyncio.run(scenario())

    assert [start.status, read.status, stopped.status] == [Command.Status.ACCEPTED] * 3
    assert read.response["getVariableResult"][0]["attributeValue"] == "60"
    assert ended is not None, "RequestStopTransaction ended no session"
    assert (ended.connector_id, ended.id_tag, ended.id_tag_status) == (1, "DRIVER-1", "Accepted")
    assert ended.stop_reason == "Remote" and ended.meter_stop >= ended.meter_start
    trigger_reasons = list(ended.events.order_by("seq_no").values_list("trigger_reason", flat=True))
    assert trigger_reasons[0] == "RemoteStart" and trigger_reasons[-1] == "RemoteStop"
    assert report.stats.commands["RequestStopTransaction"] == 1 and report.stats.crashes == 0
