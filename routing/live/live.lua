-- Shared functions for the live-state scripts. Keys are built from ARGV[1], the prefix, so one script
-- can touch the pools of every queue an agent serves (single Redis node; not Redis Cluster).
-- Every function costs O(log n) per queue touched: nothing here walks a queue.
local P = ARGV[1]
local HOUR_MS = 3600000

local function agreement_of(q) return string.match(q, '@(.+)$') end
local function is_text(q) return string.find(string.match(q, '^[^@]*'), '+text', 1, true) ~= nil end
local function owner_of(q) return string.match(q, '^[^@]*') end

-- The agreement's local clock hour: its zone's offset rides with its caps ("per_hour;concurrent;utc_offset_ms").
local function local_hour(agreement, now)
  local caps = redis.call('HGET', P .. 'caps', agreement)
  local offset = caps and tonumber(string.match(caps, '^[^;]*;[^;]*;(-?%d+)$')) or 0
  return math.floor((now + offset) / HOUR_MS)
end

local function split(s, sep)
  local out = {}
  if not s or s == '' then return out end
  for part in string.gmatch(s, '[^' .. sep .. ']+') do table.insert(out, part) end
  return out
end

-- rings: "queue=opens_ms,queue=opens_ms"
local function each_ring(rings)
  local out = {}
  for _, part in ipairs(split(rings, ',')) do
    local q, opens = string.match(part, '^(.*)=([^=]*)$')
    table.insert(out, {q, tonumber(opens)})
  end
  return out
end

local function unpool(agent)
  local pooled = redis.call('HGET', P .. 'agent:' .. agent, 'pooled')
  for _, q in ipairs(split(pooled, ',')) do
    redis.call('ZREM', P .. 'pool:' .. q, agent)
  end
  redis.call('HSET', P .. 'agent:' .. agent, 'pooled', '')
end

-- Blended work: a live contact is never held behind deferrable ones; web forms and emails in hand wait while
-- the agent takes a call. An agent on a call takes nothing else.
local function may_take(loads, q)
  if loads.voice > 0 then return false end
  if is_text(q) then return loads.text < loads.cap end
  return true
end

local function loads_of(agent)
  local a = redis.call('HMGET', P .. 'agent:' .. agent, 'voice', 'text', 'cap')
  return {voice = tonumber(a[1]) or 0, text = tonumber(a[2]) or 0, cap = tonumber(a[3]) or 1}
end

-- May a lender's ring give this entry away now? Owner queues always may.
local function ring_ok(q, id, now)
  local agreement = agreement_of(q)
  if not agreement then return true end
  if redis.call('HGET', P .. 'gate', q) ~= '1' then return false end
  local caps = redis.call('HGET', P .. 'caps', agreement)
  if not caps then return false end
  local per_hour, concurrent = string.match(caps, '^(-?%d+);(-?%d+);')
  per_hour, concurrent = tonumber(per_hour), tonumber(concurrent)
  if concurrent >= 0 and redis.call('SCARD', P .. 'capc:' .. agreement) >= concurrent then return false end
  if per_hour >= 0 then
    local hk = P .. 'caph:' .. agreement .. ':' .. local_hour(agreement, now)
    if redis.call('SISMEMBER', hk, id) == 0 and redis.call('SCARD', hk) >= per_hour then return false end
  end
  return true
end

-- Take an entry out of its owner queue, every ring and the ring schedule; returns {score, owner, rings}.
local function take_entry(id)
  local v = redis.call('HGET', P .. 'e', id)
  if not v then return nil end
  local score, owner, rings = string.match(v, '^([^;]*);([^;]*);(.*)$')
  redis.call('ZREM', P .. 'q:' .. owner, id)
  for _, r in ipairs(each_ring(rings)) do
    redis.call('ZREM', P .. 'q:' .. r[1], id)
    redis.call('ZREM', P .. 'due', id .. '|' .. r[1])
  end
  redis.call('HDEL', P .. 'e', id)
  redis.call('ZREM', P .. 'recheck', id)
  return {score, owner, rings}
end

local function reserve(agent, id, queue, score, rings, expires, now)
  unpool(agent)
  redis.call('HSET', P .. 'res:' .. agent, 'enquiry', id, 'queue', queue, 'score', score,
    'expires', expires, 'rings', rings)
  redis.call('ZADD', P .. 'res_exp', expires, agent)
  redis.call('HSET', P .. 'res_enq', id, agent)
  local agreement = agreement_of(queue)
  if agreement then
    redis.call('SADD', P .. 'capc:' .. agreement, id)
    local hk = P .. 'caph:' .. agreement .. ':' .. local_hour(agreement, now)
    redis.call('SADD', hk, id)
    redis.call('PEXPIRE', hk, 2 * HOUR_MS)
  end
  return {agent, id, queue, score, expires, rings}
end

local function unreserve(agent, keep_cap)
  local r = redis.call('HMGET', P .. 'res:' .. agent, 'enquiry', 'queue', 'score', 'expires', 'rings')
  if not r[1] then return nil end
  redis.call('DEL', P .. 'res:' .. agent)
  redis.call('ZREM', P .. 'res_exp', agent)
  redis.call('HDEL', P .. 'res_enq', r[1])
  local agreement = agreement_of(r[2])
  if agreement and not keep_cap then redis.call('SREM', P .. 'capc:' .. agreement, r[1]) end
  return {agent, r[1], r[2], r[3], r[4], r[5] or ''}
end

-- Match the longest-idle agents of a queue with its best entries while both exist and the ring allows.
local function drain(q, now, ttl, limit)
  local out = {}
  while #out < limit do
    local head = redis.call('ZRANGE', P .. 'q:' .. q, 0, 0)
    if not head[1] then break end
    local idle = redis.call('ZRANGE', P .. 'pool:' .. q, 0, 0)
    if not idle[1] then break end
    if not ring_ok(q, head[1], now) then break end
    local e = take_entry(head[1])
    table.insert(out, reserve(idle[1], head[1], q, e[1], e[3], now + ttl, now))
  end
  return out
end

local function enqueue(id, owner, score, rings, now, ttl)
  if redis.call('HEXISTS', P .. 'e', id) == 1 or redis.call('HEXISTS', P .. 'res_enq', id) == 1 then
    return nil
  end
  local parsed = each_ring(rings)
  local candidates = {owner}
  for _, r in ipairs(parsed) do
    if r[2] <= now then table.insert(candidates, r[1]) end
  end
  for _, q in ipairs(candidates) do
    local idle = redis.call('ZRANGE', P .. 'pool:' .. q, 0, 0)
    if idle[1] and ring_ok(q, id, now) then
      return reserve(idle[1], id, q, score, rings, now + ttl, now)
    end
  end
  redis.call('HSET', P .. 'e', id, score .. ';' .. owner .. ';' .. rings)
  redis.call('ZADD', P .. 'q:' .. owner, score, id)
  for _, r in ipairs(parsed) do
    if r[2] <= now then
      redis.call('ZADD', P .. 'q:' .. r[1], score, id)
    else
      redis.call('ZADD', P .. 'due', r[2], id .. '|' .. r[1])
    end
  end
  return nil
end
