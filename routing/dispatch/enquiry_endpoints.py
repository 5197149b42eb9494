"""Routing seen from outside: an enquiry's trail and predicted wait, a callback accepted, a partner's queues."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from plumbing.auth.dependencies import require
from plumbing.auth.service import Principal
from plumbing.db.base import MAX_ROW_ID
from plumbing.db.session import unit_of_work
from plumbing.problems import Problem
from routing.access import EnquiryAccess, enquiry_access, trail_events, visible_step_data
from routing.dispatch.callbacks import figures as callback_counts
from routing.dispatch.callbacks import take_callback
from routing.dispatch.router import terms_of_service
from routing.dispatch.service import Dispatcher, facts_of
from routing.models import Enquiry
from routing.narrative import Step, names_for, tell
from routing.policy import estimate_wait, predict_wait
from routing.queries import enquiry_by_id
from routing.states import EnquiryState
from tenants.access import check_partner

router = APIRouter(prefix="/api/v1", tags=["routing"])


class TrailStep(BaseModel):
    event: str
    at: datetime
    agent_id: str | None
    handler: str | None
    data: dict[str, Any]
    says: str = Field(description="The step in words, as the supervisor's trail page shows it")


EnquiryId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


class Trail(BaseModel):
    enquiry_id: int
    reference: str
    owner: str
    service_code: str
    channel: str
    state: str
    handler: str | None
    agreement: str | None
    owner_name: str
    service_name: str = Field(description="As the enquiry's own catalogue version named it")
    steps: list[TrailStep]


class WaitOut(BaseModel):
    enquiry_id: int
    state: str
    queue: str | None
    position: int | None
    predicted_wait_seconds: float | None
    method: str
    figures: dict[str, Any]
    follow_up: str | None


class QueueOut(BaseModel):
    queue: str
    service_code: str
    waiting: int
    head_wait_seconds: float
    agents_staffed: int
    agents_idle: int
    arrivals_per_hour: float
    aht_seconds: float | None
    interval_service_level: float | None
    predicted_wait_seconds: float | None
    method: str


class CallbackIn(BaseModel):
    phone: str | None = Field(default=None, max_length=40)


def _dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.hub.dispatcher
    return dispatcher


async def _enquiry(request: Request, enquiry_id: int) -> Enquiry:
    async with request.app.state.hub.sessionmaker() as session:
        enquiry = await enquiry_by_id(session, enquiry_id)
    if enquiry is None:
        raise _no_enquiry(enquiry_id)
    return enquiry


def _no_enquiry(enquiry_id: int) -> Problem:
    """One answer for an enquiry that does not exist and for one the caller may not know exists."""
    return Problem(404, "unknown_enquiry", f"no enquiry {enquiry_id}")


async def _access(
    request: Request, principal: Principal, enquiry: Enquiry, *, as_owner: bool
) -> EnquiryAccess:
    """Asks the one decision (``routing.access``); 404 for what the caller may not know exists."""
    async with request.app.state.hub.sessionmaker() as session:
        access = await enquiry_access(session, principal, enquiry)
    if access is None or (as_owner and not access.as_owner):
        raise _no_enquiry(enquiry.id)
    return access


@router.get(
    "/enquiries/{enquiry_id}/trail",
    response_model=Trail,
    summary="Every routing step of an enquiry, with the rules and figures behind each",
)
async def trail(
    enquiry_id: EnquiryId, request: Request, principal: Principal = Depends(require("supervisor", "agent"))
) -> Trail:
    enquiry = await _enquiry(request, enquiry_id)
    access = await _access(request, principal, enquiry, as_owner=False)
    async with request.app.state.hub.sessionmaker() as session:
        events = await trail_events(session, enquiry_id)
        names = await names_for(session, enquiry, events)
    return Trail(
        enquiry_id=enquiry.id,
        reference=enquiry.reference,
        owner=enquiry.tenant_slug,
        service_code=enquiry.service_code,
        channel=enquiry.channel,
        state=enquiry.state,
        handler=enquiry.handler_slug,
        agreement=enquiry.agreement_id,
        owner_name=names.partner(enquiry.tenant_slug),
        service_name=names.service(enquiry.tenant_slug, enquiry.service_code),
        steps=[
            TrailStep(
                event=e.event,
                at=e.at,
                agent_id=e.agent_id,
                handler=e.handler_slug,
                data=visible_step_data(access, e.data),
                says=tell(
                    Step(e.event, e.at, e.agent_id, e.handler_slug, visible_step_data(access, e.data)),
                    names,
                    owner=enquiry.tenant_slug,
                    service_code=enquiry.service_code,
                ),
            )
            for e in events
        ],
    )


@router.get(
    "/enquiries/{enquiry_id}/wait",
    response_model=WaitOut,
    summary="Where a waiting enquiry is and how long it is predicted to wait (estimated now)",
)
async def wait(
    enquiry_id: EnquiryId,
    request: Request,
    principal: Principal = Depends(require("supervisor", "partner")),
) -> WaitOut:
    enquiry = await _enquiry(request, enquiry_id)
    await _access(request, principal, enquiry, as_owner=True)
    dispatcher = _dispatcher(request)
    position = await dispatcher.live.position(enquiry_id) if enquiry.state == EnquiryState.QUEUED else None
    if position is None:
        return WaitOut(
            enquiry_id=enquiry_id,
            state=enquiry.state,
            queue=None,
            position=None,
            predicted_wait_seconds=0.0 if enquiry.state != EnquiryState.QUEUED else None,
            method="not_waiting" if enquiry.state != EnquiryState.QUEUED else "unknown",
            figures={},
            follow_up=enquiry.follow_up,
        )
    catalogue = await dispatcher.catalogue.get()
    info = catalogue.service(enquiry.tenant_slug, enquiry.service_code)
    assert info is not None
    base = f"{enquiry.tenant_slug}/{enquiry.service_code}"
    snapshot = await dispatcher.router.snapshot({base}, dispatcher.clock())
    # Re-estimated now, the lenders' agents under agreements counted as decide counts them.
    prediction = estimate_wait(facts_of(enquiry), terms_of_service(info), snapshot, position[1])
    return WaitOut(
        enquiry_id=enquiry_id,
        state=enquiry.state,
        queue=position[0],
        position=position[1],
        predicted_wait_seconds=None if prediction.seconds is None else round(prediction.seconds, 1),
        method=prediction.method,
        figures=dict(prediction.figures),
        follow_up=enquiry.follow_up,
    )


@router.post(
    "/enquiries/{enquiry_id}/callback",
    response_model=WaitOut,
    summary="The caller took the callback: they may hang up and keep their place",
)
async def accept_callback(
    enquiry_id: EnquiryId,
    body: CallbackIn,
    request: Request,
    principal: Principal = Depends(require("supervisor", "partner")),
) -> WaitOut:
    enquiry = await _enquiry(request, enquiry_id)
    await _access(request, principal, enquiry, as_owner=True)
    dispatcher = _dispatcher(request)
    async with unit_of_work(dispatcher.sessionmaker) as session:
        await take_callback(session, enquiry_id, phone=body.phone, now=dispatcher.clock())
    return await wait(enquiry_id, request, principal)


@router.get(
    "/tenants/{tenant}/queues",
    response_model=list[QueueOut],
    summary="A partner's queues now: waiting, agents, rolling figures and the predicted wait of the next caller",
)
async def queues(
    tenant: str,
    request: Request,
    principal: Principal = Depends(require("supervisor", "committee", "partner")),
) -> list[QueueOut]:
    check_partner(principal, tenant)
    dispatcher = _dispatcher(request)
    catalogue = await dispatcher.catalogue.get()
    info = catalogue.tenants.get(tenant)
    if info is None:
        raise Problem(404, "unknown_partner", f"no partner {tenant!r}")
    snapshot = await dispatcher.router.snapshot({f"{tenant}/{c}" for c in info.services}, dispatcher.clock())
    out = []
    for code, service in sorted(info.services.items()):
        figures = snapshot.figures(tenant, code)
        prediction = predict_wait(figures, terms_of_service(service), figures.waiting + 1)
        out.append(
            QueueOut(
                queue=f"{tenant}/{code}",
                service_code=code,
                waiting=figures.waiting,
                head_wait_seconds=round(figures.head_wait_seconds, 1),
                agents_staffed=figures.agents_staffed,
                agents_idle=figures.agents_idle,
                arrivals_per_hour=round(figures.arrivals_per_second * 3600, 1),
                aht_seconds=None if figures.aht_seconds is None else round(figures.aht_seconds, 1),
                interval_service_level=figures.interval_service_level,
                predicted_wait_seconds=None if prediction.seconds is None else round(prediction.seconds, 1),
                method=prediction.method,
            )
        )
    return out


class CallbackFiguresOut(BaseModel):
    tenant: str
    since: datetime
    until: datetime
    callbacks_taken: int = Field(description="callers who took a callback offered while waiting")
    attempts: dict[str, int] = Field(description="attempts by result: reached, no_answer, busy, wrong_number")
    attempts_total: int
    kept: int = Field(description="attempts that reached the caller")
    given_up: int = Field(description="callbacks completed as callback_not_reached after their last attempt")


@router.get(
    "/tenants/{tenant}/callbacks/figures",
    response_model=CallbackFiguresOut,
    summary="Callbacks promised and kept over a period: taken, attempts by result, kept, given up",
)
async def callback_figures(
    tenant: str,
    since: datetime,
    until: datetime,
    request: Request,
    principal: Principal = Depends(require("supervisor", "committee", "partner")),
) -> CallbackFiguresOut:
    check_partner(principal, tenant)
    dispatcher = _dispatcher(request)
    async with dispatcher.sessionmaker() as session:
        counted = await callback_counts(session, tenant, since, until)
    return CallbackFiguresOut(tenant=tenant, since=since, until=until, **counted)
