"""The agents' console: status, the offer pushed live, the enquiry in hand with its customer, wrap-up, transfer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from backoffice.status import case_states
from hub.accounts.service import SignedIn, resolve_session
from hub.runtime import Hub
from hub.web.deps import PageError, check_csrf, hub_of, page_context, role
from hub.web.templating import CHANNEL_LABELS, OUTCOME_LABELS, render
from plumbing.db.scope import ALL_PARTNERS, current_scope, tenant_scope
from plumbing.db.session import unit_of_work
from routing.access import may_open_customer
from routing.customers.prompts import rules_for
from routing.customers.view import CustomerView, view_customer
from routing.dispatch.callbacks import AttemptResult, is_callback, number_to_ring, reason_of
from routing.dispatch.desk import DeskError
from routing.dispatch.transfer import transfer
from routing.live.base import kind_of_channel, to_ms
from routing.models import Enquiry
from routing.queries import enquiry_by_id, enquiry_in_hand
from tenants.access import transfer_partners
from tenants.attributes import describe_answers
from tenants.catalogue import Catalogue
from tenants.models import Agent, Service
from tenants.queries import agent_by_id, agent_status, service_by_id
from tenants.service import service_as_of

router = APIRouter(prefix="/console", include_in_schema=False)
log = structlog.get_logger(__name__)

CHOOSABLE_STATUSES = ("available", "break", "unavailable", "offline")
WRAP_UP_OUTCOMES = ("resolved", "passed_to_back_office", "callback_booked", "no_action")
GENERIC_SCRIPT = (
    "Greet: “{partner}, you are through to {agent}. How can I help?”",
    "Confirm who you are speaking to and, where it matters, the address.",
    "Find out what they need about {service}: what happened, where and when.",
    "Say what happens next, and give the reference {reference}.",
)
_OFFER_TICK = 0.5  # seconds between looks at the live state for an offer
_STATUS_EVERY = 4  # ticks between looks at the database for status and session
_STREAM_SECONDS = 25.0  # the browser reconnects by itself; bounded streams free server slots


async def agent_user(user: SignedIn = Depends(role("agent"))) -> SignedIn:
    if user.agent_id is None:
        raise PageError(403, "Your user is not linked to an agent, so it has no console.")
    return user


def _to_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None and len(value) < 20 else None
    except ValueError:
        return None


def _back(notice: str | None = None) -> RedirectResponse:
    return RedirectResponse("/console" + (f"?notice={notice}" if notice else ""), status_code=303)


def _notes(notes: str | None) -> str | None:
    """An agent's notes as kept: trimmed, at most 2,000 characters, none when blank."""
    return (notes or "").strip()[:2000] or None


def _script(service: Service | None, values: dict[str, str]) -> list[str]:
    """The catalogue's signposting script for the service if it has one, else a generic prompt."""
    raw: Any = (service.definition or {}).get("script") if service else None
    steps = [raw] if isinstance(raw, str) else [str(s) for s in raw] if isinstance(raw, list) else []
    steps = [line.strip() for step in steps for line in step.splitlines() if line.strip()] or list(
        GENERIC_SCRIPT
    )

    class _Blank(dict[str, str]):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    return [step.format_map(_Blank(values)) for step in steps]


def _service_names(catalogue: Catalogue, tenant: str) -> dict[str, str]:
    info = catalogue.tenants.get(tenant)
    return {code: s.name for code, s in info.services.items()} if info else {}


def _transfer_targets(catalogue: Catalogue, enquiry: Enquiry, partners: set[str]) -> list[tuple[str, str]]:
    """The queues the enquiry may go to: the owner's, and those of partners an agreement lets take it."""
    targets = []
    for tenant in sorted(catalogue.tenants.values(), key=lambda t: (t.slug != enquiry.tenant_slug, t.name)):
        if tenant.slug not in partners:
            continue
        for service in sorted(tenant.services.values(), key=lambda s: s.name):
            if (tenant.slug, service.code) != (enquiry.tenant_slug, enquiry.service_code):
                targets.append((f"{tenant.slug}/{service.code}", f"{tenant.name} — {service.name}"))
    return targets


async def _panel(
    hub: Hub, user: SignedIn, agent: Agent, enquiry: Enquiry, session: AsyncSession, page: str
) -> dict[str, Any]:
    """Everything shown about an enquiry; reading the customer writes its audit row in this transaction."""
    catalogue = await hub.catalogue.get()
    service = await service_by_id(session, enquiry.service_id)
    customer: CustomerView = await view_customer(
        session,
        viewer=user,
        viewer_tenant=agent.tenant_slug,
        enquiry=enquiry,
        now=hub.dispatcher.clock(),
        rules=rules_for(service.definition if service else None),
        service_names=_service_names(catalogue, enquiry.tenant_slug),
        page=page,
        sessionmaker=hub.sessionmaker,
    )
    owner = catalogue.tenants.get(enquiry.tenant_slug)
    # The service as the enquiry's own catalogue version defined it: its name and questions then.
    as_of = await service_as_of(
        session, tenant=enquiry.tenant_slug, version=enquiry.catalogue_version, code=enquiry.service_code
    )
    definition = as_of or (service.definition if service else None) or {}
    service_name = str(definition.get("name") or (service.name if service else enquiry.service_code))
    questions = [q for q in definition.get("attributes") or [] if isinstance(q, dict)]
    values = {
        "partner": owner.name if owner else enquiry.tenant_slug,
        "agent": agent.name.split()[0] if agent.name else agent.id,
        "service": service_name,
        "reference": enquiry.reference,
    }
    return {
        "enquiry": enquiry,
        "owner_name": values["partner"],
        "service_name": service_name,
        "lgsl": service.lgsl_code if service else None,
        "customer": customer,
        "answers": describe_answers(questions, customer.attributes or {}),
        "script": _script(service, values),
        "targets": _transfer_targets(
            catalogue,
            enquiry,
            await transfer_partners(session, owner=enquiry.tenant_slug, service_code=enquiry.service_code),
        ),
        # the one status truth, as Open311 and /track give it (backoffice.status)
        "case": (await case_states(session, [enquiry]))[enquiry.id],
        # A callback: the number to ring and why, for the agent taking it (issue 20: callbacks end to end).
        "callback": (
            {
                "number": number_to_ring(enquiry),
                "reason": reason_of(enquiry, service_name),
                "attempts": enquiry.callback_attempts,
            }
            if is_callback(enquiry)
            else None
        ),
    }


@router.get("")
async def console_page(request: Request, user: SignedIn = Depends(agent_user)) -> Response:
    hub = hub_of(request)
    assert user.agent_id is not None
    view = await hub.desk.view(user.agent_id)
    panel = None
    async with unit_of_work(hub.sessionmaker) as session:
        agent = await agent_by_id(session, user.agent_id)
        assert agent is not None
        in_hand = await enquiry_in_hand(session, agent.id)
        if in_hand is not None:
            panel = await _panel(hub, user, agent, in_hand, session, page="console")
    catalogue = await hub.catalogue.get()
    tenant = catalogue.tenants.get(view.tenant)
    callbacks = await hub.desk.callback_worklist(user.agent_id)
    return render(
        request,
        "console.html",
        page_context(
            request,
            agent=view,
            callbacks=callbacks,
            attempt_results=ATTEMPT_RESULTS,
            tenant_name=tenant.name if tenant else view.tenant,
            panel=panel,
            statuses=CHOOSABLE_STATUSES,
            outcomes=[(o, OUTCOME_LABELS[o]) for o in WRAP_UP_OUTCOMES],
            avoidable_reasons=AVOIDABLE_REASONS,
        ),
    )


@router.get("/enquiries/{enquiry_id}")
async def enquiry_page(enquiry_id: str, request: Request, user: SignedIn = Depends(agent_user)) -> Response:
    """A past or current enquiry: the owner's agents see their partner's; anyone else sees nothing (404)."""
    hub = hub_of(request)
    wanted = _to_int(enquiry_id)
    async with unit_of_work(hub.sessionmaker) as session:
        agent = await agent_by_id(session, user.agent_id)
        enquiry = await enquiry_by_id(session, wanted)
        if (
            agent is None
            or enquiry is None
            or not may_open_customer(user, enquiry, agent_tenant=agent.tenant_slug)
        ):
            raise PageError(404, "There is no such enquiry for you to see.")
        panel = await _panel(hub, user, agent, enquiry, session, page="enquiry")
    return render(request, "enquiry.html", page_context(request, panel=panel))


def _form_agent(request: Request, csrf: str | None, user: SignedIn) -> str:
    """Every console form: the CSRF token checked first, then the agent the signed-in user is."""
    check_csrf(request, csrf)
    assert user.agent_id is not None  # agent_user refuses a user with no agent
    return user.agent_id


@dataclass(frozen=True)
class EnquiryForm:
    """A console form about one enquiry: the agent sending it (CSRF checked) and the enquiry (None: not one)."""

    agent_id: str
    enquiry_id: int | None


async def enquiry_form(
    request: Request,
    enquiry_id: str | None = Form(None),
    csrf: str | None = Form(None),
    user: SignedIn = Depends(agent_user),
) -> EnquiryForm:
    return EnquiryForm(_form_agent(request, csrf, user), _to_int(enquiry_id))


async def _desk_act(operation: Awaitable[object], done: str | None = None) -> RedirectResponse:
    """One desk operation for a console form: back to the console with ``done``, or with the refusal's code."""
    try:
        await operation
    except DeskError as exc:
        return _back(exc.code)
    return _back(done)


@router.post("/status")
async def set_status(
    request: Request,
    status: str | None = Form(None),
    csrf: str | None = Form(None),
    user: SignedIn = Depends(agent_user),
) -> Response:
    agent_id = _form_agent(request, csrf, user)
    if status not in CHOOSABLE_STATUSES:
        return _back("bad_status")
    return await _desk_act(hub_of(request).desk.set_status(agent_id, status))


@router.post("/offer/{action}")
async def offer_action(action: str, request: Request, form: EnquiryForm = Depends(enquiry_form)) -> Response:
    if action not in ("accept", "reject"):
        raise PageError(404, "There is no such action.")
    if form.enquiry_id is None:
        return _back("stale_offer")
    desk = hub_of(request).desk
    if action == "accept":
        return await _desk_act(desk.accept(form.agent_id, form.enquiry_id))
    return await _desk_act(desk.reject(form.agent_id, form.enquiry_id), "rejected")


# Why a contact need not have happened (the committee counts these as avoidable contacts).
AVOIDABLE_REASONS = (
    ("chasing_progress", "Chasing progress"),
    ("repeat_request", "Asking again for something already requested"),
    ("could_use_online", "Could have done it online"),
    ("wrong_organisation", "Not a council matter"),
)


@router.post("/complete")
async def complete(
    request: Request,
    outcome: str | None = Form(None),
    notes: str | None = Form(None),
    avoidable: str | None = Form(None),
    form: EnquiryForm = Depends(enquiry_form),
) -> Response:
    if form.enquiry_id is None:
        return _back("not_yours")
    if outcome not in WRAP_UP_OUTCOMES:
        return _back("bad_outcome")
    if avoidable and avoidable not in dict(AVOIDABLE_REASONS):
        return _back("bad_outcome")
    return await _desk_act(
        hub_of(request).desk.complete(
            form.agent_id,
            form.enquiry_id,
            outcome,
            _notes(notes),
            [f"avoidable:{avoidable}"] if avoidable else None,
            wrap_up=True,
        ),
        "completed",
    )


ATTEMPT_RESULTS = (
    (AttemptResult.REACHED.value, "Reached: talking now"),
    (AttemptResult.NO_ANSWER.value, "No answer"),
    (AttemptResult.BUSY.value, "Line busy"),
    (AttemptResult.WRONG_NUMBER.value, "Wrong number"),
)


@router.post("/callback-attempt")
async def callback_attempt(
    request: Request, result: str | None = Form(None), form: EnquiryForm = Depends(enquiry_form)
) -> Response:
    """The agent rang the callback in hand: the same desk operation as the agent API's."""
    if form.enquiry_id is None:
        return _back("not_yours")
    if result not in dict(ATTEMPT_RESULTS):
        return _back("bad_outcome")
    desk = hub_of(request).desk
    return await _desk_act(desk.callback_attempt(form.agent_id, form.enquiry_id, AttemptResult(result)))


@router.post("/transfer")
async def transfer_enquiry(
    request: Request,
    target: str | None = Form(None),
    notes: str | None = Form(None),
    form: EnquiryForm = Depends(enquiry_form),
) -> Response:
    tenant, _, service = (target or "").partition("/")
    if form.enquiry_id is None:
        return _back("not_yours")
    if not tenant or not service:
        return _back("unknown_target")
    # A transfer hands the caller to another partner: the hub writes that partner's enquiry and customer for
    # the agent, so the request's row-level security scope widens by the target partner, and by nothing else.
    scope = current_scope()
    widened = ALL_PARTNERS if scope == ALL_PARTNERS else {*filter(None, scope.split(",")), tenant}
    with tenant_scope(widened):
        return await _desk_act(
            transfer(
                hub_of(request).dispatcher,
                form.agent_id,
                form.enquiry_id,
                to_tenant=tenant,
                to_service=service,
                notes=_notes(notes),
            ),
            "transferred",
        )


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _offer_payload(hub: Hub, agent_id: str) -> dict[str, Any] | None:
    offer = await hub.desk.current_offer(agent_id)
    if offer is None:
        return None
    catalogue = await hub.catalogue.get()
    owner = catalogue.tenants.get(offer.owner)
    service = catalogue.service(offer.owner, offer.service_code)
    service_name = service.name if service else offer.service_code
    if owner is not None and offer.catalogue_version not in (None, owner.catalogue_version):
        # Routed under an older catalogue: the name the caller's service had then (one read, only then).
        async with hub.sessionmaker() as session:
            then = await service_as_of(
                session, tenant=offer.owner, version=offer.catalogue_version, code=offer.service_code
            )
        service_name = str((then or {}).get("name") or service_name)
    now = hub.dispatcher.clock()
    # No customer data in an offer: the agent sees the person only once they take the contact.
    return {
        "enquiry_id": offer.enquiry_id,
        "reference": offer.reference,
        "owner": offer.owner,
        "owner_name": owner.name if owner else offer.owner,
        "service": service_name,
        "channel": offer.channel,
        # Live contacts (phone, face to face, callbacks) are answered now; web forms and emails can wait.
        "live": kind_of_channel(offer.channel) == "voice",
        "callback": offer.callback,
        "callback_reason": offer.callback_reason,
        "callback_attempts": offer.callback_attempts,
        "channel_label": CHANNEL_LABELS.get(offer.channel, offer.channel),
        "priority": offer.priority,
        "waited_seconds": round((now - offer.queued_at).total_seconds()) if offer.queued_at else None,
        "expires_at_ms": to_ms(offer.expires_at),
        "server_now_ms": to_ms(now),
    }


@router.get("/events")
async def events(request: Request, user: SignedIn = Depends(agent_user)) -> StreamingResponse:
    """Server-sent events: ``offer`` and ``offer_gone`` as the live state changes, ``status`` when the
    agent's status does, ``signed_out`` when the session ends."""
    hub = hub_of(request)
    agent_id = user.agent_id
    assert agent_id is not None
    token: str = request.state.session_token

    async def stream() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        loop = asyncio.get_running_loop()
        ends = loop.time() + _STREAM_SECONDS
        shown: tuple[int, int] | None = None
        tick = 0
        while loop.time() < ends and not await request.is_disconnected():
            if tick % _STATUS_EVERY == 0:
                async with unit_of_work(hub.sessionmaker) as session:
                    if await resolve_session(session, token, now=hub.dispatcher.clock()) is None:
                        yield _sse("signed_out", {})
                        return
                    status = await agent_status(session, agent_id)
                yield _sse("status", {"status": status})
            raw = await hub.live.offer_for(agent_id)
            key = (raw.enquiry_id, raw.expires_ms) if raw else None
            if key != shown:
                payload = await _offer_payload(hub, agent_id) if raw else None
                if payload is not None:
                    yield _sse("offer", payload)
                    shown = key
                elif shown is not None:
                    yield _sse("offer_gone", {})
                    shown = None
                # A reservation the database has not recorded yet is looked at again on the next tick.
            tick += 1
            await asyncio.sleep(_OFFER_TICK)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
