"""Narrow an HTTP request's row-level security scope to the partners its caller may see, once it is authenticated.

Each request starts in the hub-wide scope (``RequestContext``: token and session lookups must find the caller's
row whatever its partner). As soon as the caller is known, the rest of the request runs in
``{the caller's partner} ∪ {every partner it has an agreement with, as lender or borrower}``: overflow work
(an agent answering a borrower's enquiry, a supervisor reading the trail of work their agents took for another
partner, the committee's overflow given and received) reads the other partner's rows only under an agreement, and
the endpoints' own checks narrow further (which fields an agreement shows, which enquiry is in hand). A caller with
no partner (admin, a hub-wide committee or supervisor) keeps ``*``.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.db.scope import ALL_PARTNERS, set_scope
from tenants.agreements.models import AgreementRow


async def partners_seen_by(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: str | None
) -> set[str] | None:
    """The partners whose rows a caller of ``tenant`` may touch; None for every partner."""
    if tenant is None:
        return None
    async with sessionmaker() as session:
        rows = await session.execute(
            select(AgreementRow.lender_slug, AgreementRow.borrower_slug).where(
                or_(AgreementRow.lender_slug == tenant, AgreementRow.borrower_slug == tenant)
            )
        )
        return {tenant, *(slug for pair in rows.all() for slug in pair)}


async def narrow_request_scope(sessionmaker: async_sessionmaker[AsyncSession], tenant: str | None) -> None:
    """Set the scope for the rest of this request (the middleware's context restores ``*`` afterwards)."""
    partners = await partners_seen_by(sessionmaker, tenant)
    set_scope(ALL_PARTNERS if partners is None else partners)
