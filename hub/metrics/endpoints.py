"""GET /api/v1/tenants/{tenant}/metrics: the committee's headline figures for a period."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AwareDatetime, BaseModel

from hub.auth.dependencies import check_tenant, require
from hub.auth.service import Principal
from hub.metrics.service import tenant_figures
from tenants.models import Tenant

router = APIRouter(prefix="/api/v1/tenants", tags=["metrics"])


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
    definitions_version: str


@router.get(
    "/{tenant}/metrics", response_model=MetricsOut, summary="Figures for contacts queued in [from, to)"
)
async def metrics(
    tenant: str,
    request: Request,
    from_: AwareDatetime = Query(alias="from", description="ISO 8601 with zone, inclusive"),
    to: AwareDatetime = Query(description="ISO 8601 with zone, exclusive"),
    principal: Principal = Depends(require("supervisor", "committee", "partner")),
) -> MetricsOut:
    check_tenant(principal, tenant)
    if to <= from_:
        raise HTTPException(400, "`to` must be after `from`")
    async with request.app.state.hub.sessionmaker() as session:
        if await session.get(Tenant, tenant) is None:
            raise HTTPException(404, f"no tenant {tenant!r}")
        figures = await tenant_figures(session, tenant=tenant, start=from_, end=to)
    return MetricsOut(tenant=tenant, from_=from_, to=to, **figures.__dict__)
