"""A catalogue change re-judges no past month: the pack's targets, names and departments are the catalogue's as it
stood at the end of each month, and the month's figures the same as before the change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from figures.pack import Rag, gather, service_rows, summary_rows
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.schemas import PartnerDefinition
from tenants.service import apply_definitions
from tenants.tokens import create_token
from tests.conftest import partner_definition
from tests.figures.test_figures_as_they_were import contact


async def test_a_target_name_or_group_changed_later_leaves_a_past_month_judged_as_it_was(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    partner = await make_partner("judged", agents=1)
    october = datetime(2026, 10, 14, 10, 0, tzinfo=UTC)
    # missed-bin (within 20 s, target 80 %, "Missed bin", group "Waste and recycling"): 10 s and 30 s, 1 of 2.
    await contact(hub, partner, queued=october, answered_after=10)
    await contact(hub, partner, queued=october + timedelta(minutes=5), answered_after=30)
    async with unit_of_work(hub.sessionmaker) as session:
        committee = {"Authorization": f"Bearer {await create_token(session, role='committee')}"}
    url = f"/api/v1/tenants/{partner.slug}/periods/2026-10"

    async def october_as_read() -> tuple[dict[str, object], list[dict[str, object]], tuple[object, ...]]:
        month = (await api.get(url, headers=committee)).json()
        async with hub.sessionmaker() as session:
            paper = await gather(session, tenants=[partner.slug], period="2026-10", now=datetime.now(UTC))
        [row] = summary_rows(paper)
        [bins] = [r for r in service_rows(row.section) if r.code == "missed-bin"]
        return (
            month["totals"],
            month["by_department"],
            (row.target, row.rag, bins.name, bins.target, bins.threshold_seconds, bins.rag),
        )

    before = await october_as_read()
    # 1 of 2 within 20 s = 50 %, against 80 %: missed by 30 points
    assert before[2] == (0.8, Rag.MISSED, "Missed bin", 0.8, 20, Rag.MISSED)
    assert [(d["department"], d["offered"]) for d in before[1]] == [("Waste and recycling", 2)]

    # In December the partner lowers missed-bin's target to 50 %, renames it and moves it to another department.
    definition = partner_definition(partner.slug, partner.agents).model_dump(mode="json")
    for service in definition["services"]:
        if service["code"] == "missed-bin":
            service["name"] = "Bins not collected"
            service["group"] = "Street scene"
            service["service_level"] = {"answer_within_seconds": 20, "target": 0.5}
    async with unit_of_work(hub.sessionmaker) as session:
        [applied] = await apply_definitions(
            session, definitions=[PartnerDefinition.model_validate(definition)]
        )
    assert applied.changed

    # October reads as it did: not "met" against the new 50 %, not under the new name or department.
    assert await october_as_read() == before
