"""Every socket of a server process is reached through that process's one address."""

import asyncio

from channels.layers import get_channel_layer

from stations import commands
from stations.gateway import mailbox
from stations.models import Charger, Command
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger, connected_charger, orm


def test_it_reaches_each_of_two_chargers_behind_one_process_address(remote_csms, operator):
    first, second = register_charger("CP-1"), register_charger("CP-2")

    async def scenario():
        async with (
            connected_charger(remote_csms.ws_url, "CP-1", cls=AnsweringCharger) as cp1,
            connected_charger(remote_csms.ws_url, "CP-2", cls=AnsweringCharger) as cp2,
        ):
            await cp1.boot()
            await cp2.boot()
            sockets = await orm(
                lambda: list(
                    Charger.objects.order_by("charge_point_id").values_list("channel_name", "connection_id")
                )
            )
            sent = [
                await orm(commands.send, charger=charger, action="ClearCache", payload={}, user=operator)
                for charger in (second, first)
            ]
            return sockets, sent, cp1.calls_of("ClearCache"), cp2.calls_of("ClearCache")

    sockets, sent, first_calls, second_calls = asyncio.run(scenario())

    (first_address, first_id), (second_address, second_id) = sockets
    assert first_address == second_address != ""
    assert first_id != second_id
    assert [command.status for command in sent] == [Command.Status.ACCEPTED] * 2
    assert len(first_calls) == len(second_calls) == 1


def test_it_drops_an_event_for_a_socket_that_has_closed():
    async def scenario():
        received = []
        address = await mailbox.address()
        mailbox.open_box("open-socket", received_into(received))
        mailbox.open_box("closed-socket", received_into(received))
        mailbox.close_box("closed-socket")
        await mailbox.post(address, "closed-socket", {"type": "ocpp.replaced"})
        await mailbox.post(address, "open-socket", {"type": "ocpp.replaced"})
        await wait_until(lambda: received)
        mailbox.close_box("open-socket")
        return received

    assert asyncio.run(scenario()) == [{"type": "ocpp.replaced", "connection_id": "open-socket"}]


def test_it_keeps_delivering_after_a_handler_fails():
    async def scenario():
        received = []

        async def broken(event):
            raise RuntimeError("handler bug")

        address = await mailbox.address()
        mailbox.open_box("broken-socket", broken)
        mailbox.open_box("good-socket", received_into(received))
        await mailbox.post(address, "broken-socket", {"type": "ocpp.command"})
        await mailbox.post(address, "good-socket", {"type": "ocpp.command"})
        await wait_until(lambda: received)
        for connection_id in ("broken-socket", "good-socket"):
            mailbox.close_box(connection_id)
        return received

    assert asyncio.run(scenario()) == [{"type": "ocpp.command", "connection_id": "good-socket"}]


def test_it_answers_a_command_to_a_gone_process_offline_at_once(remote_csms, settings):
    settings.OCPP_COMMAND_ACK_SECONDS = 30  # the answer must not come from waiting for an acknowledgement

    async def fill_a_gone_process_mailbox() -> str:
        gone = await get_channel_layer().new_channel()
        while await mailbox.post(gone, "earlier-socket", {"type": "ocpp.replaced"}):
            pass
        return gone

    gone = asyncio.run(fill_a_gone_process_mailbox())
    charger = register_charger("CP-1", is_connected=True, channel_name=gone, connection_id="socket-1")

    command = commands.send(charger=charger, action="ClearCache", payload={}, timeout=20)

    assert command.status == Command.Status.OFFLINE
    assert "mailbox is full" in command.error_description


def received_into(events: list):
    async def handler(event):
        events.append(event)

    return handler


async def wait_until(condition, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


def test_it_says_so_instead_of_failing_when_a_gone_process_has_a_full_mailbox():
    # A crashed process's chargers all reconnect elsewhere and notify its mailbox: none may fail for it.
    async def scenario():
        gone = await get_channel_layer().new_channel()  # nobody receives here
        outcomes = [await mailbox.post(gone, f"socket-{n}", {"type": "ocpp.replaced"}) for n in range(2_000)]
        await get_channel_layer().flush()
        return outcomes

    outcomes = asyncio.run(scenario())

    assert outcomes[0] is True and outcomes[-1] is False
