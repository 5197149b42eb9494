"""The committee's dashboard: today so far, then the month as the committee's paper shows it (the summary across
partners and the pool against each service's own target, a section per partner and for the pool, how to read it)
and the paper to download. Each partner's own figures only, unless the user is hub-wide."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from figures.floor import start_of_day
from figures.pack import CHART_NAMES, MEDIA_TYPES, TREND_MONTHS, Paper, chart, month_name
from figures.pack import render as render_pack
from figures.periods import PERIOD, PeriodError
from figures.work import Dashboard, dashboard_work, figures_work, paper_work
from hub.accounts.service import SignedIn
from hub.web.deps import PageError, hub_of, page_context, role
from hub.web.templating import render
from tenants.access import may_read_partner
from tenants.models import Tenant
from tenants.queries import partners_and_pool

router = APIRouter(prefix="/committee", include_in_schema=False)
Viewer = Depends(role("committee", "supervisor"))


async def _tenants(session: AsyncSession, user: SignedIn) -> list[Tenant]:
    """The partners this user may see, and the hub's pool for hub-wide users (partners by name, pool last)."""
    return await partners_and_pool(session, only=user.tenant)


def _recent_months(this_month: str, count: int = 12) -> list[str]:
    year, month = int(this_month[:4]), int(this_month[5:])
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months


def _period_or_error(period: str) -> str:
    if not PERIOD.match(period):
        raise PageError(400, f"A period looks like 2026-10, not {period!r}.")
    return period


async def _paper(
    request: Request, user: SignedIn, period: str, only: str | None = None, months: int = TREND_MONTHS
) -> Paper:
    hub = hub_of(request)
    async with hub.sessionmaker() as session:
        tenants = [t.slug for t in await _tenants(session, user) if only is None or t.slug == only]
    if only is not None and not tenants:
        raise PageError(404, "There is no such chart.")
    try:
        return await hub.side_loop.run(paper_work(tenants, period, hub.dispatcher.clock(), months=months))
    except PeriodError as exc:
        raise PageError(400, str(exc)) from None


async def _dashboard(request: Request, user: SignedIn, period: str) -> Dashboard:
    hub = hub_of(request)
    async with hub.sessionmaker() as session:
        tenants = [t.slug for t in await _tenants(session, user)]
    try:
        return await hub.side_loop.run(dashboard_work(tenants, period, hub.dispatcher.clock()))
    except PeriodError as exc:
        raise PageError(400, str(exc)) from None


@router.get("")
async def committee_page(request: Request, period: str | None = None, user: SignedIn = Viewer) -> Response:
    hub = hub_of(request)
    now = hub.dispatcher.clock()
    this_month = now.strftime("%Y-%m")
    period = _period_or_error(period or this_month)
    today = []
    async with hub.sessionmaker() as session:
        for tenant in await _tenants(session, user):
            if tenant.kind != "partner":
                continue  # the pool owns no contacts: it appears below with what it received
            start = start_of_day(now, tenant.timezone)
            figures = await hub.side_loop.run(figures_work(tenant.slug, start, now + timedelta(seconds=1)))
            today.append((tenant, figures))
    dashboard = await _dashboard(request, user, period)  # its HTML parts rendered off this loop
    return render(
        request,
        "committee.html",
        page_context(
            request,
            rows=today,
            paper=dashboard.paper,
            period=period,
            month=month_name(period),
            month_name=month_name,
            months=_recent_months(this_month),
            summary=dashboard.summary,
            how_to_read=dashboard.how_to_read,
            sections=dashboard.sections,
            charts=CHART_NAMES,
        ),
    )


@router.get("/charts/{tenant}/{period}/{name}.png")
async def chart_png(
    tenant: str, period: str, name: str, request: Request, user: SignedIn = Viewer
) -> Response:
    """Charts are separate images: the pages' content policy allows no inline data."""
    if name not in CHART_NAMES:
        raise PageError(404, "There is no such chart.")
    if not may_read_partner(user, tenant):
        raise PageError(404, "There is no such chart.")
    months = TREND_MONTHS if name == "trend" else 1  # only the trend reads the months before
    paper = await _paper(request, user, _period_or_error(period), only=tenant, months=months)
    png = await hub_of(request).side_loop.compute(chart, paper.sections[0], name)  # matplotlib: CPU work
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/pack/{period}.{fmt}")
async def pack(
    period: str, fmt: Literal["pdf", "html", "csv"], request: Request, user: SignedIn = Viewer
) -> Response:
    """The committee's paper for every partner (and the pool) this user may see."""
    paper = await _paper(request, user, _period_or_error(period))
    scope = re.sub(r"[^a-z0-9-]", "", user.tenant or "all-partners")
    return Response(
        await hub_of(request).side_loop.compute(render_pack, paper, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="committee-pack-{scope}-{period}.{fmt}"'},
    )
