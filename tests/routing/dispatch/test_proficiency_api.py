"""Proficiency over the agent API (issue 20, item 1): supervisors rate skills live; agents may not."""

from __future__ import annotations

import httpx

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.tokens import create_token


async def test_a_supervisor_rates_an_agents_skills_and_the_refusals_are_problems(
    hub: Hub,
    make_partner,  # type: ignore[no-untyped-def]
) -> None:
    owner, other = await make_partner("prof-api", agents=1), await make_partner("prof-other", agents=1)
    async with unit_of_work(hub.sessionmaker) as session:
        supervisor = await create_token(session, role="supervisor", tenant=owner.slug)
        stranger = await create_token(session, role="supervisor", tenant=other.slug)
        agent = await create_token(session, role="agent", agent_id=owner.agents[0])
    path = f"/api/v1/agents/{owner.agents[0]}/proficiency"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub"
    ) as api:
        r = await api.put(
            path, json={"levels": {"waste": 4}}, headers={"Authorization": f"Bearer {supervisor}"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["levels"] == {"general": None, "revenues": None, "waste": 4}
        assert (await hub.dispatcher.proficiency.get())[owner.agents[0]] == {"waste": 4}

        r = await api.put(
            path, json={"levels": {"waste": 6}}, headers={"Authorization": f"Bearer {supervisor}"}
        )
        assert r.status_code == 422 and r.json()["code"] == "bad_level"
        r = await api.put(
            path, json={"levels": {"plumbing": 2}}, headers={"Authorization": f"Bearer {supervisor}"}
        )
        assert r.status_code == 422 and r.json()["code"] == "skill_not_held"
        r = await api.put(path, json={"levels": {"waste": 1}}, headers={"Authorization": f"Bearer {agent}"})
        assert r.status_code == 403
        r = await api.put(
            path, json={"levels": {"waste": 1}}, headers={"Authorization": f"Bearer {stranger}"}
        )
        assert r.status_code == 404
