"""Rebuild the live state from the database, after a Redis loss or on demand (``hub live rebuild``)."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import select

from hub.db.session import unit_of_work
from routing.dispatch.service import Dispatcher, to_ms
from routing.events import EnquiryRef, NewEvent, record_events
from routing.live.base import entry_for
from routing.models import Enquiry
from tenants.models import Agent

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RebuildResult:
    queued: int
    requeued_offers: int
    agents_ready: int
    offers: int


async def rebuild_live_state(dispatcher: Dispatcher) -> RebuildResult | None:
    """Waiting enquiries back in their queues (keeping their place), free agents back in their pools.

    Offers in flight cannot be trusted after a loss, so they go back to the queue at their old place.
    Returns None when another process holds the rebuild.
    """
    live = dispatcher.live
    if not await live.claim_rebuild():
        return None
    await live.reset()
    now = dispatcher.clock()
    async with unit_of_work(dispatcher.sessionmaker) as session:
        offered = (
            await session.scalars(select(Enquiry).where(Enquiry.state == "offered").with_for_update())
        ).all()
        events = []
        for enquiry in offered:
            events.append(
                NewEvent(
                    EnquiryRef.of(enquiry),
                    "enquiry.offer_withdrawn",
                    now,
                    agent_id=enquiry.agent_id,
                    data={"reason": "live_state_rebuilt"},
                )
            )
            enquiry.state, enquiry.agent_id, enquiry.handler_slug = "queued", None, None
        await session.flush()
        await record_events(session, events)
        waiting = (
            await session.execute(
                select(
                    Enquiry.id,
                    Enquiry.tenant_slug,
                    Enquiry.service_code,
                    Enquiry.priority,
                    Enquiry.queued_at,
                    Enquiry.created_at,
                ).where(Enquiry.state == "queued")
            )
        ).all()
        agents = (await session.scalars(select(Agent).where(Agent.status == "available"))).all()
        ready = [(a.id, a.tenant_slug, set(a.skills)) for a in agents]
    entries = [entry_for(i, t, s, p, to_ms(q or c)) for i, t, s, p, q, c in waiting]
    offers = len(await dispatcher.place(entries))
    for agent_id, tenant, skills in ready:
        if await dispatcher.agent_ready(agent_id, tenant, skills) is not None:
            offers += 1
    await live.end_rebuild()
    result = RebuildResult(len(entries), len(offered), len(ready), offers)
    log.info("live.rebuilt", **result.__dict__)
    return result
