"""The pool appears everywhere a partner does: its own dashboard section and pack (what it received, what it is
owed, its agents' occupancy), and the lending partner's page shows overflow given and received."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

import httpx

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from routing.dispatch.presence import DeskAgent, set_agent_status
from tenants.agreements.service import put_agreements
from tenants.agreements.terms import AgreementDefinition
from tenants.service import apply_definitions
from tests.conftest import partner_definition, unique_slug
from tests.figures.test_figures_as_they_were import contact
from tests.hub.web.conftest import make_user, sign_in_client


def _section(page: str, slug: str) -> str:
    found = re.search(rf'<section class="card partner" data-tenant="{slug}".*?</section>', page, re.S)
    assert found is not None, page[:3000]
    return html.unescape(re.sub(r"\s+", " ", found.group(0)))


def _rows(section: str, table: str) -> list[str]:
    body = re.search(rf'<table class="overflow {table}">.*?<tbody>(.*?)</tbody>', section, re.S)
    assert body is not None
    return [
        re.sub(r"<[^>]+>", "|", row).strip("|").replace("||", "|")
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1))
    ]


async def test_the_pool_reads_like_a_partner_on_the_dashboard_and_in_the_pack(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    partner = await make_partner("pool-borrower", agents=1)
    pool = unique_slug("pool")
    pool_agent = f"{pool}-agent0"
    agreement = f"{pool}-covers-{partner.slug}"
    day = datetime(2026, 11, 12, 9, 0, tzinfo=UTC)
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=[partner_definition(pool, [pool_agent], kind="pool")])
        await put_agreements(
            session,
            agreements=[
                AgreementDefinition.model_validate(
                    {"id": agreement, "lender": pool, "borrower": partner.slug, "unit_rate": 3.5}
                )
            ],
        )
        status = "offline"
        for minutes, new in ((0, "available"), (10, "busy"), (16, "available"), (40, "offline")):
            await set_agent_status(
                session,
                DeskAgent(pool_agent, pool, status, frozenset()),
                new,
                at=day + timedelta(minutes=minutes),
                reason="test",
            )
            status = new
    # the pool answers two of the partner's calls under the agreement (30 s and 10 s: one within 20 s)
    for after, wait in ((9.5, 30), (15 + 50 / 60, 10)):
        await contact(
            hub,
            partner,
            queued=day + timedelta(minutes=after),
            answered_after=wait,
            agent=pool_agent,
            handler=pool,
            agreement=agreement,
        )

    # The pool's own committee member: its section, its tables, its pack.
    await sign_in_client(api, await make_user(hub, role="committee", tenant=pool))
    page = await api.get("/committee", params={"period": "2026-11"})
    assert page.status_code == 200, page.text
    mine = _section(page.text, pool)
    assert 'data-kind="pool"' in mine and "(the hub's shared pool)" in mine
    assert _rows(mine, "overflow-received") == [f"Test partner {partner.slug}|2|1"]
    assert _rows(mine, "overflow-given") == ["None."]
    # 2 contacts × £3.50 = £7.00 owed
    assert "Recharge: owes £0.00, is owed £7.00, net +£7.00." in mine
    # busy 6 of 40 signed-in minutes: 360 / 2400 = 15.0 %
    assert "Occupancy</span><b>15.0 %</b>" in mine
    pack = await api.get("/committee/pack/2026-11.csv")
    rows = list(csv.DictReader(io.StringIO(pack.text)))
    [received] = [r for r in rows if r["family"] == "overflow_received"]
    assert (received["partner"], received["owner"], received["handled"]) == (pool, partner.slug, "2")
    [recharge] = [r for r in rows if r["family"] == "recharge" and r["partner"] == pool]
    assert recharge["net"] == "7.0"

    # The partner's own member sees the other side: given to the pool, owing £7.00.
    await sign_in_client(api, await make_user(hub, role="committee", tenant=partner.slug))
    theirs = _section((await api.get("/committee", params={"period": "2026-11"})).text, partner.slug)
    assert _rows(theirs, "overflow-given") == [f"Test partner {pool}|2|1"]
    assert _rows(theirs, "overflow-received") == ["None."]
    assert "Recharge: owes £7.00, is owed £0.00, net −£7.00." in theirs
