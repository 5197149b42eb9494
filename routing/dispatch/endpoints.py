"""Agent API under /api/v1/agents: status, the current offer, accept, reject, complete, transfer, callbacks."""

from __future__ import annotations

from dataclasses import asdict

import structlog
from fastapi import APIRouter, Depends, Request

from plumbing.auth.dependencies import require
from plumbing.auth.service import Principal
from plumbing.db.scope import ALL_PARTNERS, current_scope, tenant_scope
from plumbing.problems import Problem
from routing.dispatch.callbacks import AttemptResult
from routing.dispatch.desk import AgentDesk
from routing.dispatch.schemas import (
    AgentOut,
    CallbackAttemptIn,
    CallbackAttemptOut,
    CallbackItemOut,
    CallbackWorklistOut,
    Completion,
    Done,
    OfferAction,
    OfferEnvelope,
    OfferOut,
    ProficiencyIn,
    ProficiencyOut,
    StatusChange,
    TransferIn,
    TransferOut,
)
from routing.dispatch.skills import set_proficiency
from routing.dispatch.transfer import transfer

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


def _desk(request: Request) -> AgentDesk:
    desk: AgentDesk = request.app.state.hub.desk
    return desk


async def _resolve(request: Request, agent_id: str, principal: Principal) -> str:
    """``me`` is the caller; an agent acts only for itself, a supervisor for agents of its partner."""
    if agent_id == "me":
        if principal.agent_id is None:
            raise Problem(400, "not_an_agent", "`me` needs an agent token")
        agent_id = principal.agent_id
    if principal.role == "agent" and principal.agent_id != agent_id:
        raise Problem(403, "forbidden", "an agent may act only for itself")
    # An agent's own token was issued for the agent's partner (``create_token`` checks): no lookup needed.
    if principal.tenant is not None and principal.role != "agent":
        view = await _desk(request).view(agent_id)
        if view.tenant != principal.tenant:
            raise Problem(404, "unknown_agent", f"no agent {agent_id!r}")
    structlog.contextvars.bind_contextvars(agent_id=agent_id)
    return agent_id


Agentish = Depends(require("agent", "supervisor"))


@router.get("/{agent_id}", response_model=AgentOut, summary="An agent's status and work in hand")
async def get_agent(agent_id: str, request: Request, principal: Principal = Agentish) -> AgentOut:
    agent_id = await _resolve(request, agent_id, principal)
    return AgentOut(**asdict(await _desk(request).view(agent_id)))


@router.put("/{agent_id}/status", response_model=AgentOut, summary="Go available, unavailable or offline")
async def put_status(
    agent_id: str, body: StatusChange, request: Request, principal: Principal = Agentish
) -> AgentOut:
    agent_id = await _resolve(request, agent_id, principal)
    return AgentOut(**asdict(await _desk(request).set_status(agent_id, body.status)))


@router.get(
    "/{agent_id}/offer", response_model=OfferEnvelope, summary="The offer waiting for this agent, if any"
)
async def get_offer(agent_id: str, request: Request, principal: Principal = Agentish) -> OfferEnvelope:
    agent_id = await _resolve(request, agent_id, principal)
    offer = await _desk(request).current_offer(agent_id)
    return OfferEnvelope(offer=OfferOut(**asdict(offer)) if offer else None)


@router.post(
    "/{agent_id}/offer/accept", response_model=Done, summary="Accept the offer: the enquiry is answered"
)
async def accept(agent_id: str, body: OfferAction, request: Request, principal: Principal = Agentish) -> Done:
    agent_id = await _resolve(request, agent_id, principal)
    return Done(enquiry_id=await _desk(request).accept(agent_id, body.enquiry_id))


@router.post("/{agent_id}/offer/reject", response_model=Done, summary="Reject the offer; it keeps its place")
async def reject(agent_id: str, body: OfferAction, request: Request, principal: Principal = Agentish) -> Done:
    agent_id = await _resolve(request, agent_id, principal)
    await _desk(request).reject(agent_id, body.enquiry_id)
    return Done(enquiry_id=body.enquiry_id)


@router.post(
    "/{agent_id}/complete", response_model=Done, summary="Complete the enquiry in hand with an outcome"
)
async def complete(
    agent_id: str, body: Completion, request: Request, principal: Principal = Agentish
) -> Done:
    agent_id = await _resolve(request, agent_id, principal)
    await _desk(request).complete(
        agent_id, body.enquiry_id, body.outcome, body.notes, body.tags, wrap_up=body.wrap_up
    )
    return Done(enquiry_id=body.enquiry_id)


@router.post(
    "/{agent_id}/transfer",
    response_model=TransferOut,
    summary="Transfer the enquiry in hand to another service (another partner's only under an agreement), as the console does",
)
async def transfer_enquiry(
    agent_id: str, body: TransferIn, request: Request, principal: Principal = Agentish
) -> TransferOut:
    agent_id = await _resolve(request, agent_id, principal)
    # The hub writes the target partner's enquiry and customer for the agent: the request's row-level-security
    # scope widens by the target partner and nothing else (the agreement check is the transfer's own).
    scope = current_scope()
    widened = ALL_PARTNERS if scope == ALL_PARTNERS else {*filter(None, scope.split(",")), body.to_tenant}
    with tenant_scope(widened):
        done = await transfer(
            request.app.state.hub.dispatcher,
            agent_id,
            body.enquiry_id,
            to_tenant=body.to_tenant,
            to_service=body.to_service,
            notes=body.notes,
        )
    return TransferOut(**asdict(done))


@router.get(
    "/{agent_id}/callbacks",
    response_model=CallbackWorklistOut,
    summary="The callbacks this agent may ring: number, reason, attempts, and when a missed one is due again",
)
async def callbacks(agent_id: str, request: Request, principal: Principal = Agentish) -> CallbackWorklistOut:
    agent_id = await _resolve(request, agent_id, principal)
    items = await _desk(request).callback_worklist(agent_id)
    return CallbackWorklistOut(items=[CallbackItemOut(**asdict(item)) for item in items])


@router.post(
    "/{agent_id}/callback-attempts",
    response_model=CallbackAttemptOut,
    summary="Record ringing a callback in hand: reached, or not (it is retried later, or given up)",
)
async def callback_attempt(
    agent_id: str, body: CallbackAttemptIn, request: Request, principal: Principal = Agentish
) -> CallbackAttemptOut:
    agent_id = await _resolve(request, agent_id, principal)
    recorded = await _desk(request).callback_attempt(
        agent_id, body.enquiry_id, AttemptResult(body.result), body.notes
    )
    return CallbackAttemptOut(**asdict(recorded))


@router.put(
    "/{agent_id}/proficiency",
    response_model=ProficiencyOut,
    summary="A supervisor rates an agent's skills 1–5: services that prefer the best-skilled use it at once",
)
async def put_proficiency(
    agent_id: str,
    body: ProficiencyIn,
    request: Request,
    principal: Principal = Depends(require("supervisor")),
) -> ProficiencyOut:
    agent_id = await _resolve(request, agent_id, principal)
    changed = await set_proficiency(request.app.state.hub.dispatcher, agent_id, body.levels)
    return ProficiencyOut(**asdict(changed))
