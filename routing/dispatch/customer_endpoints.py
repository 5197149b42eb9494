"""The customer view over the agent API: what the console's customer panel shows, as JSON, for a screen-pop.

``GET /api/v1/agents/{agent_id}/customer``: the customer behind the enquiry the agent has in hand, with the same
visibility rules and the same audit entries as the console (routing/customers/view.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from plumbing.auth.dependencies import require
from plumbing.auth.service import Principal
from plumbing.db.session import unit_of_work
from plumbing.problems import Problem
from routing.customers.prompts import rules_for
from routing.customers.view import view_customer

# the agent API's one rule for whom a caller may act as (``me``, an agent only for itself)
from routing.dispatch.endpoints import _resolve as resolve_agent
from routing.queries import enquiry_in_hand
from tenants.queries import agent_by_id, service_by_id

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


class PastContactOut(BaseModel):
    reference: str
    service_code: str
    channel: str
    state: str
    outcome: str | None
    received_at: datetime
    open: bool


class SharedHistoryOut(BaseModel):
    partner: str
    partner_name: str = Field(description="The partner the contacts were with, as it names itself")
    agreement: str = Field(description="The data-sharing agreement under which they are shown")
    fields: list[str] = Field(description="The agreed fields: each contact carries these and nothing else")
    contacts: list[dict[str, str | None]]


class CustomerOut(BaseModel):
    enquiry_id: int
    owner: str
    restricted: bool = Field(
        description="Handled for another partner: only what the agreement allows is shown"
    )
    contact: dict[str, Any]
    caller: str | None
    attributes: dict[str, Any] | None
    withheld: list[str]
    history: list[PastContactOut] | None = Field(
        description="The owner's own other contacts (None: not shown)"
    )
    shared: list[SharedHistoryOut] = Field(
        description="Other partners' contacts with the same customer, under data-sharing agreements in force"
    )
    prompts: list[str]


@dataclass(frozen=True)
class _TokenViewer:
    """A bearer token's principal as the audit log names it (a token has no user account)."""

    role: str
    tenant: str | None
    agent_id: str | None
    username: str
    user_id: int | None = None


@router.get(
    "/{agent_id}/customer",
    response_model=CustomerOut,
    summary="The customer behind the enquiry in hand, as the console shows it (every view audited)",
    responses={404: {"description": "the agent has no enquiry in hand"}},
)
async def customer(
    agent_id: str, request: Request, principal: Principal = Depends(require("agent"))
) -> CustomerOut:
    if (
        principal.role != "agent"
    ):  # admin passes ``require``; a customer is shown to the agent handling them only
        raise Problem(403, "forbidden", "the customer view is for the agent handling the enquiry")
    agent_id = await resolve_agent(request, agent_id, principal)
    hub = request.app.state.hub
    async with unit_of_work(hub.sessionmaker) as session:
        agent = await agent_by_id(session, agent_id)
        # the console's own choice of contact in hand, so the screen-pop and the console show the same caller
        enquiry = await enquiry_in_hand(session, agent_id)
        if agent is None or enquiry is None:
            raise Problem(404, "nothing_in_hand", f"agent {agent_id!r} has no enquiry in hand")
        service = await service_by_id(session, enquiry.service_id)
        catalogue = await hub.catalogue.get()
        owner = catalogue.tenants.get(enquiry.tenant_slug)
        seen = await view_customer(
            session,
            viewer=_TokenViewer(principal.role, principal.tenant, agent_id, username=agent_id),
            viewer_tenant=agent.tenant_slug,
            enquiry=enquiry,
            now=hub.dispatcher.clock(),
            rules=rules_for(service.definition if service else None),
            service_names={code: s.name for code, s in owner.services.items()} if owner else {},
            page="api",
            sessionmaker=hub.sessionmaker,
        )
    return CustomerOut(
        enquiry_id=seen.enquiry_id,
        owner=seen.owner,
        restricted=seen.restricted,
        contact=seen.contact,
        caller=seen.caller,
        attributes=seen.attributes,
        withheld=seen.withheld,
        history=None
        if seen.history is None
        else [
            PastContactOut(
                reference=p.reference,
                service_code=p.service_code,
                channel=p.channel,
                state=p.state,
                outcome=p.outcome,
                received_at=p.received_at,
                open=p.open,
            )
            for p in seen.history
        ],
        shared=[
            SharedHistoryOut(
                partner=s.partner,
                partner_name=s.partner_name,
                agreement=s.agreement_id,
                fields=list(s.fields),
                contacts=s.contacts,
            )
            for s in seen.shared
        ],
        prompts=[p.text for p in seen.prompts],
    )
