"""Change an agent's skills or proficiency while they work, and re-run assignment for them at once (docs/design.md,
"Engineering rules we keep")."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from plumbing.db.session import unit_of_work
from routing.dispatch.desk import DeskError
from routing.dispatch.proficiency import ProficiencyChanged, set_levels
from routing.dispatch.service import Dispatcher
from tenants.models import Agent, AgentSkill

log = structlog.get_logger(__name__)

MAX_SKILLS = 50


@dataclass(frozen=True)
class SkillsChanged:
    agent_id: str
    tenant: str
    before: list[str]
    after: list[str]
    offered_enquiry: int | None


def clean_skills(skills: list[str]) -> list[str]:
    cleaned = sorted({s.strip().lower() for s in skills if s.strip()})
    if len(cleaned) > MAX_SKILLS or any(len(s) > 63 or not s.replace("-", "").isalnum() for s in cleaned):
        raise DeskError(422, "bad_skills", "skills are short words of letters, digits and '-'")
    return cleaned


async def set_skills(dispatcher: Dispatcher, agent_id: str, skills: list[str]) -> SkillsChanged:
    """Store the new skills; an idle agent is re-placed in the pools they now belong to, and may be
    offered waiting work straight away instead of sitting idle beside it."""
    after = clean_skills(skills)
    async with unit_of_work(dispatcher.sessionmaker) as session:
        agent = await session.get(Agent, agent_id, with_for_update=True)
        if agent is None:
            raise DeskError(404, "unknown_agent", f"no agent {agent_id!r}")
        before = agent.skills
        agent.skill_rows = [AgentSkill(agent_id=agent_id, skill=s) for s in after]
        tenant, status = agent.tenant_slug, agent.status
    offered = None
    if status == "available" and before != after:
        # agent_ready leaves the old pools first, so the agent waits only where their skills now fit.
        offer = await dispatcher.agent_ready(agent_id, tenant, set(after))
        offered = offer.enquiry_id if offer else None
    log.info("agent.skills_changed", agent_id=agent_id, before=before, after=after, offered=offered)
    return SkillsChanged(agent_id, tenant, before, after, offered)


async def set_proficiency(
    dispatcher: Dispatcher, agent_id: str, levels: dict[str, int | None]
) -> ProficiencyChanged:
    """Rate the agent's skills (1–5); an idle agent is placed again at once with its new rank in each pool."""
    async with unit_of_work(dispatcher.sessionmaker) as session:
        changed = await set_levels(session, agent_id, levels)
        agent = await session.get(Agent, agent_id)
        assert agent is not None  # locked by set_levels
        status, skills = agent.status, set(agent.skills)
    await dispatcher.proficiency.reload()
    if status == "available":
        await dispatcher.agent_ready(agent_id, changed.tenant, skills)
    return changed
