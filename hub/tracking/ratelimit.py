"""A fixed-window limit per client: in Redis when the hub has it (shared by every API process), else in memory."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis


class RateLimiter(Protocol):
    async def hit(self, key: str) -> float | None:
        """Count one request; None if allowed, else the seconds to wait before the next is."""


class MemoryRateLimiter:
    def __init__(
        self, limit: int, window_seconds: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.limit, self.window, self.clock = limit, window_seconds, clock
        self._counts: dict[tuple[str, int], int] = {}

    async def hit(self, key: str) -> float | None:
        now = self.clock()
        window = int(now // self.window)
        if len(self._counts) > 50_000:  # forget past windows rather than grow without bound
            self._counts = {k: v for k, v in self._counts.items() if k[1] == window}
        count = self._counts.get((key, window), 0) + 1
        self._counts[(key, window)] = count
        if count <= self.limit:
            return None
        return max(1.0, math.ceil((window + 1) * self.window - now))


class RedisRateLimiter:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        limit: int,
        window_seconds: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis, self.prefix, self.limit, self.window, self.clock = (
            redis,
            prefix,
            limit,
            window_seconds,
            clock,
        )

    async def hit(self, key: str) -> float | None:
        now = self.clock()
        window = int(now // self.window)
        name = f"{self.prefix}ratelimit:{key}:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, self.window + 1)
            count, _ = await pipe.execute()
        if int(count) <= self.limit:
            return None
        return max(1.0, math.ceil((window + 1) * self.window - now))


# (id of the hub, bucket, limit) -> (the hub, held so that its id is never reused while cached; its limiter)
_limiters: dict[tuple[int, str, int], tuple[object, RateLimiter]] = {}


async def client_wait(hub: object, bucket: str, client: str, per_minute: int) -> float | None:
    """Count one request of ``client`` against the public endpoint ``bucket`` (Open311 POST, sign-in): None if
    allowed, else the seconds to wait (answer 429). A limiter that fails lets the request through."""
    from routing.live.redis_state import RedisLiveState

    key = (id(hub), bucket, per_minute)
    cached = _limiters.get(key)
    limiter = cached[1] if cached is not None else None
    if limiter is None:
        live = getattr(hub, "live", None)
        settings = getattr(hub, "settings", None)
        if isinstance(live, RedisLiveState) and settings is not None:
            limiter = RedisRateLimiter(live.redis, f"{settings.redis_prefix}{bucket}:", per_minute)
        else:
            limiter = MemoryRateLimiter(per_minute)
        _limiters[key] = (hub, limiter)
    try:
        return await limiter.hit(client)
    except Exception:  # a guard, not a dependency: Redis down must not shut the door
        return None
