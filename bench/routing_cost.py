"""Cost of one routing decision and one dispatch match with 10², 10⁴ and 10⁶ waiting, 4 and 400 partners.

    .venv/bin/python -m bench.routing_cost            # print the table
    .venv/bin/python -m bench.routing_cost --write    # and write docs/benchmarks.md

On the real Redis (HUB_BENCH_REDIS, default redis://127.0.0.1:6379/0, under a key prefix of its own that is
deleted afterwards) and in memory. Each partner has three services; partner i lends to partner i+1 under an
agreement, so every waiting entry sits in its owner's queue and in a lender's ring (two sorted sets).

- decision: read the snapshot the policy needs from the live state (queue heads and sizes, rolling figures,
  overflow counts, for the owner's and the lender's queues) and run ``routing.policy.decide``.
- match: ``agent_ready`` of an agent eligible for its own queues and a ring: the best head across them is
  reserved (Lua on Redis). The reservation is undone, untimed, so the depth stays the same.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis

from bench._services import machine
from routing.live.base import (
    Caps,
    LiveState,
    QueueEntry,
    RingPlacement,
    encode_rings,
    queue_name,
    queue_score,
    stats_since,
)
from routing.live.memory import MemoryLiveState
from routing.live.redis_state import RedisLiveState
from routing.policy import Agreement, Conditions, EnquiryFacts, QueueFigures, ServiceTerms, Snapshot, decide

DEPTHS = (100, 10_000, 1_000_000)
PARTNERS = (4, 400)
SERVICES = ("general", "missed-bin", "council-tax")
T0 = 1_800_000_000_000
TTL = 20_000


def agreement_id(lender: int) -> str:
    return f"a{lender}"


def owner_queues(partners: int) -> list[str]:
    return [queue_name(f"p{i}", s) for i in range(partners) for s in SERVICES]


def ring_of(owner: str, partners: int) -> str:
    i = int(owner.split("/")[0][1:])
    return f"{owner}@{agreement_id((i + 1) % partners)}"  # p(i+1) lends to p(i)


def agent_queues(partners: int) -> list[str]:
    """An agent of p1: its own services (live and text), and the ring it serves for p0."""
    own = [queue_name("p1", s, k) for s in SERVICES for k in ("voice", "text")]
    rings = [queue_name("p0", s, k, agreement_id(1)) for s in SERVICES for k in ("voice", "text")]
    return own + rings


async def fill_redis(live: RedisLiveState, partners: int, start: int, count: int) -> None:
    """Bulk load with pipelines (the same keys and layout the Lua scripts keep), 20 000 entries a round."""
    queues = owner_queues(partners)
    r, p = live.redis, live.prefix
    chunk = 20_000
    for base in range(start, start + count, chunk):
        by_queue: dict[str, dict[str, float]] = {}
        entries: dict[str, str] = {}
        for n in range(base, min(base + chunk, start + count)):
            owner = queues[n % len(queues)]
            ring = ring_of(owner, partners)
            member, score = f"{n + 1:012d}", queue_score(5, T0 - 10_000_000 + n)
            by_queue.setdefault(owner, {})[member] = score
            by_queue.setdefault(ring, {})[member] = score
            entries[member] = f"{score:.0f};{owner};{encode_rings((RingPlacement(ring, T0 - 1),))}"
        async with r.pipeline(transaction=False) as pipe:
            for q, mapping in by_queue.items():
                pipe.zadd(f"{p}q:{q}", mapping)
            pipe.hset(f"{p}e", mapping=cast(Any, entries))  # redis-py types its mapping too narrowly
            await pipe.execute()


def fill_memory(live: MemoryLiveState, partners: int, start: int, count: int) -> None:
    """Bulk load straight into the structures ``enqueue`` keeps (10⁶ awaited enqueues would time Python)."""
    queues = owner_queues(partners)
    by_queue: dict[str, list[tuple[float, int]]] = {}
    for n in range(start, start + count):
        owner = queues[n % len(queues)]
        ring = ring_of(owner, partners)
        enquiry_id, score = n + 1, queue_score(5, T0 - 10_000_000 + n)
        by_queue.setdefault(owner, []).append((score, enquiry_id))
        by_queue.setdefault(ring, []).append((score, enquiry_id))
        live._entries[enquiry_id] = QueueEntry(enquiry_id, owner, score, (RingPlacement(ring, T0 - 1),))
    for q, items in by_queue.items():
        live._queues[q].update(items)


def snapshot_queues(partners: int) -> list[str]:
    return [f"p0/{s}" for s in SERVICES] + [f"p1/{s}" for s in SERVICES]


async def one_decision(live: LiveState, partners: int, agreements: tuple[Agreement, ...]) -> None:
    """What the router does for one new enquiry: live reads for owner and lender, then the pure policy."""
    keys = snapshot_queues(partners)
    states = await live.queue_states([n for q in keys for n in (q, q + "+text")])
    buckets = await live.read_stats(keys, T0 - 1_800_000, T0)
    rolling = {q: stats_since(b, T0 - 1_800_000) for q, b in buckets.items()}
    for b in buckets.values():
        stats_since(b, T0 - T0 % 1_800_000)
    counts = await live.overflow_counts([a.id for a in agreements], T0)
    figures = {
        q: QueueFigures(
            waiting=states[q].waiting + states[q + "+text"].waiting,
            arrivals_per_second=rolling[q].arrivals / 1800,
            agents_staffed=4,
        )
        for q in keys
    }
    services = {q: ServiceTerms(q.split("/")[0], q.split("/")[1], frozenset({"x"}), 5, 20, 0.8) for q in keys}
    snapshot = Snapshot(
        now=datetime.fromtimestamp(T0 / 1000, UTC),
        queues=figures,
        services=services,
        open_now={},
        agreements=agreements,
        overflow_in_hand={a: c.in_hand for a, c in counts.items()},
        overflow_this_hour={a: c.this_hour for a, c in counts.items()},
    )
    facts = EnquiryFacts(0, "p0", "missed-bin", "phone", 5, snapshot.now)
    decide(facts, services["p0/missed-bin"], snapshot)


@dataclass
class Row:
    state: str
    partners: int
    depth: int
    op: str
    median_us: float
    p99_us: float


def agreements_for(partners: int) -> tuple[Agreement, ...]:
    return tuple(
        Agreement(
            id=agreement_id((i + 1) % partners),
            lender=f"p{(i + 1) % partners}",
            borrower=f"p{i}",
            services=None,
            channels=None,
            windows=(),
            timezone="Europe/London",
            conditions=Conditions(waited_at_least_seconds=60),
            actions=frozenset({"widen"}),
            max_per_hour=None,
            max_concurrent=None,
            lender_protection=0.8,
            unit_rate=1.0,
            visible_fields=(),
        )
        for i in (0, 1)
    )


async def sample(live: LiveState, partners: int, agreements: tuple[Agreement, ...]) -> tuple[float, float]:
    """One timed decision and one timed match; the match is undone (untimed) so the depth stays put."""
    t = time.perf_counter()
    await one_decision(live, partners, agreements)
    decision = time.perf_counter() - t
    t = time.perf_counter()
    offer = await live.agent_ready("bench-agent", agent_queues(partners), now_ms=T0, ttl_ms=TTL)
    match = time.perf_counter() - t
    assert offer is not None, "the agent must find work"
    released = await live.release("bench-agent", offer.enquiry_id)
    assert released is not None
    await live.enqueue(released.entry, now_ms=T0, ttl_ms=TTL)
    return decision, match


def _stats(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered) * 1e6, ordered[int(len(ordered) * 0.99) - 1] * 1e6


async def run(samples: int, depths: tuple[int, ...]) -> list[Row]:
    """One live state per depth, all filled first, then sampled in turn: the depths share the same noise."""
    rows: list[Row] = []
    url = os.environ.get("HUB_BENCH_REDIS", "redis://127.0.0.1:6379/0")
    for state in ("redis", "memory"):
        for partners in PARTNERS:
            lives: dict[int, LiveState] = {}
            prefixes: list[str] = []
            try:
                for depth in depths:
                    if state == "redis":
                        prefixes.append(f"bench:{uuid.uuid4().hex[:8]}:")
                        lives[depth] = RedisLiveState(Redis.from_url(url), prefixes[-1])
                    else:
                        lives[depth] = MemoryLiveState()
                    live = lives[depth]
                    await live.reset()
                    await live.configure_caps({agreement_id(i): Caps(None, None) for i in range(partners)})
                    await live.set_gates(
                        {ring_of(q, partners): True for q in owner_queues(partners)}, now_ms=T0, ttl_ms=TTL
                    )
                    started = time.perf_counter()
                    if isinstance(live, RedisLiveState):
                        await fill_redis(live, partners, 0, depth)
                    else:
                        assert isinstance(live, MemoryLiveState)
                        fill_memory(live, partners, 0, depth)
                    print(
                        f"{state:6} {partners:3} partners: {depth:>9,} waiting "
                        f"(filled in {time.perf_counter() - started:.1f} s)",
                        flush=True,
                    )
                agreements = agreements_for(partners)
                timings: dict[int, tuple[list[float], list[float]]] = {d: ([], []) for d in depths}
                for live in lives.values():
                    for _ in range(50):  # warm up scripts, connections and caches
                        await sample(live, partners, agreements)
                gc.disable()
                try:
                    for _ in range(samples):
                        for depth, live in lives.items():
                            decision, match = await sample(live, partners, agreements)
                            timings[depth][0].append(decision)
                            timings[depth][1].append(match)
                finally:
                    gc.enable()
                for depth in depths:
                    rows.append(Row(state, partners, depth, "decision", *_stats(timings[depth][0])))
                    rows.append(Row(state, partners, depth, "match", *_stats(timings[depth][1])))
            finally:
                for live in lives.values():
                    if isinstance(live, RedisLiveState):
                        await _delete_prefix(live.redis, live.prefix)
                    await live.close()
    return rows


async def _delete_prefix(redis: Redis, prefix: str) -> None:
    batch: list[Any] = []
    async for key in redis.scan_iter(match=f"{prefix}*", count=5000):
        batch.append(key)
        if len(batch) >= 1000:
            await redis.unlink(*batch)
            batch.clear()
    if batch:
        await redis.unlink(*batch)


def table(rows: list[Row]) -> str:
    depths = sorted({r.depth for r in rows})
    names = [f"{d:,}" for d in depths]
    lines = [
        "| live state | partners | op | "
        + " | ".join(f"median {n}" for n in names)
        + " | "
        + " | ".join(f"p99 {n}" for n in names)
        + f" | p99 {names[-1]} ÷ {names[0]} |",
        "| --- | ---: | --- |" + " ---: |" * (2 * len(depths) + 1),
    ]
    keys = sorted({(r.state, r.partners, r.op) for r in rows}, key=lambda k: (k[0] != "redis", k[1], k[2]))
    for state, partners, op in keys:
        cells = {r.depth: r for r in rows if (r.state, r.partners, r.op) == (state, partners, op)}
        ratio = cells[depths[-1]].p99_us / cells[depths[0]].p99_us
        lines.append(
            f"| {state} | {partners} | {op} | "
            + " | ".join(f"{cells[d].median_us:.0f} µs" for d in depths)
            + " | "
            + " | ".join(f"{cells[d].p99_us:.0f} µs" for d in depths)
            + f" | {ratio:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2000, help="timed samples per cell")
    parser.add_argument("--max-depth", type=int, default=1_000_000, help="stop at this depth (quick runs)")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args()
    depths = tuple(d for d in DEPTHS if d <= args.max_depth)
    rows = asyncio.run(run(args.samples, depths))
    result = table(rows)
    ratios = [
        (r6.p99_us / r2.p99_us, r6)
        for r6 in rows
        if r6.depth == depths[-1]
        for r2 in rows
        if (r2.state, r2.partners, r2.op, r2.depth) == (r6.state, r6.partners, r6.op, depths[0])
    ]
    worst = max(ratios, key=lambda pair: pair[0])
    print()
    print(result)
    print(f"\nworst p99 ratio {worst[0]:.2f} ({worst[1].state}, {worst[1].partners} partners, {worst[1].op})")
    if args.write:
        when = datetime.now(UTC).strftime("%Y-%m-%d")
        Path("docs/benchmarks.md").write_text(
            DOC.format(
                machine=machine(), when=when, samples=args.samples, table=result, worst=f"{worst[0]:.2f}"
            ),
            encoding="utf-8",
        )
        print("wrote docs/benchmarks.md")
    if worst[0] > 1.5:
        raise SystemExit(f"p99 at {depths[-1]:,} is {worst[0]:.2f}× the p99 at {depths[0]:,} (limit 1.5)")


DOC = """# Benchmarks

## Routing cost against queue depth (issue 4)

docs/design.md, "Invariants": "a routing decision is as fast with a million waiting as with ten". `bench/routing_cost.py` measures,
with 10², 10⁴ and 10⁶ enquiries waiting and with 4 and 400 partners, on the real Redis and in memory:

- **decision**: the reads the router makes for one new enquiry (queue heads and sizes, rolling figures and
  overflow counts for the owner's and the lender's queues) and the pure policy `routing.policy.decide`;
- **match**: one `agent_ready` of an agent eligible for its own six queues and a lender's six ring queues: the best
  head across them is reserved atomically (one Lua script on Redis).

Every waiting entry sits in its owner's queue and in a lender's ring (partner i+1 lends to partner i), so the
10⁶ row holds two million sorted-set members. Times are per operation, client side (a round trip included for
Redis), {samples} samples per cell, garbage collector off while timing. The three depths are held at once
(three key prefixes, or three in-memory states) and sampled in turn, so they share whatever else the machine
is doing: the ratio compares like with like.

Machine: {machine}. Run on {when}; load average at the end of the run {load} (other work on the same cores
inflates the absolute times, not the ratio, since the depths are sampled in turn).

{table}

Worst p99(10⁶) ÷ p99(10²): **{worst}** (the limit is 1.5).

Nothing in either operation looks at more than the head of a queue: sorted sets give the head in O(log n),
rings not yet open wait in one time-indexed set (`due`) and are opened by time, gates and caps are per agreement.

Rerun (about two minutes; it fills Redis with up to 2·10⁶ members under a `bench:<random>:` prefix that it
deletes afterwards, so run it on a Redis with a few hundred MB free):

```sh
.venv/bin/python -m bench.routing_cost --write      # HUB_BENCH_REDIS=redis://host:6379/0 to point elsewhere
.venv/bin/python -m bench.routing_cost --max-depth 10000 --samples 500   # a quick look
```
"""


if __name__ == "__main__":
    main()
