"""Memory of the live state: bytes per waiting enquiry in Redis (issue 10, item 5).

    .venv/bin/python -m bench.memory [--waiting 100000]

Enquiries are placed through the live Lua path (``enqueue_many``), each in its owner's queue and in one
lender's ring, under a scratch key prefix; the memory is Redis's own ``MEMORY USAGE`` of every key under that
prefix (so other users of the same Redis do not disturb the figure), divided by the number waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid

from redis.asyncio import Redis

from routing.live.base import Caps, RingPlacement, entry_for, queue_name
from routing.live.redis_state import RedisLiveState

T0 = 1_800_000_000_000
REDIS_URL = os.environ.get("HUB_BENCH_REDIS", "redis://127.0.0.1:6379/0")


async def bytes_per_waiting(waiting: int, partners: int = 4) -> float:
    prefix = f"bench-mem:{uuid.uuid4().hex[:8]}:"
    live = RedisLiveState(Redis.from_url(REDIS_URL), prefix)
    try:
        agreements = {f"p{(i + 1) % partners}-lends-p{i}": Caps(None, None) for i in range(partners)}
        await live.configure_caps(agreements)
        chunk = 1000
        for start in range(0, waiting, chunk):
            entries = []
            for n in range(start, min(start + chunk, waiting)):
                owner = f"p{n % partners}"
                ring = queue_name(owner, "missed-bin", agreement=f"p{(n + 1) % partners}-lends-{owner}")
                entries.append(
                    (
                        entry_for(
                            n + 1, owner, "missed-bin", 5, T0 + n, rings=(RingPlacement(ring, T0 + n),)
                        ),
                        None,
                    )
                )
            await live.enqueue_many(entries, now_ms=T0 + waiting, ttl_ms=20_000)
        used = 0
        async for key in live.redis.scan_iter(match=f"{prefix}*", count=1000):
            used += await live.redis.memory_usage(key) or 0
        return used / waiting
    finally:
        keys = [key async for key in live.redis.scan_iter(match=f"{prefix}*", count=1000)]
        for i in range(0, len(keys), 1000):
            await live.redis.unlink(*keys[i : i + 1000])
        await live.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=100_000)
    args = parser.parse_args()
    per = asyncio.run(bytes_per_waiting(args.waiting))
    print(
        f"{args.waiting:,} waiting (owner queue + one ring each): {per:,.0f} bytes per waiting enquiry in Redis"
    )


if __name__ == "__main__":
    main()
