-- Shared functions for the live-state scripts. Keys are built from ARGV[1], the prefix, so one script
-- can touch the pools of every queue an agent serves (single Redis node; not Redis Cluster).
local P = ARGV[1]

local function unpool(agent)
  local queues = redis.call('HGET', P .. 'agent:' .. agent, 'pools')
  if queues and queues ~= '' then
    for q in string.gmatch(queues, '[^,]+') do
      redis.call('ZREM', P .. 'pool:' .. q, agent)
    end
  end
  redis.call('HSET', P .. 'agent:' .. agent, 'pools', '')
end

local function reserve(agent, id, queue, score, expires)
  unpool(agent)
  redis.call('HSET', P .. 'res:' .. agent, 'enquiry', id, 'queue', queue, 'score', score, 'expires', expires)
  redis.call('ZADD', P .. 'res_exp', expires, agent)
  redis.call('HSET', P .. 'res_enq', id, agent)
  return {agent, id, queue, score, expires}
end

local function unreserve(agent)
  local r = redis.call('HMGET', P .. 'res:' .. agent, 'enquiry', 'queue', 'score', 'expires')
  if not r[1] then return nil end
  redis.call('DEL', P .. 'res:' .. agent)
  redis.call('ZREM', P .. 'res_exp', agent)
  redis.call('HDEL', P .. 'res_enq', r[1])
  return {agent, r[1], r[2], r[3], r[4]}
end

local function enqueue(id, queue, score, expires)
  if redis.call('HEXISTS', P .. 'where', id) == 1 or redis.call('HEXISTS', P .. 'res_enq', id) == 1 then
    return nil
  end
  local idle = redis.call('ZRANGE', P .. 'pool:' .. queue, 0, 0)
  if idle[1] then
    return reserve(idle[1], id, queue, score, expires)
  end
  redis.call('ZADD', P .. 'q:' .. queue, score, id)
  redis.call('HSET', P .. 'where', id, queue)
  return nil
end
