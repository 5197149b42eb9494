"""What an agent sees of the customer behind an enquiry: only the visible fields, and always audited."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.audit.service import record
from routing.customers.prompts import Prompt, facts_from, proactive_prompts
from routing.customers.service import PastContact, history
from routing.customers.visibility import (
    fields_allowed_by_agreement,
    partners_sharing_history,
    visible_customer_fields,
)
from routing.models import Enquiry

CONTACT_FIELDS = ("name", "phone", "email", "uprn", "address")


class Viewer(Protocol):
    @property
    def user_id(self) -> int: ...
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
) -> CustomerView:
    """Gather the visible part of the customer, and write the audit row for showing it (same transaction)."""
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
        tenants = await partners_sharing_history(session, owner=enquiry.tenant_slug)
        past = await history(
            session, customer_id=enquiry.customer_id, tenants=tenants, exclude_enquiry=enquiry.id
        )
    elif "history" not in visible:
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
        detail={"page": page, "withheld": sorted(withheld), "history_items": len(past or [])},
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
    )
