"""The console shows a callback's number and reason, records attempts, and lists the callbacks to ring."""

from __future__ import annotations

import httpx

from hub.runtime import Hub
from routing.models import Enquiry
from tests.hub.web.conftest import customer_of, intake, make_user, sign_in_client
from tests.hub.web.test_pages import notice


async def test_an_agent_rings_a_callback_from_the_console_and_sees_it_on_the_worklist(
    hub: Hub,
    make_partner,  # type: ignore[no-untyped-def]
    api: httpx.AsyncClient,
) -> None:
    partner = await make_partner(agents=1)
    agent_id = partner.agents[0]
    csrf = await sign_in_client(api, await make_user(hub, role="agent", agent_id=agent_id))
    await api.post("/console/status", data={"status": "available", "csrf": csrf})
    callback = await intake(
        hub, partner.slug, channel="callback", customer=customer_of(), text="Where is my new bin?"
    )
    await api.post("/console/offer/accept", data={"enquiry_id": callback, "csrf": csrf})

    page = await api.get("/console")
    assert 'id="callback-number">01257 000 111<' in page.text
    assert "Missed bin: Where is my new bin?" in page.text and 'id="callback-worklist"' in page.text

    r = await api.post(
        "/console/callback-attempt", data={"enquiry_id": callback, "result": "no_answer", "csrf": csrf}
    )
    assert r.status_code == 303 and notice(r) is None
    async with hub.sessionmaker() as session:
        row = await session.get(Enquiry, callback)
        assert row is not None and (row.state, row.callback_attempts) == ("queued", 1)
    page = await api.get("/console")
    assert 'id="callback-worklist"' in page.text and "again from" in page.text
    r = await api.post(
        "/console/callback-attempt", data={"enquiry_id": callback, "result": "shouted", "csrf": csrf}
    )
    assert notice(r) == "bad_outcome"
