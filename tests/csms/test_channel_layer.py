"""The Redis channel layer survives a burst of chargers connecting at once."""

import asyncio

from csms.channel_layer import RedisChannelLayer
from tests.redis_server import CHANNEL_LAYER_DB

BURST = 150  # past redis-py's default pool of 100 connections


def test_it_queues_a_burst_larger_than_the_pool_instead_of_failing(settings, redis_server):
    settings.REDIS_POOL_SIZE = 3  # redis-py's own pool would raise MaxConnectionsError past this
    # New channels of one process share one Redis list: room for the whole burst.
    layer = RedisChannelLayer(hosts=[redis_server.url(CHANNEL_LAYER_DB)], capacity=BURST)

    async def burst():
        channels = [await layer.new_channel() for _ in range(BURST)]
        # As a fleet coming back at once: each new socket tells its old one to close.
        await asyncio.gather(
            *(layer.send(channel, {"type": "ocpp.replaced", "connection_id": "x"}) for channel in channels)
        )
        received = await asyncio.gather(*(layer.receive(channel) for channel in channels[:3]))
        await layer.flush()
        return received

    received = asyncio.run(burst())

    assert [message["connection_id"] for message in received] == ["x", "x", "x"]


def test_it_reads_longer_than_a_blocking_receive_waits(settings, redis_server):
    layer = RedisChannelLayer(hosts=[redis_server.url(CHANNEL_LAYER_DB)])

    pool = layer.create_pool(0)

    assert pool.connection_kwargs["socket_timeout"] > layer.brpop_timeout
