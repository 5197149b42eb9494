"""Reads of the back-office outbox for the routes that show it.

Each takes the caller's session, so it reads under that session's row-level security scope and inside its
transaction: nothing here opens a session or commits.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backoffice.models import PARKED, PENDING, BackofficeDelivery


async def backlog(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(partner, pending or parked, how many deliveries) for every partner with deliveries waiting."""
    rows = await session.execute(
        select(BackofficeDelivery.tenant_slug, BackofficeDelivery.status, func.count())
        .where(BackofficeDelivery.status.in_((PENDING, PARKED)))
        .group_by(BackofficeDelivery.tenant_slug, BackofficeDelivery.status)
    )
    return list(rows.tuples().all())
