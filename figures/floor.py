"""The live floor for one partner, as a supervisor sees it: queues, agents, today's figures, overflow.

The supervisor's page (hub/web/supervisor.py) reads it. It lives in ``figures``, not ``routing``, because it shows
today's figures (``figures.service``) beside the live queue, and ``routing`` may not import ``figures``
(the floors: docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from figures.definitions import Figures
from figures.service import tenant_figures
from routing.dispatch.presence import STATUSES
from routing.live.base import DEFERRABLE_CHANNELS
from routing.models import Enquiry, EnquiryEvent
from routing.states import EnquiryState, EventName
from tenants.models import Tenant
from tenants.queries import agent_names, agents_of
from tenants.service import name_of, service_names

WAITING = ("queued", "offered")


@dataclass(frozen=True)
class AgentRow:
    id: str
    name: str
    status: str
    since: datetime
    skills: list[str]
    enquiry_reference: str | None
    enquiry_id: int | None
    channel: str | None = None  # of the contact shown in hand (the live one, when a web form waits behind it)


@dataclass(frozen=True)
class RecentEnquiry:
    id: int
    reference: str
    service_code: str
    channel: str
    state: str
    outcome: str | None
    handler: str | None
    agent_id: str | None
    received_at: datetime
    service_name: str  # as the enquiry's own catalogue version named it
    agent_name: str | None


@dataclass(frozen=True)
class Floor:
    tenant: str
    tenant_name: str
    now: datetime
    waiting: int
    longest_wait_seconds: float | None
    agents_by_state: dict[str, int]
    agents: list[AgentRow]
    today: Figures
    overflow_in: int
    overflow_out: int
    recent: list[RecentEnquiry]


def start_of_day(now: datetime, timezone: str) -> datetime:
    """Midnight where the partner is, so "today" is the partner's day, BST or not."""
    local = now.astimezone(ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(now.tzinfo)


async def read_floor(session: AsyncSession, *, tenant: Tenant, now: datetime) -> Floor:
    """The partner's floor now, read under the session's scope (a supervisor's own partner, or hub-wide)."""
    slug = tenant.slug
    waiting, oldest = (
        await session.execute(
            select(func.count(), func.min(Enquiry.queued_at)).where(
                Enquiry.tenant_slug == slug, Enquiry.state.in_(WAITING)
            )
        )
    ).one()
    if isinstance(oldest, str):  # SQLite aggregates lose the column type
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    agents = await agents_of(session, slug, by="name")
    # Per agent, the contact to show: in hand before offered, live before deferrable (a web form waits behind a
    # call), then the newest; the rows come best last, so the dict keeps the best.
    in_hand = {
        agent_id: (enquiry_id, reference, channel)
        for agent_id, enquiry_id, reference, channel in (
            await session.execute(
                select(Enquiry.agent_id, Enquiry.id, Enquiry.reference, Enquiry.channel)
                .where(
                    Enquiry.agent_id.in_([a.id for a in agents]),
                    Enquiry.state.in_((EnquiryState.OFFERED, EnquiryState.ANSWERED)),
                )
                .order_by(
                    Enquiry.state == EnquiryState.ANSWERED,
                    Enquiry.channel.not_in(DEFERRABLE_CHANNELS),
                    Enquiry.id,
                )
            )
        ).all()
    }
    by_state = dict.fromkeys(STATUSES, 0)
    for agent in agents:
        by_state[agent.status] = by_state.get(agent.status, 0) + 1

    today = start_of_day(now, tenant.timezone)
    answered_today = select(func.count()).where(
        EnquiryEvent.event == EventName.ANSWERED, EnquiryEvent.at >= today
    )
    overflow_out = await session.scalar(
        answered_today.where(EnquiryEvent.tenant_slug == slug, EnquiryEvent.handler_slug != slug)
    )
    overflow_in = await session.scalar(
        answered_today.where(EnquiryEvent.handler_slug == slug, EnquiryEvent.tenant_slug != slug)
    )
    recent = (
        await session.scalars(
            select(Enquiry).where(Enquiry.tenant_slug == slug).order_by(Enquiry.id.desc()).limit(15)
        )
    ).all()
    names = await service_names(session, tenant=slug, versions={e.catalogue_version for e in recent})
    names_of_agents = await agent_names(session, {e.agent_id for e in recent if e.agent_id})
    return Floor(
        tenant=slug,
        tenant_name=tenant.name,
        now=now,
        waiting=waiting,
        longest_wait_seconds=(now - oldest).total_seconds() if oldest else None,
        agents_by_state=by_state,
        agents=[
            AgentRow(
                a.id,
                a.name,
                a.status,
                a.status_since,
                a.skills,
                in_hand.get(a.id, (None, None, None))[1],
                in_hand.get(a.id, (None, None, None))[0],
                in_hand.get(a.id, (None, None, None))[2] if a.status == "busy" else None,
            )
            for a in agents
        ],
        today=await tenant_figures(session, tenant=slug, start=today, end=now + timedelta(seconds=1)),
        overflow_in=overflow_in or 0,
        overflow_out=overflow_out or 0,
        recent=[
            RecentEnquiry(
                e.id,
                e.reference,
                e.service_code,
                e.channel,
                e.state,
                e.outcome,
                e.handler_slug,
                e.agent_id,
                e.received_at,
                name_of(names, e.catalogue_version, e.service_code),
                names_of_agents.get(e.agent_id, e.agent_id) if e.agent_id else None,
            )
            for e in recent
        ],
    )
