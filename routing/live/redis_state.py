"""Live state in Redis: sorted sets for queues, rings and idle pools, reservations with expiry, Lua for atomicity.

Keys (all under the prefix): ``q:<queue>`` waiting entries by score; ``pool:<queue>`` idle agents by idle-since;
``e`` entry id -> "score;owner queue;rings"; ``due`` ring openings by time ("id|ring queue");
``agent:<id>`` eligible queues, pools now, capacity and load; ``hand:<id>`` work in hand; ``res:<agent>``,
``res_exp``, ``res_enq`` reservations; ``gate`` open rings; ``gate_why`` why each open gate is open (the
deciding tick's reasons); ``caps`` per agreement; ``capc:<agreement>`` in hand
under it; ``caph:<agreement>:<hour>`` offered this hour; ``recheck`` re-decisions by time; ``st:<service queue>``
rolling figures in five-minute buckets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from routing.live.base import (
    HOUR_MS,
    MAX_RANK,
    STAT_FIELDS,
    STATS_BUCKET_MS,
    Caps,
    Offer,
    OverflowCount,
    QueueEntry,
    QueueState,
    StatBucket,
    base_queue_of,
    decode_rings,
    encode_rings,
    local_hour,
)

_PRELUDE = (Path(__file__).parent / "live.lua").read_text()

_ENQUEUE = """
-- ARGV: prefix, id, owner queue, score, rings, now, ttl
return enqueue(ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]))
"""

_ENQUEUE_MANY = """
-- ARGV: prefix, now, ttl, then per entry: id, owner queue, score, rings, recheck at ('' for none).
-- Returns one item per entry: the offer made at once, or 0; an entry left waiting gets its recheck.
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV, 5 do
  local offer = enqueue(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], now, ttl)
  if offer then
    table.insert(out, offer)
  else
    if ARGV[i + 4] ~= '' and redis.call('HEXISTS', P .. 'e', ARGV[i]) == 1 then
      redis.call('ZADD', P .. 'recheck', ARGV[i + 4], ARGV[i])
    end
    table.insert(out, 0)
  end
end
return out
"""

_REPLAN_MANY = """
-- ARGV: prefix, now, ttl, then per entry: id, owner queue, score, rings. Only entries still waiting: out of
-- their old rings and schedule, placed again at the same score (an offer at once where a ring allows), their
-- recheck kept. Returns one item per entry: the offer, or 0.
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV, 4 do
  local id = ARGV[i]
  if redis.call('HEXISTS', P .. 'e', id) == 1 then
    local recheck = redis.call('ZSCORE', P .. 'recheck', id)
    take_entry(id)
    local offer = enqueue(id, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], now, ttl)
    if offer then
      table.insert(out, offer)
    else
      if recheck then redis.call('ZADD', P .. 'recheck', recheck, id) end
      table.insert(out, 0)
    end
  else
    table.insert(out, 0)
  end
end
return out
"""

_AGENT_READY = """
-- ARGV: prefix, agent, queues (comma separated), now, ttl, text capacity, ranks ("queue=rank,…" or '')
local agent, now, ttl = ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('HSET', P .. 'agent:' .. agent, 'queues', ARGV[3], 'cap', ARGV[6])
if redis.call('EXISTS', P .. 'res:' .. agent) == 1 then return nil end
unpool(agent)
local loads = loads_of(agent)
local allowed = {}
for _, q in ipairs(split(ARGV[3], ',')) do
  if may_take(loads, q) then table.insert(allowed, q) end
end
-- Live work first (any live entry before any deferrable one), then priority, then time waited.
local best, best_score, best_queue, best_text = nil, nil, nil, nil
for _, q in ipairs(allowed) do
  local head = redis.call('ZRANGE', P .. 'q:' .. q, 0, 0, 'WITHSCORES')
  if head[1] then
    local text, score = is_text(q), tonumber(head[2])
    local better = best_score == nil or (best_text and not text)
      or (best_text == text and score < best_score)
    if better and ring_ok(q, head[1], now) then
      best, best_score, best_queue, best_text = head[1], score, q, text
    end
  end
end
if best then
  local e = take_entry(best)
  return reserve(agent, best, best_queue, e[1], e[3], now + ttl, now)
end
-- Idle agents by rank (ARGV[7], "queue=rank,…"; missing: 0), highest first, then by idle since.
local rank = {}
for _, part in ipairs(split(ARGV[7] or '', ',')) do
  local q, r = string.match(part, '^(.*)=(%d+)$')
  rank[q] = tonumber(r)
end
for _, q in ipairs(allowed) do
  local score = (9 - (rank[q] or 0)) * 10000000000000 + now
  redis.call('ZADD', P .. 'pool:' .. q, string.format('%.0f', score), agent)
end
redis.call('HSET', P .. 'agent:' .. agent, 'pooled', table.concat(allowed, ','))
return nil
"""

_AGENT_AWAY = """
unpool(ARGV[2])
return 1
"""

_ACCEPT = """
-- ARGV: prefix, agent, id. The reservation becomes work in hand; the agreement's cap stays taken.
local agent, id = ARGV[2], ARGV[3]
if redis.call('HGET', P .. 'res:' .. agent, 'enquiry') ~= id then return 0 end
local r = unreserve(agent, true)
if redis.call('HSETNX', P .. 'hand:' .. agent, id, r[3]) == 1 then
  redis.call('HINCRBY', P .. 'agent:' .. agent, is_text(r[3]) and 'text' or 'voice', 1)
end
return 1
"""

_FINISH = """
-- ARGV: prefix, agent, id
local agent, id = ARGV[2], ARGV[3]
local q = redis.call('HGET', P .. 'hand:' .. agent, id)
if not q then return 0 end
redis.call('HDEL', P .. 'hand:' .. agent, id)
redis.call('HINCRBY', P .. 'agent:' .. agent, is_text(q) and 'text' or 'voice', -1)
local agreement = agreement_of(q)
if agreement then redis.call('SREM', P .. 'capc:' .. agreement, id) end
return 1
"""

_RESTORE_HAND = """
-- ARGV: prefix, agent, id, queue. Out of every pool: an agent made ready before its work was restored must not
-- wait there while it talks (the rebuild makes agents ready again afterwards, where they still have room).
local agent, id, q = ARGV[2], ARGV[3], ARGV[4]
unpool(agent)
if redis.call('HSETNX', P .. 'hand:' .. agent, id, q) == 1 then
  redis.call('HINCRBY', P .. 'agent:' .. agent, is_text(q) and 'text' or 'voice', 1)
end
local agreement = agreement_of(q)
if agreement then redis.call('SADD', P .. 'capc:' .. agreement, id) end
return 1
"""

_RELEASE = """
-- ARGV: prefix, agent, id. Returns the released reservation, or nil when that offer is not the agent's.
if redis.call('HGET', P .. 'res:' .. ARGV[2], 'enquiry') ~= ARGV[3] then return nil end
return unreserve(ARGV[2], false)
"""

_WITHDRAW = """
-- ARGV: prefix, id. Returns 1 when taken from its queues, the reservation when it was offered, 0 when absent.
local id = ARGV[2]
if take_entry(id) then return 1 end
local agent = redis.call('HGET', P .. 'res_enq', id)
if agent then return unreserve(agent, false) end
return 0
"""

_POP_EXPIRED = """
-- ARGV: prefix, now, limit
local agents = redis.call('ZRANGEBYSCORE', P .. 'res_exp', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, agent in ipairs(agents) do
  local r = unreserve(agent, false)
  if r then table.insert(out, r) else redis.call('ZREM', P .. 'res_exp', agent) end
end
return out
"""

_OPEN_DUE = """
-- ARGV: prefix, now, ttl, limit. Entries join the rings that opened; then each such ring is drained.
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
local opened, order = {}, {}
for _, member in ipairs(due) do
  redis.call('ZREM', P .. 'due', member)
  local id, q = string.match(member, '^([^|]*)|(.*)$')
  local v = redis.call('HGET', P .. 'e', id)
  if v then
    local score = string.match(v, '^([^;]*);')
    redis.call('ZADD', P .. 'q:' .. q, score, id)
    if not opened[q] then opened[q] = true; table.insert(order, q) end
  end
end
table.sort(order)
local out = {}
for _, q in ipairs(order) do
  for _, offer in ipairs(drain(q, now, ttl, 1000)) do table.insert(out, offer) end
end
return out
"""

_SET_GATES = """
-- ARGV: prefix, now, ttl, then pairs of ring queue and 1/0. Open rings are drained.
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local open = {}
for i = 4, #ARGV, 2 do
  if ARGV[i + 1] == '1' then
    redis.call('HSET', P .. 'gate', ARGV[i], '1')
    table.insert(open, ARGV[i])
  else
    redis.call('HDEL', P .. 'gate', ARGV[i])
  end
end
table.sort(open)
local out = {}
for _, q in ipairs(open) do
  for _, offer in ipairs(drain(q, now, ttl, 1000)) do table.insert(out, offer) end
end
return out
"""

_CONFIGURE_CAPS = """
-- ARGV: prefix, then pairs of agreement and "per_hour;concurrent;utc_offset_ms" (-1: no cap). Replaces every cap.
redis.call('DEL', P .. 'caps')
for i = 2, #ARGV, 2 do redis.call('HSET', P .. 'caps', ARGV[i], ARGV[i + 1]) end
return 1
"""

_SCHEDULE_RECHECK = """
-- ARGV: prefix, id, at. Only for an entry still waiting.
if redis.call('HEXISTS', P .. 'e', ARGV[2]) == 0 then return 0 end
redis.call('ZADD', P .. 'recheck', ARGV[3], ARGV[2])
return 1
"""

_POP_RECHECKS = """
-- ARGV: prefix, now, limit
local ids = redis.call('ZRANGEBYSCORE', P .. 'recheck', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZREM', P .. 'recheck', id) end
return ids
"""

_POSITION = """
-- ARGV: prefix, id -> {owner queue, 0-based rank}
local v = redis.call('HGET', P .. 'e', ARGV[2])
if not v then return nil end
local owner = string.match(v, '^[^;]*;([^;]*);')
return {owner, redis.call('ZRANK', P .. 'q:' .. owner, ARGV[2])}
"""

_SCRIPTS = {
    "enqueue": _ENQUEUE,
    "enqueue_many": _ENQUEUE_MANY,
    "replan_many": _REPLAN_MANY,
    "agent_ready": _AGENT_READY,
    "agent_away": _AGENT_AWAY,
    "accept": _ACCEPT,
    "finish": _FINISH,
    "restore_hand": _RESTORE_HAND,
    "release": _RELEASE,
    "withdraw": _WITHDRAW,
    "pop_expired": _POP_EXPIRED,
    "open_due": _OPEN_DUE,
    "set_gates": _SET_GATES,
    "configure_caps": _CONFIGURE_CAPS,
    "schedule_recheck": _SCHEDULE_RECHECK,
    "pop_rechecks": _POP_RECHECKS,
    "position": _POSITION,
}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _utc_offset(caps: Any) -> int:
    """The zone offset stored with an agreement's caps ("per_hour;concurrent;utc_offset_ms"); 0 without one."""
    parts = _text(caps).split(";") if caps is not None else []
    return int(parts[2]) if len(parts) == 3 else 0


def _offer(raw: list[Any] | None) -> Offer | None:
    if not raw:
        return None
    agent, enquiry_id, queue, score, expires, *rest = (_text(x) for x in raw)
    rings = decode_rings(rest[0] if rest else "")
    return Offer(int(enquiry_id), agent, queue, float(score), int(float(expires)), rings)


def _score(score: float) -> str:
    return f"{score:.0f}"


def _ranks(ranks: Mapping[str, int] | None) -> str:
    """Ranks for the agent_ready script: "queue=rank,…" (0 is left out; '' when none)."""
    if not ranks:
        return ""
    return ",".join(f"{q}={max(0, min(MAX_RANK, r))}" for q, r in ranks.items() if r)


def _member(enquiry_id: int) -> str:
    """Zero-padded, so that Redis breaks a tie of scores (one batch, one millisecond) by id as memory does."""
    return f"{enquiry_id:012d}"


class RedisLiveState:
    """The production live state; a cache of Postgres, rebuilt after a loss (see ``routing.dispatch.rebuild``)."""

    def __init__(self, redis: Redis, prefix: str = "hub:") -> None:
        self.redis = redis
        self.prefix = prefix
        self._scripts = {name: redis.register_script(_PRELUDE + body) for name, body in _SCRIPTS.items()}

    @classmethod
    def from_url(cls, url: str, prefix: str = "hub:", max_connections: int = 100) -> RedisLiveState:
        # A request waits for one of the pool's connections, as it does for the database's: redis-py's own pool
        # refused the 101st at once ("Too many connections"), and an agent API with 100 requests in flight answered
        # 500 (30 in a run at 50 calls/s on the shared 2-core machine, docs/benchmarks.md, branch `api50`).
        pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=30)
        redis = Redis(connection_pool=pool)
        redis.auto_close_connection_pool = (
            True  # closing the client closes its pool, as ``Redis.from_url``'s does
        )
        return cls(redis, prefix)

    async def _run(self, name: str, *args: Any) -> Any:
        return await self._scripts[name](keys=[], args=[self.prefix, *args])

    async def enqueue(self, entry: QueueEntry, *, now_ms: int, ttl_ms: int) -> Offer | None:
        return _offer(
            await self._run(
                "enqueue",
                _member(entry.enquiry_id),
                entry.queue,
                _score(entry.score),
                encode_rings(entry.rings),
                now_ms,
                ttl_ms,
            )
        )

    async def enqueue_many(
        self, entries: Sequence[tuple[QueueEntry, int | None]], *, now_ms: int, ttl_ms: int
    ) -> list[Offer | None]:
        args: list[Any] = [now_ms, ttl_ms]
        for entry, recheck_ms in entries:
            args += [
                _member(entry.enquiry_id),
                entry.queue,
                _score(entry.score),
                encode_rings(entry.rings),
                "" if recheck_ms is None else recheck_ms,
            ]
        if not entries:
            return []
        return [_offer(raw) if raw else None for raw in await self._run("enqueue_many", *args)]

    async def replan_many(
        self, entries: Sequence[QueueEntry], *, now_ms: int, ttl_ms: int
    ) -> list[Offer | None]:
        if not entries:
            return []
        args: list[Any] = [now_ms, ttl_ms]
        for entry in entries:
            args += [_member(entry.enquiry_id), entry.queue, _score(entry.score), encode_rings(entry.rings)]
        return [_offer(raw) if raw else None for raw in await self._run("replan_many", *args)]

    async def agent_ready(
        self,
        agent_id: str,
        queues: list[str],
        *,
        now_ms: int,
        ttl_ms: int,
        text_capacity: int = 1,
        ranks: Mapping[str, int] | None = None,
    ) -> Offer | None:
        return _offer(
            await self._run(
                "agent_ready",
                agent_id,
                ",".join(queues),
                now_ms,
                ttl_ms,
                max(1, text_capacity),
                _ranks(ranks),
            )
        )

    async def agent_ready_many(
        self,
        agents: Sequence[tuple[str, list[str]]],
        *,
        now_ms: int,
        ttl_ms: int,
        text_capacity: int = 1,
        ranks: Sequence[Mapping[str, int] | None] | None = None,
    ) -> list[Offer | None]:
        if not agents:
            return []
        # A pipeline, not one script for all: Redis runs the scripts one after another, as separate calls would.
        async with self.redis.pipeline(transaction=False) as pipe:
            for i, (agent_id, queues) in enumerate(agents):
                await self._scripts["agent_ready"](
                    keys=[],
                    args=[
                        self.prefix,
                        agent_id,
                        ",".join(queues),
                        now_ms,
                        ttl_ms,
                        max(1, text_capacity),
                        _ranks(ranks[i] if ranks else None),
                    ],
                    client=pipe,
                )
            raws = await pipe.execute()
        return [_offer(raw) for raw in raws]

    async def agent_away(self, agent_id: str) -> None:
        await self._run("agent_away", agent_id)

    async def offer_for(self, agent_id: str) -> Offer | None:
        raw = await self.redis.hmget(
            f"{self.prefix}res:{agent_id}", ["enquiry", "queue", "score", "expires", "rings"]
        )
        if raw[0] is None:
            return None
        return _offer([agent_id, *[r if r is not None else b"" for r in raw]])

    async def offered_enquiries(self, agent_ids: Sequence[str]) -> list[int | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent_id in agent_ids:
                pipe.hget(f"{self.prefix}res:{agent_id}", "enquiry")
            raws = await pipe.execute()
        return [None if raw is None else int(raw) for raw in raws]

    async def accept(self, agent_id: str, enquiry_id: int) -> bool:
        return bool(await self._run("accept", agent_id, _member(enquiry_id)))

    async def finish(self, agent_id: str, enquiry_id: int) -> bool:
        return bool(await self._run("finish", agent_id, _member(enquiry_id)))

    async def restore_hand(self, agent_id: str, enquiry_id: int, queue: str) -> None:
        await self._run("restore_hand", agent_id, _member(enquiry_id), queue)

    async def release(self, agent_id: str, enquiry_id: int) -> Offer | None:
        return _offer(await self._run("release", agent_id, _member(enquiry_id)))

    async def withdraw(self, enquiry_id: int) -> Offer | bool:
        raw = await self._run("withdraw", _member(enquiry_id))
        if isinstance(raw, list):
            offer = _offer(raw)
            return offer if offer is not None else False
        return bool(raw)

    async def withdraw_many(self, enquiry_ids: Sequence[int]) -> list[Offer | bool]:
        if not enquiry_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for enquiry_id in enquiry_ids:
                await self._scripts["withdraw"](keys=[], args=[self.prefix, _member(enquiry_id)], client=pipe)
            raws = await pipe.execute()
        return [(_offer(raw) or False) if isinstance(raw, list) else bool(raw) for raw in raws]

    async def pop_expired(self, now_ms: int, limit: int = 500) -> list[Offer]:
        raw = await self._run("pop_expired", now_ms, limit)
        return [offer for item in raw if (offer := _offer(item)) is not None]

    async def open_due(self, now_ms: int, ttl_ms: int, limit: int = 500) -> list[Offer]:
        raw = await self._run("open_due", now_ms, ttl_ms, limit)
        return [offer for item in raw if (offer := _offer(item)) is not None]

    async def set_gates(self, gates: dict[str, bool], *, now_ms: int, ttl_ms: int) -> list[Offer]:
        pairs = [x for queue, is_open in sorted(gates.items()) for x in (queue, "1" if is_open else "0")]
        raw = await self._run("set_gates", now_ms, ttl_ms, *pairs)
        return [offer for item in raw if (offer := _offer(item)) is not None]

    async def configure_caps(self, caps: dict[str, Caps]) -> None:
        pairs = [
            x
            for agreement, c in sorted(caps.items())
            for x in (
                agreement,
                f"{-1 if c.per_hour is None else c.per_hour};{-1 if c.concurrent is None else c.concurrent}"
                f";{c.utc_offset_ms}",
            )
        ]
        await self._run("configure_caps", *pairs)

    async def record_gate_decisions(self, decisions: dict[str, str]) -> None:
        key = f"{self.prefix}gate_why"
        async with self.redis.pipeline(transaction=True) as pipe:  # the last tick's replaced at once
            pipe.delete(key)
            if decisions:
                pipe.hset(key, items=[x for pair in sorted(decisions.items()) for x in pair])
            await pipe.execute()

    async def gate_decisions(self, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        raw = await self.redis.hmget(f"{self.prefix}gate_why", keys)
        return {key: _text(value) for key, value in zip(keys, raw, strict=True) if value is not None}

    async def overflow_counts(self, agreements: list[str], now_ms: int) -> dict[str, OverflowCount]:
        if not agreements:
            return {}
        # each agreement's local clock hour, from the offset stored with its caps (configure_caps)
        stored = await self.redis.hmget(f"{self.prefix}caps", agreements)
        offsets = [_utc_offset(c) for c in stored]
        async with self.redis.pipeline(transaction=False) as pipe:
            for a, offset in zip(agreements, offsets, strict=True):
                pipe.scard(f"{self.prefix}capc:{a}")
                pipe.scard(f"{self.prefix}caph:{a}:{local_hour(now_ms, offset)}")
            raw = await pipe.execute()
        return {a: OverflowCount(int(raw[2 * i]), int(raw[2 * i + 1])) for i, a in enumerate(agreements)}

    async def queue_states(self, queues: list[str]) -> dict[str, QueueState]:
        if not queues:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for q in queues:
                pipe.zcard(f"{self.prefix}q:{q}")
                pipe.zrange(f"{self.prefix}q:{q}", 0, 0, withscores=True)
                pipe.zcard(f"{self.prefix}pool:{q}")
            raw = await pipe.execute()
        out = {}
        for i, q in enumerate(queues):
            head = raw[3 * i + 1]
            out[q] = QueueState(int(raw[3 * i]), float(head[0][1]) if head else None, int(raw[3 * i + 2]))
        return out

    async def position(self, enquiry_id: int) -> tuple[str, int] | None:
        raw = await self._run("position", _member(enquiry_id))
        if not raw or raw[1] is None:
            return None
        return _text(raw[0]), int(raw[1]) + 1

    async def schedule_recheck(self, enquiry_id: int, at_ms: int) -> None:
        await self._run("schedule_recheck", _member(enquiry_id), at_ms)

    async def pop_rechecks(self, now_ms: int, limit: int = 500) -> list[int]:
        return [int(_text(x)) for x in await self._run("pop_rechecks", now_ms, limit)]

    async def record_stats(self, queue: str, now_ms: int, counts: dict[str, float]) -> None:
        # One hash per service queue, fields "<bucket>:<name>", so a snapshot reads a queue in one HMGET;
        # the bucket an hour and a half old is dropped as each new one is written.
        key = f"{self.prefix}st:{base_queue_of(queue)}"
        bucket = now_ms // STATS_BUCKET_MS
        stale = bucket - 18
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, value in counts.items():
                pipe.hincrbyfloat(key, f"{bucket}:{name}", value)
            pipe.hdel(key, *(f"{stale}:{name}" for name in STAT_FIELDS))
            pipe.pexpire(key, 4 * HOUR_MS)
            await pipe.execute()

    async def read_stats(
        self, queues: list[str], since_ms: int, now_ms: int
    ) -> dict[str, dict[int, StatBucket]]:
        buckets = list(range(since_ms // STATS_BUCKET_MS, now_ms // STATS_BUCKET_MS + 1))
        fields = [f"{b}:{name}" for b in buckets for name in STAT_FIELDS]
        async with self.redis.pipeline(transaction=False) as pipe:
            for q in queues:
                pipe.hmget(f"{self.prefix}st:{base_queue_of(q)}", fields)
            raw = await pipe.execute()
        out: dict[str, dict[int, StatBucket]] = {}
        width = len(STAT_FIELDS)
        for q, values in zip(queues, raw, strict=True):
            found: dict[int, StatBucket] = {}
            for i, b in enumerate(buckets):
                row = values[i * width : (i + 1) * width]
                if any(v is not None for v in row):
                    bucket = StatBucket()
                    for name, value in zip(STAT_FIELDS, row, strict=True):
                        if value is not None:
                            setattr(bucket, name, type(getattr(bucket, name))(float(value)))
                    found[b * STATS_BUCKET_MS] = bucket
            out[q] = found
        return out

    async def queue_depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}
        async for key in self.redis.scan_iter(match=f"{self.prefix}q:*", count=1000):
            name = _text(key)
            queue = name[len(self.prefix) + 2 :]
            if "@" not in queue:  # rings hold copies of entries already counted in their owner's queue
                depths[queue] = await self.redis.zcard(name)
        return {q: n for q, n in depths.items() if n}

    async def is_built(self) -> bool:
        return bool(await self.redis.exists(f"{self.prefix}built"))

    async def claim_rebuild(self, ttl_seconds: int = 60) -> bool:
        return bool(await self.redis.set(f"{self.prefix}rebuild_lock", "1", nx=True, ex=ttl_seconds))

    async def end_rebuild(self) -> None:
        await self.redis.delete(f"{self.prefix}rebuild_lock")

    async def mark_unbuilt(self) -> None:
        await self.redis.delete(f"{self.prefix}built")

    async def reset(self) -> None:
        batch: list[Any] = []
        async for key in self.redis.scan_iter(match=f"{self.prefix}*", count=1000):
            if key.endswith(b"rebuild_lock") or key.startswith(f"{self.prefix}st:".encode()):
                continue  # the rolling figures are not rebuilt from the database: keep them
            batch.append(key)
            if len(batch) >= 500:
                await self.redis.delete(*batch)
                batch.clear()
        if batch:
            await self.redis.delete(*batch)
        await self.redis.set(f"{self.prefix}built", "1")

    async def close(self) -> None:
        await self.redis.aclose()
