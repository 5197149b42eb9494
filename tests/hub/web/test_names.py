"""Names, not codes, where a person reads, and each enquiry under the service name of its own catalogue version:
a service renamed since reads as it was named when the enquiry was routed (issue 21)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import httpx
from sqlalchemy import update

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from routing.models import Enquiry
from tenants.agreements.service import delete_agreement
from tenants.service import apply_definitions
from tenants.tokens import create_token
from tests.conftest import partner_definition, store_agreement, unique_slug
from tests.hub.web.conftest import customer_of, intake, make_user, settle, sign_in_client


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


async def test_the_agents_other_contacts_keep_the_service_name_each_was_routed_under(
    hub: Hub, api: httpx.AsyncClient
) -> None:
    """A service renamed mid-month: the agent's "other contacts" table and the open-case prompt read each earlier
    enquiry under the name of its own catalogue version, not today's."""
    slug = unique_slug("history-names")
    agent_id = f"{slug}-a"
    definition = partner_definition(slug, [agent_id])
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=[definition])
    await hub.catalogue.reload()
    person = customer_of("Sam Caller", email="sam@example.org")
    # Early in the month, under version 1: passed to the back office, so still open.
    early = await intake(hub, slug, service="missed-bin", customer=person, channel="phone")
    await settle(hub, early, outcome="passed_to_back_office")

    renamed = definition.model_copy(
        update={
            "services": [
                s.model_copy(update={"name": "Bins not emptied"}) if s.code == "missed-bin" else s
                for s in definition.services
            ]
        }
    )
    async with unit_of_work(hub.sessionmaker) as session:
        assert (await apply_definitions(session, definitions=[renamed]))[0].version == 2
    await hub.catalogue.reload()
    # Later the same month, under version 2.
    later = await intake(hub, slug, service="missed-bin", customer=person, channel="web")
    await settle(hub, later, outcome="resolved")
    async with hub.sessionmaker() as session:
        early_ref = (await session.get(Enquiry, early)).reference  # type: ignore[union-attr]
        later_ref = (await session.get(Enquiry, later)).reference  # type: ignore[union-attr]

    await sign_in_client(api, await make_user(hub, role="agent", agent_id=agent_id))

    def history_rows(page: str) -> dict[str, list[str]]:
        table = re.search(r'<table id="history">(.*?)</table>', page, flags=re.S)
        assert table, page
        rows = re.findall(r'<tr class="history-item[^"]*">(.*?)</tr>', table.group(1), flags=re.S)
        cells = [
            [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in rows
        ]
        return {c[1]: c[2:] for c in cells}

    # From the later enquiry, the early one reads as it was named then (version 1), with its channel and state
    # in words; its open-case prompt names the service the same way.
    page = html.unescape((await api.get(f"/console/enquiries/{later}")).text)
    assert history_rows(page) == {early_ref: ["Missed bin", "Phone call", "open · Passed to back office"]}
    assert f"Open case {early_ref} (Missed bin," in page
    # From the early enquiry, the later one reads under today's name (version 2).
    page = html.unescape((await api.get(f"/console/enquiries/{early}")).text)
    assert history_rows(page) == {later_ref: ["Bins not emptied", "Web form", "Resolved at first contact"]}
    assert "missed-bin</td>" not in page


async def test_a_page_tells_the_time_on_its_readers_partners_clock(hub: Hub, api: httpx.AsyncClient) -> None:
    slug = unique_slug("tokyo")
    definition = partner_definition(slug, [f"{slug}-a"])
    definition = definition.model_copy(
        update={"tenant": definition.tenant.model_copy(update={"timezone": "Asia/Tokyo"})}
    )
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=[definition])
    await hub.catalogue.reload()
    enquiry_id = await intake(hub, slug, service="missed-bin")
    async with unit_of_work(hub.sessionmaker) as session:
        # 20:30 UTC on 5 December is 05:30 on 6 December in Tokyo (UTC+9, no summer time).
        await session.execute(
            update(Enquiry)
            .where(Enquiry.id == enquiry_id)
            .values(received_at=datetime(2026, 12, 5, 20, 30, tzinfo=UTC))
        )
    await sign_in_client(api, await make_user(hub, role="agent", agent_id=f"{slug}-a"))
    page = (await api.get(f"/console/enquiries/{enquiry_id}")).text
    assert "received 06 Dec 2026 05:30" in page and "05 Dec 2026 20:30" not in page


async def test_a_trail_names_the_agreement_as_it_was_after_a_rename_and_its_end(
    hub: Hub, api: httpx.AsyncClient
) -> None:
    """A borrower's web form queued with the lender's ring under "the evening agreement"; the agreement is then
    renamed and ended. The trail still says "the evening agreement" (it named no agreement once it ended)."""
    borrower, lender = unique_slug("borrower"), unique_slug("lender")
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(
            session,
            definitions=[partner_definition(borrower, [f"{borrower}-a"]), partner_definition(lender, [])],
        )
    await hub.catalogue.reload()
    agreement = {
        "id": f"{lender}-lends-{borrower}",
        "name": "the evening agreement",
        "lender": lender,
        "borrower": borrower,
        "services": "all",
        "unit_rate": 3.0,
    }
    await store_agreement(hub, **agreement)
    await hub.dispatcher.agreements.reload()
    enquiry = await intake(hub, borrower, service="missed-bin")

    await store_agreement(hub, **{**agreement, "name": "the all-day agreement"})
    async with unit_of_work(hub.sessionmaker) as session:
        assert await delete_agreement(session, agreement_id=agreement["id"])
    await hub.dispatcher.agreements.reload()

    await sign_in_client(api, await make_user(hub, role="supervisor", tenant=borrower))
    trail = html.unescape((await api.get(f"/supervisor/enquiries/{enquiry}")).text)
    assert "under the evening agreement" in trail, trail
    assert "the all-day agreement" not in trail and agreement["id"] not in trail
