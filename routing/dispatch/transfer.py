"""Transfer the enquiry in hand to another service or another partner's queue.

The contact in hand is completed as ``transferred`` and a new enquiry joins the target queue, in one
transaction, so the caller is never in both queues nor in neither. Figures count each against its owner.

The owner's rules travel with the caller (docs/guarantees.md, "Transfers keep the owner's rules"): a transfer to
another partner needs an agreement that lets that partner serve the owner's service (``tenants.access``), the copy
carries only the customer fields that agreement shows (never the attributes), and the copy is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.audit.service import record
from plumbing.db.session import unit_of_work
from routing.customers.service import link_customers
from routing.dispatch.desk import DeskError, resume_parked
from routing.dispatch.presence import change_status
from routing.dispatch.service import Dispatcher
from routing.events import EnquiryRef, NewEvent, record_events
from routing.live.base import entry_for, to_ms
from routing.models import Enquiry, EnquiryEvent
from routing.references import new_reference
from routing.states import EnquiryState, EventName
from tenants.access import transfer_agreement
from tenants.models import Agent

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Transferred:
    from_enquiry: int
    to_enquiry: int
    to_reference: str
    to_queue: str


class AuditAction(StrEnum):
    ENQUIRY_COPIED = "enquiry.transfer_copied"


@dataclass(frozen=True)
class _Copy:
    """What of the enquiry the receiving partner gets, and under which agreement."""

    customer: dict[str, Any]
    attributes: dict[str, Any]
    call: dict[str, Any] | None
    carried: frozenset[str]
    withheld: frozenset[str]
    agreement_id: str | None


async def _copy_for(session: AsyncSession, enquiry: Enquiry, to_tenant: str) -> _Copy:
    """The copy ``to_tenant`` may receive: everything within the owner, else what an agreement shows."""
    held = {k: v for k, v in dict(enquiry.customer or {}).items() if v}
    present = set(held) | ({"attributes"} if enquiry.attributes else set())
    if to_tenant == enquiry.tenant_slug:
        return _Copy(
            held, dict(enquiry.attributes or {}), enquiry.call, frozenset(present), frozenset(), None
        )
    found = await transfer_agreement(
        session, owner=enquiry.tenant_slug, to_partner=to_tenant, service_code=enquiry.service_code
    )
    if found is None:
        raise DeskError(
            403,
            "no_agreement",
            f"no agreement lets {to_tenant} take {enquiry.tenant_slug}'s {enquiry.service_code} enquiries",
        )
    agreement_id, fields = found
    customer = {k: v for k, v in held.items() if k in fields}
    call = dict(enquiry.call or {}) or None
    if call is not None and "phone" not in fields:
        call.pop("caller", None)
    return _Copy(
        customer,
        {},
        call,
        frozenset(customer),
        frozenset(present - set(customer)),
        agreement_id,
    )


async def _answered_at(session: AsyncSession, enquiry_id: int) -> datetime | None:
    return await session.scalar(
        select(func.max(EnquiryEvent.at)).where(
            EnquiryEvent.enquiry_id == enquiry_id, EnquiryEvent.event == EventName.ANSWERED
        )
    )


def _transfer_message_id(enquiry_id: int) -> str:
    # Unique per target partner, so a repeated request finds the transfer it already made.
    return f"transfer-of-{enquiry_id}"


async def transfer(
    dispatcher: Dispatcher,
    agent_id: str,
    enquiry_id: int,
    *,
    to_tenant: str,
    to_service: str,
    notes: str | None = None,
) -> Transferred:
    catalogue = await dispatcher.catalogue.get()
    target = catalogue.service(to_tenant, to_service)
    if target is None:
        raise DeskError(422, "unknown_target", "there is no such service to transfer to")
    now = dispatcher.clock()
    async with unit_of_work(dispatcher.sessionmaker) as session:
        # Agent before enquiry: the lock order of the desk and the dispatcher.
        agent = await session.get(Agent, agent_id, with_for_update=True)
        if agent is None:
            raise DeskError(404, "unknown_agent", f"no agent {agent_id!r}")
        enquiry = await session.get(Enquiry, enquiry_id, with_for_update=True)
        if enquiry is None or enquiry.agent_id != agent_id:
            raise DeskError(409, "not_yours", "that enquiry is not in your hands")
        if enquiry.state == EnquiryState.COMPLETED and enquiry.outcome == "transferred":
            made = await session.scalar(
                select(Enquiry).where(Enquiry.message_id == _transfer_message_id(enquiry.id))
            )
            if made is not None:  # a repeated click: the transfer is already made
                return Transferred(
                    enquiry.id, made.id, made.reference, f"{made.tenant_slug}/{made.service_code}"
                )
        if enquiry.state != EnquiryState.ANSWERED:
            raise DeskError(409, "not_answered", f"that enquiry is {enquiry.state}; accept it first")
        if (to_tenant, to_service) == (enquiry.tenant_slug, enquiry.service_code):
            raise DeskError(422, "same_queue", "the enquiry is already for that service")
        copy = await _copy_for(session, enquiry, to_tenant)

        (customer_id,) = await link_customers(session, [(to_tenant, copy.customer)])
        moved = Enquiry(
            reference=new_reference(to_tenant),
            tenant_slug=to_tenant,
            message_id=_transfer_message_id(enquiry.id),
            channel=enquiry.channel,
            service_id=target.id,
            service_code=target.code,
            priority=target.priority,
            received_at=enquiry.received_at,
            created_at=now,
            queued_at=now,
            state=EnquiryState.QUEUED,
            text=enquiry.text,
            customer=copy.customer,
            attributes=copy.attributes,
            call=copy.call,
            correlation_id=enquiry.correlation_id,
            customer_id=customer_id,
        )
        session.add(moved)
        enquiry.state, enquiry.outcome = "completed", "transferred"
        await change_status(session, agent, "wrap_up", at=now, reason="transferred")
        await session.flush()
        into = {"to_enquiry_id": moved.id, "to_reference": moved.reference, "to_queue": target.queue}
        came_from = {"transferred_from": enquiry.reference, "from_owner": enquiry.tenant_slug}
        original, new = EnquiryRef.of(enquiry), EnquiryRef.of(moved)
        await record_events(
            session,
            [
                NewEvent(
                    original,
                    EventName.TRANSFERRED,
                    now,
                    agent_id=agent_id,
                    handler=agent.tenant_slug,
                    data=into,
                ),
                NewEvent(
                    original,
                    EventName.COMPLETED,
                    now,
                    agent_id=agent_id,
                    handler=agent.tenant_slug,
                    data={"outcome": "transferred", **({"notes": notes} if notes else {})},
                ),
                NewEvent(
                    new,
                    EventName.RECEIVED,
                    now,
                    data={"received_at": moved.received_at.isoformat(), **came_from},
                ),
                NewEvent(new, EventName.QUEUED, now, data=came_from),
                *await resume_parked(
                    session, agent_id, original, now, await _answered_at(session, enquiry.id)
                ),
            ],
        )
        await record(
            session,
            at=now,
            action=AuditAction.ENQUIRY_COPIED,
            username=agent_id,
            role="agent",
            actor_tenant=agent.tenant_slug,
            agent_id=agent_id,
            enquiry_id=enquiry.id,
            customer_id=enquiry.customer_id,
            owner_tenant=enquiry.tenant_slug,
            fields=copy.carried,
            detail={
                "to_enquiry_id": moved.id,
                "to_partner": to_tenant,
                "to_queue": target.queue,
                "agreement": copy.agreement_id,
                "withheld": sorted(copy.withheld),
            },
        )
        result = Transferred(enquiry.id, moved.id, moved.reference, target.queue)
        entry = entry_for(moved.id, to_tenant, target.code, moved.priority, to_ms(now))
    log.info(EventName.TRANSFERRED, enquiry_id=enquiry_id, to=target.queue, to_enquiry_id=result.to_enquiry)
    # As completing does: the call leaves the agent's hand in the live state (else the agent, back from
    # wrap-up, would hold a phantom call and never be offered another), and no work comes during wrap-up.
    await dispatcher.live.finish(agent_id, enquiry_id)
    await dispatcher.live.agent_away(agent_id)
    await dispatcher.place([entry])
    return result
