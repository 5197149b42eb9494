"""The shared revocation marker: a Redis counter that ``hub token revoke`` increments and every API process reads,
so a cached token is looked up again everywhere soon after a revocation.

A process reads the counter at most every ``REFRESH_SECONDS`` (not on every request: a round trip per request
would cost more than the rest of the access check), so a revocation holds everywhere within that plus one request.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

REFRESH_SECONDS = 0.25


class RedisRevocations:
    def __init__(self, redis: Redis, key: str, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.redis = redis
        self.key = key
        self.refresh_seconds = refresh_seconds
        self._value = ""
        self._read_at = float("-inf")

    async def current(self) -> str:
        if time.monotonic() - self._read_at >= self.refresh_seconds:
            value = await self.redis.get(self.key)
            self._value = value.decode() if isinstance(value, bytes) else str(value or "0")
            self._read_at = time.monotonic()
        return self._value

    async def bump(self) -> None:
        await self.redis.incr(self.key)
        self._read_at = float("-inf")  # this process sees its own revocation at once
