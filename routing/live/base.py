"""The live-state contract. Both implementations pass one contract test suite.

Each operation is atomic, so that several dispatchers can run at once. The invariant they keep:
an agent idle in a queue's pool never coexists with work waiting in that queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Higher priority (0–9) goes first, then the longest waiting; one float keeps both and survives requeues.
PRIORITY_SPAN_MS = 10**13


def queue_score(priority: int, enqueued_ms: int) -> float:
    return float((9 - priority) * PRIORITY_SPAN_MS + enqueued_ms)


@dataclass(frozen=True)
class QueueEntry:
    enquiry_id: int
    queue: str
    score: float


def entry_for(
    enquiry_id: int, tenant: str, service_code: str, priority: int, queued_at_ms: int
) -> QueueEntry:
    """An enquiry's place: its owner's queue for the service, ranked by priority then time queued."""
    return QueueEntry(enquiry_id, f"{tenant}/{service_code}", queue_score(priority, queued_at_ms))


@dataclass(frozen=True)
class Offer:
    """An enquiry reserved for one agent until ``expires_ms``."""

    enquiry_id: int
    agent_id: str
    queue: str
    score: float
    expires_ms: int

    @property
    def entry(self) -> QueueEntry:
        return QueueEntry(self.enquiry_id, self.queue, self.score)


class LiveState(Protocol):
    async def enqueue(self, entry: QueueEntry, *, now_ms: int, ttl_ms: int) -> Offer | None:
        """Offer to the longest-idle agent in the queue's pool, or wait in the queue."""

    async def agent_ready(
        self, agent_id: str, queues: list[str], *, now_ms: int, ttl_ms: int
    ) -> Offer | None:
        """Take the best waiting entry across ``queues``, or join their pools as idle since now."""

    async def agent_away(self, agent_id: str) -> None:
        """Leave every pool (the agent is busy, on a break or signed out)."""

    async def offer_for(self, agent_id: str) -> Offer | None: ...

    async def accept(self, agent_id: str, enquiry_id: int) -> bool:
        """Turn the agent's reservation into work in hand; False if that offer is not theirs any more."""

    async def release(self, agent_id: str, enquiry_id: int) -> Offer | None:
        """Drop the agent's reservation of ``enquiry_id`` and return it, or None if it is not held."""

    async def withdraw(self, enquiry_id: int) -> Offer | bool:
        """Take an entry out of its queue (True), or out of a reservation (that Offer); False if absent."""

    async def pop_expired(self, now_ms: int, limit: int = 500) -> list[Offer]:
        """Remove and return reservations whose time ran out."""

    async def queue_depths(self) -> dict[str, int]: ...

    async def is_built(self) -> bool:
        """False after a loss (or before the first build): the caller rebuilds from the database."""

    async def claim_rebuild(self, ttl_seconds: int = 60) -> bool:
        """True for the one process that may rebuild now (others wait for it)."""

    async def end_rebuild(self) -> None:
        """Let the next rebuild happen (the claim also lapses by itself)."""

    async def reset(self) -> None:
        """Forget everything and mark the state as built (called at the start of a rebuild)."""

    async def close(self) -> None: ...
