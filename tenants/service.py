"""Store partner definitions. Services flush; the caller's unit of work commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenants.models import Agent, AgentSkill, Service, Tenant
from tenants.schemas import PartnerDefinition


async def apply_definitions(session: AsyncSession, *, definitions: list[PartnerDefinition]) -> None:
    """Create or update each tenant, its services and its agents (upsert by slug, code and id)."""
    for definition in definitions:
        await _apply_one(session, definition)
    await session.flush()


async def _apply_one(session: AsyncSession, definition: PartnerDefinition) -> None:
    info = definition.tenant
    tenant = await session.get(Tenant, info.slug)
    if tenant is None:
        tenant = Tenant(slug=info.slug, name=info.name, kind=info.kind, timezone=info.timezone)
        session.add(tenant)
    else:
        tenant.name, tenant.kind, tenant.timezone = info.name, info.kind, info.timezone
    await session.flush()

    existing = {
        s.code: s
        for s in (await session.scalars(select(Service).where(Service.tenant_slug == info.slug))).all()
    }
    for spec in definition.services:
        service = existing.get(spec.code) or Service(tenant_slug=info.slug, code=spec.code)
        service.name = spec.name
        service.lgsl_code = spec.lgsl
        service.skills = list(spec.skills)
        service.priority = spec.priority
        service.sl_threshold_seconds = spec.service_level.answer_within_seconds
        service.sl_target = spec.service_level.target
        service.required_fields = list(spec.required_fields)
        service.definition = spec.model_dump(mode="json")
        session.add(service)

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
