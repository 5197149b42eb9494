"""Names, not codes, where a person reads, and each enquiry under the service name of its own catalogue version:
a service renamed since reads as it was named when the enquiry was routed (issue 21)."""

from __future__ import annotations

import html
import re

import httpx

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.service import apply_definitions
from tenants.tokens import create_token
from tests.conftest import partner_definition, unique_slug
from tests.hub.web.conftest import intake, make_user, sign_in_client


async def test_an_older_enquiry_keeps_its_service_name_after_a_rename(
    hub: Hub, api: httpx.AsyncClient
) -> None:
    slug = unique_slug("names")
    definition = partner_definition(slug, [f"{slug}-a"])
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=[definition])
    await hub.catalogue.reload()
    before = await intake(hub, slug, service="missed-bin")

    renamed = definition.model_copy(
        update={
            "services": [
                s.model_copy(update={"name": "Bins not emptied"}) if s.code == "missed-bin" else s
                for s in definition.services
            ]
        }
    )
    async with unit_of_work(hub.sessionmaker) as session:
        applied = await apply_definitions(session, definitions=[renamed])
    assert applied[0].changed and applied[0].version == 2
    await hub.catalogue.reload()
    after = await intake(hub, slug, service="missed-bin")

    await sign_in_client(api, await make_user(hub, role="supervisor", tenant=slug))
    floor = (await api.get(f"/supervisor?tenant={slug}")).text
    rows = dict(re.findall(r'<tr data-enquiry="(\d+)">(.*?)</tr>', floor, flags=re.S))
    assert "<td>Missed bin</td>" in rows[str(before)] and "<td>Bins not emptied</td>" in rows[str(after)]
    assert "missed-bin" not in rows[str(before)] + rows[str(after)]
    assert f"Test partner {slug}" in floor and f"· {slug}" not in floor

    trail = html.unescape((await api.get(f"/supervisor/enquiries/{before}")).text)
    assert f"Missed bin for Test partner {slug}" in trail
    assert f"Queued for Test partner {slug}'s “Missed bin” queue at priority 5." in trail

    async with unit_of_work(hub.sessionmaker) as session:
        token = await create_token(session, role="supervisor", tenant=slug)
    api_trail = (
        await api.get(f"/api/v1/enquiries/{before}/trail", headers={"Authorization": f"Bearer {token}"})
    ).json()
    assert (api_trail["service_code"], api_trail["service_name"]) == ("missed-bin", "Missed bin")
