"""Admin API for partner definitions under /api/v1/admin (admin role): read, replace, versions, api keys.

A PUT takes the same document as a partner YAML file (as JSON), validated the same way; a catalogue that
changed becomes a new version, and the running hub's catalogue is reloaded at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel

from plumbing.auth.dependencies import require
from plumbing.auth.service import Principal
from plumbing.db.session import unit_of_work
from plumbing.problems import Problem, document_refused
from tenants.lgsl import lgsl_entry
from tenants.loader import DefinitionsInvalid, validate_definition
from tenants.models import Tenant
from tenants.queries import agents_of, services_of, tenants_ordered
from tenants.service import apply_definitions, catalogue_version, list_versions, partner_or_404
from tenants.tokens import create_token

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
Admin = Depends(require("admin"))


class LgslOut(BaseModel):
    code: int
    name: str  # the standard name, shown beside the partner's own
    status: str


class ServiceOut(BaseModel):
    code: str
    name: str
    group: str
    lgsl: LgslOut | None
    active: bool
    open311: bool
    resolution_working_days: int | None


class PartnerSummary(BaseModel):
    slug: str
    jurisdiction_id: str
    name: str
    kind: str
    timezone: str
    catalogue_version: int | None


class PartnerOut(PartnerSummary):
    services: list[ServiceOut]
    definition: dict[str, Any] | None  # the current version's document with today's agents: PUT it back


class VersionOut(BaseModel):
    version: int
    digest: str
    source: str
    created_at: datetime


class VersionDetail(VersionOut):
    definition: dict[str, Any]


class AppliedOut(BaseModel):
    slug: str
    version: int
    changed: bool


class ApiKeyOut(BaseModel):
    tenant: str
    api_key: str
    note: str = "shown once: only its hash is kept"


def _summary(tenant: Tenant) -> PartnerSummary:
    return PartnerSummary(
        slug=tenant.slug,
        jurisdiction_id=tenant.slug,
        name=tenant.name,
        kind=tenant.kind,
        timezone=tenant.timezone,
        catalogue_version=tenant.catalogue_version,
    )


def _lgsl(code: int | None) -> LgslOut | None:
    entry = lgsl_entry(code)
    return LgslOut(code=entry.code, name=entry.label, status=entry.status) if entry else None


@router.get("/partners", response_model=list[PartnerSummary], summary="Every partner and pool")
async def partners(request: Request, _: Principal = Admin) -> list[PartnerSummary]:
    async with request.app.state.hub.sessionmaker() as session:
        return [_summary(t) for t in await tenants_ordered(session, by="slug")]


@router.get("/partners/{slug}", response_model=PartnerOut, summary="A partner's definition and catalogue")
async def partner(slug: str, request: Request, _: Principal = Admin) -> PartnerOut:
    async with request.app.state.hub.sessionmaker() as session:
        tenant = await partner_or_404(session, slug)
        services = await services_of(session, slug)
        agents = await agents_of(session, slug, by="id")
        current = (
            await catalogue_version(session, tenant=slug, version=tenant.catalogue_version)
            if tenant.catalogue_version is not None
            else None
        )
        definition = None
        if current is not None:
            definition = {
                **current.definition,
                "agents": [{"id": a.id, "name": a.name, "skills": a.skills} for a in agents],
            }
        return PartnerOut(
            **_summary(tenant).model_dump(),
            services=[
                ServiceOut(
                    code=s.code,
                    name=s.name,
                    group=str(s.definition.get("group") or ""),
                    lgsl=_lgsl(s.lgsl_code),
                    active=s.active,
                    open311=bool(s.definition.get("open311", True)),
                    resolution_working_days=s.definition.get("resolution_working_days"),
                )
                for s in services
            ],
            definition=definition,
        )


@router.put(
    "/partners/{slug}",
    response_model=AppliedOut,
    summary="Create or replace a partner from a definition (the YAML file's content, as JSON)",
    responses={422: {"description": "The definition is invalid: every problem with its path"}},
)
async def put_partner(
    slug: str, request: Request, body: dict[str, Any] = Body(...), principal: Principal = Admin
) -> AppliedOut:
    try:
        definition = validate_definition(body, "request body")
    except DefinitionsInvalid as exc:
        raise document_refused("invalid_definition", [(e.path, e.message) for e in exc.errors]) from None
    if definition.tenant.slug != slug:
        raise Problem(
            400, "slug_mismatch", f"tenant.slug {definition.tenant.slug!r} does not match the path {slug!r}"
        )
    hub = request.app.state.hub
    try:
        async with unit_of_work(hub.sessionmaker) as session:
            (applied,) = await apply_definitions(
                session, definitions=[definition], source=f"admin api ({principal.role})"
            )
    except ValueError as exc:  # e.g. an agent id that belongs to another partner
        raise Problem(409, "definition_conflict", str(exc)) from None
    await hub.catalogue.reload()
    return AppliedOut(slug=applied.slug, version=applied.version, changed=applied.changed)


@router.get("/partners/{slug}/versions", response_model=list[VersionOut], summary="Catalogue versions")
async def versions(slug: str, request: Request, _: Principal = Admin) -> list[VersionOut]:
    async with request.app.state.hub.sessionmaker() as session:
        await partner_or_404(session, slug)
        return [
            VersionOut(version=v.version, digest=v.digest, source=v.source, created_at=v.created_at)
            for v in await list_versions(session, tenant=slug)
        ]


@router.get(
    "/partners/{slug}/versions/{version}", response_model=VersionDetail, summary="One catalogue version"
)
async def version(slug: str, version: int, request: Request, _: Principal = Admin) -> VersionDetail:
    async with request.app.state.hub.sessionmaker() as session:
        row = await catalogue_version(session, tenant=slug, version=version)
        if row is None:
            raise Problem(404, "unknown_version", f"{slug!r} has no catalogue version {version}")
        return VersionDetail(
            version=row.version,
            digest=row.digest,
            source=row.source,
            created_at=row.created_at,
            definition=row.definition,
        )


@router.post(
    "/partners/{slug}/api-keys",
    response_model=ApiKeyOut,
    status_code=201,
    summary="A new Open311 api_key for the partner (shown once)",
)
async def api_key(slug: str, request: Request, _: Principal = Admin) -> ApiKeyOut:
    hub = request.app.state.hub
    async with unit_of_work(hub.sessionmaker) as session:
        await partner_or_404(session, slug, partners_only=True)
        key = await create_token(session, role="open311", tenant=slug, label="open311 (admin api)")
    return ApiKeyOut(tenant=slug, api_key=key)
