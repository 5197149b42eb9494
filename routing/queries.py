"""Reads of enquiries and intake refusals, for the routes and pages that show them.

Each takes the caller's session, so it reads under that session's row-level security scope and inside its
transaction: nothing here opens a session or commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routing.live.base import DEFERRABLE_CHANNELS
from routing.models import Enquiry, IntakeRejection
from routing.states import EnquiryState


async def enquiry_by_id(session: AsyncSession, enquiry_id: int | None) -> Enquiry | None:
    """The enquiry with this id, or None (also for no id at all)."""
    return await session.get(Enquiry, enquiry_id) if enquiry_id is not None else None


async def enquiry_by_reference(session: AsyncSession, reference: str) -> Enquiry | None:
    """The enquiry with exactly this reference, or None."""
    return await session.scalar(select(Enquiry).where(Enquiry.reference == reference))


async def reference_of(session: AsyncSession, enquiry_id: int) -> str | None:
    """The reference of the enquiry with this id, or None."""
    return await session.scalar(select(Enquiry.reference).where(Enquiry.id == enquiry_id))


async def enquiry_in_hand(session: AsyncSession, agent_id: str) -> Enquiry | None:
    """The contact the agent has in hand: a live one before a web form parked behind it, then the oldest."""
    return await session.scalar(
        select(Enquiry)
        .where(Enquiry.agent_id == agent_id, Enquiry.state == EnquiryState.ANSWERED)
        .order_by(Enquiry.channel.in_(DEFERRABLE_CHANNELS), Enquiry.id)
        .limit(1)
    )


async def oldest_queued(session: AsyncSession) -> list[tuple[str, datetime | None]]:
    """(owner, when its longest-waiting queued enquiry was queued) for every owner with one queued."""
    rows = await session.execute(
        select(Enquiry.tenant_slug, func.min(Enquiry.queued_at))
        .where(Enquiry.state == EnquiryState.QUEUED)
        .group_by(Enquiry.tenant_slug)
    )
    return list(rows.tuples().all())


async def enquiries_received(session: AsyncSession) -> list[tuple[str, int]]:
    """(owner, how many enquiries it has ever had accepted)."""
    rows = await session.execute(select(Enquiry.tenant_slug, func.count()).group_by(Enquiry.tenant_slug))
    return list(rows.tuples().all())


async def rejections_by_claimed_partner(session: AsyncSession) -> list[tuple[str | None, int]]:
    """(the partner a refused message claimed to be from, or None, how many were refused)."""
    rows = await session.execute(
        select(IntakeRejection.claimed_tenant, func.count()).group_by(IntakeRejection.claimed_tenant)
    )
    return list(rows.tuples().all())
