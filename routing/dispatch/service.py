"""The dispatcher: live-state moves (atomic, in Redis or memory) recorded as events in the database.

Each method is its own unit of work, because the order across the two stores matters: the database is
the truth, the live state a cache of it, and an offer exists for an agent only once both agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.db.session import unit_of_work
from routing.dispatch.presence import change_status
from routing.events import EnquiryRef, NewEvent, record_events
from routing.live.base import LiveState, Offer, QueueEntry
from routing.models import Enquiry
from tenants.catalogue import CatalogueCache
from tenants.models import Agent

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def utc_clock() -> datetime:
    return datetime.now(UTC)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class Dispatcher:
    sessionmaker: async_sessionmaker[AsyncSession]
    live: LiveState
    catalogue: CatalogueCache
    reservation_ttl_ms: int = 20_000
    missed_offers_limit: int = 3
    clock: Clock = utc_clock

    async def place(self, entries: list[QueueEntry]) -> list[Offer]:
        """Put committed, queued enquiries into the live state; record the offers that makes at once."""
        now_ms = to_ms(self.clock())
        offers = []
        for entry in entries:
            offer = await self.live.enqueue(entry, now_ms=now_ms, ttl_ms=self.reservation_ttl_ms)
            if offer is not None:
                offers.append(offer)
        await self.record_offers(offers)
        return offers

    async def agent_ready(self, agent_id: str, tenant: str, skills: set[str]) -> Offer | None:
        """An agent is free: give them the best waiting work they can take, or let them wait idle."""
        catalogue = await self.catalogue.get()
        queues = catalogue.queues_for_agent(tenant, skills)
        offer = await self.live.agent_ready(
            agent_id, queues, now_ms=to_ms(self.clock()), ttl_ms=self.reservation_ttl_ms
        )
        if offer is not None:
            await self.record_offers([offer])
        return offer

    async def record_offers(self, offers: list[Offer]) -> None:
        """Write ``enquiry.offered`` for each reservation made; one whose enquiry moved on is released."""
        if not offers:
            return
        now = self.clock()
        stale: list[Offer] = []
        async with unit_of_work(self.sessionmaker) as session:
            events = []
            for offer in offers:
                agent = await session.get(Agent, offer.agent_id, with_for_update=True)
                enquiry = (
                    await session.execute(
                        update(Enquiry)
                        .where(Enquiry.id == offer.enquiry_id, Enquiry.state == "queued")
                        .values(
                            state="offered",
                            agent_id=offer.agent_id,
                            handler_slug=agent.tenant_slug if agent else None,
                        )
                        .returning(Enquiry)
                    )
                ).scalar_one_or_none()
                if enquiry is None or agent is None:
                    stale.append(offer)
                    continue
                events.append(
                    NewEvent(
                        EnquiryRef.of(enquiry),
                        "enquiry.offered",
                        now,
                        agent_id=offer.agent_id,
                        handler=agent.tenant_slug,
                        data={
                            "expires_at": datetime.fromtimestamp(offer.expires_ms / 1000, UTC).isoformat(),
                            "queue": offer.queue,
                        },
                    )
                )
            await record_events(session, events)
        for offer in stale:
            # Withdrawn (or gone) between the match and now: free the agent again.
            log.info("offer.stale", enquiry_id=offer.enquiry_id, agent_id=offer.agent_id)
            await self.live.release(offer.agent_id, offer.enquiry_id)
            await self._ready_again(offer.agent_id)

    async def _ready_again(self, agent_id: str) -> None:
        async with self.sessionmaker() as session:
            agent = await session.get(Agent, agent_id)
            if agent is None or agent.status != "available":
                return
            tenant, skills = agent.tenant_slug, set(agent.skills)
        await self.agent_ready(agent_id, tenant, skills)

    async def expire_offers(self) -> int:
        """Return timed-out offers to their queue (keeping their place) and count a miss for the agent."""
        expired = await self.live.pop_expired(to_ms(self.clock()))
        if not expired:
            return 0
        now = self.clock()
        requeue: list[QueueEntry] = []
        ready: list[str] = []
        async with unit_of_work(self.sessionmaker) as session:
            events = []
            for offer in expired:
                # Agent before enquiry: the same lock order as the agent desk, so no deadlock between them.
                agent = await session.get(Agent, offer.agent_id, with_for_update=True)
                enquiry = (
                    await session.execute(
                        update(Enquiry)
                        .where(
                            Enquiry.id == offer.enquiry_id,
                            Enquiry.state == "offered",
                            Enquiry.agent_id == offer.agent_id,
                        )
                        .values(state="queued", agent_id=None, handler_slug=None)
                        .returning(Enquiry)
                    )
                ).scalar_one_or_none()
                if enquiry is not None:
                    requeue.append(offer.entry)
                    events.append(
                        NewEvent(
                            EnquiryRef.of(enquiry), "enquiry.offer_timed_out", now, agent_id=offer.agent_id
                        )
                    )
                if agent is None:
                    continue
                agent.missed_offers += 1
                if agent.missed_offers >= self.missed_offers_limit:
                    change_status(session, agent, "unavailable", at=now, reason="missed_offers")
                    agent.missed_offers = 0
                    log.info("agent.not_ready_after_missed_offers", agent_id=agent.id)
                elif agent.status == "available":
                    ready.append(agent.id)
            await record_events(session, events)
        await self.place(requeue)
        for agent_id in ready:
            await self._ready_again(agent_id)
        return len(expired)
