"""routing/live/redis_state.py beyond the shared contract: its connection pool."""

from __future__ import annotations

import asyncio

from routing.live.redis_state import RedisLiveState
from tests.conftest import REDIS_URL


async def test_more_calls_at_once_than_the_redis_pool_has_connections_wait_for_one(redis_prefix: str) -> None:
    """Calls beyond the pool's connections wait for one (redis-py's own pool refused them: an agent API with more
    requests in flight than connections answered 500)."""
    live = RedisLiveState.from_url(REDIS_URL, redis_prefix, max_connections=2)
    try:
        await live.reset()
        await asyncio.gather(*(live.agent_away(f"agent-{i}") for i in range(20)))
        assert live.redis.connection_pool.max_connections == 2
    finally:
        await live.close()
