"""Who may read which enquiry, and which of its fields: the enquiry-level half of the hub's one access decision.

Built on ``tenants.access`` (the partner-level half). The trail API, the supervisors' trail page, the customer
view and the transfer all ask ``enquiry_access``; see docs/guarantees.md, "Who may see what".

- A principal with no partner reads every enquiry in full.
- The owner's staff read the owner's enquiries in full, except an agent, who reads only the one in its hands.
- Another partner reads an enquiry only where an agreement grants that row: its agents handled it or were offered
  it under an agreement (lender = that partner, borrower = the owner), and then only that agreement's fields.
  Agents' notes stay the owner's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing.customers.visibility import CUSTOMER_FIELDS
from routing.models import Enquiry, EnquiryEvent
from routing.states import EnquiryState, EventName
from tenants.access import Who, agreed_fields, may_read_partner

NOTES_WITHHELD = "(only the owner's supervisors see notes)"
WITHHELD = "(withheld under the agreement)"


@dataclass(frozen=True)
class EnquiryAccess:
    """What a caller may read of one enquiry: as its owner (everything) or under an agreement (``fields``)."""

    as_owner: bool
    fields: frozenset[str]
    agreement_id: str | None = None


async def enquiry_access(session: AsyncSession, who: Who, enquiry: Enquiry) -> EnquiryAccess | None:
    """What ``who`` may read of ``enquiry``; None when nothing (callers answer 404: it may not know it exists)."""
    if who.tenant is None and who.role != "agent":
        return EnquiryAccess(as_owner=True, fields=CUSTOMER_FIELDS)
    if who.role == "agent" and (who.agent_id is None or enquiry.agent_id != who.agent_id):
        return None  # an agent reads only the enquiry in its own hands (its partner's or a borrower's)
    if who.tenant is not None and may_read_partner(who, enquiry.tenant_slug):
        return EnquiryAccess(as_owner=True, fields=CUSTOMER_FIELDS)
    if who.tenant is None:
        return None
    for agreement_id in await _agreements_handled_under(session, who.tenant, enquiry):
        fields = await agreed_fields(
            session,
            owner=enquiry.tenant_slug,
            handler=who.tenant,
            service_code=enquiry.service_code,
            agreement_id=agreement_id,
        )
        if fields is not None:
            return EnquiryAccess(as_owner=False, fields=fields, agreement_id=agreement_id)
    return None


async def _agreements_handled_under(session: AsyncSession, partner: str, enquiry: Enquiry) -> list[str]:
    """The agreements under which ``partner``'s agents held or were offered ``enquiry`` (in hand first)."""
    out: list[str] = []
    if enquiry.handler_slug == partner and enquiry.agreement_id is not None:
        out.append(enquiry.agreement_id)
    offers = (
        await session.scalars(
            select(EnquiryEvent.data).where(
                EnquiryEvent.enquiry_id == enquiry.id,
                EnquiryEvent.event == EventName.OFFERED,
                EnquiryEvent.handler_slug == partner,
            )
        )
    ).all()
    for data in offers:
        agreement = (data or {}).get("agreement")
        if isinstance(agreement, str) and agreement not in out:
            out.append(agreement)
    return out


def may_open_customer(who: Who, enquiry: Enquiry, *, agent_tenant: str) -> bool:
    """The console's customer view: an owner's agent opens the owner's enquiries (past ones too); another
    partner's agent only the one in its hands, while answered (its fields then come from ``agreed_fields``)."""
    if who.role != "agent" and who.tenant is None:
        return True
    if enquiry.tenant_slug == agent_tenant and may_read_partner(who, agent_tenant):
        return True
    return (
        who.agent_id is not None
        and enquiry.agent_id == who.agent_id
        and enquiry.state == EnquiryState.ANSWERED
    )


def visible_step_data(access: EnquiryAccess, data: dict[str, Any] | None) -> dict[str, Any]:
    """A trail step's data as ``access`` may read it: agents' notes only for the owner, a customer's details (a
    callback's phone number) only where the agreement shows that field."""
    shown = dict(data or {})
    if access.as_owner:
        return shown
    if "notes" in shown:
        shown["notes"] = NOTES_WITHHELD
    for name in CUSTOMER_FIELDS - access.fields:
        if name in shown:
            shown[name] = WITHHELD
    return shown


async def trail_events(session: AsyncSession, enquiry_id: int) -> Sequence[EnquiryEvent]:
    """The enquiry's events in order (the one read both trails share)."""
    return (
        await session.scalars(
            select(EnquiryEvent).where(EnquiryEvent.enquiry_id == enquiry_id).order_by(EnquiryEvent.id)
        )
    ).all()
