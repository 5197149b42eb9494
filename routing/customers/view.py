"""What an agent sees of the customer behind an enquiry: only the visible fields, and always audited.

Beside the owner's own records, other partners' contacts with the same customer appear only under a data-sharing
agreement in force (``tenants.access.shared_history_grants``), read through ``routing.customers.sharing`` with only
the agreed fields; each partner's shown contacts write an audit entry of their own (``customer.history_shared``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.audit.service import record
from routing.customers.models import Customer
from routing.customers.prompts import Prompt, facts_from, proactive_prompts
from routing.customers.service import PastContact, history
from routing.customers.sharing import SharedHistory, read_shared_history
from routing.customers.visibility import (
    fields_allowed_by_agreement,
    partners_sharing_history,
    visible_customer_fields,
)
from routing.models import Enquiry

CONTACT_FIELDS = ("name", "phone", "email", "uprn", "address")
HISTORY_SHARED = "customer.history_shared"


class Viewer(Protocol):
    @property
    def user_id(self) -> int | None: ...
    @property
    def username(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def tenant(self) -> str | None: ...
    @property
    def agent_id(self) -> str | None: ...


@dataclass(frozen=True)
class CustomerView:
    enquiry_id: int
    customer_id: int | None
    owner: str
    viewer_tenant: str
    contact: dict[str, Any]
    attributes: dict[str, Any] | None
    caller: str | None
    withheld: list[str]
    history: list[PastContact] | None
    prompts: list[Prompt] = field(default_factory=list)
    shared: list[SharedHistory] = field(default_factory=list)  # other partners' contacts, agreed fields only

    @property
    def restricted(self) -> bool:
        return self.owner != self.viewer_tenant


async def view_customer(
    session: AsyncSession,
    *,
    viewer: Viewer,
    viewer_tenant: str,
    enquiry: Enquiry,
    now: datetime,
    rules: Iterable[Mapping[str, Any]],
    service_names: Mapping[str, str],
    page: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> CustomerView:
    """Gather the visible part of the customer, and write the audit rows for showing it (same transaction).

    ``sessionmaker`` is for the one read of other partners' contacts under data-sharing agreements.
    """
    allowed = await fields_allowed_by_agreement(
        session,
        owner=enquiry.tenant_slug,
        handler=viewer_tenant,
        service_code=enquiry.service_code,
        agreement_id=enquiry.agreement_id,
    )
    visible = visible_customer_fields(enquiry.tenant_slug, viewer_tenant, allowed)
    held = dict(enquiry.customer or {})
    contact = {k: held[k] for k in CONTACT_FIELDS if k in visible and held.get(k)}
    withheld = [k for k in CONTACT_FIELDS if k not in visible and held.get(k)]
    attributes = dict(enquiry.attributes or {}) if "attributes" in visible else None
    if attributes is None and enquiry.attributes:
        withheld.append("attributes")
    caller = (enquiry.call or {}).get("caller") if "phone" in visible else None

    past: list[PastContact] | None = None
    if "history" in visible and enquiry.customer_id is not None:
        past = await history(
            session,
            customer_id=enquiry.customer_id,
            tenants={enquiry.tenant_slug},
            exclude_enquiry=enquiry.id,
        )
    shared: list[SharedHistory] = []
    # A handler with no agreement over the enquiry sees nothing of it, shared history included.
    if enquiry.customer_id is not None and (viewer_tenant == enquiry.tenant_slug or allowed is not None):
        grants = await partners_sharing_history(
            session, owner=enquiry.tenant_slug, viewer=viewer_tenant, at=now
        )
        person = await session.get(Customer, enquiry.customer_id) if grants else None
        if person is not None:
            shared = await read_shared_history(
                sessionmaker, customer=person, grants=grants, exclude_enquiry=enquiry.id
            )
    if "history" not in visible and not any(s.partner == enquiry.tenant_slug for s in shared):
        withheld.append("history")
    prompts = proactive_prompts(
        rules,
        service_code=enquiry.service_code,
        text=enquiry.text,
        facts=facts_from(past or [], attributes or {}),
        history=past or [],
        now=now,
        service_names=service_names,
    )

    shown = set(contact)
    if attributes:
        shown.add("attributes")
    if caller:
        shown.add("phone")
    if past is not None:
        shown.add("history")
    await record(
        session,
        at=now,
        action="customer.viewed",
        user_id=viewer.user_id,
        username=viewer.username,
        role=viewer.role,
        actor_tenant=viewer_tenant,
        agent_id=viewer.agent_id,
        enquiry_id=enquiry.id,
        customer_id=enquiry.customer_id,
        owner_tenant=enquiry.tenant_slug,
        fields=shown,
        detail={
            "page": page,
            "withheld": sorted(withheld),
            "history_items": len(past or []),
            "shared_from": [s.partner for s in shared],
        },
    )
    for s in shared:
        # The partner whose contacts were shown is the owner of this entry: it can read who looked, and why.
        await record(
            session,
            at=now,
            action=HISTORY_SHARED,
            user_id=viewer.user_id,
            username=viewer.username,
            role=viewer.role,
            actor_tenant=viewer_tenant,
            agent_id=viewer.agent_id,
            enquiry_id=enquiry.id,
            customer_id=enquiry.customer_id,
            owner_tenant=s.partner,
            fields=s.fields,
            detail={
                "page": page,
                "agreement": s.agreement_id,
                "partners": sorted({viewer_tenant, s.partner}),
                "customer_owner": enquiry.tenant_slug,
                "contacts": s.enquiry_ids,
            },
        )
    return CustomerView(
        enquiry_id=enquiry.id,
        customer_id=enquiry.customer_id,
        owner=enquiry.tenant_slug,
        viewer_tenant=viewer_tenant,
        contact=contact,
        attributes=attributes,
        caller=caller,
        withheld=sorted(withheld),
        history=past,
        prompts=prompts,
        shared=shared,
    )
