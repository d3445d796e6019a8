"""ChargerConnection's contract with the socket it writes to."""

import asyncio

from autobahn.exception import Disconnected

from stations.gateway import writebehind
from stations.gateway.connection import ChargerConnection
from stations.models import MessageLog
from tests.factories import register_charger


def test_it_takes_a_charger_hanging_up_mid_answer_as_closed_not_as_a_crash(transactional_db):
    """daphne raises Disconnected between a charger's close frame and the end of its TCP
    connection; raised into the consumer, it would end it before its disconnect handler
    ran, and the charger would stay 'connected'."""
    charger = register_charger("CP-1")

    async def closed_socket(text):
        raise Disconnected("Attempt to send on a closed protocol")

    async def answer_after_hang_up():
        connection = ChargerConnection(charger, closed_socket)
        await connection.receive('[2,"m1","Heartbeat",{}]')
        await writebehind.flush()
        return connection

    connection = asyncio.run(answer_after_hang_up())

    assert connection.closed
    assert MessageLog.objects.filter(charge_point_id="CP-1", direction="out", message_id="m1").exists()
