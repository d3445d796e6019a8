"""The Redis channel layer, with a connection pool that waits instead of failing."""

from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer
from django.conf import settings
from redis.asyncio import BlockingConnectionPool
from redis.driver_info import DriverInfo

# redis-py reads its own version from the package metadata for every new
# connection (a few milliseconds of parsing): read once, per process.
DRIVER_INFO = DriverInfo()


class RedisChannelLayer(BaseRedisChannelLayer):
    """channels-redis on a BlockingConnectionPool.

    redis-py 8 caps an asyncio pool at 100 connections and raises
    MaxConnectionsError beyond that. A site's chargers coming back at once
    after a power cut each notify the socket they replace (stations.gateway.mailbox),
    and past that cap the burst crashed consumers right after their handshake.
    A blocking pool makes the burst queue for a connection instead.
    Connections are opened on demand up to that size, so a burst opens many
    at once: each reuses one DriverInfo instead of re-reading the metadata.

    redis-py 8 also reads with a 5 s socket timeout by default, the very time
    channels-redis blocks in BZPOPMIN waiting for a message: a quiet consumer's
    receive lost that race now and then and crashed. Reads get headroom here.
    """

    def create_pool(self, index):
        host = dict(self.hosts[index])
        return BlockingConnectionPool.from_url(
            host.pop("address"),
            max_connections=settings.REDIS_POOL_SIZE,
            timeout=settings.REDIS_POOL_TIMEOUT,
            socket_timeout=self.brpop_timeout + 10,
            driver_info=DRIVER_INFO,
            **host,
        )
