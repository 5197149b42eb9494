"""A supervisor rates an agent's skills on the agent's page (issue 20, item 1: editable live by supervisors)."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from hub.runtime import Hub
from plumbing.audit.models import AuditEntry
from tests.hub.web.conftest import make_user, sign_in_client
from tests.hub.web.test_pages import notice


async def test_a_supervisor_sets_levels_on_the_agents_page_and_routing_reads_them_at_once(
    hub: Hub,
    make_partner,  # type: ignore[no-untyped-def]
    api: httpx.AsyncClient,
) -> None:
    partner = await make_partner(agents=1)
    agent_id = partner.agents[0]
    csrf = await sign_in_client(api, await make_user(hub, role="supervisor", tenant=partner.slug))
    page = await api.get(f"/supervisor/agents/{agent_id}")
    assert page.status_code == 200 and 'id="proficiency-form"' in page.text
    assert 'name="level_waste"' in page.text and "unrated (3)" in page.text

    r = await api.post(
        f"/supervisor/agents/{agent_id}/proficiency",
        data={"csrf": csrf, "level_waste": "5", "level_general": "2", "level_revenues": ""},
    )
    assert r.status_code == 303 and notice(r) == "levels_saved"
    # The dispatcher's cache is reloaded by the change: the next offer ranks with the new levels.
    assert hub.dispatcher.proficiency.current()[agent_id] == {"general": 2, "waste": 5}
    page = await api.get(f"/supervisor/agents/{agent_id}")
    assert '<option value="5" selected>5</option>' in page.text
    async with hub.sessionmaker() as session:
        (audited,) = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "agent.proficiency_changed", AuditEntry.agent_id == agent_id
                )
            )
        ).all()
        assert audited.detail["levels"] == {"general": 2, "revenues": None, "waste": 5}

    r = await api.post(
        f"/supervisor/agents/{agent_id}/proficiency", data={"csrf": csrf, "level_juggling": "4"}
    )
    assert notice(r) == "skill_not_held"
