"""Store partner definitions and their catalogue versions. Services flush; the caller's unit of work commits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.problems import Problem
from tenants.models import Agent, AgentSkill, CatalogueVersion, Service, Tenant
from tenants.schemas import PartnerDefinition


@dataclass(frozen=True)
class Applied:
    slug: str
    version: int
    changed: bool  # False: the catalogue was already exactly this, so no new version was made


async def apply_definitions(
    session: AsyncSession, *, definitions: list[PartnerDefinition], source: str = ""
) -> list[Applied]:
    """Create or update each tenant, its services and its agents (upsert by slug, code and id).

    A catalogue that differs from the tenant's current one becomes a new version; the same catalogue
    loaded again changes nothing.
    """
    applied = [await _apply_one(session, definition, source) for definition in definitions]
    await session.flush()
    return applied


def tenant_settings(definition: PartnerDefinition) -> dict[str, Any]:
    document = definition.catalogue_document()
    return {
        "opening_hours": document["opening_hours"],
        "bank_holidays": document["bank_holidays"],
        "closures": document["closures"],
        "contact": document["tenant"]["contact"],
        "website": document["tenant"]["website"],
        **({"blending": document["blending"]} if "blending" in document else {}),
    }


async def _apply_one(session: AsyncSession, definition: PartnerDefinition, source: str) -> Applied:
    info = definition.tenant
    # Lock the partner's row so two loads of the same partner cannot both claim the next version number.
    tenant = await session.get(Tenant, info.slug, with_for_update=True)
    if tenant is None:
        tenant = Tenant(slug=info.slug, name=info.name, kind=info.kind, timezone=info.timezone)
        session.add(tenant)
    tenant.name, tenant.kind, tenant.timezone = info.name, info.kind, info.timezone
    tenant.settings = tenant_settings(definition)
    await session.flush()

    digest = definition.catalogue_digest()
    latest = await session.scalar(
        select(CatalogueVersion)
        .where(CatalogueVersion.tenant_slug == info.slug)
        .order_by(CatalogueVersion.version.desc())
        .limit(1)
    )
    changed = latest is None or latest.digest != digest
    version = (latest.version + 1) if latest is not None and changed else (latest.version if latest else 1)
    if changed:
        session.add(
            CatalogueVersion(
                tenant_slug=info.slug,
                version=version,
                digest=digest,
                definition=definition.catalogue_document(),
                source=source[:500],
            )
        )
    tenant.catalogue_version = version

    existing = {
        s.code: s
        for s in (await session.scalars(select(Service).where(Service.tenant_slug == info.slug))).all()
    }
    listed = set()
    for spec in definition.services:
        listed.add(spec.code)
        service = existing.get(spec.code) or Service(tenant_slug=info.slug, code=spec.code)
        service.name = spec.name
        service.lgsl_code = spec.lgsl
        service.skills = list(spec.skills)
        service.priority = spec.priority
        service.sl_threshold_seconds = spec.service_level.answer_within_seconds
        service.sl_target = spec.service_level.target
        service.required_fields = spec.required_fields
        service.definition = spec.model_dump(mode="json")
        service.active = True
        session.add(service)
    for code, service in existing.items():
        if code not in listed:
            service.active = False

    for spec_agent in definition.agents:
        agent = await session.get(Agent, spec_agent.id)
        if agent is None:
            agent = Agent(id=spec_agent.id, tenant_slug=info.slug, name=spec_agent.name)
            session.add(agent)
        elif agent.tenant_slug != info.slug:
            raise ValueError(f"agent {spec_agent.id!r} already belongs to {agent.tenant_slug!r}")
        agent.name = spec_agent.name
        agent.skill_rows = [
            AgentSkill(agent_id=spec_agent.id, skill=s) for s in sorted(set(spec_agent.skills))
        ]
    return Applied(info.slug, version, changed)


async def partner_or_404(session: AsyncSession, slug: str, *, partners_only: bool = False) -> Tenant:
    """The partner (or the hub's pool, unless ``partners_only``), or a 404 problem naming it."""
    tenant = await session.get(Tenant, slug)
    if tenant is None or (partners_only and tenant.kind != "partner"):
        raise Problem(404, "unknown_partner", f"no partner {slug!r}")
    return tenant


async def catalogue_version(session: AsyncSession, *, tenant: str, version: int) -> CatalogueVersion | None:
    """One recorded version of a partner's catalogue."""
    return await session.scalar(
        select(CatalogueVersion).where(
            CatalogueVersion.tenant_slug == tenant, CatalogueVersion.version == version
        )
    )


async def service_names(
    session: AsyncSession, *, tenant: str, versions: set[int | None]
) -> dict[tuple[int | None, str], str]:
    """(version, code) -> the service's name as that catalogue version gave it; (None, code): today's name.

    An enquiry reads back with the name it was routed under, even after a service is renamed.
    """
    names: dict[tuple[int | None, str], str] = {
        (None, code): name
        for code, name in (
            await session.execute(select(Service.code, Service.name).where(Service.tenant_slug == tenant))
        ).all()
    }
    wanted = {v for v in versions if v is not None}
    if wanted:
        for version, definition in (
            await session.execute(
                select(CatalogueVersion.version, CatalogueVersion.definition).where(
                    CatalogueVersion.tenant_slug == tenant, CatalogueVersion.version.in_(wanted)
                )
            )
        ).all():
            for service in (definition or {}).get("services") or []:
                if isinstance(service, dict) and "code" in service and "name" in service:
                    names[(version, str(service["code"]))] = str(service["name"])
    return names


async def service_as_of(
    session: AsyncSession, *, tenant: str, version: int | None, code: str
) -> dict[str, Any] | None:
    """A service's definition as catalogue ``version`` recorded it (its name, questions, ...); None: unknown."""
    if version is None:
        return None
    definition = await session.scalar(
        select(CatalogueVersion.definition).where(
            CatalogueVersion.tenant_slug == tenant, CatalogueVersion.version == version
        )
    )
    for service in (definition or {}).get("services") or []:
        if isinstance(service, dict) and service.get("code") == code:
            return service
    return None


def name_of(names: dict[tuple[int | None, str], str], version: int | None, code: str) -> str:
    """The service's name under ``version``, else today's, else its code."""
    return names.get((version, code)) or names.get((None, code)) or code


async def list_versions(session: AsyncSession, *, tenant: str) -> list[CatalogueVersion]:
    """A partner's catalogue versions, newest first."""
    return list(
        (
            await session.scalars(
                select(CatalogueVersion)
                .where(CatalogueVersion.tenant_slug == tenant)
                .order_by(CatalogueVersion.version.desc())
            )
        ).all()
    )
