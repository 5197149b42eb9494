"""Another partner's contacts with the same customer, under a data-sharing agreement: the one path that reads them.

The request's row-level-security scope holds the agent's own partner and its overflow partners, not the partners
that share history with it. Rather than widen the scope for the whole request, this reads in a transaction of its
own, in the request's scope plus exactly the granted partners, selects only the columns the agreement's fields
need, and returns nothing else (as a transfer widens by its target partner only; docs/guarantees.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.db.scope import ALL_PARTNERS, current_scope, tenant_scope
from routing.customers.models import Customer
from routing.customers.service import HISTORY_LIMIT, same_person
from routing.models import Enquiry
from tenants.access import HistoryGrant
from tenants.models import Service, Tenant

# field -> the columns it needs (what is not agreed is not even read)
_COLUMNS: dict[str, tuple[Any, ...]] = {
    "reference": (Enquiry.reference,),
    "service": (Service.name, Enquiry.service_code),
    "channel": (Enquiry.channel,),
    "date": (Enquiry.received_at,),
    "status": (Enquiry.state,),
    "outcome": (Enquiry.outcome,),
    "text": (Enquiry.text,),
}


@dataclass(frozen=True)
class SharedHistory:
    """What one partner shares of its contacts with the customer: only the agreed fields of each."""

    partner: str
    partner_name: str
    agreement_id: str
    fields: tuple[str, ...]  # the agreed fields, in the closed list's order
    contacts: list[dict[str, str | None]]
    enquiry_ids: list[int]  # for the audit entry only; never shown


async def read_shared_history(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    customer: Customer,
    grants: Sequence[HistoryGrant],
    exclude_enquiry: int | None = None,
) -> list[SharedHistory]:
    """Each granted partner's contacts with the person ``customer`` is (matched by a key in common, one hop, as the
    owner's own history is), newest first."""
    if not grants:
        return []
    conditions = same_person(customer)
    scope = current_scope()
    widened = (
        ALL_PARTNERS
        if scope == ALL_PARTNERS
        else {*filter(None, scope.split(",")), *(g.partner for g in grants)}
    )
    found: list[SharedHistory] = []
    with tenant_scope(widened):
        async with sessionmaker() as session:
            partners = sorted({g.partner for g in grants})
            rows = await session.execute(select(Tenant.slug, Tenant.name).where(Tenant.slug.in_(partners)))
            names: dict[str, str] = {slug: name for slug, name in rows.all()}
            for grant in grants:
                fields = tuple(f for f in _ORDER if f in grant.fields)
                contacts, ids = (
                    await _contacts(session, grant, fields, conditions, exclude_enquiry)
                    if conditions
                    else ([], [])
                )
                found.append(
                    SharedHistory(
                        grant.partner,
                        names.get(grant.partner, grant.partner),
                        grant.agreement_id,
                        fields,
                        contacts,
                        ids,
                    )
                )
    return found


_ORDER = tuple(_COLUMNS)


async def _contacts(
    session: AsyncSession,
    grant: HistoryGrant,
    fields: tuple[str, ...],
    conditions: list[ColumnElement[bool]],
    exclude_enquiry: int | None,
) -> tuple[list[dict[str, str | None]], list[int]]:
    same = select(Customer.id).where(Customer.tenant_slug == grant.partner, or_(*conditions))
    columns = [Enquiry.id, Enquiry.received_at.label("at")] + [c for f in fields for c in _COLUMNS[f]]
    query = (
        select(*columns)
        .outerjoin(Service, Service.id == Enquiry.service_id)
        .where(Enquiry.tenant_slug == grant.partner, Enquiry.customer_id.in_(same))
        .order_by(Enquiry.received_at.desc(), Enquiry.id.desc())
        .limit(HISTORY_LIMIT)
    )
    if exclude_enquiry is not None:
        query = query.where(Enquiry.id != exclude_enquiry)
    zone = ZoneInfo(grant.timezone)
    contacts: list[dict[str, str | None]] = []
    ids: list[int] = []
    for row in (await session.execute(query)).mappings():
        ids.append(row["id"])
        shown: dict[str, str | None] = {}
        for f in fields:
            if f == "service":
                shown[f] = row["name"] or row["service_code"]
            elif f == "date":
                shown[f] = row["at"].astimezone(zone).date().isoformat()
            else:
                value = row[_COLUMNS[f][0].key]
                shown[f] = None if value is None else str(value)
        contacts.append(shown)
    return contacts, ids
