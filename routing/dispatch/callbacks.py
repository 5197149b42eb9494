"""Callbacks end to end: the worklist agents ring from, attempts and their outcomes, retries, the figures.

A caller who takes a callback keeps their place in the queue (``take_callback``, behind ``POST …/callback``); when it
reaches an agent, the agent rings the number and records the attempt. Not reached: it leaves the live queues
until ``retry_at`` (the service's ``callback_retry_minutes`` later) and then goes back at its old place, up to
``callback_max_attempts`` attempts; after the last, it is completed as ``callback_not_reached``.
See docs/routing.md, "Callbacks".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.problems import Problem
from routing.events import EnquiryRef, NewEvent, record_events
from routing.models import Enquiry, EnquiryEvent
from routing.states import EnquiryState, EventName
from routing.tallies import NOT_REACHED
from tenants.catalogue import Catalogue


class AttemptResult(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"


NOT_REACHED_OUTCOME = NOT_REACHED  # the outcome of a callback whose every attempt failed


def is_callback(enquiry: Enquiry) -> bool:
    return enquiry.channel == "callback" or enquiry.follow_up == "callback"


def number_to_ring(enquiry: Enquiry) -> str | None:
    """The number asked for, else the number the caller rang from, else the customer's phone."""
    if enquiry.callback_number:
        return enquiry.callback_number
    caller = (enquiry.call or {}).get("caller")
    if isinstance(caller, str) and caller:
        return caller
    phone = (enquiry.customer or {}).get("phone")
    return phone if isinstance(phone, str) and phone else None


def reason_of(enquiry: Enquiry, service_name: str) -> str:
    """What the caller wants, in a line: the service and the first words of what they said."""
    text = " ".join((enquiry.text or "").split())
    return f"{service_name}: {text[:140]}{'…' if len(text) > 140 else ''}" if text else service_name


@dataclass(frozen=True)
class WorkItem:
    enquiry_id: int
    reference: str
    service_code: str
    number: str | None
    reason: str
    attempts: int
    state: str  # queued (in its queue now), waiting_retry (out until retry_at), offered, answered
    queued_at: datetime | None
    retry_at: datetime | None
    agent_id: str | None


async def worklist(
    session: AsyncSession, catalogue: Catalogue, tenant: str, service_codes: set[str] | None = None
) -> list[WorkItem]:
    """The partner's callbacks not yet done, oldest first (``service_codes``: only those, e.g. an agent's)."""
    query = (
        select(Enquiry)
        .where(
            Enquiry.tenant_slug == tenant,
            Enquiry.state.in_((EnquiryState.QUEUED, EnquiryState.OFFERED, EnquiryState.ANSWERED)),
            or_(Enquiry.follow_up == "callback", Enquiry.channel == "callback"),
        )
        .order_by(Enquiry.queued_at, Enquiry.id)
        .limit(500)
    )
    if service_codes is not None:
        query = query.where(Enquiry.service_code.in_(sorted(service_codes)))
    items = []
    for enquiry in (await session.scalars(query)).all():
        service = catalogue.service(tenant, enquiry.service_code)
        state = (
            "waiting_retry" if enquiry.state == EnquiryState.QUEUED and enquiry.retry_at else enquiry.state
        )
        items.append(
            WorkItem(
                enquiry.id,
                enquiry.reference,
                enquiry.service_code,
                number_to_ring(enquiry),
                reason_of(enquiry, service.name if service else enquiry.service_code),
                enquiry.callback_attempts,
                state,
                enquiry.queued_at,
                enquiry.retry_at,
                enquiry.agent_id,
            )
        )
    return items


async def take_callback(session: AsyncSession, enquiry_id: int, *, phone: str | None, now: datetime) -> None:
    """A caller still waiting takes a callback and keeps their place (flushes; the caller's unit of work commits).

    Taken twice, the second is a no-op: the enquiry already waits for a callback and one event says so.
    """
    row = await session.get(Enquiry, enquiry_id, with_for_update=True)  # against a concurrent offer
    if row is None:
        raise Problem(404, "unknown_enquiry", f"no enquiry {enquiry_id}")
    if row.state != EnquiryState.QUEUED:
        raise Problem(
            409, "not_waiting", f"that enquiry is {row.state}: a callback is only for a caller still waiting"
        )
    if row.follow_up == "callback":
        return
    row.follow_up = "callback"
    data: dict[str, Any] = {"keeps_place": True}
    if phone:
        data["phone"] = phone
        row.callback_number = phone  # the worklist rings this, not the number rung from
    await session.flush()
    await record_events(session, [NewEvent(EnquiryRef.of(row), EventName.CALLBACK_ACCEPTED, now, data=data)])


async def figures(session: AsyncSession, tenant: str, since: datetime, until: datetime) -> dict[str, Any]:
    """Callbacks promised and kept over a period, from the trail: taken, attempts by result, kept, not reached.

    "Kept": a callback whose caller was reached (an attempt with result ``reached``) in the period.
    """
    events = (
        await session.execute(
            select(EnquiryEvent.event, EnquiryEvent.data)
            .where(
                EnquiryEvent.tenant_slug == tenant,
                EnquiryEvent.at >= since,
                EnquiryEvent.at < until,
                EnquiryEvent.event.in_((EventName.CALLBACK_ACCEPTED, EventName.CALLBACK_ATTEMPTED.value)),
            )
            .order_by(EnquiryEvent.id)
        )
    ).all()
    attempts: dict[str, int] = {result.value: 0 for result in AttemptResult}
    accepted = given_up = 0
    for event, data in events:
        if event == EventName.CALLBACK_ACCEPTED:
            accepted += 1
            continue
        result = str((data or {}).get("result"))
        attempts[result] = attempts.get(result, 0) + 1
        given_up += bool((data or {}).get("given_up"))
    return {
        "callbacks_taken": accepted,
        "attempts": attempts,
        "attempts_total": sum(attempts.values()),
        "kept": attempts[AttemptResult.REACHED.value],
        "given_up": given_up,
    }
