"""Rebuild the live state from the database, after a Redis loss or on demand (``hub live rebuild``)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import structlog
from sqlalchemy import or_, select

from plumbing.db.session import unit_of_work
from routing.dispatch.presence import agents_taking_work
from routing.dispatch.service import Dispatcher, facts_of
from routing.events import EnquiryRef, NewEvent, record_events
from routing.live.base import QueueEntry, kind_of_channel, queue_name
from routing.models import Enquiry
from routing.states import EnquiryState, EventName

log = structlog.get_logger(__name__)

REBUILD_CHUNK = 1000  # agents made ready per live-state round trip (and per offers transaction)


@dataclass(frozen=True)
class RebuildResult:
    queued: int
    requeued_offers: int
    agents_ready: int
    offers: int
    in_hand: int = 0


async def rebuild_live_state(dispatcher: Dispatcher) -> RebuildResult | None:
    """Waiting enquiries back in their queues and rings (keeping their place), work in hand back on each
    agent's capacity and its agreement's cap, gates and caps set again, free agents back in their pools.

    Offers in flight cannot be trusted after a loss, so they go back to the queue at their old place.
    Returns None when another process holds the rebuild.
    """
    live = dispatcher.live
    if not await live.claim_rebuild():
        return None
    # ``reset`` marks the state built at once (so that other processes stop waiting for it); if anything below
    # fails (the database restarting under a rebuild that a Redis loss started, say), the state must not stay
    # marked built with only part of the queues in it: waiting enquiries would never be offered and offers
    # lost with Redis would stay 'offered' in the database for ever. So: unbuilt again, and the next
    # housekeeping round starts over.
    try:
        await live.reset()
        dispatcher.router.forget_caps()
        await dispatcher.agreements.reload()
        now = dispatcher.clock()
        await dispatcher.router.configure_caps(now)
        async with unit_of_work(dispatcher.sessionmaker) as session:
            offered = (
                await session.scalars(
                    select(Enquiry).where(Enquiry.state == EnquiryState.OFFERED).with_for_update()
                )
            ).all()
            events = []
            for enquiry in offered:
                events.append(
                    NewEvent(
                        EnquiryRef.of(enquiry),
                        EventName.OFFER_WITHDRAWN,
                        now,
                        agent_id=enquiry.agent_id,
                        data={"reason": "live_state_rebuilt"},
                    )
                )
                enquiry.state, enquiry.agent_id, enquiry.handler_slug = "queued", None, None
                enquiry.agreement_id = None
            await session.flush()
            await record_events(session, events)
            # A missed callback waiting for its retry time stays out: the tick puts it back when it is due.
            waiting = (
                await session.scalars(
                    select(Enquiry).where(
                        Enquiry.state == EnquiryState.QUEUED,
                        or_(Enquiry.retry_at.is_(None), Enquiry.retry_at <= now),
                    )
                )
            ).all()
            held = (
                await session.execute(
                    select(
                        Enquiry.id,
                        Enquiry.agent_id,
                        Enquiry.tenant_slug,
                        Enquiry.service_code,
                        Enquiry.channel,
                        Enquiry.agreement_id,
                    ).where(Enquiry.state == EnquiryState.ANSWERED, Enquiry.agent_id.is_not(None))
                )
            ).all()
            ready = await agents_taking_work(session)
            facts = [facts_of(e) for e in waiting]
        catalogue = await dispatcher.catalogue.get()
        entries: list[QueueEntry] = []
        for fact in facts:
            entry = await dispatcher.router.rings_for(fact, now, catalogue)
            if entry is not None:
                entries.append(entry)
        for enquiry_id, agent_id, tenant, code, channel, agreement in held:
            assert agent_id is not None
            queue = queue_name(tenant, code, kind_of_channel(channel), agreement)
            await live.restore_hand(agent_id, enquiry_id, queue)
        offers = len(await dispatcher.place(entries))
        for start in range(0, len(ready), REBUILD_CHUNK):
            offers += len(await dispatcher.agents_ready(ready[start : start + REBUILD_CHUNK]))
        offers += await dispatcher.tick()
    except BaseException:
        with contextlib.suppress(Exception):
            await live.mark_unbuilt()
            await live.end_rebuild()
        raise
    await live.end_rebuild()
    result = RebuildResult(len(entries), len(offered), len(ready), offers, len(held))
    log.info("live.rebuilt", **result.__dict__)
    return result
