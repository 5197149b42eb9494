"""Reads of partners, their services and their agents, for the routes and pages that show them.

Each takes the caller's session, so it reads under that session's row-level security scope and inside its
transaction: nothing here opens a session or commits.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenants.models import Agent, Service, Tenant


async def tenant_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    """The partner or pool with this slug, or None."""
    return await session.get(Tenant, slug)


async def first_partner(session: AsyncSession) -> Tenant | None:
    """The partner whose slug sorts first (the pool is not a partner), or None when there is none."""
    return await session.scalar(select(Tenant).where(Tenant.kind == "partner").order_by(Tenant.slug).limit(1))


async def tenants_ordered(session: AsyncSession, *, by: Literal["name", "slug"]) -> list[Tenant]:
    """Every partner and pool the session may see, by name or by slug."""
    order = Tenant.name if by == "name" else Tenant.slug
    return list((await session.scalars(select(Tenant).order_by(order))).all())


async def partners_and_pool(session: AsyncSession, *, only: str | None = None) -> list[Tenant]:
    """The partners (by name) then the hub's pool; only the partner ``only`` when one is given."""
    query = select(Tenant).where(Tenant.kind.in_(("partner", "pool")))
    if only is not None:
        query = query.where(Tenant.slug == only)
    rows = list((await session.scalars(query)).all())
    return sorted(rows, key=lambda t: (t.kind != "partner", t.name))


async def agent_by_id(session: AsyncSession, agent_id: str | None) -> Agent | None:
    """The agent with this id, or None (also for no id at all)."""
    return await session.get(Agent, agent_id) if agent_id is not None else None


async def agent_status(session: AsyncSession, agent_id: str) -> str | None:
    """The agent's status as the database has it now (one column: the console polls it)."""
    return await session.scalar(select(Agent.status).where(Agent.id == agent_id))


async def agents_of(session: AsyncSession, tenant: str, *, by: Literal["name", "id"]) -> list[Agent]:
    """A partner's agents, by name (as the floor lists them) or by id (as a definition lists them)."""
    order = Agent.name if by == "name" else Agent.id
    return list(
        (await session.scalars(select(Agent).where(Agent.tenant_slug == tenant).order_by(order))).all()
    )


async def agent_names(session: AsyncSession, agent_ids: Collection[str]) -> dict[str, str]:
    """Agent id -> name for the ids given (ids the session cannot see are left out)."""
    if not agent_ids:
        return {}
    rows = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids)))
    return dict(rows.tuples().all())


async def agents_by_status(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(partner, status, how many agents) for every partner and status that has agents."""
    rows = await session.execute(
        select(Agent.tenant_slug, Agent.status, func.count()).group_by(Agent.tenant_slug, Agent.status)
    )
    return list(rows.tuples().all())


async def service_by_id(session: AsyncSession, service_id: int) -> Service | None:
    """The catalogue entry with this id, or None."""
    return await session.get(Service, service_id)


async def services_of(session: AsyncSession, tenant: str) -> list[Service]:
    """A partner's services (the inactive ones too), in the order they were first defined."""
    return list(
        (
            await session.scalars(select(Service).where(Service.tenant_slug == tenant).order_by(Service.id))
        ).all()
    )


async def service_definition(session: AsyncSession, tenant: str, code: str) -> dict[str, Any] | None:
    """Today's definition of the partner's service ``code``, or None when it has no such service."""
    return await session.scalar(
        select(Service.definition).where(Service.tenant_slug == tenant, Service.code == code)
    )


async def catalogue_skills(session: AsyncSession, tenant: str) -> set[str]:
    """Every skill some service of the partner's catalogue asks for."""
    rows = await session.scalars(select(Service.skills).where(Service.tenant_slug == tenant))
    return {skill for skills in rows.all() for skill in skills}
