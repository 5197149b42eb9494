"""The shared revocation marker: a Redis counter every API process reads on each request (one GET) and
``hub token revoke`` increments, so a cached token is looked up again at once everywhere after a revocation."""

from __future__ import annotations

from redis.asyncio import Redis


class RedisRevocations:
    def __init__(self, redis: Redis, key: str) -> None:
        self.redis = redis
        self.key = key

    async def current(self) -> str:
        value = await self.redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else str(value or "0")

    async def bump(self) -> None:
        await self.redis.incr(self.key)
