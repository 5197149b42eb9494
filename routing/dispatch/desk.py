"""What an agent does with their work: go available or not, accept or reject an offer, complete.

Every refusal is a ``DeskError`` with an HTTP status and a sentence; nothing changes when one is raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import Row, Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.db.base import table_of
from plumbing.db.bulk import on_postgresql
from plumbing.db.session import unit_of_work
from plumbing.problems import Problem
from plumbing.tracing import mark
from routing.dispatch import desk_queries
from routing.dispatch.callbacks import (
    NOT_REACHED_OUTCOME,
    AttemptResult,
    WorkItem,
    is_callback,
    number_to_ring,
    reason_of,
    worklist,
)
from routing.dispatch.presence import DeskAgent, lock_agent, set_agent_status, status_change
from routing.dispatch.service import Dispatcher
from routing.events import EnquiryRef, NewEvent, record_events
from routing.live.base import OUTAGES, kind_of_channel, to_ms
from routing.models import Enquiry, EnquiryEvent
from routing.states import EnquiryState, EventName
from tenants.models import Agent
from tenants.service_routing import ServiceRouting

log = structlog.get_logger(__name__)


OUTCOMES = ("resolved", "passed_to_back_office", "transferred", "callback_booked", "no_action")
STATUSES = ("available", "unavailable", "break", "offline")


class SurveyInvitation(Protocol):
    """A completed contact invited to rate the service."""

    @property
    def token(self) -> str: ...
    @property
    def sample_rate(self) -> float: ...


class CompletionHooks(Protocol):
    """What else happens in the transaction that completes an enquiry; the floors above hand it in.

    Both run in the completion's own unit of work, so a case or an invitation exists exactly when it commits.
    """

    async def pass_to_back_office(
        self, session: AsyncSession, *, enquiry: Enquiry, at: datetime, notes: str | None, handler: str
    ) -> None: ...

    async def maybe_invite(
        self, session: AsyncSession, *, enquiry_id: int, tenant: str, reference: str, now: datetime
    ) -> SurveyInvitation | None: ...


class DeskError(Problem):
    """An agent's action refused: the API answers it as a problem document, the console as a notice."""


@dataclass(frozen=True)
class OfferView:
    enquiry_id: int
    reference: str
    owner: str
    service_code: str
    channel: str
    priority: int
    queued_at: datetime | None
    expires_at: datetime
    catalogue_version: int | None = None  # routed under: its service reads with that version's name
    # A callback: the agent rings the caller (the number and why they wanted one), attempts made so far.
    callback: bool = False
    callback_number: str | None = None
    callback_reason: str | None = None
    callback_attempts: int = 0


@dataclass(frozen=True)
class AgentView:
    id: str
    tenant: str
    name: str
    status: str
    status_since: datetime
    skills: list[str]
    current_enquiry_id: int | None


def _bind(agent_id: str, enquiry_id: int | None = None) -> None:
    """Ids on every log line of this unit of work (docs/design.md, "Engineering rules we keep": bind at the start of the unit)."""
    structlog.contextvars.bind_contextvars(agent_id=agent_id, enquiry_id=enquiry_id)


class AgentDesk:
    def __init__(self, dispatcher: Dispatcher, hooks: CompletionHooks) -> None:
        self.dispatcher = dispatcher
        # Accept and complete in two statements where the database allows (desk_queries); False: the general
        # path everywhere (the tests compare the two).
        self.one_statement = True
        self.hooks = hooks
        self.sessionmaker = dispatcher.sessionmaker
        self.live = dispatcher.live

    async def view(self, agent_id: str) -> AgentView:
        async with self.sessionmaker() as session:
            agent = await _agent(session, agent_id)
            current = await session.scalar(
                select(Enquiry.id).where(
                    Enquiry.agent_id == agent_id,
                    Enquiry.state.in_((EnquiryState.OFFERED, EnquiryState.ANSWERED)),
                )
            )
            return AgentView(
                agent.id,
                agent.tenant_slug,
                agent.name,
                agent.status,
                agent.status_since,
                agent.skills,
                current,
            )

    async def set_status(self, agent_id: str, status: str) -> AgentView:
        _bind(agent_id)
        if status not in STATUSES:
            raise DeskError(422, "bad_status", f"status must be one of {', '.join(STATUSES)}")
        now = self.dispatcher.clock()
        async with unit_of_work(self.sessionmaker) as session:
            agent = await _lock_agent(session, agent_id)
            if agent.status == "busy":
                raise DeskError(409, "busy", "complete the enquiry in hand before changing status")
            if status != "available":
                offer = await self.live.offer_for(agent_id)
                if offer is not None:
                    raise DeskError(409, "offer_pending", "accept or reject the offer first")
            changed = await set_agent_status(
                session, agent, status, at=now, reason="agent", reset_missed_offers=status != agent.status
            )
            tenant, skills = agent.tenant, set(agent.skills)
        if changed:
            self.dispatcher.router.staff_changed()
        if status == "available":
            if changed:
                await self.dispatcher.agent_ready(agent_id, tenant, skills)
        else:
            await self.live.agent_away(agent_id)
        return await self.view(agent_id)

    async def current_offer(self, agent_id: str) -> OfferView | None:
        """The offer, once both the live state and the database agree it is this agent's."""
        offer = await self.live.offer_for(agent_id)
        if offer is None:
            return None
        async with self.sessionmaker() as session:
            enquiry = await session.get(Enquiry, offer.enquiry_id)
            if enquiry is None or enquiry.state != EnquiryState.OFFERED or enquiry.agent_id != agent_id:
                return None
            return OfferView(
                enquiry.id,
                enquiry.reference,
                enquiry.tenant_slug,
                enquiry.service_code,
                enquiry.channel,
                enquiry.priority,
                enquiry.queued_at,
                datetime.fromtimestamp(offer.expires_ms / 1000, tz=self.dispatcher.clock().tzinfo),
                enquiry.catalogue_version,
                **(await self._callback_fields(enquiry) if is_callback(enquiry) else {}),
            )

    async def _callback_fields(self, enquiry: Enquiry) -> dict[str, Any]:
        service = (await self.dispatcher.catalogue.get()).service(enquiry.tenant_slug, enquiry.service_code)
        return {
            "callback": True,
            "callback_number": number_to_ring(enquiry),
            "callback_reason": reason_of(enquiry, service.name if service else enquiry.service_code),
            "callback_attempts": enquiry.callback_attempts,
        }

    async def accept(self, agent_id: str, enquiry_id: int) -> int:
        _bind(agent_id, enquiry_id)
        now = self.dispatcher.clock()
        # Plain rows and Core statements: this is the agent API's hottest path (ORM loads and flushes cost
        # several times as much CPU per request). On PostgreSQL, two statements (desk_queries).
        async with unit_of_work(self.sessionmaker) as session:
            held = await self._hold(session, agent_id, enquiry_id)
            agent, enquiry = await self._locked(session, held, agent_id, enquiry_id)
            mark("locked")
            if enquiry is None or enquiry.agent_id != agent_id:
                raise DeskError(
                    409, "stale_offer", "that enquiry is not offered to you (expired, withdrawn or taken)"
                )
            if enquiry.state == EnquiryState.ANSWERED:
                return enquiry_id  # a double-click: already accepted, nothing changes twice
            if enquiry.state != EnquiryState.OFFERED:
                raise DeskError(409, "stale_offer", f"that enquiry is {enquiry.state}, not offered to you")
            if not await self.live.accept(agent_id, enquiry_id):
                raise DeskError(409, "stale_offer", "the offer has just expired")
            mark("live_accept")
            waited = (now - (enquiry.queued_at or enquiry.created_at)).total_seconds()
            ref = EnquiryRef.of(enquiry)
            answered = NewEvent(
                ref,
                EventName.ANSWERED,
                now,
                agent_id=agent_id,
                handler=agent.tenant,
                data={"waited_seconds": round(waited, 3)},
            )
            voice = kind_of_channel(ref.channel) == "voice"
            status = status_change(agent, "busy", at=now, reason="accepted", reset_missed_offers=True)
            if held is not None and status is not None and not (voice and held.others):
                await desk_queries.write(
                    session, held, state=EnquiryState.ANSWERED, status=status, events=[answered]
                )
            else:  # the general path (SQLite; leaving wrap-up; web forms or emails to park)
                await _set_enquiry(session, enquiry_id, state=EnquiryState.ANSWERED)
                await set_agent_status(
                    session, agent, "busy", at=now, reason="accepted", reset_missed_offers=True
                )
                events = [answered]
                if voice:
                    events += await _park_deferrable(session, agent_id, ref, now)
                await record_events(session, events)
            mark("written")
        mark("committed")
        log.info(EventName.ANSWERED, tenant=ref.owner, waited_seconds=round(waited, 3))
        await self._count_answer(f"{ref.owner}/{ref.service_code}", waited, now)
        mark("live_stats")
        # An agent holding a web form or an email may have room for one more (a call is always alone).
        if not voice:
            await self.dispatcher.agent_ready(agent_id, agent.tenant, set(agent.skills))
            mark("ready")
        return enquiry_id

    async def _hold(self, session: AsyncSession, agent_id: str, enquiry_id: int) -> desk_queries.Held | None:
        """On PostgreSQL, the locks and reads of an accept or a completion in one statement; None elsewhere."""
        if not (self.one_statement and on_postgresql(session)):
            return None
        return await desk_queries.hold(session, agent_id, enquiry_id)

    async def _locked(
        self, session: AsyncSession, held: desk_queries.Held | None, agent_id: str, enquiry_id: int
    ) -> tuple[DeskAgent, Row[Any] | desk_queries.EnquiryHeld | None]:
        """The agent and the enquiry, locked: as ``held`` read them, or read now (agent first)."""
        if held is None:
            agent = await _lock_agent(session, agent_id)
            return agent, await _lock_enquiry(session, enquiry_id)
        if held.agent is None:
            raise DeskError(404, "unknown_agent", f"no agent {agent_id!r}")
        return held.agent, held.enquiry

    async def _completion_hooks(
        self,
        session: AsyncSession,
        agent: DeskAgent,
        ref: EnquiryRef,
        outcome: str,
        notes: str | None,
        now: datetime,
    ) -> list[NewEvent]:
        """What else a completion does in its transaction: the back office's case, and perhaps a survey
        invitation, whose event it returns (to be recorded after the completion's own)."""
        if outcome == "passed_to_back_office":
            # In this transaction: the case reaches the back office exactly when the completion commits.
            whole = await session.get(Enquiry, ref.id)
            assert whole is not None  # locked by the caller
            await self.hooks.pass_to_back_office(
                session, enquiry=whole, at=now, notes=notes, handler=agent.tenant
            )
        invite = await self.hooks.maybe_invite(
            session, enquiry_id=ref.id, tenant=ref.owner, reference=ref.reference, now=now
        )
        if invite is None:
            return []
        return [
            NewEvent(
                ref,
                EventName.SURVEY_INVITED,
                now,
                data={"survey_path": f"/survey/{invite.token}", "sample_rate": invite.sample_rate},
            )
        ]

    async def callback_worklist(self, agent_id: str) -> list[WorkItem]:
        """Callbacks of the agent's partner for the services the agent has the skills for."""
        catalogue = await self.dispatcher.catalogue.get()
        async with self.sessionmaker() as session:
            agent = await _agent(session, agent_id)
            info = catalogue.tenants.get(agent.tenant_slug)
            skills = set(agent.skills)
            codes = {c for c, s in (info.services if info else {}).items() if s.skills <= skills}
            return await worklist(session, catalogue, agent.tenant_slug, codes)

    async def callback_attempt(
        self, agent_id: str, enquiry_id: int, result: AttemptResult, notes: str | None = None
    ) -> AttemptRecorded:
        """The agent rang a callback in hand: reached (talk on, complete as usual), or not (retry, or give up)."""
        _bind(agent_id, enquiry_id)
        recorded, tenant, skills = await _callback_attempt(self, agent_id, enquiry_id, result, notes)
        if recorded.retry_at is not None:
            self.dispatcher.callback_retry_noted(recorded.retry_at)
        if recorded.next_step != "talk":
            await self.live.finish(agent_id, enquiry_id)
            await self.dispatcher.agent_ready(agent_id, tenant, skills)
        return recorded

    async def _count_answer(self, queue: str, waited: float, now: datetime) -> None:
        """Count the answer in the rolling figures routing reads; best effort, after the commit.

        The answer is committed by then: a live state away (Redis restarting) must not turn it into an error
        the agent would read as "not accepted". The committee's figures come from the events, not from these.
        """
        catalogue = await self.dispatcher.catalogue.get()
        service = catalogue.service(*queue.split("/", 1))
        threshold = service.sl_threshold_seconds if service else 20
        try:
            await self.live.record_stats(
                queue, to_ms(now), {"answered": 1, "answered_within": 1 if waited <= threshold else 0}
            )
        except OUTAGES as exc:  # the live state away: it is only a cache of the figures (a bug still raises)
            log.warning("stats.answer_not_counted", queue=queue, error=str(exc)[:200])

    async def reject(self, agent_id: str, enquiry_id: int) -> None:
        """Back to the queue at the same place; the agent goes unavailable until they say otherwise."""
        _bind(agent_id, enquiry_id)
        now = self.dispatcher.clock()
        async with unit_of_work(self.sessionmaker) as session:
            agent = await _lock_agent(session, agent_id)
            enquiry = await _lock_enquiry(session, enquiry_id)
            if enquiry is None or enquiry.agent_id != agent_id or enquiry.state != EnquiryState.OFFERED:
                raise DeskError(
                    409, "stale_offer", "that enquiry is not offered to you (expired, withdrawn or taken)"
                )
            offer = await self.live.release(agent_id, enquiry_id)
            if offer is None:
                raise DeskError(409, "stale_offer", "the offer has just expired")
            await _set_enquiry(
                session,
                enquiry_id,
                state=EnquiryState.QUEUED,
                agent_id=None,
                handler_slug=None,
                agreement_id=None,
            )
            await set_agent_status(session, agent, "unavailable", at=now, reason="rejected_offer")
            await record_events(
                session,
                [NewEvent(EnquiryRef.of(enquiry), EventName.OFFER_REJECTED, now, agent_id=agent_id)],
            )
        await self.dispatcher.place([offer.entry])

    async def complete(
        self,
        agent_id: str,
        enquiry_id: int,
        outcome: str,
        notes: str | None = None,
        tags: list[str] | None = None,
        *,
        wrap_up: bool = False,
    ) -> None:
        """Done with an outcome; the agent is offered the next at once, or with ``wrap_up`` only once ready."""
        if outcome not in OUTCOMES:
            raise DeskError(422, "bad_outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
        if outcome == "transferred":
            # Completing as transferred without a target would end the contact with nowhere to go.
            raise DeskError(
                422,
                "transfer_needs_target",
                "a transfer needs a target queue: use the transfer call, which completes the enquiry as "
                "transferred and queues it at the target in one step",
                transfer=f"/api/v1/agents/{agent_id}/transfer",
            )
        _bind(agent_id, enquiry_id)
        now = self.dispatcher.clock()
        async with unit_of_work(self.sessionmaker) as session:
            held = await self._hold(session, agent_id, enquiry_id)
            agent, enquiry = await self._locked(session, held, agent_id, enquiry_id)
            mark("locked")
            if enquiry is None or enquiry.agent_id != agent_id:
                raise DeskError(409, "not_yours", "that enquiry is not in your hands")
            if enquiry.state == EnquiryState.COMPLETED:
                return  # repeated request: already done
            if enquiry.state != EnquiryState.ANSWERED:
                raise DeskError(409, "not_answered", f"that enquiry is {enquiry.state}; accept it first")
            ref = EnquiryRef.of(enquiry)
            queue = f"{ref.owner}/{ref.service_code}"
            completed = NewEvent(
                ref,
                EventName.COMPLETED,
                now,
                agent_id=agent_id,
                handler=agent.tenant,
                data={
                    "outcome": outcome,
                    **({"notes": notes} if notes else {}),
                    **({"tags": tags} if tags else {}),
                    # for the callback figures, counted as the event lands
                    **({"callback": True} if _is_callback(enquiry) else {}),
                },
            )
            status = None
            answered_at: datetime | str | None
            if held is not None:
                others, answered_at = held.others, held.answered_at
                # Other work in hand (web forms, emails): the agent stays busy, so nothing changes for them.
                status = status_change(
                    agent,
                    agent.status if others else "wrap_up" if wrap_up else "available",
                    at=now,
                    reason="completed",
                )
            # The one-statement path keeps the contact's tallies; a callback's own figures and the resumption of
            # work parked behind this contact are the general path's (``record_events``, ``resume_parked``).
            if held is not None and status is not None and not others and not _is_callback(enquiry):
                # What the hooks write first: the write statement locks the partner's tally rows, which every
                # accept, completion and intake batch of theirs adds to, so it goes last before the commit.
                events = [completed, *await self._completion_hooks(session, agent, ref, outcome, notes, now)]
                await session.flush()  # the back office's case
                mark("hooks")
                more = await desk_queries.more_event_ids(session, len(events) - 1) if events[1:] else []
                await desk_queries.write(
                    session,
                    held,
                    state=EnquiryState.COMPLETED,
                    outcome=outcome,
                    status=status,
                    events=events,
                    more_ids=more,
                )
                mark("written")
            else:  # the general path (SQLite; leaving wrap-up; a callback; work parked behind this contact)
                await _set_enquiry(session, enquiry_id, state=EnquiryState.COMPLETED, outcome=outcome)
                others, answered_at = await _others_and_answer(session, agent_id, enquiry_id)
                if not others:
                    await set_agent_status(
                        session, agent, "wrap_up" if wrap_up else "available", at=now, reason="completed"
                    )
                resumed = await resume_parked(session, agent_id, ref, now, answered_at) if others else []
                await record_events(session, [completed, *resumed])
                mark("written")
                await record_events(
                    session, await self._completion_hooks(session, agent, ref, outcome, notes, now)
                )
                mark("hooks")
            wrapping_up = wrap_up and not others
        mark("committed")
        log.info(EventName.COMPLETED, outcome=outcome)
        await self.live.finish(agent_id, enquiry_id)
        if answered_at is not None:
            handled_ms = max(0.0, (now - _aware(answered_at)).total_seconds() * 1000)
            await self.live.record_stats(queue, to_ms(now), {"handled": 1, "handle_ms": handled_ms})
        mark("live_finish")
        if wrapping_up:
            await self.live.agent_away(agent_id)  # no new work until the agent says they are ready
        else:
            await self.dispatcher.agent_ready(agent_id, agent.tenant, set(agent.skills))
        mark("ready")


@dataclass(frozen=True)
class AttemptRecorded:
    enquiry_id: int
    attempt: int
    result: str
    next_step: str  # "talk" (reached), "retry" (back in its queue at retry_at), "given_up" (completed)
    retry_at: datetime | None


async def _callback_attempt(
    desk: AgentDesk, agent_id: str, enquiry_id: int, result: AttemptResult, notes: str | None
) -> tuple[AttemptRecorded, str, set[str]]:
    """``AgentDesk.callback_attempt``'s transaction; returns what it did and the agent's partner and skills."""
    now = desk.dispatcher.clock()
    async with unit_of_work(desk.sessionmaker) as session:
        agent = await _lock_agent(session, agent_id)
        locked = await _lock_enquiry(session, enquiry_id)
        if locked is None or locked.agent_id != agent_id:
            raise DeskError(409, "not_yours", "that enquiry is not in your hands")
        if locked.state != EnquiryState.ANSWERED:
            raise DeskError(409, "not_answered", f"that enquiry is {locked.state}; accept it first")
        enquiry = await session.get(Enquiry, enquiry_id)
        assert enquiry is not None  # locked above
        if not is_callback(enquiry):
            raise DeskError(409, "not_a_callback", "that enquiry is not a callback")
        catalogue = await desk.dispatcher.catalogue.get()
        service = catalogue.service(enquiry.tenant_slug, enquiry.service_code)
        rules = service.routing if service is not None else ServiceRouting()
        attempt = enquiry.callback_attempts + 1
        enquiry.callback_attempts = attempt
        retry_at: datetime | None = None
        if result == AttemptResult.REACHED:
            step = "talk"
        elif attempt < rules.callback_max_attempts and result != AttemptResult.WRONG_NUMBER:
            step, retry_at = "retry", now + timedelta(minutes=rules.callback_retry_minutes)
            enquiry.state, enquiry.agent_id, enquiry.handler_slug, enquiry.agreement_id = (
                "queued",
                None,
                None,
                None,
            )
            enquiry.retry_at = retry_at
        else:
            step = "given_up"
            enquiry.state, enquiry.outcome = "completed", NOT_REACHED_OUTCOME
        ref = EnquiryRef.of(enquiry)
        queued_at = enquiry.queued_at or enquiry.created_at
        data: dict[str, Any] = {
            "attempt": attempt,
            "of": rules.callback_max_attempts,
            "result": result.value,
            "number": number_to_ring(enquiry),
            # the figures' time to callback: from first queued to this attempt (docs/figures.md, "Callbacks")
            "since_queued_seconds": round((now - _aware(queued_at)).total_seconds(), 3),
            **({"notes": notes} if notes else {}),
        }
        if retry_at is not None:
            data["retry_at"] = retry_at.isoformat()
            data["says"] = (
                f"attempt {attempt} of {rules.callback_max_attempts}: {result.value.replace('_', ' ')}; "
                f"rung again from {retry_at.isoformat(timespec='minutes')} at its old place in the queue"
            )
        elif step == "given_up":
            data["given_up"] = True
            data["says"] = (
                f"attempt {attempt} of {rules.callback_max_attempts}: {result.value.replace('_', ' ')}; "
                "no more attempts"
            )
        else:
            data["says"] = f"attempt {attempt}: the caller answered"
        events = [
            NewEvent(
                ref,
                EventName.CALLBACK_ATTEMPTED.value,
                now,
                agent_id=agent_id,
                handler=agent.tenant,
                data=data,
            )
        ]
        if step == "given_up":
            events.append(
                NewEvent(
                    ref,
                    EventName.COMPLETED,
                    now,
                    agent_id=agent_id,
                    handler=agent.tenant,
                    data={"outcome": NOT_REACHED_OUTCOME},
                )
            )
        if step != "talk":
            others = await session.scalar(
                select(func.count())
                .select_from(Enquiry)
                .where(
                    Enquiry.agent_id == agent_id,
                    Enquiry.state == EnquiryState.ANSWERED,
                    Enquiry.id != enquiry_id,
                )
            )
            if not others:
                await set_agent_status(session, agent, "available", at=now, reason="callback_attempted")
            else:
                answered_at = await session.scalar(
                    select(func.max(EnquiryEvent.at)).where(
                        EnquiryEvent.enquiry_id == enquiry_id, EnquiryEvent.event == EventName.ANSWERED
                    )
                )
                events += await resume_parked(session, agent_id, ref, now, answered_at)
        await session.flush()
        await record_events(session, events)
        tenant, skills = agent.tenant, set(agent.skills)
    return AttemptRecorded(enquiry_id, attempt, result.value, step, retry_at), tenant, skills


async def _park_deferrable(
    session: AsyncSession, agent_id: str, live: EnquiryRef, now: datetime
) -> list[NewEvent]:
    """Blended work: the web forms and emails in the agent's hands wait while they take a live contact."""
    enquiries = table_of(Enquiry)
    rows = await session.execute(
        select(*EnquiryRef.columns())
        .where(
            enquiries.c.agent_id == agent_id,
            enquiries.c.state == EnquiryState.ANSWERED,
            enquiries.c.id != live.id,
        )
        .order_by(enquiries.c.id)
    )
    return [
        NewEvent(
            EnquiryRef.of(row),
            EventName.PARKED.value,
            now,
            agent_id=agent_id,
            data={
                "for_enquiry": live.id,
                "for_reference": live.reference,
                "says": f"waits while the agent takes a live {live.channel.replace('_', ' ')} contact "
                f"({live.reference}): live contacts never wait behind web forms or emails",
            },
        )
        for row in rows
    ]


async def _others_and_answer(
    session: AsyncSession, agent_id: str, enquiry_id: int
) -> tuple[int, datetime | str | None]:
    """One round trip for both: other work in the agent's hands (web forms, emails), and when this was answered."""
    enquiries, events = table_of(Enquiry), table_of(EnquiryEvent)
    others, answered_at = (
        await session.execute(
            select(
                select(func.count())
                .select_from(enquiries)
                .where(
                    enquiries.c.agent_id == agent_id,
                    enquiries.c.state == EnquiryState.ANSWERED,
                    enquiries.c.id != enquiry_id,
                )
                .scalar_subquery(),
                select(func.max(events.c.at))
                .where(events.c.enquiry_id == enquiry_id, events.c.event == EventName.ANSWERED)
                .scalar_subquery(),
            )
        )
    ).one()
    return others, answered_at


async def resume_parked(
    session: AsyncSession, agent_id: str, ended: EnquiryRef, now: datetime, parked_at: datetime | str | None
) -> list[NewEvent]:
    """Blended work: the live contact ``ended`` is over, so the web forms and emails parked behind it resume.

    ``parked_at``: when the live contact was answered (its items were parked then), for how long they waited.
    """
    if kind_of_channel(ended.channel) != "voice":
        return []
    enquiries = table_of(Enquiry)
    rows = await session.execute(
        select(*EnquiryRef.columns())
        .where(
            enquiries.c.agent_id == agent_id,
            enquiries.c.state == EnquiryState.ANSWERED,
            enquiries.c.id != ended.id,
        )
        .order_by(enquiries.c.id)
    )
    parked_seconds = None if parked_at is None else round((now - _aware(parked_at)).total_seconds(), 3)
    return [
        NewEvent(
            EnquiryRef.of(row),
            EventName.RESUMED.value,
            now,
            agent_id=agent_id,
            data={
                "for_enquiry": ended.id,
                "for_reference": ended.reference,
                "parked_seconds": parked_seconds,
                "says": f"taken up again: the live {ended.channel.replace('_', ' ')} contact "
                f"({ended.reference}) it waited behind has ended",
            },
        )
        for row in rows
        if kind_of_channel(EnquiryRef.of(row).channel) == "text"
    ]


def _is_callback(row: Row[Any] | desk_queries.EnquiryHeld) -> bool:
    """``callbacks.is_callback`` for a locked row (``_lock_enquiry``'s columns)."""
    return bool(row.channel == "callback" or row.follow_up == "callback")


def _aware(moment: datetime | str) -> datetime:
    """Aggregates lose the column type on SQLite (a string comes back); PostgreSQL gives a datetime."""
    value = moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _agent(session: AsyncSession, agent_id: str) -> Agent:
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise DeskError(404, "unknown_agent", f"no agent {agent_id!r}")
    return agent


async def _lock_agent(session: AsyncSession, agent_id: str) -> DeskAgent:
    agent = await lock_agent(session, agent_id)
    if agent is None:
        raise DeskError(404, "unknown_agent", f"no agent {agent_id!r}")
    return agent


def _enquiry_locked() -> Select[Any]:
    enquiries = table_of(Enquiry)
    return (
        select(
            *EnquiryRef.columns(),
            enquiries.c.state,
            enquiries.c.agent_id,
            enquiries.c.queued_at,
            enquiries.c.created_at,
            enquiries.c.follow_up,
        )
        .where(enquiries.c.id == bindparam("enquiry_id"))
        .with_for_update()
    )


_ENQUIRY_LOCKED = _enquiry_locked()  # built once, like presence's agent lock


async def _lock_enquiry(session: AsyncSession, enquiry_id: int) -> Row[Any] | None:
    """The enquiry's ref columns (``EnquiryRef.of(row)``), state, agent and queue times, locked for update."""
    return (await session.execute(_ENQUIRY_LOCKED, {"enquiry_id": enquiry_id})).first()


async def _set_enquiry(session: AsyncSession, enquiry_id: int, **values: Any) -> None:
    enquiries = table_of(Enquiry)
    await session.execute(update(enquiries).where(enquiries.c.id == enquiry_id).values(**values))
