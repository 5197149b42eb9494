"""The supervisors' live view of one partner: the floor, agents' skills changed live, routing trails."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from figures.floor import Floor, read_floor
from hub.accounts.service import SignedIn
from hub.web.deps import PageError, check_csrf, hub_of, page_context, role
from hub.web.templating import render
from plumbing.audit.service import record
from plumbing.db.session import unit_of_work
from plumbing.problems import Problem
from routing.access import enquiry_access, trail_events, visible_step_data
from routing.dispatch.desk import DeskError
from routing.dispatch.skills import set_proficiency, set_skills
from routing.narrative import Step, names_for, tell
from routing.queries import enquiry_by_id, enquiry_by_reference
from tenants.access import may_read_partner
from tenants.models import Agent, Tenant
from tenants.queries import agent_by_id, catalogue_skills, first_partner, tenant_by_slug, tenants_ordered

router = APIRouter(prefix="/supervisor", include_in_schema=False)
supervisor_user = role("supervisor")


async def _tenant(request: Request, user: SignedIn, wanted: str | None) -> Tenant:
    """The partner on view: the user's own, or for hub staff the one asked for (or the first)."""
    async with hub_of(request).sessionmaker() as session:
        if user.tenant is not None:
            if wanted not in (None, "", user.tenant):
                raise PageError(404, "There is no such partner for you to see.")
            tenant = await tenant_by_slug(session, user.tenant)
        elif wanted:
            tenant = await tenant_by_slug(session, wanted)
        else:
            tenant = await first_partner(session)
    if tenant is None:
        raise PageError(404, "There is no such partner for you to see.")
    return tenant


async def _partners(request: Request, user: SignedIn) -> list[Tenant]:
    if user.tenant is not None:
        return []
    async with hub_of(request).sessionmaker() as session:
        return await tenants_ordered(session, by="name")


async def _floor(request: Request, user: SignedIn, wanted: str | None) -> Floor:
    """The floor of the partner on view, as the whole page and its refreshed part both show it."""
    hub = hub_of(request)
    chosen = await _tenant(request, user, wanted)
    async with hub.sessionmaker() as session:
        return await read_floor(session, tenant=chosen, now=hub.dispatcher.clock())


@router.get("")
async def supervisor_page(
    request: Request, tenant: str | None = None, user: SignedIn = Depends(supervisor_user)
) -> Response:
    floor = await _floor(request, user, tenant)
    return render(
        request,
        "supervisor.html",
        page_context(request, floor=floor, partners=await _partners(request, user)),
    )


@router.get("/floor")
async def floor_fragment(
    request: Request, tenant: str | None = None, user: SignedIn = Depends(supervisor_user)
) -> Response:
    """The live part of the page, fetched again every few seconds."""
    return render(request, "_floor.html", page_context(request, floor=await _floor(request, user, tenant)))


async def _agent_for(request: Request, user: SignedIn, agent_id: str) -> Agent:
    async with hub_of(request).sessionmaker() as session:
        agent = await agent_by_id(session, agent_id)
    if agent is None or not may_read_partner(user, agent.tenant_slug):
        raise PageError(404, "There is no such agent for you to see.")
    return agent


@router.get("/agents/{agent_id}")
async def agent_page(agent_id: str, request: Request, user: SignedIn = Depends(supervisor_user)) -> Response:
    agent = await _agent_for(request, user, agent_id)
    async with hub_of(request).sessionmaker() as session:
        known = sorted(await catalogue_skills(session, agent.tenant_slug) | set(agent.skills))
    return render(request, "agent_skills.html", page_context(request, agent=agent, known=known))


async def _audit(request: Request, user: SignedIn, agent: Agent, action: str, detail: dict[str, Any]) -> None:
    """A supervisor's change to an agent, in the audit log (who, whose agent, what)."""
    hub = hub_of(request)
    async with unit_of_work(hub.sessionmaker) as session:
        await record(
            session,
            at=hub.dispatcher.clock(),
            action=action,
            user_id=user.user_id,
            username=user.username,
            role=user.role,
            actor_tenant=user.tenant,
            agent_id=agent.id,
            owner_tenant=agent.tenant_slug,
            detail=detail,
        )


@router.post("/agents/{agent_id}/proficiency")
async def change_proficiency(
    agent_id: str, request: Request, user: SignedIn = Depends(supervisor_user)
) -> Response:
    """The levels of the agent's skills (issue 20: proficiency editable live by supervisors), as the API does."""
    form = await request.form()
    csrf = form.get("csrf")
    check_csrf(request, csrf if isinstance(csrf, str) else None)
    agent = await _agent_for(request, user, agent_id)
    levels: dict[str, int | None] = {}
    for key, value in form.multi_items():
        if key.startswith("level_") and isinstance(value, str):
            levels[key.removeprefix("level_")] = int(value) if value.isdigit() else None
    hub = hub_of(request)
    try:
        changed = await set_proficiency(hub.dispatcher, agent.id, levels)
    except Problem as exc:
        return RedirectResponse(f"/supervisor/agents/{agent.id}?notice={exc.code}", status_code=303)
    await _audit(request, user, agent, "agent.proficiency_changed", {"levels": changed.levels})
    return RedirectResponse(f"/supervisor?tenant={agent.tenant_slug}&notice=levels_saved", status_code=303)


@router.post("/agents/{agent_id}/skills")
async def change_skills(
    agent_id: str,
    request: Request,
    skills: list[str] = Form(default_factory=list),
    extra: str | None = Form(None),
    csrf: str | None = Form(None),
    user: SignedIn = Depends(supervisor_user),
) -> Response:
    check_csrf(request, csrf)
    agent = await _agent_for(request, user, agent_id)
    wanted = [*skills[:100], *(extra or "").replace(",", " ").split()[:50]]
    hub = hub_of(request)
    try:
        changed = await set_skills(hub.dispatcher, agent.id, wanted)
    except DeskError as exc:
        return RedirectResponse(f"/supervisor/agents/{agent.id}?notice={exc.code}", status_code=303)
    await _audit(
        request,
        user,
        agent,
        "agent.skills_changed",
        {"before": changed.before, "after": changed.after, "offered_enquiry": changed.offered_enquiry},
    )
    return RedirectResponse(f"/supervisor?tenant={agent.tenant_slug}&notice=skills_saved", status_code=303)


@router.get("/find")
async def find(request: Request, reference: str = "", user: SignedIn = Depends(supervisor_user)) -> Response:
    async with hub_of(request).sessionmaker() as session:
        enquiry = await enquiry_by_reference(session, reference.strip().upper()[:32])
        access = await enquiry_access(session, user, enquiry) if enquiry is not None else None
    if enquiry is None or access is None:
        raise PageError(404, "There is no enquiry with that reference for you to see.")
    return RedirectResponse(f"/supervisor/enquiries/{enquiry.id}", status_code=303)


@router.get("/enquiries/{enquiry_id}")
async def trail(enquiry_id: str, request: Request, user: SignedIn = Depends(supervisor_user)) -> Response:
    """Why a contact went where it went: its events in order, with the figures and reasons each recorded.

    Agents' notes may describe the customer, so only the owner's supervisors see them, and that is audited.
    """
    hub = hub_of(request)
    wanted = int(enquiry_id) if enquiry_id.isdigit() and len(enquiry_id) < 19 else None
    async with unit_of_work(hub.sessionmaker) as session:
        enquiry = await enquiry_by_id(session, wanted)
        # the same decision and the same rows as GET /api/v1/enquiries/{id}/trail (routing.access)
        access = await enquiry_access(session, user, enquiry) if enquiry is not None else None
        if enquiry is None or access is None:
            raise PageError(404, "There is no such enquiry for you to see.")
        events = await trail_events(session, enquiry.id)
        names = await names_for(session, enquiry, events)
        rows: list[dict[str, Any]] = []
        notes_shown = False
        for e in events:
            data = visible_step_data(access, e.data)
            hidden = "notes" in (e.data or {}) and "notes" not in data
            notes_shown = notes_shown or ("notes" in data and access.as_owner)
            says = tell(
                Step(e.event, e.at, e.agent_id, e.handler_slug, data),
                names,
                owner=enquiry.tenant_slug,
                service_code=enquiry.service_code,
            )
            if hidden:
                says += " Its notes are shown only to the owner's supervisors."
            rows.append({"at": e.at, "when": names.clock(e.at), "event": e.event, "says": says})
        if notes_shown:
            await record(
                session,
                at=hub.dispatcher.clock(),
                action="customer.viewed",
                user_id=user.user_id,
                username=user.username,
                role=user.role,
                actor_tenant=user.tenant,
                enquiry_id=enquiry.id,
                customer_id=enquiry.customer_id,
                owner_tenant=enquiry.tenant_slug,
                fields=["notes"],
                detail={"page": "trail"},
            )
    return render(
        request,
        "trail.html",
        page_context(
            request,
            enquiry=enquiry,
            service_name=names.service(enquiry.tenant_slug, enquiry.service_code),
            owner_name=names.partner(enquiry.tenant_slug),
            handler_name=names.partner(enquiry.handler_slug) if enquiry.handler_slug else None,
            agent_name=names.agent(enquiry.agent_id) if enquiry.agent_id else None,
            zone=names.zone.key,
            events=rows,
        ),
    )
