"""Read per-contact timelines from the event log and compute the figures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.metrics.definitions import Figures, Timeline, compute
from routing.models import Enquiry, EnquiryEvent
from tenants.models import Service


async def timelines(session: AsyncSession, *, tenant: str, start: datetime, end: datetime) -> list[Timeline]:
    """Contacts first queued in [start, end) for an owner tenant; a figure counts against the owner."""
    queued = (
        select(EnquiryEvent.enquiry_id, func.min(EnquiryEvent.at).label("queued_at"))
        .where(EnquiryEvent.tenant_slug == tenant, EnquiryEvent.event == "enquiry.queued")
        .group_by(EnquiryEvent.enquiry_id)
        .subquery()
    )
    ends = (
        select(
            EnquiryEvent.enquiry_id,
            func.min(EnquiryEvent.at).filter(EnquiryEvent.event == "enquiry.answered").label("answered_at"),
            func.min(EnquiryEvent.at).filter(EnquiryEvent.event == "enquiry.abandoned").label("abandoned_at"),
        )
        .where(
            EnquiryEvent.tenant_slug == tenant,
            EnquiryEvent.event.in_(("enquiry.answered", "enquiry.abandoned")),
        )
        .group_by(EnquiryEvent.enquiry_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(
                queued.c.enquiry_id,
                queued.c.queued_at,
                ends.c.answered_at,
                ends.c.abandoned_at,
                Service.sl_threshold_seconds,
            )
            .join(Enquiry, Enquiry.id == queued.c.enquiry_id)
            .join(Service, Service.id == Enquiry.service_id)
            .outerjoin(ends, ends.c.enquiry_id == queued.c.enquiry_id)
            .where(and_(queued.c.queued_at >= start, queued.c.queued_at < end))
        )
    ).all()
    from hub.db.base import UTCDateTime

    as_utc = UTCDateTime().process_result_value
    dialect = session.get_bind().dialect
    return [
        Timeline(
            enquiry_id=r.enquiry_id,
            queued_at=as_utc(_parse(r.queued_at), dialect),  # type: ignore[arg-type]
            answered_at=as_utc(_parse(r.answered_at), dialect),
            abandoned_at=as_utc(_parse(r.abandoned_at), dialect),
            threshold_seconds=r.sl_threshold_seconds,
        )
        for r in rows
    ]


def _parse(value: object) -> datetime | None:
    """Aggregates lose the column type on SQLite (strings come back); PostgreSQL gives datetimes."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


async def tenant_figures(session: AsyncSession, *, tenant: str, start: datetime, end: datetime) -> Figures:
    return compute(await timelines(session, tenant=tenant, start=start, end=end))
