"""Agents' proficiency per skill (1–5): kept, cached for the dispatcher, changed live by supervisors.

The dispatcher ranks an agent for each queue whose service prefers the best-skilled agent
(``routing.policy.proficiency``); the levels are read from a cache reloaded every ``max_age`` seconds (and at
once in the process that changes them), so that no offer waits for a database read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.db.scope import all_partners
from plumbing.problems import Problem
from routing.policy.proficiency import LEVELS
from tenants.models import Agent, AgentSkill

log = structlog.get_logger(__name__)


class ProficiencyCache:
    """Agent id -> skill -> level, for the agents with any rated skill."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], max_age_seconds: float = 30.0) -> None:
        self._sessionmaker = sessionmaker
        self._max_age = max_age_seconds
        self._levels: dict[str, dict[str, int]] = {}
        self._loaded_at = -1e9

    def current(self) -> Mapping[str, Mapping[str, int]]:
        return self._levels

    async def get(self) -> Mapping[str, Mapping[str, int]]:
        if time.monotonic() - self._loaded_at > self._max_age:
            await self.reload()
        return self._levels

    async def reload(self) -> Mapping[str, Mapping[str, int]]:
        with all_partners():  # one cache for the process, whichever request reloads it
            async with self._sessionmaker() as session:
                rows = await session.execute(
                    select(AgentSkill.agent_id, AgentSkill.skill, AgentSkill.level).where(
                        AgentSkill.level.is_not(None)
                    )
                )
                levels: dict[str, dict[str, int]] = {}
                for agent_id, skill, level in rows:
                    levels.setdefault(agent_id, {})[skill] = int(level)
        self._levels, self._loaded_at = levels, time.monotonic()
        return levels


@dataclass(frozen=True)
class ProficiencyChanged:
    agent_id: str
    tenant: str
    levels: dict[str, int | None]  # every skill the agent holds, with its level (None: not rated)


async def set_levels(
    session: AsyncSession, agent_id: str, levels: Mapping[str, int | None]
) -> ProficiencyChanged:
    """Rate skills the agent holds (None: clear the rating); the caller's unit of work commits."""
    agent = await session.get(Agent, agent_id, with_for_update=True)
    if agent is None:
        raise Problem(404, "unknown_agent", f"no agent {agent_id!r}")
    held = {row.skill: row for row in agent.skill_rows}
    unknown = sorted(set(levels) - set(held))
    if unknown:
        raise Problem(
            422, "skill_not_held", f"the agent does not hold {', '.join(unknown)}: add the skill first"
        )
    for skill, level in levels.items():
        if level is not None and level not in LEVELS:
            raise Problem(422, "bad_level", f"a level is 1 (learning) to 5 (expert), not {level}")
        held[skill].level = level
    await session.flush()
    log.info("agent.proficiency_changed", agent_id=agent_id, levels=dict(levels))
    return ProficiencyChanged(agent_id, agent.tenant_slug, {s: row.level for s, row in sorted(held.items())})
