"""In-process live state for the embedded hub and the simulator: the Redis scripts' twin, in Python."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sortedcontainers import SortedList

from routing.live.base import (
    HOUR_MS,
    STAT_FIELDS,
    STATS_BUCKET_MS,
    Caps,
    Offer,
    OverflowCount,
    QueueEntry,
    QueueState,
    RingPlacement,
    StatBucket,
    agreement_of,
    base_queue_of,
    kind_of,
)


@dataclass
class _Agent:
    queues: list[str] = field(default_factory=list)  # every queue the agent may serve
    pooled: list[str] = field(default_factory=list)  # the pools it is idle in now
    idle_since: int = 0
    capacity: int = 1
    voice: int = 0
    text: int = 0
    hand: dict[int, str] = field(default_factory=dict)  # enquiry -> queue it came from


class MemoryLiveState:
    """Same contract as the Redis state; operations never await, so each is atomic on the event loop."""

    def __init__(self) -> None:
        self.reset_sync()

    def reset_sync(self) -> None:
        self._queues: dict[str, SortedList] = defaultdict(SortedList)  # (score, enquiry_id)
        self._entries: dict[int, QueueEntry] = {}
        self._pools: dict[str, SortedList] = defaultdict(SortedList)  # (idle_since_ms, agent_id)
        self._agents: dict[str, _Agent] = {}
        self._reservations: dict[str, Offer] = {}
        self._reserved_enquiries: dict[int, str] = {}
        self._expiries: SortedList = SortedList()  # (expires_ms, agent_id)
        self._due: SortedList = SortedList()  # (opens_ms, enquiry_id, ring queue)
        self._gates: set[str] = set()
        self._caps: dict[str, Caps] = {}
        self._in_hand: dict[str, set[int]] = defaultdict(set)
        self._hourly: dict[tuple[str, int], set[int]] = defaultdict(set)
        self._rechecks: SortedList = SortedList()  # (at_ms, enquiry_id)
        self._recheck_at: dict[int, int] = {}
        self._stats: dict[tuple[str, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._built = False

    # -- shared steps (the Lua prelude's functions) -----------------------------------------------------

    def _agent(self, agent_id: str) -> _Agent:
        return self._agents.setdefault(agent_id, _Agent())

    def _unpool(self, agent_id: str) -> None:
        agent = self._agents.get(agent_id)
        if agent is None:
            return
        for queue in agent.pooled:
            self._pools[queue].discard((agent.idle_since, agent_id))
        agent.pooled = []

    def _may_take(self, agent: _Agent, queue: str) -> bool:
        if agent.voice > 0:
            return False
        if kind_of(queue) == "voice":
            return agent.text == 0
        return agent.text < agent.capacity

    def _ring_ok(self, queue: str, enquiry_id: int, now_ms: int) -> bool:
        agreement = agreement_of(queue)
        if agreement is None:
            return True
        if queue not in self._gates:
            return False
        caps = self._caps.get(agreement)
        if caps is None:
            return False
        if caps.concurrent is not None and len(self._in_hand[agreement]) >= caps.concurrent:
            return False
        if caps.per_hour is not None:
            taken = self._hourly.get((agreement, now_ms // HOUR_MS), set())
            if enquiry_id not in taken and len(taken) >= caps.per_hour:
                return False
        return True

    def _take_entry(self, enquiry_id: int) -> QueueEntry | None:
        entry = self._entries.pop(enquiry_id, None)
        if entry is None:
            return None
        self._queues[entry.queue].discard((entry.score, enquiry_id))
        for ring in entry.rings:
            self._queues[ring.queue].discard((entry.score, enquiry_id))
            self._due.discard((ring.opens_ms, enquiry_id, ring.queue))
        at = self._recheck_at.pop(enquiry_id, None)
        if at is not None:
            self._rechecks.discard((at, enquiry_id))
        return entry

    def _reserve(self, agent_id: str, entry: QueueEntry, queue: str, expires_ms: int, now_ms: int) -> Offer:
        self._unpool(agent_id)
        offer = Offer(entry.enquiry_id, agent_id, queue, entry.score, expires_ms, entry.rings)
        self._reservations[agent_id] = offer
        self._reserved_enquiries[entry.enquiry_id] = agent_id
        self._expiries.add((expires_ms, agent_id))
        agreement = agreement_of(queue)
        if agreement is not None:
            self._in_hand[agreement].add(entry.enquiry_id)
            self._hourly[(agreement, now_ms // HOUR_MS)].add(entry.enquiry_id)
        return offer

    def _unreserve(self, agent_id: str, *, keep_cap: bool = False) -> Offer | None:
        offer = self._reservations.pop(agent_id, None)
        if offer is not None:
            self._reserved_enquiries.pop(offer.enquiry_id, None)
            self._expiries.discard((offer.expires_ms, agent_id))
            agreement = offer.agreement
            if agreement is not None and not keep_cap:
                self._in_hand[agreement].discard(offer.enquiry_id)
        return offer

    def _drain(self, queue: str, now_ms: int, ttl_ms: int, limit: int = 1000) -> list[Offer]:
        """Match the longest-idle agents of ``queue`` with its best entries while both exist and rules allow."""
        offers: list[Offer] = []
        waiting, pool = self._queues.get(queue), self._pools.get(queue)
        while waiting and pool and len(offers) < limit:
            _score, enquiry_id = waiting[0]
            if not self._ring_ok(queue, enquiry_id, now_ms):
                break
            _idle, agent_id = pool[0]
            entry = self._take_entry(enquiry_id)
            assert entry is not None
            offers.append(self._reserve(agent_id, entry, queue, now_ms + ttl_ms, now_ms))
        return offers

    # -- the contract -------------------------------------------------------------------------------------

    async def enqueue(self, entry: QueueEntry, *, now_ms: int, ttl_ms: int) -> Offer | None:
        if entry.enquiry_id in self._entries or entry.enquiry_id in self._reserved_enquiries:
            return None  # already placed: idempotent
        candidates = [entry.queue] + [r.queue for r in entry.rings if r.opens_ms <= now_ms]
        for queue in candidates:
            pool = self._pools.get(queue)
            if pool and self._ring_ok(queue, entry.enquiry_id, now_ms):
                _idle, agent_id = pool[0]
                return self._reserve(agent_id, entry, queue, now_ms + ttl_ms, now_ms)
        self._entries[entry.enquiry_id] = entry
        self._queues[entry.queue].add((entry.score, entry.enquiry_id))
        for ring in entry.rings:
            if ring.opens_ms <= now_ms:
                self._queues[ring.queue].add((entry.score, entry.enquiry_id))
            else:
                self._due.add((ring.opens_ms, entry.enquiry_id, ring.queue))
        return None

    async def agent_ready(
        self, agent_id: str, queues: list[str], *, now_ms: int, ttl_ms: int, text_capacity: int = 1
    ) -> Offer | None:
        agent = self._agent(agent_id)
        agent.queues, agent.capacity = list(queues), max(1, text_capacity)
        if agent_id in self._reservations:
            return None
        self._unpool(agent_id)
        allowed = [q for q in queues if self._may_take(agent, q)]
        best: tuple[float, int, str] | None = None
        for queue in allowed:
            waiting = self._queues.get(queue)
            if waiting:
                score, enquiry_id = waiting[0]
                if (best is None or score < best[0]) and self._ring_ok(queue, enquiry_id, now_ms):
                    best = (score, enquiry_id, queue)
        if best is not None:
            entry = self._take_entry(best[1])
            assert entry is not None
            return self._reserve(agent_id, entry, best[2], now_ms + ttl_ms, now_ms)
        for queue in allowed:
            self._pools[queue].add((now_ms, agent_id))
        agent.pooled, agent.idle_since = allowed, now_ms
        return None

    async def agent_away(self, agent_id: str) -> None:
        self._unpool(agent_id)

    async def offer_for(self, agent_id: str) -> Offer | None:
        return self._reservations.get(agent_id)

    async def accept(self, agent_id: str, enquiry_id: int) -> bool:
        offer = self._reservations.get(agent_id)
        if offer is None or offer.enquiry_id != enquiry_id:
            return False
        self._unreserve(agent_id, keep_cap=True)
        self._hold(agent_id, enquiry_id, offer.queue)
        return True

    def _hold(self, agent_id: str, enquiry_id: int, queue: str) -> None:
        agent = self._agent(agent_id)
        if enquiry_id in agent.hand:
            return
        agent.hand[enquiry_id] = queue
        if kind_of(queue) == "voice":
            agent.voice += 1
        else:
            agent.text += 1

    async def finish(self, agent_id: str, enquiry_id: int) -> bool:
        agent = self._agents.get(agent_id)
        if agent is None or enquiry_id not in agent.hand:
            return False
        queue = agent.hand.pop(enquiry_id)
        if kind_of(queue) == "voice":
            agent.voice -= 1
        else:
            agent.text -= 1
        agreement = agreement_of(queue)
        if agreement is not None:
            self._in_hand[agreement].discard(enquiry_id)
        return True

    async def restore_hand(self, agent_id: str, enquiry_id: int, queue: str) -> None:
        self._hold(agent_id, enquiry_id, queue)
        agreement = agreement_of(queue)
        if agreement is not None:
            self._in_hand[agreement].add(enquiry_id)

    async def release(self, agent_id: str, enquiry_id: int) -> Offer | None:
        offer = self._reservations.get(agent_id)
        if offer is None or offer.enquiry_id != enquiry_id:
            return None
        return self._unreserve(agent_id)

    async def withdraw(self, enquiry_id: int) -> Offer | bool:
        if self._take_entry(enquiry_id) is not None:
            return True
        agent_id = self._reserved_enquiries.get(enquiry_id)
        if agent_id is not None:
            offer = self._unreserve(agent_id)
            return offer if offer is not None else False
        return False

    async def pop_expired(self, now_ms: int, limit: int = 500) -> list[Offer]:
        expired: list[Offer] = []
        while self._expiries and len(expired) < limit and self._expiries[0][0] <= now_ms:
            _expires, agent_id = self._expiries.pop(0)
            offer = self._unreserve(agent_id)
            if offer is not None:
                expired.append(offer)
        return expired

    async def open_due(self, now_ms: int, ttl_ms: int, limit: int = 500) -> list[Offer]:
        opened: set[str] = set()
        count = 0
        while self._due and count < limit and self._due[0][0] <= now_ms:
            _opens, enquiry_id, queue = self._due.pop(0)
            count += 1
            entry = self._entries.get(enquiry_id)
            if entry is not None:
                self._queues[queue].add((entry.score, enquiry_id))
                opened.add(queue)
        offers: list[Offer] = []
        for queue in sorted(opened):
            offers += self._drain(queue, now_ms, ttl_ms)
        return offers

    async def set_gates(self, gates: dict[str, bool], *, now_ms: int, ttl_ms: int) -> list[Offer]:
        for queue, is_open in gates.items():
            if is_open:
                self._gates.add(queue)
            else:
                self._gates.discard(queue)
        offers: list[Offer] = []
        for queue in sorted(q for q, is_open in gates.items() if is_open):
            offers += self._drain(queue, now_ms, ttl_ms)
        return offers

    async def configure_caps(self, caps: dict[str, Caps]) -> None:
        self._caps = dict(caps)

    async def overflow_counts(self, agreements: list[str], now_ms: int) -> dict[str, OverflowCount]:
        return {
            a: OverflowCount(len(self._in_hand.get(a, ())), len(self._hourly.get((a, now_ms // HOUR_MS), ())))
            for a in agreements
        }

    async def queue_states(self, queues: list[str]) -> dict[str, QueueState]:
        out = {}
        for queue in queues:
            waiting, pool = self._queues.get(queue), self._pools.get(queue)
            out[queue] = QueueState(
                len(waiting) if waiting else 0, waiting[0][0] if waiting else None, len(pool) if pool else 0
            )
        return out

    async def position(self, enquiry_id: int) -> tuple[str, int] | None:
        entry = self._entries.get(enquiry_id)
        if entry is None:
            return None
        return entry.queue, self._queues[entry.queue].index((entry.score, enquiry_id)) + 1

    async def schedule_recheck(self, enquiry_id: int, at_ms: int) -> None:
        if enquiry_id not in self._entries:
            return
        old = self._recheck_at.pop(enquiry_id, None)
        if old is not None:
            self._rechecks.discard((old, enquiry_id))
        self._recheck_at[enquiry_id] = at_ms
        self._rechecks.add((at_ms, enquiry_id))

    async def pop_rechecks(self, now_ms: int, limit: int = 500) -> list[int]:
        out: list[int] = []
        while self._rechecks and len(out) < limit and self._rechecks[0][0] <= now_ms:
            _at, enquiry_id = self._rechecks.pop(0)
            self._recheck_at.pop(enquiry_id, None)
            out.append(enquiry_id)
        return out

    async def record_stats(self, queue: str, now_ms: int, counts: dict[str, float]) -> None:
        bucket = self._stats[(base_queue_of(queue), now_ms // STATS_BUCKET_MS)]
        for name, value in counts.items():
            bucket[name] += value

    async def read_stats(
        self, queues: list[str], since_ms: int, now_ms: int
    ) -> dict[str, dict[int, StatBucket]]:
        out: dict[str, dict[int, StatBucket]] = {}
        for queue in queues:
            buckets: dict[int, StatBucket] = {}
            for b in range(since_ms // STATS_BUCKET_MS, now_ms // STATS_BUCKET_MS + 1):
                counts = self._stats.get((base_queue_of(queue), b))
                if counts:
                    bucket = StatBucket()
                    for name in STAT_FIELDS:
                        setattr(bucket, name, type(getattr(bucket, name))(counts[name]))
                    buckets[b * STATS_BUCKET_MS] = bucket
            out[queue] = buckets
        return out

    async def queue_depths(self) -> dict[str, int]:
        return {q: len(items) for q, items in self._queues.items() if items and "@" not in q}

    async def is_built(self) -> bool:
        return self._built

    async def claim_rebuild(self, ttl_seconds: int = 60) -> bool:
        return True

    async def end_rebuild(self) -> None:
        return None

    async def mark_unbuilt(self) -> None:
        self._built = False

    async def reset(self) -> None:
        stats = self._stats  # the rolling figures are not rebuilt from the database: keep them
        self.reset_sync()
        self._stats = stats
        self._built = True

    async def close(self) -> None:
        return None


__all__ = ["MemoryLiveState", "RingPlacement"]
