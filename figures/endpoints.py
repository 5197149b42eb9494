"""Figures for supervisors, the committee and partners: headline metrics, grouped figures, periods, the pack."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import AwareDatetime, BaseModel

from figures.pack import MEDIA_TYPES, gather, render
from figures.periods import PeriodError, period_figures, publish_period
from figures.service import group_figures, tenant_figures, tenant_zone, timelines
from plumbing.auth.dependencies import check_tenant, require
from plumbing.auth.service import Principal
from plumbing.db.session import unit_of_work
from tenants.models import Tenant

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
    check_tenant(principal, tenant)
    async with request.app.state.hub.sessionmaker() as session:
        if await session.get(Tenant, tenant) is None:
            raise HTTPException(404, f"no tenant {tenant!r}")


def _range(from_: datetime, to: datetime) -> None:
    if to <= from_:
        raise HTTPException(400, "`to` must be after `from`")


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
    async with request.app.state.hub.sessionmaker() as session:
        figures = await tenant_figures(session, tenant=tenant, start=from_, end=to)
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
    async with request.app.state.hub.sessionmaker() as session:
        zone = await tenant_zone(session, tenant)
        rows = group_figures(
            await timelines(session, tenant=tenant, start=from_, end=to),
            interval=interval,
            zone=zone,
            by_service="service" in by,
            by_channel="channel" in by,
        )
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


@router.get("/{tenant}/periods/{period}", summary="A month's figures (as published, if it has been)")
async def period(tenant: str, period: str, request: Request, principal: Principal = Reader) -> dict[str, Any]:
    await _known(request, principal, tenant)
    async with request.app.state.hub.sessionmaker() as session:
        try:
            return (await period_figures(session, tenant=tenant, period=period)).to_json()
        except PeriodError as exc:
            raise HTTPException(400, str(exc)) from None


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
            raise HTTPException(409, str(exc)) from None


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
    async with request.app.state.hub.sessionmaker() as session:
        try:
            paper = await gather(session, tenants=[tenant], period=period, now=datetime.now(UTC))
        except PeriodError as exc:
            raise HTTPException(400, str(exc)) from None
    # Charts and the PDF are CPU work of a second or more: off the event loop, so agents are never held.
    return Response(
        await asyncio.to_thread(render, paper, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="committee-pack-{tenant}-{period}.{fmt}"'},
    )
