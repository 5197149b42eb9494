"""The committee's page: today's headline figures for each partner it may see (the full pack comes later)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select

from hub.accounts.service import SignedIn
from hub.metrics.service import tenant_figures
from hub.web.deps import hub_of, page_context, role
from hub.web.floor import start_of_day
from hub.web.templating import render
from tenants.models import Tenant

router = APIRouter(prefix="/committee", include_in_schema=False)


@router.get("")
async def committee_page(
    request: Request, user: SignedIn = Depends(role("committee", "supervisor"))
) -> Response:
    hub = hub_of(request)
    now = hub.dispatcher.clock()
    rows = []
    async with hub.sessionmaker() as session:
        query = select(Tenant).where(Tenant.kind == "partner").order_by(Tenant.name)
        if user.tenant is not None:
            query = query.where(Tenant.slug == user.tenant)
        for tenant in (await session.scalars(query)).all():
            start = start_of_day(now, tenant.timezone)
            figures = await tenant_figures(
                session, tenant=tenant.slug, start=start, end=now + timedelta(seconds=1)
            )
            rows.append((tenant, figures))
    return render(request, "committee.html", page_context(request, rows=rows))
