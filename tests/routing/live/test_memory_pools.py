"""The in-memory state's idle pools (shared lazy heaps): longest idle first, counts right, no growth under churn."""

from __future__ import annotations

import random

from routing.live.base import entry_for, queue_name
from routing.live.memory import MemoryLiveState

TTL = 20_000
T0 = 1_800_000_000_000
QUEUES = [queue_name("chorley", f"s{i}") for i in range(20)]


async def test_pools_match_a_plain_model_and_stay_small_under_churn() -> None:
    live = MemoryLiveState()
    rng = random.Random(8)
    agents = [f"a{i:02}" for i in range(30)]
    idle: dict[str, tuple[int, list[str]]] = {}  # the model: agent -> (idle since, queues)
    now = T0
    enquiry = 0
    for _ in range(20_000):
        now += rng.choice((0, 1, 7))
        agent = rng.choice(agents)
        move = rng.random()
        if move < 0.45:
            queues = rng.sample(QUEUES, rng.randint(0, len(QUEUES)))
            assert await live.agent_ready(agent, queues, now_ms=now, ttl_ms=TTL) is None
            idle[agent] = (now, queues)
        elif move < 0.65:
            await live.agent_away(agent)
            idle.pop(agent, None)
        else:
            # An arrival goes to the agent idle longest in its queue (ties: the lowest id), who leaves every pool.
            enquiry += 1
            queue = rng.choice(QUEUES)
            code = queue.split("/", 1)[1]
            candidates = sorted((since, a) for a, (since, qs) in idle.items() if queue in qs)
            offer = await live.enqueue(entry_for(enquiry, "chorley", code, 5, now), now_ms=now, ttl_ms=TTL)
            if not candidates:
                assert offer is None
                assert await live.withdraw(enquiry) is True
                continue
            assert offer is not None and offer.agent_id == candidates[0][1]
            assert await live.release(offer.agent_id, enquiry) is not None
            idle.pop(offer.agent_id)
        states = await live.queue_states(QUEUES)
        for q in QUEUES:
            assert states[q].idle_agents == sum(q in qs for _since, qs in idle.values())
    # Stale entries are dropped as they go: no pool's heap holds many more entries than there are agents.
    assert max(len(pool.heap) for pool in live._pools.values()) <= 2 * len(agents) + 32
