"""The dispatcher: live-state moves (atomic, in Redis or memory) recorded as events in the database.

Each method is its own unit of work, because the order across the two stores matters: the database is
the truth, the live state a cache of it, and an offer exists for an agent only once both agree.
Matching happens whenever work arrives, an agent frees up, a ring opens or a gate opens (docs/design.md, "Engineering rules we keep").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

import structlog
from sqlalchemy import Select, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.db.base import table_of
from plumbing.db.scope import all_partners
from plumbing.db.session import unit_of_work
from routing.dispatch.eligibility import queues_for_agent
from routing.dispatch.opening import OpenNow, always_open
from routing.dispatch.presence import agents_taking_work, change_status
from routing.dispatch.proficiency import ProficiencyCache
from routing.dispatch.router import AgreementsCache, Routed, Router, gate_map
from routing.events import EnquiryRef, NewEvent, record_events
from routing.live.base import LiveState, Offer, QueueEntry, base_queue_of, to_ms
from routing.models import Enquiry, EnquiryEvent
from routing.policy.model import Decision, EnquiryFacts
from routing.policy.proficiency import choice_text, skill_rank
from routing.states import EnquiryState, EventName
from tenants.catalogue import Catalogue, CatalogueCache
from tenants.hours import next_opening
from tenants.models import Agent

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def utc_clock() -> datetime:
    return datetime.now(UTC)


def facts_of(enquiry: Enquiry) -> EnquiryFacts:
    return EnquiryFacts(
        id=enquiry.id,
        owner=enquiry.tenant_slug,
        service_code=enquiry.service_code,
        channel=enquiry.channel,
        priority=enquiry.priority,
        queued_at=enquiry.queued_at or enquiry.created_at,
    )


def _offered_agents() -> Select[tuple[str, str]]:
    agents = table_of(Agent)
    return (
        select(agents.c.id, agents.c.tenant_slug)
        .where(agents.c.id.in_(bindparam("ids", expanding=True)))
        .order_by(agents.c.id)
        .with_for_update()
    )


def _offered_enquiries() -> Select[Any]:
    enquiries = table_of(Enquiry)
    return (
        select(*EnquiryRef.columns(), enquiries.c.state)
        .where(enquiries.c.id.in_(bindparam("ids", expanding=True)))
        .order_by(enquiries.c.id)
        .with_for_update()
    )


# The offer's two row locks, built once (bound parameters): they run for every batch of offers made.
_OFFERED_AGENTS, _OFFERED_ENQUIRIES = _offered_agents(), _offered_enquiries()


@dataclass
class Dispatcher:
    sessionmaker: async_sessionmaker[AsyncSession]
    live: LiveState
    catalogue: CatalogueCache
    reservation_ttl_ms: int = 20_000
    missed_offers_limit: int = 3
    clock: Clock = utc_clock
    open_now: OpenNow = always_open
    # Web forms and emails an agent may hold at once, unless their partner sets its own (``blending``); a live
    # contact is always alone, and is offered even to an agent holding deferrable work (docs/routing.md).
    text_capacity: int = 3
    agreements: AgreementsCache = field(init=False)
    router: Router = field(init=False)
    proficiency: ProficiencyCache = field(init=False)

    def __post_init__(self) -> None:
        self.agreements = AgreementsCache(self.sessionmaker)
        self.proficiency = ProficiencyCache(self.sessionmaker)
        self._best_skilled: tuple[Catalogue | None, dict[str, frozenset[str]]] = (None, {})
        # Missed callbacks: the tick looks in the database only once one may be due (see ``retry_callbacks``).
        self._retry_look_at: datetime | None = None
        self.router = Router(self.sessionmaker, self.live, self.catalogue, self.agreements, self.open_now)

    # -- placing work ----------------------------------------------------------------------------------

    async def place(
        self, entries: list[QueueEntry], rechecks: dict[int, datetime] | None = None
    ) -> list[Offer]:
        """Put committed, queued enquiries into the live state; record the offers that makes at once."""
        rechecks = rechecks or {}
        results = await self.live.enqueue_many(
            [
                (entry, to_ms(rechecks[entry.enquiry_id]) if entry.enquiry_id in rechecks else None)
                for entry in entries
            ],
            now_ms=to_ms(self.clock()),
            ttl_ms=self.reservation_ttl_ms,
        )
        offers = [offer for offer in results if offer is not None]
        await self.record_offers(offers)
        return offers

    async def route_new(
        self, session: AsyncSession, refs: list[tuple[EnquiryRef, int]], now: datetime
    ) -> tuple[list[Routed], list[NewEvent]]:
        """Decide for enquiries just queued, in the caller's transaction.

        Returns where each goes and the events of what the caller is offered (callback or voicemail), for the
        caller to record after ``enquiry.queued`` (which carries the decision and its reasons).
        """
        facts = [
            EnquiryFacts(ref.id, ref.owner, ref.service_code, ref.channel, priority, now)
            for ref, priority in refs
        ]
        routed = await self.router.route(facts, now)
        by_id = {ref.id: ref for ref, _ in refs}
        events: list[NewEvent] = []
        voicemail: list[int] = []
        told: list[int] = []
        for item in routed:
            ref, decision = by_id[item.entry.enquiry_id], item.decision
            if decision.action == "offer_callback":
                events.append(NewEvent(ref, EventName.CALLBACK_OFFERED, now, data=_offer_data(decision)))
            elif decision.action == "voicemail":
                events.append(NewEvent(ref, EventName.VOICEMAIL, now, data=_offer_data(decision)))
                voicemail.append(ref.id)
            elif decision.action == "next_opening":
                opens = await self._next_opening(ref.owner, ref.service_code, ref.channel, now)
                says = (
                    f"the desk opens again at {opens.isoformat(timespec='minutes')}"
                    if opens is not None
                    else "the desk has no opening hours ahead"
                )
                events.append(
                    NewEvent(
                        ref,
                        EventName.TOLD_NEXT_OPENING,
                        now,
                        data={"next_opening": opens.isoformat() if opens else None, "says": says},
                    )
                )
                told.append(ref.id)
        if voicemail:
            await session.execute(
                update(Enquiry).where(Enquiry.id.in_(voicemail)).values(follow_up="voicemail")
            )
        if told:
            # The visitor has gone: nothing waits in a queue for them (the caller places only the rest).
            await session.execute(
                update(Enquiry)
                .where(Enquiry.id.in_(told))
                .values(state=EnquiryState.COMPLETED, outcome="told_next_opening")
            )
        return routed, events

    async def _next_opening(
        self, tenant: str, service_code: str, channel: str, now: datetime
    ) -> datetime | None:
        catalogue = await self.catalogue.get()
        service, owner = catalogue.service(tenant, service_code), catalogue.tenants.get(tenant)
        hours = service.hours if service is not None and service.hours is not None else None
        if hours is None and owner is not None:
            hours = owner.hours
        return next_opening(hours, channel, now) if hours is not None else None

    # -- agents ----------------------------------------------------------------------------------------

    async def agent_ready(self, agent_id: str, tenant: str, skills: set[str]) -> Offer | None:
        """An agent is free (or has room for more text work): give them the best they may take, or pool them."""
        offers = await self.agents_ready([(agent_id, tenant, skills)])
        return offers[0] if offers else None

    async def record_offers(self, offers: list[Offer]) -> None:
        """Write ``enquiry.offered`` for each reservation made (and ``enquiry.overflowed`` for a lender's).

        One whose enquiry moved on in the meantime is released.
        """
        if not offers:
            return
        # Routing is hub-wide work even when an agent's request sets it off (a reject, a completion): the
        # offer may go to another lender's agent, outside the caller's row-level security scope.
        with all_partners():
            await self._record_offers(offers)

    async def _record_offers(self, offers: list[Offer]) -> None:
        now = self.clock()
        best_skilled = self.best_skilled(await self.catalogue.get())
        levels = await self.proficiency.get() if best_skilled else {}
        why: dict[tuple[str, str], dict[str, object]] = {}
        for offer in offers:
            if offer.agreement is not None and (offer.agreement, base_queue_of(offer.queue)) not in why:
                key = (offer.agreement, base_queue_of(offer.queue))
                why[key] = await self.router.gate_reasons(key[0], key[1], now)
        stale: list[Offer] = []
        enquiries = table_of(Enquiry)
        async with unit_of_work(self.sessionmaker) as session:
            # Two reads and one batched update for the lot, whatever its size; rows locked in id order
            # (agents, then enquiries, as the desk does) so concurrent moves cannot deadlock. Plain rows, not
            # ORM objects: only a few columns matter, and this runs for every offer made.
            handler_of: dict[str, str] = dict(
                (await session.execute(_OFFERED_AGENTS, {"ids": list({o.agent_id for o in offers})}))
                .tuples()
                .all()
            )
            waiting = {
                row.id: (EnquiryRef.of(row), row.state)
                for row in await session.execute(
                    _OFFERED_ENQUIRIES, {"ids": list({o.enquiry_id for o in offers})}
                )
            }
            events, changes = [], []
            for offer in offers:
                handler, (ref, state) = (
                    handler_of.get(offer.agent_id),
                    waiting.get(offer.enquiry_id, (None, None)),
                )
                if ref is None or handler is None or state != EnquiryState.QUEUED:
                    stale.append(offer)
                    continue
                waiting[offer.enquiry_id] = (ref, "offered")  # a second offer of it in this batch is stale
                changes.append(
                    {
                        "b_id": ref.id,
                        "b_agent": offer.agent_id,
                        "b_handler": handler,
                        "b_agreement": offer.agreement,
                        "b_until": datetime.fromtimestamp(offer.expires_ms / 1000, UTC),
                    }
                )
                if offer.agreement is not None:
                    events.append(
                        NewEvent(
                            ref,
                            EventName.OVERFLOWED,
                            now,
                            agent_id=offer.agent_id,
                            handler=handler,
                            data={"queue": offer.queue, **why[(offer.agreement, base_queue_of(offer.queue))]},
                        )
                    )
                events.append(
                    NewEvent(
                        ref,
                        EventName.OFFERED,
                        now,
                        agent_id=offer.agent_id,
                        handler=handler,
                        data={
                            "expires_at": datetime.fromtimestamp(offer.expires_ms / 1000, UTC).isoformat(),
                            "queue": offer.queue,
                            **({"agreement": offer.agreement} if offer.agreement else {}),
                            **_agent_choice(offer, best_skilled, levels),
                        },
                    )
                )
            if changes:
                await session.execute(
                    update(enquiries)
                    .where(enquiries.c.id == bindparam("b_id"))
                    .values(
                        state=EnquiryState.OFFERED,
                        agent_id=bindparam("b_agent"),
                        handler_slug=bindparam("b_handler"),
                        agreement_id=bindparam("b_agreement"),
                        offered_until=bindparam("b_until"),
                    ),
                    changes,
                )
            await record_events(session, events)
        for offer in stale:
            # Withdrawn (or gone) between the match and now: free the agent again.
            log.info("offer.stale", enquiry_id=offer.enquiry_id, agent_id=offer.agent_id)
            await self.live.release(offer.agent_id, offer.enquiry_id)
        await self.ready_again([offer.agent_id for offer in stale])

    async def ready_again(self, agent_ids: Sequence[str]) -> list[Offer]:
        """Agents freed (an offer withdrawn, timed out or gone stale): the best each may take, or its pools.

        One read for all of them and one write for the offers that makes, whatever their number. Hub-wide
        work even when an agent's request sets it off (the agent may serve another partner's ring).
        """
        if not agent_ids:
            return []
        with all_partners():
            return await self._ready_again(agent_ids)

    async def _ready_again(self, agent_ids: Sequence[str]) -> list[Offer]:
        async with self.sessionmaker() as session:
            ready = await agents_taking_work(session, agent_ids)
        position: dict[str, int] = {}
        for i, agent_id in enumerate(agent_ids):
            position.setdefault(agent_id, i)
        # In the order given, as separate calls one after another would have gone.
        return await self.agents_ready(sorted(ready, key=lambda agent: position[agent[0]]))

    async def agents_ready(self, agents: Sequence[tuple[str, str, set[str]]]) -> list[Offer]:
        """``agent_ready`` for each (agent, tenant, skills) in turn: one live-state round trip and one write."""
        if not agents:
            return []
        catalogue, agreements = await self.catalogue.get(), await self.agreements.get()
        best_skilled = self.best_skilled(catalogue)
        levels = await self.proficiency.get() if best_skilled else {}
        now_ms = to_ms(self.clock())
        results: list[Offer | None] = []
        # Each partner sets its agents' deferrable limit: one round trip per run of agents sharing a limit.
        for capacity, run in groupby(agents, key=lambda agent: self.deferrable_limit(catalogue, agent[1])):
            ready = [
                (agent_id, queues_for_agent(catalogue, agreements, tenant, skills))
                for agent_id, tenant, skills in run
            ]
            results += await self.live.agent_ready_many(
                ready,
                now_ms=now_ms,
                ttl_ms=self.reservation_ttl_ms,
                text_capacity=capacity,
                ranks=[_ranks(queues, best_skilled, levels.get(a, {})) for a, queues in ready]
                if best_skilled
                else None,
            )
        offers = [offer for offer in results if offer is not None]
        await self.record_offers(offers)
        return offers

    def best_skilled(self, catalogue: Catalogue) -> dict[str, frozenset[str]]:
        """Services that prefer the best-skilled agent ("tenant/service" -> skills needed), per catalogue."""
        known, found = self._best_skilled
        if known is not catalogue:
            found = {
                info.queue: info.skills
                for tenant in catalogue.tenants.values()
                for info in (*tenant.services.values(), *tenant.retired.values())
                if info.routing.agent_choice == "best_skilled"
            }
            self._best_skilled = (catalogue, found)
        return found

    def deferrable_limit(self, catalogue: Catalogue, tenant: str) -> int:
        """Web forms and emails an agent of ``tenant`` may hold at once: the partner's ``blending`` setting."""
        info = catalogue.tenants.get(tenant)
        blending = info.settings.get("blending") if info is not None else None
        if isinstance(blending, dict) and isinstance(blending.get("deferrable_at_once"), int):
            return int(blending["deferrable_at_once"])
        return self.text_capacity

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
                            Enquiry.state == EnquiryState.OFFERED,
                            Enquiry.agent_id == offer.agent_id,
                        )
                        .values(
                            state=EnquiryState.QUEUED, agent_id=None, handler_slug=None, agreement_id=None
                        )
                        .returning(Enquiry)
                    )
                ).scalar_one_or_none()
                if enquiry is not None:
                    requeue.append(offer.entry)
                    events.append(
                        NewEvent(
                            EnquiryRef.of(enquiry), EventName.OFFER_TIMED_OUT, now, agent_id=offer.agent_id
                        )
                    )
                elif (
                    await session.scalar(select(Enquiry.state).where(Enquiry.id == offer.enquiry_id))
                    == "queued"
                ):
                    # Reserved in Redis, but the offer never reached the database (its commit failed: the
                    # database restarting, a worker killed): back to its queue, not dropped from the live state.
                    requeue.append(offer.entry)
                if agent is None:
                    continue
                agent.missed_offers += 1
                if agent.missed_offers >= self.missed_offers_limit:
                    await change_status(session, agent, "unavailable", at=now, reason="missed_offers")
                    agent.missed_offers = 0
                    self.router.staff_changed()
                    log.info("agent.not_ready_after_missed_offers", agent_id=agent.id)
                elif agent.status in ("available", "busy"):
                    ready.append(agent.id)
            await record_events(session, events)
        await self.place(requeue)
        await self.ready_again(ready)
        return len(expired)

    # At most this many long-expired offers are looked at per sweep (there are normally none; after an outage
    # the next sweeps, 5 s apart, take the rest).
    LOST_OFFER_BATCH = 500

    async def recover_lost_offers(self, grace_ms: int = 10_000) -> int:
        """Offers the database holds but the live state no longer does, well past their expiry, back to the queue.

        ``expire_offers`` takes an offer out of Redis before it writes the database; if that write fails (the
        database restarting), or Redis lost its offers while a rebuild could not run, the enquiry would stay
        'offered' for ever. Only offers whose expiry passed more than ``grace_ms`` ago are read (a partial index
        over the rows on offer), so the cost is that of the offers lost, not of the offers held.
        """
        now = self.clock()
        cutoff = datetime.fromtimestamp((to_ms(now) - grace_ms) / 1000, UTC)
        enquiries = table_of(Enquiry)
        async with self.sessionmaker() as session:
            overdue = (
                await session.execute(
                    select(enquiries.c.id, enquiries.c.agent_id)
                    .where(
                        enquiries.c.state == EnquiryState.OFFERED,
                        # NULL: offered before offers carried their expiry (an upgrade); looked at once.
                        or_(enquiries.c.offered_until < cutoff, enquiries.c.offered_until.is_(None)),
                    )
                    .limit(self.LOST_OFFER_BATCH)
                )
            ).all()
        if not overdue:
            return 0
        held = await self.live.offered_enquiries([agent_id or "" for _, agent_id in overdue])
        suspects = [
            (enquiry_id, agent_id)
            for (enquiry_id, agent_id), offered_to_them in zip(overdue, held, strict=True)
            if not agent_id or offered_to_them != enquiry_id
        ]
        if not suspects:
            return 0
        cutoff = datetime.fromtimestamp((to_ms(now) - self.reservation_ttl_ms - grace_ms) / 1000, UTC)
        entries: list[QueueEntry] = []
        catalogue = await self.catalogue.get()
        async with unit_of_work(self.sessionmaker) as session:
            events = []
            for enquiry_id, agent_id in suspects:
                last_offered = await session.scalar(
                    select(func.max(EnquiryEvent.at)).where(
                        EnquiryEvent.enquiry_id == enquiry_id, EnquiryEvent.event == EventName.OFFERED
                    )
                )
                if last_offered is not None and last_offered > cutoff:
                    continue  # young: the live state may simply not have caught up
                enquiry = (
                    await session.execute(
                        update(Enquiry)
                        .where(
                            Enquiry.id == enquiry_id,
                            Enquiry.state == EnquiryState.OFFERED,
                            Enquiry.agent_id == agent_id,
                        )
                        .values(
                            state=EnquiryState.QUEUED, agent_id=None, handler_slug=None, agreement_id=None
                        )
                        .returning(Enquiry)
                    )
                ).scalar_one_or_none()
                if enquiry is None:
                    continue
                events.append(
                    NewEvent(
                        EnquiryRef.of(enquiry),
                        EventName.OFFER_WITHDRAWN,
                        now,
                        agent_id=agent_id,
                        data={"reason": "offer_lost"},
                    )
                )
                entry = await self.router.rings_for(facts_of(enquiry), now, catalogue)
                if entry is not None:
                    entries.append(entry)
            await record_events(session, events)
        if events:
            log.warning("dispatch.lost_offers_requeued", count=len(events))
        await self.place(entries)
        return len(events)

    # -- the clock: rings, gates and second looks ------------------------------------------------------

    async def tick(self) -> int:
        """Open the rings that are due, refresh every gate (draining newly open ones), look again at waiters.

        Returns the number of offers made. Cost: the rings due and the gates, never the queues' depth.
        """
        now = self.clock()
        await self.router.configure_caps(now)
        changed = self.agreements.take_changed()
        if changed:
            await self.replan(changed, now)
        offers = await self.live.open_due(to_ms(now), self.reservation_ttl_ms)
        gate_list = await self.router.gates_now(now)
        if gate_list:
            offers += await self.live.set_gates(
                gate_map(gate_list), now_ms=to_ms(now), ttl_ms=self.reservation_ttl_ms
            )
        await self.record_offers(offers)
        await self.recheck_waiting(now)
        await self.retry_callbacks(now)
        return len(offers)

    REPLAN_CHUNK = 500

    async def replan(self, borrowers: set[str], now: datetime) -> int:
        """Agreements changed: the rings of every enquiry waiting for these borrowers are planned again from the
        agreements in force, at the same place in the queue (``LiveState.replan_many``); each says so on its
        trail. Returns how many were re-planned (those offered or in hand meanwhile are left alone)."""
        catalogue = await self.catalogue.get()
        replanned = 0
        with all_partners():  # hub-wide work, like the rest of the tick
            async with self.sessionmaker() as session:
                waiting = (
                    await session.scalars(
                        select(Enquiry)
                        .where(
                            Enquiry.tenant_slug.in_(sorted(borrowers)),
                            Enquiry.state == EnquiryState.QUEUED,
                            Enquiry.retry_at.is_(None),
                        )
                        .order_by(Enquiry.id)
                    )
                ).all()
            for start in range(0, len(waiting), self.REPLAN_CHUNK):
                chunk = waiting[start : start + self.REPLAN_CHUNK]
                entries = [
                    entry
                    for enquiry in chunk
                    if (entry := await self.router.rings_for(facts_of(enquiry), now, catalogue)) is not None
                ]
                results = await self.live.replan_many(
                    entries, now_ms=to_ms(now), ttl_ms=self.reservation_ttl_ms
                )
                by_id = {e.id: e for e in chunk}
                async with unit_of_work(self.sessionmaker) as session:
                    await record_events(
                        session,
                        [
                            NewEvent(
                                EnquiryRef.of(by_id[entry.enquiry_id]),
                                EventName.REPLANNED,
                                now,
                                data={
                                    "says": "the agreements changed: its rings were planned again, "
                                    "and it keeps its place in the queue",
                                    "rings": [
                                        {
                                            "queue": ring.queue,
                                            "opens_at": datetime.fromtimestamp(
                                                ring.opens_ms / 1000, UTC
                                            ).isoformat(),
                                        }
                                        for ring in entry.rings
                                    ],
                                },
                            )
                            for entry in entries
                        ],
                    )
                replanned += len(entries)
                await self.record_offers([offer for offer in results if offer is not None])
        log.info("dispatch.replanned", borrowers=sorted(borrowers), count=replanned)
        return replanned

    # How often the tick looks for missed callbacks when it knows of none due sooner. Below the shortest retry
    # (``callback_retry_minutes`` ≥ 1), so a retry another process records after a look is never found late: it
    # falls due at least a minute after it was recorded, by when this process has looked again.
    RETRY_LOOK_SECONDS = 30

    def callback_retry_noted(self, retry_at: datetime) -> None:
        """A missed callback recorded in this process: look for it when it falls due, if that is sooner."""
        if self._retry_look_at is not None and retry_at < self._retry_look_at:
            self._retry_look_at = retry_at

    async def retry_callbacks(self, now: datetime) -> int:
        """Missed callbacks whose retry time came: back into their queue at their old place (their rings too).

        The tick runs every second and there is normally nothing due: it opens no transaction until the
        earliest retry it knows of, or its next look (``RETRY_LOOK_SECONDS``), whichever is sooner.
        """
        if self._retry_look_at is not None and now < self._retry_look_at:
            return 0
        entries: list[QueueEntry] = []
        with all_partners():  # hub-wide work, like the rest of the tick
            catalogue = await self.catalogue.get()
            async with unit_of_work(self.sessionmaker) as session:
                due = (
                    await session.scalars(
                        select(Enquiry)
                        .where(Enquiry.retry_at <= now, Enquiry.state == EnquiryState.QUEUED)
                        .order_by(Enquiry.retry_at)
                        .limit(500)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
                events = []
                for enquiry in due:
                    enquiry.retry_at = None
                    events.append(
                        NewEvent(
                            EnquiryRef.of(enquiry),
                            EventName.CALLBACK_RETRY_DUE,
                            now,
                            data={
                                "attempts_so_far": enquiry.callback_attempts,
                                "says": "back in its queue at its old place, to be rung again",
                            },
                        )
                    )
                    entry = await self.router.rings_for(facts_of(enquiry), now, catalogue)
                    if entry is not None:
                        entries.append(entry)
                await session.flush()
                await record_events(session, events)
                # The earliest retry still to come (this batch's are cleared; a full batch: look again now).
                upcoming = (
                    now
                    if len(due) == 500
                    else await session.scalar(
                        select(func.min(Enquiry.retry_at)).where(Enquiry.state == EnquiryState.QUEUED)
                    )
                )
        look = now + timedelta(seconds=self.RETRY_LOOK_SECONDS)
        self._retry_look_at = look if upcoming is None else min(look, _aware_utc(upcoming))
        await self.place(entries)
        return len(entries)

    async def recheck_waiting(self, now: datetime) -> None:
        """Re-estimate the wait of callers due a second look; offer a callback once it runs past the threshold."""
        due = await self.live.pop_rechecks(to_ms(now))
        if not due:
            return
        async with unit_of_work(self.sessionmaker) as session:
            enquiries = (
                await session.scalars(
                    select(Enquiry).where(
                        Enquiry.id.in_(due), Enquiry.state == EnquiryState.QUEUED, Enquiry.follow_up.is_(None)
                    )
                )
            ).all()
            events = []
            again: dict[int, datetime] = {}
            for enquiry in enquiries:
                result = await self.router.redecide(facts_of(enquiry), now)
                if result is None:
                    continue
                decision, recheck_at = result
                if decision.action == "offer_callback":
                    events.append(
                        NewEvent(
                            EnquiryRef.of(enquiry),
                            EventName.CALLBACK_OFFERED,
                            now,
                            data=_offer_data(decision),
                        )
                    )
                elif recheck_at is not None:
                    again[enquiry.id] = recheck_at
            await record_events(session, events)
        for enquiry_id, at in again.items():
            await self.live.schedule_recheck(enquiry_id, to_ms(at))


def _aware_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _offer_data(decision: Decision) -> dict[str, object]:
    return {
        "predicted_wait_seconds": None
        if decision.predicted_wait.seconds is None
        else round(decision.predicted_wait.seconds, 1),
        "prediction_method": decision.predicted_wait.method,
        "reasons": [
            r.as_dict() for r in decision.reasons if r.rule in ("callback", "out_of_hours", "agreement")
        ],
    }


def _ranks(
    queues: list[str], best_skilled: dict[str, frozenset[str]], levels: Mapping[str, int]
) -> dict[str, int]:
    """The agent's rank in each queue of a service that prefers the best-skilled agent (the policy's rule)."""
    return {
        queue: skill_rank(required, levels)
        for queue in queues
        if (required := best_skilled.get(base_queue_of(queue))) is not None
    }


def _agent_choice(
    offer: Offer, best_skilled: dict[str, frozenset[str]], levels: Mapping[str, Mapping[str, int]]
) -> dict[str, Any]:
    """For the trail: the rule that chose the agent, when the service prefers the best-skilled."""
    required = best_skilled.get(base_queue_of(offer.queue))
    if required is None:
        return {}
    rank = skill_rank(required, levels.get(offer.agent_id, {}))
    return {
        "agent_choice": "best_skilled",
        "agent_level": rank,
        "agent_choice_says": choice_text("best_skilled", rank, required),
    }
