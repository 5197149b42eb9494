"""Agent status changes, each recorded as an append-only event beside the current status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Join, Select, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.db.base import table_of
from plumbing.db.bulk import as_arrays, unnest_cte
from routing.tallies import count_spell, count_wrap, spell_rows
from tenants.models import Agent, AgentEvent, AgentSkill

# wrap_up: after completing, until the agent says they are ready; break: away, not signed out.
STATUSES = ("available", "busy", "wrap_up", "break", "unavailable", "offline")
# Signed in and able to take work: busy agents too, who may have room for another web form or email.
TAKING_WORK = ("available", "busy")
_SKILL_SEPARATOR = "\x1f"  # the ASCII unit separator: no skill name holds it


def _agents_with_skills() -> Join:
    """Every agent beside each of its skills (one row with no skill for an agent that has none)."""
    agents, skills = table_of(Agent), table_of(AgentSkill)
    return agents.outerjoin(skills, skills.c.agent_id == agents.c.id)


async def agents_taking_work(
    session: AsyncSession, among: Collection[str] | None = None
) -> list[tuple[str, str, set[str]]]:
    """(agent, partner, skills) of every agent taking work, or of those ``among`` the ids given, in id order.

    Plain rows, one statement: routing reads this for every batch of freed agents and every team count.
    """
    agents, skills = table_of(Agent), table_of(AgentSkill)
    query = (
        select(agents.c.id, agents.c.tenant_slug, skills.c.skill)
        .select_from(_agents_with_skills())
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


@dataclass(frozen=True)
class DeskAgent:
    """An agent's row as the desk needs it, read under a row lock: plain values, not an ORM object."""

    id: str
    tenant: str
    status: str
    skills: frozenset[str]
    status_since: datetime | None = None  # read with the lock; None: read it when the status changes


def _agent_locked() -> Select[tuple[str, str, datetime, str | None]]:
    agents, skills = table_of(Agent), table_of(AgentSkill)
    return (
        select(agents.c.tenant_slug, agents.c.status, agents.c.status_since, skills.c.skill)
        .select_from(_agents_with_skills())
        .where(agents.c.id == bindparam("agent_id"))
        .with_for_update(of=agents)
    )


# Built once (a bound parameter, not a value): building a statement costs as much CPU as running it.
_AGENT_LOCKED = _agent_locked()


async def lock_agent(session: AsyncSession, agent_id: str) -> DeskAgent | None:
    """The agent, locked until the transaction ends (``FOR UPDATE`` of its row), with its skills: one statement."""
    rows = (await session.execute(_AGENT_LOCKED, {"agent_id": agent_id})).all()
    if not rows:
        return None
    tenant, status, since, _ = rows[0]
    return DeskAgent(
        agent_id, tenant, status, frozenset(skill for *_, skill in rows if skill is not None), since
    )


async def set_agent_status(
    session: AsyncSession,
    agent: DeskAgent,
    status: str,
    *,
    at: datetime,
    reason: str,
    reset_missed_offers: bool = False,
) -> bool:
    """``change_status`` for a ``DeskAgent``, as Core statements; returns False (logs nothing) when unchanged."""
    changed = _status_event(agent.id, agent.tenant, agent.status, status, at=at, reason=reason)
    values: dict[str, Any] = {"status": status, "status_since": at} if changed else {}
    if reset_missed_offers:
        values["missed_offers"] = 0
    if changed:
        # The spell that ends now is counted (occupancy), and after-call work joins the handle time of the
        # contact it followed: the figures' tallies move in this transaction (routing/tallies.py).
        began = agent.status_since or await session.scalar(
            select(table_of(Agent).c.status_since).where(table_of(Agent).c.id == agent.id)
        )
        if began is not None:
            await count_spell(
                session, agent_id=agent.id, tenant=agent.tenant, status=agent.status, since=began, until=at
            )
            if agent.status == "wrap_up":
                await count_wrap(session, agent_id=agent.id, began=began, ended=at)
    if values:
        agents = table_of(Agent)
        await session.execute(update(agents).where(agents.c.id == agent.id).values(**values))
    if changed:
        # As a list of one: no RETURNING of the new id, which nothing reads.
        await session.execute(insert(table_of(AgentEvent)), [changed])
    return bool(changed)


async def teams_taking_work(session: AsyncSession) -> Counter[tuple[str, frozenset[str]]]:
    """Agents taking work counted by (partner, skill set): the database groups them, so a few rows come back
    however many agents are signed in (routing reads this every two seconds; 11,000 rows cost the worker ~30 ms).
    """
    agents, skills = table_of(Agent), table_of(AgentSkill)
    per_agent = (
        select(
            agents.c.tenant_slug.label("tenant"),
            func.aggregate_strings(skills.c.skill, _SKILL_SEPARATOR).label("skills"),
        )
        .select_from(_agents_with_skills())
        .where(agents.c.status.in_(TAKING_WORK))
        .group_by(agents.c.id, agents.c.tenant_slug)
        .subquery()
    )
    teams: Counter[tuple[str, frozenset[str]]] = Counter()
    for tenant, joined, count in await session.execute(
        select(per_agent.c.tenant, per_agent.c.skills, func.count()).group_by(
            per_agent.c.tenant, per_agent.c.skills
        )
    ):
        # The skills come joined in no set order: the same set may come as two rows, counted together here.
        teams[(tenant, frozenset(joined.split(_SKILL_SEPARATOR)) if joined else frozenset())] += count
    return teams


async def change_status(
    session: AsyncSession, agent: Agent, status: str, *, at: datetime, reason: str
) -> bool:
    """Set ``agent.status`` and log the change; returns False (and logs nothing) when it is unchanged."""
    changed = _status_event(agent.id, agent.tenant_slug, agent.status, status, at=at, reason=reason)
    if not changed:
        return False
    session.add(AgentEvent(**changed))
    await count_spell(
        session,
        agent_id=agent.id,
        tenant=agent.tenant_slug,
        status=agent.status,
        since=agent.status_since,
        until=at,
    )
    if agent.status == "wrap_up":
        await count_wrap(session, agent_id=agent.id, began=agent.status_since, ended=at)
    agent.status, agent.status_since = status, at
    return True


def _status_event(
    agent_id: str, tenant: str, previous: str, status: str, *, at: datetime, reason: str
) -> dict[str, Any]:
    """The ``agent_events`` row of a change of status; empty when the status is unchanged."""
    if status not in STATUSES:
        raise ValueError(f"unknown agent status {status!r}")
    if status == previous:
        return {}
    return {
        "agent_id": agent_id,
        "tenant_slug": tenant,
        "status": status,
        "previous": previous,
        "at": at,
        "reason": reason,
    }


# -- ``set_agent_status`` as parameters of one statement the caller runs (the agent desk on PostgreSQL,
# routing/dispatch/desk_queries.py); the spell's agent time goes to ``routing.tallies.upkeep``.

_AGENT_EVENT_COLUMNS = {
    "agent_id": "text",
    "tenant_slug": "text",
    "status": "text",
    "previous": "text",
    "at": "timestamptz",
    "reason": "text",
}
STATUS_QUERIES = (
    # ag_touch false: nothing to write (set_agent_status runs no UPDATE then).
    "agent_status AS (UPDATE agents SET status = CAST(:ag_status AS text), "
    "status_since = CAST(:ag_since AS timestamptz), "
    "missed_offers = CASE WHEN CAST(:ag_reset AS boolean) THEN 0 ELSE missed_offers END "
    "WHERE id = CAST(:ag_id AS text) AND CAST(:ag_touch AS boolean))",
    unnest_cte("agent_event", "agent_events", _AGENT_EVENT_COLUMNS, prefix="ae_"),
)


@dataclass(frozen=True)
class StatusChange:
    """What ``set_agent_status`` would write: ``STATUS_QUERIES``' parameters and the closed spell's agent time."""

    params: dict[str, Any]
    spells: list[dict[str, Any]]
    changed: bool


def status_change(
    agent: DeskAgent, status: str, *, at: datetime, reason: str, reset_missed_offers: bool = False
) -> StatusChange | None:
    """``set_agent_status``'s writes as values; None where it reads more first (leaving wrap-up: its time joins
    the contact it followed; no ``status_since`` read with the lock): call ``set_agent_status`` then."""
    if agent.status_since is None or (agent.status == "wrap_up" and status != "wrap_up"):
        return None
    changed = _status_event(agent.id, agent.tenant, agent.status, status, at=at, reason=reason)
    return StatusChange(
        {
            "ag_id": agent.id,
            "ag_status": status,
            "ag_since": at if changed else agent.status_since,
            "ag_reset": reset_missed_offers,
            "ag_touch": bool(changed) or reset_missed_offers,
            **as_arrays([changed] if changed else [], _AGENT_EVENT_COLUMNS, prefix="ae_"),
        },
        spell_rows(agent.id, agent.tenant, agent.status, agent.status_since, at) if changed else [],
        bool(changed),
    )
