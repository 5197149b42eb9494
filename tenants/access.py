"""Who may see which partner's rows: the partner-level half of the hub's one access decision.

Every path (API, web pages, what-if, trails, customer view, transfer, reports) asks here, or in
``routing.access`` (the enquiry-level half, built on this one), rather than deciding again; see
docs/guarantees.md, "Who may see what".

- A principal with no partner (admin, a hub-wide joint committee or supervisor) reads every partner.
- A partner-scoped principal reads its own partner's rows, and another partner's rows only row by row, where an
  agreement grants that row (an enquiry its agents handled or were offered), and then only the agreed fields
  (``agreed_fields``). Partner-wide reads of another partner (its figures, its agreements with third parties,
  its rotas, its recorded contacts replayed in a what-if) are never granted by an agreement.
- Another partner's past contacts with the same customer cross only under a data-sharing agreement in force
  (``shared_history_grants``), and only its agreed fields; an overflow agreement never carries them.

The request's row-level-security scope (``narrow_request_scope``) is the database's second line: it still
includes agreement partners, because an agent handling a borrower's enquiry must read that row; the decision
above is what narrows each read to the row and the fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.db.scope import ALL_PARTNERS, set_scope
from plumbing.problems import Problem
from tenants.agreements.models import AgreementRow
from tenants.agreements.sharing import DataSharingDefinition
from tenants.agreements.sharing_service import readable_data_sharing
from tenants.agreements.terms import AgreementDefinition
from tenants.models import Service


class Who(Protocol):
    """A caller as the decision needs it: a bearer token's principal or a signed-in user."""

    @property
    def role(self) -> str: ...
    @property
    def tenant(self) -> str | None: ...
    @property
    def agent_id(self) -> str | None: ...


def may_read_partner(who: Who, partner: str) -> bool:
    """Whether ``who`` may read ``partner``'s rows as a whole (figures, queues, rotas, agreements, replays)."""
    return who.tenant is None or who.tenant == partner


def readable_partners(who: Who, partners: Iterable[str]) -> list[str]:
    """The partners of ``partners`` that ``who`` may read as a whole, sorted."""
    return sorted(p for p in set(partners) if may_read_partner(who, p))


def check_partner(who: Who, partner: str) -> None:
    """Refuse (403) a partner-wide read of a partner ``who`` may not read."""
    if not may_read_partner(who, partner):
        raise Problem(403, "forbidden", f"your access is not for {partner!r}")


def may_read_agreement(who: Who, agreement: AgreementDefinition) -> bool:
    """A partner sees the agreements it is party to (their terms, unit rates); the hub-wide principal all."""
    return who.tenant is None or who.tenant in (agreement.lender, agreement.borrower)


def may_read_data_sharing(who: Who, agreement: DataSharingDefinition) -> bool:
    """A partner sees the data-sharing agreements it signed; the hub-wide principal all."""
    return who.tenant is None or who.tenant in agreement.parties


async def agreed_fields(
    session: AsyncSession, *, owner: str, handler: str, service_code: str, agreement_id: str | None
) -> frozenset[str] | None:
    """The customer fields an agreement lets ``handler``'s agents see of ``owner``'s enquiry (None: no agreement).

    Both sides have a say: the agreement's ``visible_fields``, narrowed by the owner's catalogue entry for the
    service (``shared_customer_fields``) when the owner lists any there.
    """
    if handler == owner or agreement_id is None:
        return None
    agreement = await session.get(AgreementRow, agreement_id)
    if agreement is None or agreement.borrower_slug != owner or agreement.lender_slug != handler:
        return None
    return await _narrowed(session, agreement, owner=owner, service_code=service_code)


@dataclass(frozen=True)
class HistoryGrant:
    """One partner's contacts an agent may be shown, under which data-sharing agreement, and which of their fields."""

    partner: str
    agreement_id: str
    fields: frozenset[str]
    timezone: str


async def shared_history_grants(
    session: AsyncSession, *, viewer: str, owner: str, at: datetime
) -> list[HistoryGrant]:
    """Whose past contacts with ``owner``'s customer an agent of ``viewer`` is shown beside the owner's own.

    Only under a data-sharing agreement in force on ``at`` in which the other partner shares and ``viewer`` sees;
    nothing otherwise. The owner's agents may be shown every such partner's contacts. A lender's agent handling the
    owner's enquiry under overflow may be shown the owner's contacts only: matching the owner's customer against a
    third partner's records is a use of the owner's data the owner has not signed for.
    """
    grants: dict[str, HistoryGrant] = {}
    for agreement in await readable_data_sharing(session):
        if not agreement.in_force(at):
            continue
        for sharer, seer in sorted(agreement.pairs()):
            if seer != viewer or (viewer != owner and sharer != owner) or sharer in grants:
                continue
            grants[sharer] = HistoryGrant(
                sharer, agreement.id, frozenset(agreement.fields), agreement.timezone
            )
    return [grants[p] for p in sorted(grants)]


async def transfer_agreement(
    session: AsyncSession, *, owner: str, to_partner: str, service_code: str
) -> tuple[str, frozenset[str]] | None:
    """The agreement that lets ``owner``'s enquiry for ``service_code`` pass to ``to_partner``, and the fields the copy
    may carry; None when no agreement lets ``to_partner`` serve that work.

    A transfer hands the owner's customer to another partner, so it needs what overflow needs: an agreement with
    ``to_partner`` as lender and ``owner`` as borrower covering the service. The copy carries only the fields that
    agreement shows the lender's agents (never the attributes).
    """
    rows = (
        await session.scalars(
            select(AgreementRow)
            .where(AgreementRow.borrower_slug == owner, AgreementRow.lender_slug == to_partner)
            .order_by(AgreementRow.id)
        )
    ).all()
    for row in rows:
        services = (row.definition or {}).get("services", "all")
        if services == "all" or service_code in services:
            return row.id, await _narrowed(session, row, owner=owner, service_code=service_code)
    return None


async def transfer_partners(session: AsyncSession, *, owner: str, service_code: str) -> set[str]:
    """The partners ``owner``'s enquiry for ``service_code`` may be transferred to: the owner, and every lender
    whose agreement covers the service (the console lists only their queues)."""
    rows = (
        await session.execute(
            select(AgreementRow.lender_slug, AgreementRow.definition).where(
                AgreementRow.borrower_slug == owner
            )
        )
    ).all()
    return {owner} | {
        lender
        for lender, definition in rows
        if (services := (definition or {}).get("services", "all")) == "all" or service_code in services
    }


async def _narrowed(
    session: AsyncSession, agreement: AgreementRow, *, owner: str, service_code: str
) -> frozenset[str]:
    allowed = frozenset((agreement.definition or {}).get("visible_fields") or ())
    service = await session.scalar(
        select(Service).where(Service.tenant_slug == owner, Service.code == service_code)
    )
    shared = (
        frozenset((service.definition or {}).get("shared_customer_fields") or ()) if service else frozenset()
    )
    return allowed & shared if shared else allowed


async def partners_seen_by(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: str | None
) -> set[str] | None:
    """The partners whose rows a request of ``tenant`` may touch in the database; None for every partner.

    The row-level-security bound, wider than the decision: an agreement partner's rows are in it so that the
    row an agreement grants (an enquiry in hand, a trail) can be read; every path narrows with the functions above.
    """
    if tenant is None:
        return None
    async with sessionmaker() as session:
        return await partners_in(session, tenant)


async def partners_in(session: AsyncSession, tenant: str | None) -> set[str] | None:
    """``partners_seen_by``, read in a session the caller has open (the token check's: one look-up, not two)."""
    if tenant is None:
        return None
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
