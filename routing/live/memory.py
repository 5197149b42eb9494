"""In-process live state for the embedded hub and the simulator."""

from __future__ import annotations

from collections import defaultdict

from sortedcontainers import SortedList

from routing.live.base import Offer, QueueEntry


class MemoryLiveState:
    """Same contract as the Redis state; operations never await, so each is atomic on the event loop."""

    def __init__(self) -> None:
        self.reset_sync()

    def reset_sync(self) -> None:
        self._queues: dict[str, SortedList] = defaultdict(SortedList)  # (score, enquiry_id)
        self._where: dict[int, QueueEntry] = {}
        self._pools: dict[str, SortedList] = defaultdict(SortedList)  # (idle_since_ms, agent_id)
        self._agent_pools: dict[str, tuple[list[str], int]] = {}
        self._reservations: dict[str, Offer] = {}
        self._reserved_enquiries: dict[int, str] = {}
        self._expiries: SortedList = SortedList()  # (expires_ms, agent_id)
        self._built = False

    def _reserve(self, agent_id: str, entry: QueueEntry, expires_ms: int) -> Offer:
        self._unpool(agent_id)
        offer = Offer(entry.enquiry_id, agent_id, entry.queue, entry.score, expires_ms)
        self._reservations[agent_id] = offer
        self._reserved_enquiries[entry.enquiry_id] = agent_id
        self._expiries.add((expires_ms, agent_id))
        return offer

    def _unreserve(self, agent_id: str) -> Offer | None:
        offer = self._reservations.pop(agent_id, None)
        if offer is not None:
            self._reserved_enquiries.pop(offer.enquiry_id, None)
            self._expiries.discard((offer.expires_ms, agent_id))
        return offer

    def _unpool(self, agent_id: str) -> None:
        pooled = self._agent_pools.pop(agent_id, None)
        if pooled:
            queues, idle_since = pooled
            for queue in queues:
                self._pools[queue].discard((idle_since, agent_id))

    async def enqueue(self, entry: QueueEntry, *, now_ms: int, ttl_ms: int) -> Offer | None:
        if entry.enquiry_id in self._where or entry.enquiry_id in self._reserved_enquiries:
            return None  # already placed: idempotent
        pool = self._pools.get(entry.queue)
        if pool:
            _idle, agent_id = pool[0]
            return self._reserve(agent_id, entry, now_ms + ttl_ms)
        self._queues[entry.queue].add((entry.score, entry.enquiry_id))
        self._where[entry.enquiry_id] = entry
        return None

    async def agent_ready(
        self, agent_id: str, queues: list[str], *, now_ms: int, ttl_ms: int
    ) -> Offer | None:
        if agent_id in self._reservations:
            return None
        self._unpool(agent_id)
        best: tuple[float, int] | None = None
        for queue in queues:
            waiting = self._queues.get(queue)
            if waiting and (best is None or waiting[0] < best):
                best = waiting[0]
        if best is not None:
            entry = self._where.pop(best[1])
            self._queues[entry.queue].remove(best)
            return self._reserve(agent_id, entry, now_ms + ttl_ms)
        for queue in queues:
            self._pools[queue].add((now_ms, agent_id))
        self._agent_pools[agent_id] = (list(queues), now_ms)
        return None

    async def agent_away(self, agent_id: str) -> None:
        self._unpool(agent_id)

    async def offer_for(self, agent_id: str) -> Offer | None:
        return self._reservations.get(agent_id)

    async def accept(self, agent_id: str, enquiry_id: int) -> bool:
        offer = self._reservations.get(agent_id)
        if offer is None or offer.enquiry_id != enquiry_id:
            return False
        self._unreserve(agent_id)
        return True

    async def release(self, agent_id: str, enquiry_id: int) -> Offer | None:
        offer = self._reservations.get(agent_id)
        if offer is None or offer.enquiry_id != enquiry_id:
            return None
        return self._unreserve(agent_id)

    async def withdraw(self, enquiry_id: int) -> Offer | bool:
        entry = self._where.pop(enquiry_id, None)
        if entry is not None:
            self._queues[entry.queue].discard((entry.score, enquiry_id))
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

    async def queue_depths(self) -> dict[str, int]:
        return {queue: len(items) for queue, items in self._queues.items() if items}

    async def is_built(self) -> bool:
        return self._built

    async def claim_rebuild(self, ttl_seconds: int = 60) -> bool:
        return True

    async def end_rebuild(self) -> None:
        return None

    async def reset(self) -> None:
        self.reset_sync()
        self._built = True

    async def close(self) -> None:
        return None
