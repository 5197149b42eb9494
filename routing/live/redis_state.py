"""Live state in Redis: sorted sets for queues and idle pools, reservations with expiry, Lua for atomicity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from routing.live.base import Offer, QueueEntry

_PRELUDE = (Path(__file__).parent / "live.lua").read_text()

_ENQUEUE = """
-- ARGV: prefix, id, queue, score, expires
return enqueue(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
"""

_AGENT_READY = """
-- ARGV: prefix, agent, queues (comma separated), now, expires
local agent = ARGV[2]
if redis.call('EXISTS', P .. 'res:' .. agent) == 1 then return nil end
unpool(agent)
local best, best_score, best_queue = nil, nil, nil
for q in string.gmatch(ARGV[3], '[^,]+') do
  local head = redis.call('ZRANGE', P .. 'q:' .. q, 0, 0, 'WITHSCORES')
  if head[1] and (best_score == nil or tonumber(head[2]) < best_score) then
    best, best_score, best_queue = head[1], tonumber(head[2]), q
  end
end
if best then
  redis.call('ZREM', P .. 'q:' .. best_queue, best)
  redis.call('HDEL', P .. 'where', best)
  return reserve(agent, best, best_queue, string.format('%.0f', best_score), ARGV[5])
end
for q in string.gmatch(ARGV[3], '[^,]+') do
  redis.call('ZADD', P .. 'pool:' .. q, ARGV[4], agent)
end
redis.call('HSET', P .. 'agent:' .. agent, 'pools', ARGV[3])
return nil
"""

_AGENT_AWAY = """
unpool(ARGV[2])
return 1
"""

_RELEASE = """
-- ARGV: prefix, agent, id. Returns the released reservation, or nil when that offer is not the agent's.
if redis.call('HGET', P .. 'res:' .. ARGV[2], 'enquiry') ~= ARGV[3] then return nil end
return unreserve(ARGV[2])
"""

_WITHDRAW = """
-- ARGV: prefix, id. Returns 1 when taken from a queue, the reservation when it was offered, 0 when absent.
local id = ARGV[2]
local queue = redis.call('HGET', P .. 'where', id)
if queue then
  redis.call('ZREM', P .. 'q:' .. queue, id)
  redis.call('HDEL', P .. 'where', id)
  return 1
end
local agent = redis.call('HGET', P .. 'res_enq', id)
if agent then return unreserve(agent) end
return 0
"""

_POP_EXPIRED = """
-- ARGV: prefix, now, limit
local agents = redis.call('ZRANGEBYSCORE', P .. 'res_exp', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, agent in ipairs(agents) do
  local r = unreserve(agent)
  if r then table.insert(out, r) else redis.call('ZREM', P .. 'res_exp', agent) end
end
return out
"""


def _offer(raw: list[Any] | None) -> Offer | None:
    if not raw:
        return None
    agent, enquiry_id, queue, score, expires = (x.decode() if isinstance(x, bytes) else x for x in raw)
    return Offer(int(enquiry_id), str(agent), str(queue), float(score), int(float(expires)))


class RedisLiveState:
    """The production live state; a cache of Postgres, rebuilt after a loss (see ``routing.live.rebuild``)."""

    def __init__(self, redis: Redis, prefix: str = "hub:") -> None:
        self.redis = redis
        self.prefix = prefix
        self._scripts = {
            name: redis.register_script(_PRELUDE + body)
            for name, body in {
                "enqueue": _ENQUEUE,
                "agent_ready": _AGENT_READY,
                "agent_away": _AGENT_AWAY,
                "release": _RELEASE,
                "withdraw": _WITHDRAW,
                "pop_expired": _POP_EXPIRED,
            }.items()
        }

    @classmethod
    def from_url(cls, url: str, prefix: str = "hub:") -> RedisLiveState:
        return cls(Redis.from_url(url), prefix)

    async def _run(self, name: str, *args: Any) -> Any:
        return await self._scripts[name](keys=[], args=[self.prefix, *args])

    async def enqueue(self, entry: QueueEntry, *, now_ms: int, ttl_ms: int) -> Offer | None:
        return _offer(
            await self._run("enqueue", entry.enquiry_id, entry.queue, f"{entry.score:.0f}", now_ms + ttl_ms)
        )

    async def agent_ready(
        self, agent_id: str, queues: list[str], *, now_ms: int, ttl_ms: int
    ) -> Offer | None:
        return _offer(await self._run("agent_ready", agent_id, ",".join(queues), now_ms, now_ms + ttl_ms))

    async def agent_away(self, agent_id: str) -> None:
        await self._run("agent_away", agent_id)

    async def offer_for(self, agent_id: str) -> Offer | None:
        raw = await self.redis.hmget(f"{self.prefix}res:{agent_id}", ["enquiry", "queue", "score", "expires"])
        if raw[0] is None:
            return None
        return _offer([agent_id, *raw])

    async def accept(self, agent_id: str, enquiry_id: int) -> bool:
        return await self.release(agent_id, enquiry_id) is not None

    async def release(self, agent_id: str, enquiry_id: int) -> Offer | None:
        return _offer(await self._run("release", agent_id, enquiry_id))

    async def withdraw(self, enquiry_id: int) -> Offer | bool:
        raw = await self._run("withdraw", enquiry_id)
        if isinstance(raw, list):
            offer = _offer(raw)
            return offer if offer is not None else False
        return bool(raw)

    async def pop_expired(self, now_ms: int, limit: int = 500) -> list[Offer]:
        raw = await self._run("pop_expired", now_ms, limit)
        return [offer for item in raw if (offer := _offer(item)) is not None]

    async def queue_depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}
        async for key in self.redis.scan_iter(match=f"{self.prefix}q:*", count=1000):
            name = key.decode() if isinstance(key, bytes) else key
            depths[name[len(self.prefix) + 2 :]] = await self.redis.zcard(name)
        return {q: n for q, n in depths.items() if n}

    async def is_built(self) -> bool:
        return bool(await self.redis.exists(f"{self.prefix}built"))

    async def claim_rebuild(self, ttl_seconds: int = 60) -> bool:
        return bool(await self.redis.set(f"{self.prefix}rebuild_lock", "1", nx=True, ex=ttl_seconds))

    async def end_rebuild(self) -> None:
        await self.redis.delete(f"{self.prefix}rebuild_lock")

    async def reset(self) -> None:
        batch: list[Any] = []
        async for key in self.redis.scan_iter(match=f"{self.prefix}*", count=1000):
            if key.endswith(b"rebuild_lock"):
                continue
            batch.append(key)
            if len(batch) >= 500:
                await self.redis.delete(*batch)
                batch.clear()
        if batch:
            await self.redis.delete(*batch)
        await self.redis.set(f"{self.prefix}built", "1")

    async def close(self) -> None:
        await self.redis.aclose()
