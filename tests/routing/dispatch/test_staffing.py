"""Agents signed in, counted by partner and skill set for the routing snapshot."""

from __future__ import annotations

from sqlalchemy import delete, update

from hub.runtime import Hub
from plumbing.db.base import table_of
from plumbing.db.session import unit_of_work
from routing.dispatch.presence import teams_taking_work
from routing.dispatch.router import Staffing
from tenants.models import Agent, AgentSkill


def test_staffing_counts_agents_with_every_skill_a_service_needs() -> None:
    staffing = Staffing.of(
        [
            ("chorley", {"waste"}),
            ("chorley", {"waste", "council-tax"}),
            ("chorley", {"waste"}),
            ("chorley", set()),
            ("south-ribble", {"waste"}),
        ]
    )
    assert staffing.with_skills("chorley", frozenset({"waste"})) == 3
    assert staffing.with_skills("chorley", frozenset({"waste", "council-tax"})) == 1
    assert staffing.with_skills("chorley", frozenset()) == 4  # a service needing no skill: everyone
    assert staffing.with_skills("preston", frozenset({"waste"})) == 0
    # Per skill, as the policy reads lenders' spare capacity.
    assert staffing.by_skill == {
        ("chorley", "waste"): 3,
        ("chorley", "council-tax"): 1,
        ("south-ribble", "waste"): 1,
    }
    # Three agents with the same skills are one group, however many there are.
    assert len(staffing.teams) == 4


async def test_the_database_counts_agents_taking_work_by_partner_and_skill_set(
    hub: Hub, make_partner
) -> None:
    partner = await make_partner("staffing", agents=4)
    available, busy, no_skills, _offline = partner.agents
    agents, skills = table_of(Agent), table_of(AgentSkill)
    async with unit_of_work(hub.sessionmaker) as session:
        for agent_id, status in [(available, "available"), (busy, "busy"), (no_skills, "available")]:
            await session.execute(update(agents).where(agents.c.id == agent_id).values(status=status))
        await session.execute(delete(skills).where(skills.c.agent_id == no_skills))
    async with hub.sessionmaker() as session:
        teams = await teams_taking_work(session)
    ours = {key: count for key, count in teams.items() if key[0] == partner.slug}
    # Offline agents are not counted; the two with every skill are one team however the database joined them.
    assert ours == {
        (partner.slug, frozenset({"general", "waste", "revenues"})): 2,
        (partner.slug, frozenset()): 1,
    }


async def test_a_sign_in_elsewhere_is_counted_in_the_background_without_holding_a_decision(
    hub: Hub, make_partner
) -> None:
    partner = await make_partner("recount", agents=1)
    [agent] = partner.agents
    router = hub.dispatcher.router
    team = (partner.slug, frozenset({"general", "waste", "revenues"}))
    assert team not in (await router._staffed_agents()).teams  # counted now: nobody of theirs signed in
    agents = table_of(Agent)
    async with unit_of_work(hub.sessionmaker) as session:  # as `hub serve` would, another process
        await session.execute(update(agents).where(agents.c.id == agent).values(status="available"))

    assert router._staffed_at is not None
    router._staffed_at -= 3.0  # the count is older than two seconds
    assert team not in (await router._staffed_agents()).teams  # this decision does not wait for the count
    assert router._recount is not None
    await router._recount
    assert (await router._staffed_agents()).teams[team] == 1
