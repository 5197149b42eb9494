"""Agent status changes, each recorded as an append-only event beside the current status."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.base import table_of
from tenants.models import Agent, AgentEvent, AgentSkill

# wrap_up: after completing, until the agent says they are ready; break: away, not signed out.
STATUSES = ("available", "busy", "wrap_up", "break", "unavailable", "offline")
# Signed in and able to take work: busy agents too, who may have room for another web form or email.
TAKING_WORK = ("available", "busy")


async def agents_taking_work(
    session: AsyncSession, among: Collection[str] | None = None
) -> list[tuple[str, str, set[str]]]:
    """(agent, partner, skills) of every agent taking work, or of those ``among`` the ids given, in id order.

    Plain rows, one statement: routing reads this for every batch of freed agents and every team count.
    """
    agents, skills = table_of(Agent), table_of(AgentSkill)
    query = (
        select(agents.c.id, agents.c.tenant_slug, skills.c.skill)
        .select_from(agents.outerjoin(skills, skills.c.agent_id == agents.c.id))
        .where(agents.c.status.in_(TAKING_WORK))
        .order_by(agents.c.id)
    )
    if among is not None:
        query = query.where(agents.c.id.in_(set(among)))
    found: dict[str, tuple[str, str, set[str]]] = {}
    for agent_id, tenant, skill in await session.execute(query):
        agent = found.setdefault(agent_id, (agent_id, tenant, set()))
        if skill is not None:
            agent[2].add(skill)
    return list(found.values())


def change_status(session: AsyncSession, agent: Agent, status: str, *, at: datetime, reason: str) -> bool:
    """Set ``agent.status`` and log the change; returns False (and logs nothing) when it is unchanged."""
    if status not in STATUSES:
        raise ValueError(f"unknown agent status {status!r}")
    if agent.status == status:
        return False
    session.add(
        AgentEvent(
            agent_id=agent.id,
            tenant_slug=agent.tenant_slug,
            status=status,
            previous=agent.status,
            at=at,
            reason=reason,
        )
    )
    agent.status, agent.status_since = status, at
    return True
