"""Figures for supervisors, the committee and partners: headline metrics, grouped figures, periods, the pack."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from figures.callbacks import CallbackFigures, callback_figures
from figures.callbacks import total as callback_total
from figures.pack import MEDIA_TYPES, render
from figures.periods import PeriodError, correct_period, publish_period
from figures.service import (
    FigureRow,
    figure_cells,
    tallied_rows,
    tenant_zone,
)
from figures.work import figures_work, paper_work, period_work
from plumbing.auth.dependencies import require
from plumbing.auth.service import Principal
from plumbing.db.session import unit_of_work
from plumbing.problems import Problem
from tenants.access import check_partner
from tenants.service import partner_or_404

router = APIRouter(prefix="/api/v1/tenants", tags=["figures"])
Reader = Depends(require("supervisor", "committee", "partner"))


class MetricsOut(BaseModel):
    tenant: str
    from_: datetime
    to: datetime
    offered: int
    answered: int
    answered_within_threshold: int
    abandoned: int
    short_abandoned: int
    service_level: float | None
    abandonment_rate: float | None
    asa_seconds: float | None
    handled: int
    aht_seconds: float | None
    first_contact_resolution: float | None
    longest_wait_seconds: float | None
    callbacks: int
    transfers: int
    avoidable: int
    definitions_version: str


async def _known(request: Request, principal: Principal, tenant: str) -> None:
    check_partner(principal, tenant)
    async with request.app.state.hub.sessionmaker() as session:
        await partner_or_404(session, tenant)


def _range(from_: datetime, to: datetime) -> None:
    if to <= from_:
        raise Problem(400, "invalid_range", "`to` must be after `from`")


@router.get(
    "/{tenant}/metrics", response_model=MetricsOut, summary="Figures for contacts queued in [from, to)"
)
async def metrics(
    tenant: str,
    request: Request,
    from_: AwareDatetime = Query(alias="from", description="ISO 8601 with zone, inclusive"),
    to: AwareDatetime = Query(description="ISO 8601 with zone, exclusive"),
    principal: Principal = Reader,
) -> MetricsOut:
    _range(from_, to)
    await _known(request, principal, tenant)

    figures = await request.app.state.hub.side_loop.run(figures_work(tenant, from_, to))
    return MetricsOut(tenant=tenant, from_=from_, to=to, **asdict(figures))


@router.get("/{tenant}/figures", summary="Figures per interval, optionally per service and channel")
async def figures(
    tenant: str,
    request: Request,
    from_: AwareDatetime = Query(alias="from"),
    to: AwareDatetime = Query(),
    interval: Literal["15min", "hour", "day", "month"] = Query("hour"),
    by: list[Literal["service", "channel"]] = Query(default_factory=list),
    principal: Principal = Reader,
) -> dict[str, Any]:
    _range(from_, to)
    await _known(request, principal, tenant)

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> list[FigureRow]:
        async with sessionmaker() as session:
            zone = await tenant_zone(session, tenant)
            return tallied_rows(
                await figure_cells(session, tenant=tenant, start=from_, end=to, zone=zone, unit=interval),
                interval=interval,
                zone=zone,
                by_service="service" in by,
                by_channel="channel" in by,
            )

    rows = await request.app.state.hub.side_loop.run(work)
    return {
        "tenant": tenant,
        "interval": interval,
        "rows": [
            {
                "interval_start": r.interval_start.isoformat(),
                "service_code": r.service_code,
                "channel": r.channel,
                **asdict(r.figures),
            }
            for r in rows
        ],
    }


@router.get(
    "/{tenant}/figures/callbacks",
    summary="Callbacks per service in [from, to): requested, rung, reached, missed, retried, given up, completed, "
    "time to callback",
)
async def callbacks(
    tenant: str,
    request: Request,
    from_: AwareDatetime = Query(alias="from", description="ISO 8601 with zone, inclusive"),
    to: AwareDatetime = Query(description="ISO 8601 with zone, exclusive"),
    principal: Principal = Reader,
) -> dict[str, Any]:
    _range(from_, to)
    await _known(request, principal, tenant)

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, CallbackFigures]:
        async with sessionmaker() as session:
            return await callback_figures(session, tenant=tenant, start=from_, end=to)

    by_service = await request.app.state.hub.side_loop.run(work)
    return {
        "tenant": tenant,
        "from": from_.isoformat(),
        "to": to.isoformat(),
        "total": callback_total(tenant, by_service).as_dict(),
        "services": [f.as_dict() for f in by_service.values()],
    }


@router.get("/{tenant}/periods/{period}", summary="A month's figures (as published, if it has been)")
async def period(tenant: str, period: str, request: Request, principal: Principal = Reader) -> dict[str, Any]:
    await _known(request, principal, tenant)
    try:
        return (await request.app.state.hub.side_loop.run(period_work(tenant, period))).to_json()
    except PeriodError as exc:
        raise Problem(400, "invalid_period", str(exc)) from None


@router.post(
    "/{tenant}/periods/{period}/publish", summary="Freeze a month's figures with the definitions in force"
)
async def publish(
    tenant: str, period: str, request: Request, principal: Principal = Depends(require("committee"))
) -> dict[str, Any]:
    await _known(request, principal, tenant)
    async with unit_of_work(request.app.state.hub.sessionmaker) as session:
        try:
            return (
                await publish_period(session, tenant=tenant, period=period, now=datetime.now(UTC))
            ).to_json()
        except PeriodError as exc:
            raise Problem(409, "period_refused", str(exc)) from None


class CorrectionIn(BaseModel):
    reason: str = Field(min_length=3, max_length=500, description="Why the published month is corrected")


@router.post(
    "/{tenant}/periods/{period}/corrections",
    summary="Publish a correction of a published month: a new publication naming the one it corrects",
)
async def correct(
    tenant: str,
    period: str,
    body: CorrectionIn,
    request: Request,
    principal: Principal = Depends(require("committee")),
) -> dict[str, Any]:
    await _known(request, principal, tenant)
    async with unit_of_work(request.app.state.hub.sessionmaker) as session:
        try:
            return (
                await correct_period(
                    session, tenant=tenant, period=period, now=datetime.now(UTC), reason=body.reason
                )
            ).to_json()
        except PeriodError as exc:
            raise Problem(409, "period_refused", str(exc)) from None


@router.get(
    "/{tenant}/periods/{period}/pack.{fmt}", summary="The committee pack for one partner: pdf, html or csv"
)
async def pack(
    tenant: str,
    period: str,
    fmt: Literal["pdf", "html", "csv"],
    request: Request,
    principal: Principal = Reader,
) -> Response:
    await _known(request, principal, tenant)
    side_loop = request.app.state.hub.side_loop
    try:
        paper = await side_loop.run(paper_work([tenant], period, datetime.now(UTC)))
    except PeriodError as exc:
        raise Problem(400, "invalid_period", str(exc)) from None
    # Charts and the PDF are CPU work of a second or more: in the side loop's process, never on the agents' loop.
    body = await side_loop.compute(render, paper, fmt)
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="committee-pack-{tenant}-{period}.{fmt}"'},
    )
