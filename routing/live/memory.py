"""In-process live state for the embedded hub and the simulator: the Redis scripts' twin, in Python."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from heapq import heapify, heappop, heappush
from typing import Final

from sortedcontainers import SortedList

from routing.live.base import (
    HOUR_MS,
    STATS_BUCKET_MS,
    Caps,
    Kind,
    Offer,
    OverflowCount,
    QueueEntry,
    QueueState,
    RingPlacement,
    StatBucket,
    agreement_of,
    base_queue_of,
    kind_of,
    local_hour,
)

# The few queue names' parts, asked of millions of times in a what-if: each answer kept in a dictionary of its
# own, a native look-up from compiled code where an ``lru_cache`` wrapper was a Python call (5 % of the simulator
# in the seventh round). Emptied at 4,096 names, as the caches were bounded.
_KINDS: Final[dict[str, Kind]] = {}
_AGREEMENTS: Final[dict[str, str]] = {}  # "": the owner's own queue
_BASES: Final[dict[str, str]] = {}
_NAMES_KEPT: Final = 4096


def _kind_of(queue: str) -> Kind:
    found = _KINDS.get(queue)
    if found is None:
        if len(_KINDS) >= _NAMES_KEPT:
            _KINDS.clear()
        found = _KINDS[queue] = kind_of(queue)
    return found


def _agreement_of(queue: str) -> str | None:
    found = _AGREEMENTS.get(queue)
    if found is None:
        if len(_AGREEMENTS) >= _NAMES_KEPT:
            _AGREEMENTS.clear()
        found = _AGREEMENTS[queue] = agreement_of(queue) or ""
    return found or None


def _base_queue_of(queue: str) -> str:
    found = _BASES.get(queue)
    if found is None:
        if len(_BASES) >= _NAMES_KEPT:
            _BASES.clear()
        found = _BASES[queue] = base_queue_of(queue)
    return found


@dataclass
class _Agent:
    queues: list[str] = field(default_factory=list)  # every queue the agent may serve
    pool: _Pool | None = None  # the pool it is idle in now
    pool_mark: int = 0  # which of its pool entries is live (0: it is in no pool)
    capacity: int = 1
    voice: int = 0
    text: int = 0
    hand: dict[int, str] = field(default_factory=dict)  # enquiry -> queue it came from


@dataclass(eq=False)
class _Pool:
    """The agents idle now for one list of queues: a heap of ``(idle_since_ms, agent_id, mark)``."""

    queues: tuple[str, ...]
    heap: list[tuple[int, str, int]] = field(default_factory=list)
    count: int = 0  # its live entries
    ranks: dict[str, int] = field(default_factory=dict)  # queue -> its agents' rank there (missing: 0)


class _Counts:
    """One queue's counters in one five-minute bucket, as floats (Redis keeps them so: ``HINCRBYFLOAT``), in
    fields rather than a dictionary by name: the simulator counts three or four times per contact."""

    def __init__(self) -> None:
        self.arrivals = self.handled = self.handle_ms = 0.0
        self.answered = self.answered_within = self.abandoned = 0.0
        self.extra: dict[str, float] = {}  # a counter of no field here (none is read back: as Redis's)

    def add(self, name: str, value: float) -> None:
        if name == "arrivals":
            self.arrivals += value
        elif name == "handled":
            self.handled += value
        elif name == "handle_ms":
            self.handle_ms += value
        elif name == "answered":
            self.answered += value
        elif name == "answered_within":
            self.answered_within += value
        elif name == "abandoned":
            self.abandoned += value
        else:
            self.extra[name] = self.extra.get(name, 0.0) + value


class MemoryLiveState:
    """Same contract as the Redis state; operations never await, so each is atomic on the event loop.

    Idle agents: an agent ready for twenty queues is idle in all twenty, and leaves them all at its next offer.
    Agents ready for the same queues (a partner's team, a lender's) share one pool, so joining or leaving is one
    step whatever the number of queues; a queue's idle agents are those of the pools that list it. A pool is a
    heap that nothing is taken out of in the middle: leaving changes the agent's mark, which makes its entry
    stale at once; stale entries are dropped when they reach the top, when the pool empties, or all together
    when they outnumber the live ones. The order is the Redis pools' (idle since, then agent id).
    """

    def __init__(self) -> None:
        self.overflow_version = 0  # never goes back, not even at a reset: a reader may hold an older one
        self.reset_sync()

    def reset_sync(self) -> None:
        self._queues: dict[str, SortedList] = defaultdict(SortedList)  # (score, enquiry_id)
        self._entries: dict[int, QueueEntry] = {}
        # By the queues its agents are idle for (and their ranks there, when any is not 0).
        self._pools: dict[Hashable, _Pool] = {}
        self._pools_of: dict[str, list[_Pool]] = {}  # queue -> the pools that list it
        self._marks = 0
        self._agents: dict[str, _Agent] = {}
        self._reservations: dict[str, Offer] = {}
        self._reserved_enquiries: dict[int, str] = {}
        self._expiries: list[tuple[int, str]] = []  # a heap of (expires_ms, agent_id), stale ones left in
        self._due: SortedList = SortedList()  # (opens_ms, enquiry_id, ring queue)
        self._gates: set[str] = set()
        self._gate_why: dict[str, str] = {}
        self._caps: dict[str, Caps] = {}
        self._in_hand: dict[str, set[int]] = defaultdict(set)
        self._hourly: dict[tuple[str, int], set[int]] = defaultdict(set)
        # Bumped whenever the overflow in hand or taken in an hour may have changed, or the caps' zones did:
        # while it stands and no agreement's local hour has turned, ``overflow_count_sync`` answers as before.
        self.overflow_version += 1
        self._rechecks: SortedList = SortedList()  # (at_ms, enquiry_id)
        self._recheck_at: dict[int, int] = {}
        self._stats: dict[tuple[str, int], _Counts] = {}
        self._built = False

    # -- shared steps (the Lua prelude's functions) -----------------------------------------------------

    def _agent(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            agent = self._agents[agent_id] = _Agent()
        return agent

    def _unpool(self, agent_id: str) -> None:
        agent = self._agents.get(agent_id)
        if agent is None or agent.pool is None:
            return
        pool = agent.pool
        pool.count -= 1
        if not pool.count:
            pool.heap.clear()
        agent.pool = None
        agent.pool_mark = 0  # its heap entry is stale from now on

    def _pool(
        self, agent_id: str, agent: _Agent, queues: list[str], now_ms: int, ranks: Mapping[str, int] | None
    ) -> None:
        if not queues:
            return
        queue_key = tuple(queues)
        # Agents ranked differently for the same queues are in different pools (one rank per pool and queue).
        rank_key = tuple(ranks.get(q, 0) for q in queue_key) if ranks else ()
        key = (queue_key, rank_key) if any(rank_key) else queue_key
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(
                queue_key, ranks={q: r for q, r in zip(queue_key, rank_key, strict=False) if r}
            )
            for queue in dict.fromkeys(queue_key):
                self._pools_of.setdefault(queue, []).append(pool)
        self._marks += 1
        agent.pool, agent.pool_mark = pool, self._marks
        heappush(pool.heap, (now_ms, agent_id, self._marks))
        pool.count += 1
        if len(pool.heap) > 2 * pool.count + 32:
            agents = self._agents
            pool.heap = [item for item in pool.heap if agents[item[1]].pool_mark == item[2]]
            heapify(pool.heap)

    def _idle_count(self, queue: str) -> int:
        count = 0
        for pool in self._pools_of.get(queue, ()):
            count += pool.count
        return count

    def _longest_idle(self, queue: str) -> str | None:
        """The best-ranked agent idle in ``queue``'s pools, then the longest idle (ties: the lowest id)."""
        best: tuple[int, int, str] | None = None
        agents = self._agents
        for pool in self._pools_of.get(queue, ()):
            if not pool.count:
                continue
            heap = pool.heap
            while agents[heap[0][1]].pool_mark != heap[0][2]:
                heappop(heap)
            key = (-pool.ranks.get(queue, 0) if pool.ranks else 0, heap[0][0], heap[0][1])
            if best is None or key < best:
                best = key
        return None if best is None else best[2]

    def _may_take(self, agent: _Agent, queue: str) -> bool:
        # Blended work: a live contact is never held behind deferrable ones. An agent holding web forms or
        # emails may be offered a call (those wait, parked, until it ends); one on a call takes nothing else.
        if agent.voice > 0:
            return False
        if _kind_of(queue) == "voice":
            return True
        return agent.text < agent.capacity

    def _ring_ok(self, queue: str, enquiry_id: int, now_ms: int) -> bool:
        agreement = _agreement_of(queue)
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
            taken = self._hourly.get((agreement, local_hour(now_ms, caps.utc_offset_ms)), set())
            if enquiry_id not in taken and len(taken) >= caps.per_hour:
                return False
        return True

    def _take_entry(self, enquiry_id: int) -> QueueEntry | None:
        entry = self._entries.pop(enquiry_id, None)
        if entry is None:
            return None
        self._unqueue(entry.queue, entry.score, enquiry_id)
        for ring in entry.rings:
            self._unqueue(ring.queue, entry.score, enquiry_id)
            self._due.discard((ring.opens_ms, enquiry_id, ring.queue))
        at = self._recheck_at.pop(enquiry_id, None)
        if at is not None:
            self._rechecks.discard((at, enquiry_id))
        return entry

    def _unqueue(self, queue: str, score: float, enquiry_id: int) -> None:
        """Out of one queue; an emptied queue is dropped, so that looking for work passes over it quickly."""
        waiting = self._queues.get(queue)
        if waiting is not None:
            waiting.discard((score, enquiry_id))
            if not waiting:
                del self._queues[queue]

    def _reserve(self, agent_id: str, entry: QueueEntry, queue: str, expires_ms: int, now_ms: int) -> Offer:
        self._unpool(agent_id)
        offer = Offer(entry.enquiry_id, agent_id, queue, entry.score, expires_ms, entry.rings)
        self._reservations[agent_id] = offer
        self._reserved_enquiries[entry.enquiry_id] = agent_id
        expiries = self._expiries
        heappush(expiries, (expires_ms, agent_id))
        if len(expiries) > 2 * len(self._reservations) + 32:
            self._expiries = [e for e in expiries if self._expiry_holds(*e)]
            heapify(self._expiries)
        agreement = _agreement_of(queue)
        if agreement is not None:
            self._in_hand[agreement].add(entry.enquiry_id)
            self._hourly[(agreement, self._hour(agreement, now_ms))].add(entry.enquiry_id)
            self.overflow_version += 1
        return offer

    def _unreserve(self, agent_id: str, *, keep_cap: bool = False) -> Offer | None:
        offer = self._reservations.pop(agent_id, None)
        if offer is not None:
            self._reserved_enquiries.pop(offer.enquiry_id, None)  # its expiry goes stale
            agreement = _agreement_of(offer.queue)
            if agreement is not None and not keep_cap:
                self._in_hand[agreement].discard(offer.enquiry_id)
                self.overflow_version += 1
        return offer

    def _expiry_holds(self, expires_ms: int, agent_id: str) -> bool:
        """An entry of ``_expiries`` is the agent's reservation now (else it was accepted, released, withdrawn)."""
        offer = self._reservations.get(agent_id)
        return offer is not None and offer.expires_ms == expires_ms

    def _drain(self, queue: str, now_ms: int, ttl_ms: int, limit: int = 1000) -> list[Offer]:
        """Match the longest-idle agents of ``queue`` with its best entries while both exist and rules allow."""
        offers: list[Offer] = []
        waiting = self._queues.get(queue)
        while waiting and self._idle_count(queue) and len(offers) < limit:
            _score, enquiry_id = waiting[0]
            if not self._ring_ok(queue, enquiry_id, now_ms):
                break
            agent_id = self._longest_idle(queue)
            assert agent_id is not None
            entry = self._take_entry(enquiry_id)
            assert entry is not None
            offers.append(self._reserve(agent_id, entry, queue, now_ms + ttl_ms, now_ms))
        return offers

    # -- the contract -------------------------------------------------------------------------------------

    # Each operation is a plain method (``*_sync``) with the contract's coroutine around it: the simulator calls
    # the plain ones, hundreds of thousands of times, without a coroutine each time.

    async def enqueue(self, entry: QueueEntry, *, now_ms: int, ttl_ms: int) -> Offer | None:
        return self.enqueue_sync(entry, now_ms=now_ms, ttl_ms=ttl_ms)

    def enqueue_sync(self, entry: QueueEntry, *, now_ms: int, ttl_ms: int) -> Offer | None:
        if entry.enquiry_id in self._entries or entry.enquiry_id in self._reserved_enquiries:
            return None  # already placed: idempotent
        candidates = [entry.queue] + [r.queue for r in entry.rings if r.opens_ms <= now_ms]
        for queue in candidates:
            if self._idle_count(queue) and self._ring_ok(queue, entry.enquiry_id, now_ms):
                agent_id = self._longest_idle(queue)
                assert agent_id is not None
                return self._reserve(agent_id, entry, queue, now_ms + ttl_ms, now_ms)
        self._entries[entry.enquiry_id] = entry
        self._queues[entry.queue].add((entry.score, entry.enquiry_id))
        for ring in entry.rings:
            if ring.opens_ms <= now_ms:
                self._queues[ring.queue].add((entry.score, entry.enquiry_id))
            else:
                self._due.add((ring.opens_ms, entry.enquiry_id, ring.queue))
        return None

    async def enqueue_many(
        self, entries: Sequence[tuple[QueueEntry, int | None]], *, now_ms: int, ttl_ms: int
    ) -> list[Offer | None]:
        out = []
        for entry, recheck_ms in entries:
            offer = await self.enqueue(entry, now_ms=now_ms, ttl_ms=ttl_ms)
            if offer is None and recheck_ms is not None:
                await self.schedule_recheck(entry.enquiry_id, recheck_ms)
            out.append(offer)
        return out

    async def replan_many(
        self, entries: Sequence[QueueEntry], *, now_ms: int, ttl_ms: int
    ) -> list[Offer | None]:
        out: list[Offer | None] = []
        for entry in entries:
            if entry.enquiry_id not in self._entries:
                out.append(None)  # offered, in hand or gone: nothing to re-plan
                continue
            recheck = self._recheck_at.get(entry.enquiry_id)
            self._take_entry(entry.enquiry_id)
            offer = self.enqueue_sync(entry, now_ms=now_ms, ttl_ms=ttl_ms)
            if offer is None and recheck is not None:
                await self.schedule_recheck(entry.enquiry_id, recheck)
            out.append(offer)
        return out

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
        return self.agent_ready_sync(
            agent_id, queues, now_ms=now_ms, ttl_ms=ttl_ms, text_capacity=text_capacity, ranks=ranks
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
        return [
            self.agent_ready_sync(
                agent_id,
                queues,
                now_ms=now_ms,
                ttl_ms=ttl_ms,
                text_capacity=text_capacity,
                ranks=ranks[i] if ranks else None,
            )
            for i, (agent_id, queues) in enumerate(agents)
        ]

    def agent_ready_sync(
        self,
        agent_id: str,
        queues: list[str],
        *,
        now_ms: int,
        ttl_ms: int,
        text_capacity: int = 1,
        ranks: Mapping[str, int] | None = None,
    ) -> Offer | None:
        agent = self._agent(agent_id)
        agent.queues, agent.capacity = list(queues), max(1, text_capacity)
        if agent_id in self._reservations:
            return None
        self._unpool(agent_id)
        if agent.voice == 0 and agent.text == 0:
            allowed = agent.queues  # empty-handed: every queue (``_may_take``'s answer, without asking it)
        else:
            allowed = [q for q in queues if self._may_take(agent, q)]
        # Live work first (any live entry before any deferrable one), then priority, then time waited.
        best: tuple[bool, float, int, str] | None = None
        for queue in allowed:
            waiting = self._queues.get(queue)
            if waiting:
                score, enquiry_id = waiting[0]
                key = (_kind_of(queue) == "text", score)
                if (best is None or key < best[:2]) and self._ring_ok(queue, enquiry_id, now_ms):
                    best = (key[0], score, enquiry_id, queue)
        if best is not None:
            entry = self._take_entry(best[2])
            assert entry is not None
            return self._reserve(agent_id, entry, best[3], now_ms + ttl_ms, now_ms)
        self._pool(agent_id, agent, allowed, now_ms, ranks)
        return None

    async def agent_away(self, agent_id: str) -> None:
        self._unpool(agent_id)

    def agent_away_sync(self, agent_id: str) -> None:
        self._unpool(agent_id)

    async def offer_for(self, agent_id: str) -> Offer | None:
        return self._reservations.get(agent_id)

    async def offered_enquiries(self, agent_ids: Sequence[str]) -> list[int | None]:
        return [offer.enquiry_id if (offer := self._reservations.get(a)) else None for a in agent_ids]

    async def accept(self, agent_id: str, enquiry_id: int) -> bool:
        return self.accept_sync(agent_id, enquiry_id)

    def accept_sync(self, agent_id: str, enquiry_id: int) -> bool:
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
        if _kind_of(queue) == "voice":
            agent.voice += 1
        else:
            agent.text += 1

    async def finish(self, agent_id: str, enquiry_id: int) -> bool:
        return self.finish_sync(agent_id, enquiry_id)

    def finish_sync(self, agent_id: str, enquiry_id: int) -> bool:
        agent = self._agents.get(agent_id)
        if agent is None or enquiry_id not in agent.hand:
            return False
        queue = agent.hand.pop(enquiry_id)
        if _kind_of(queue) == "voice":
            agent.voice -= 1
        else:
            agent.text -= 1
        agreement = _agreement_of(queue)
        if agreement is not None:
            self._in_hand[agreement].discard(enquiry_id)
            self.overflow_version += 1
        return True

    async def restore_hand(self, agent_id: str, enquiry_id: int, queue: str) -> None:
        # Out of every pool: an agent made ready before its work was restored must not wait there while it
        # talks (the rebuild makes agents ready again afterwards, where they still have room).
        self._unpool(agent_id)
        self._hold(agent_id, enquiry_id, queue)
        agreement = _agreement_of(queue)
        if agreement is not None:
            self._in_hand[agreement].add(enquiry_id)
            self.overflow_version += 1

    async def release(self, agent_id: str, enquiry_id: int) -> Offer | None:
        offer = self._reservations.get(agent_id)
        if offer is None or offer.enquiry_id != enquiry_id:
            return None
        return self._unreserve(agent_id)

    async def withdraw(self, enquiry_id: int) -> Offer | bool:
        return self.withdraw_sync(enquiry_id)

    def withdraw_sync(self, enquiry_id: int) -> Offer | bool:
        if self._take_entry(enquiry_id) is not None:
            return True
        agent_id = self._reserved_enquiries.get(enquiry_id)
        if agent_id is not None:
            offer = self._unreserve(agent_id)
            return offer if offer is not None else False
        return False

    async def withdraw_many(self, enquiry_ids: Sequence[int]) -> list[Offer | bool]:
        return [await self.withdraw(enquiry_id) for enquiry_id in enquiry_ids]

    async def pop_expired(self, now_ms: int, limit: int = 500) -> list[Offer]:
        expired: list[Offer] = []
        expiries = self._expiries
        while expiries and len(expired) < limit and expiries[0][0] <= now_ms:
            expires_ms, agent_id = heappop(expiries)
            if self._expiry_holds(expires_ms, agent_id):
                offer = self._unreserve(agent_id)
                assert offer is not None
                expired.append(offer)
        return expired

    async def open_due(self, now_ms: int, ttl_ms: int, limit: int = 500) -> list[Offer]:
        return self.open_due_sync(now_ms, ttl_ms, limit)

    def open_due_sync(self, now_ms: int, ttl_ms: int, limit: int = 500) -> list[Offer]:
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
        return self.set_gates_sync(gates, now_ms=now_ms, ttl_ms=ttl_ms)

    def set_gates_sync(self, gates: dict[str, bool], *, now_ms: int, ttl_ms: int) -> list[Offer]:
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
        self.configure_caps_sync(caps)

    def configure_caps_sync(self, caps: dict[str, Caps]) -> None:
        self._caps = dict(caps)
        self.overflow_version += 1

    async def record_gate_decisions(self, decisions: dict[str, str]) -> None:
        self._gate_why = dict(decisions)

    async def gate_decisions(self, keys: list[str]) -> dict[str, str]:
        return {key: self._gate_why[key] for key in keys if key in self._gate_why}

    async def overflow_counts(self, agreements: list[str], now_ms: int) -> dict[str, OverflowCount]:
        return self.overflow_counts_sync(agreements, now_ms)

    def overflow_counts_sync(self, agreements: list[str], now_ms: int) -> dict[str, OverflowCount]:
        return {a: OverflowCount(*self.overflow_count_sync(a, now_ms)) for a in agreements}

    def overflow_count_sync(self, agreement: str, now_ms: int) -> tuple[int, int]:
        """``OverflowCount``'s figures for one agreement as a plain tuple: in hand now, taken this hour."""
        return len(self._in_hand.get(agreement, ())), len(
            self._hourly.get((agreement, self._hour(agreement, now_ms)), ())
        )

    def overflow_hour_ends_sync(self, agreements: list[str], now_ms: int) -> int:
        """The first moment (epoch ms) after ``now_ms`` at which one of the agreements' local hours turns, so its
        count taken this hour may read differently although ``overflow_version`` stands."""
        ends = [(self._hour(a, now_ms) + 1) * HOUR_MS - self._offset_ms(a) for a in agreements]
        return min(ends) if ends else now_ms + HOUR_MS

    def _offset_ms(self, agreement: str) -> int:
        caps = self._caps.get(agreement)
        return caps.utc_offset_ms if caps is not None else 0

    def _hour(self, agreement: str, now_ms: int) -> int:
        caps = self._caps.get(agreement)
        return local_hour(now_ms, caps.utc_offset_ms if caps is not None else 0)

    async def queue_states(self, queues: list[str]) -> dict[str, QueueState]:
        return {queue: QueueState(*self.queue_state_sync(queue)) for queue in queues}

    def queue_state_sync(self, queue: str) -> tuple[int, float | None, int]:
        """``QueueState``'s figures as a plain tuple: waiting, the head's score (None: empty), idle agents."""
        waiting = self._queues.get(queue)
        if waiting:
            return len(waiting), waiting[0][0], self._idle_count(queue)
        return 0, None, self._idle_count(queue)

    def queue_head_sync(self, queue: str) -> tuple[int, float | None]:
        """``queue_state_sync`` without the idle agents: waiting, the head's score (None: empty)."""
        waiting = self._queues.get(queue)
        if waiting:
            return len(waiting), waiting[0][0]
        return 0, None

    def waiting_sync(self, queue: str) -> int:
        waiting = self._queues.get(queue)
        return len(waiting) if waiting else 0

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
        self.record_stats_sync(queue, now_ms, counts)

    def count_sync(
        self, queue: str, now_ms: int, name: str, value: float, name2: str = "", value2: float = 0.0
    ) -> None:
        """``record_stats_sync(queue, now_ms, {name: value, name2: value2})`` (``name2`` empty: one counter)
        without a dict per call: the simulator counts three or four times per contact."""
        key = (_base_queue_of(queue), now_ms // STATS_BUCKET_MS)
        bucket = self._stats.get(key)
        if bucket is None:
            bucket = self._stats[key] = _Counts()
        bucket.add(name, value)
        if name2:
            bucket.add(name2, value2)

    def record_stats_sync(self, queue: str, now_ms: int, counts: dict[str, float]) -> None:
        key = (_base_queue_of(queue), now_ms // STATS_BUCKET_MS)
        bucket = self._stats.get(key)
        if bucket is None:
            bucket = self._stats[key] = _Counts()
        for name, value in counts.items():
            bucket.add(name, value)

    async def read_stats(
        self, queues: list[str], since_ms: int, now_ms: int
    ) -> dict[str, dict[int, StatBucket]]:
        return self.read_stats_sync(queues, since_ms, now_ms)

    def read_stats_sync(
        self, queues: list[str], since_ms: int, now_ms: int
    ) -> dict[str, dict[int, StatBucket]]:
        out: dict[str, dict[int, StatBucket]] = {}
        stats = self._stats
        for queue in queues:
            buckets: dict[int, StatBucket] = {}
            base = _base_queue_of(queue)
            for b in range(since_ms // STATS_BUCKET_MS, now_ms // STATS_BUCKET_MS + 1):
                counts = stats.get((base, b))
                if counts is not None:
                    # STAT_FIELDS, each as StatBucket types it (counts are ints, handle_ms a float)
                    buckets[b * STATS_BUCKET_MS] = StatBucket(
                        int(counts.arrivals),
                        int(counts.handled),
                        counts.handle_ms,
                        int(counts.answered),
                        int(counts.answered_within),
                        int(counts.abandoned),
                    )
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
