"""Blended work in the console and on the floor: busy says with what, and the live contact is the one shown."""

from __future__ import annotations

import re

import httpx

from hub.runtime import Hub
from tests.hub.web.conftest import intake, make_user, sign_in_client


def _status(page: str) -> str:
    found = re.search(r'id="status"[^>]*>([^<]*)<', page)
    assert found is not None
    return found.group(1)


def _floor_status(page: str, agent_id: str) -> str:
    found = re.search(rf'data-agent="{agent_id}">.*?class="status[^"]*">([^<]*)<', page, re.S)
    assert found is not None
    return found.group(1)


async def test_an_agent_on_a_web_form_is_not_on_a_call_and_the_call_it_takes_is_shown_first(
    hub: Hub,
    make_partner,  # type: ignore[no-untyped-def]
    api: httpx.AsyncClient,
) -> None:
    # The demo's report: "an agent already on a call was offered another contact". The agent held a web form,
    # which the floor called "On a call"; being offered a call then is blending working (issue 20, item 2).
    partner = await make_partner(agents=1)
    agent_id = partner.agents[0]
    supervisor = await make_user(hub, role="supervisor", tenant=partner.slug)
    agent = await make_user(hub, role="agent", agent_id=agent_id)
    csrf = await sign_in_client(api, agent)
    await api.post("/console/status", data={"status": "available", "csrf": csrf})
    form = await intake(hub, partner.slug, channel="web")
    await api.post("/console/offer/accept", data={"enquiry_id": form, "csrf": csrf})
    page = (await api.get("/console")).text
    assert _status(page) == "On a web form"

    await sign_in_client(api, supervisor)
    floor = (await api.get("/supervisor/floor", headers={"X-Hub-Fetch": "1"})).text
    assert _floor_status(floor, agent_id) == "On a web form"

    call = await intake(hub, partner.slug, channel="phone")
    offer = await hub.live.offer_for(agent_id)
    assert offer is not None and offer.enquiry_id == call  # offered at once though a web form is in hand
    csrf = await sign_in_client(api, agent)
    await api.post("/console/offer/accept", data={"enquiry_id": call, "csrf": csrf})
    page = (await api.get("/console")).text
    assert _status(page) == "On a call"
    assert f'data-enquiry="{call}"' in page  # the call in hand, not the web form parked behind it

    await sign_in_client(api, supervisor)
    floor = (await api.get("/supervisor/floor", headers={"X-Hub-Fetch": "1"})).text
    assert _floor_status(floor, agent_id) == "On a call"
    # On the call, nothing else is offered, live or deferrable.
    await intake(hub, partner.slug, channel="phone")
    await intake(hub, partner.slug, channel="web")
    assert await hub.live.offer_for(agent_id) is None
