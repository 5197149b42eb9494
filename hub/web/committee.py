"""The committee's dashboard: per-partner tiles, trend charts, the overflow matrix, the ledger, period filters and
the committee pack to download. Each partner's own figures only, unless the user is hub-wide."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from figures.pack import MEDIA_TYPES, charts, tiles
from figures.pack import render as render_pack
from figures.periods import PERIOD, PeriodError, PeriodFigures
from figures.work import figures_work, period_work
from hub.accounts.service import SignedIn
from hub.web.deps import PageError, hub_of, page_context, role
from hub.web.floor import start_of_day
from hub.web.templating import render
from tenants.access import may_read_partner
from tenants.models import Tenant

router = APIRouter(prefix="/committee", include_in_schema=False)
Viewer = Depends(role("committee", "supervisor"))
CHART_NAMES = ("volumes", "service_level", "channels")


async def _partners(session: AsyncSession, user: SignedIn) -> list[Tenant]:
    query = select(Tenant).where(Tenant.kind == "partner").order_by(Tenant.name)
    if user.tenant is not None:
        query = query.where(Tenant.slug == user.tenant)
    return list((await session.scalars(query)).all())


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


async def _figures(request: Request, user: SignedIn, period: str) -> list[tuple[Tenant, PeriodFigures]]:
    hub = hub_of(request)
    async with hub.sessionmaker() as session:
        out = []
        for tenant in await _partners(session, user):
            try:
                out.append((tenant, await hub.side_loop.run(period_work(tenant.slug, period))))
            except PeriodError as exc:
                raise PageError(400, str(exc)) from None
        return out


@router.get("")
async def committee_page(request: Request, period: str | None = None, user: SignedIn = Viewer) -> Response:
    hub = hub_of(request)
    now = hub.dispatcher.clock()
    this_month = now.strftime("%Y-%m")
    period = _period_or_error(period or this_month)
    today = []
    async with hub.sessionmaker() as session:
        for tenant in await _partners(session, user):
            start = start_of_day(now, tenant.timezone)
            today.append(
                (
                    tenant,
                    await hub.side_loop.run(figures_work(tenant.slug, start, now + timedelta(seconds=1))),
                )
            )
    pages = [(tenant, p, tiles(p)) for tenant, p in await _figures(request, user, period)]
    return render(
        request,
        "committee.html",
        page_context(
            request,
            rows=today,
            pages=pages,
            period=period,
            months=_recent_months(this_month),
            charts=CHART_NAMES,
        ),
    )


@router.get("/charts/{tenant}/{period}/{name}.png")
async def chart(tenant: str, period: str, name: str, request: Request, user: SignedIn = Viewer) -> Response:
    """Charts are separate images: the pages' content policy allows no inline data."""
    if name not in CHART_NAMES:
        raise PageError(404, "There is no such chart.")
    if not may_read_partner(user, tenant):
        raise PageError(404, "There is no such chart.")
    hub = hub_of(request)
    async with hub.sessionmaker() as session:
        if await session.get(Tenant, tenant) is None:
            raise PageError(404, "There is no such partner.")
    try:
        figures = await hub.side_loop.run(period_work(tenant, _period_or_error(period)))
    except PeriodError as exc:
        raise PageError(400, str(exc)) from None
    images = await hub.side_loop.compute(charts, figures)
    return Response(images[name], media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/pack/{period}.{fmt}")
async def pack(
    period: str, fmt: Literal["pdf", "html", "csv"], request: Request, user: SignedIn = Viewer
) -> Response:
    """The committee pack for every partner this user may see."""
    figures = [p for _tenant, p in await _figures(request, user, _period_or_error(period))]
    scope = re.sub(r"[^a-z0-9-]", "", user.tenant or "all-partners")
    return Response(
        await hub_of(request).side_loop.compute(render_pack, figures, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="committee-pack-{scope}-{period}.{fmt}"'},
    )
