"""The committee's dashboard: a partner's month with tiles, charts, overflow, ledger and the pack to download."""

from __future__ import annotations

import csv
import io

import httpx

from hub.runtime import Hub
from tests.figures.test_figures import write_log
from tests.hub.web.conftest import make_user, sign_in_client


async def test_the_dashboard_shows_a_partners_month_and_nothing_of_another(
    hub: Hub,
    make_partner,
    api: httpx.AsyncClient,
) -> None:
    owner, lender = await make_partner("owner", agents=2), await make_partner("lender", agents=1)
    await write_log(hub, owner, lender)
    await sign_in_client(api, await make_user(hub, role="committee", tenant=owner.slug))

    page = await api.get("/committee", params={"period": "2026-10"})
    assert page.status_code == 200, page.text
    html = page.text
    assert f'data-tenant="{owner.slug}"' in html and f'data-tenant="{lender.slug}"' not in html
    for shown in (
        "Offered</span><b>6</b>",
        "Service level</span><b>60.0 %</b>",
        "£4.20",
        f"{lender.slug}-lends-{owner.slug}",
    ):
        assert shown in html, shown
    assert f"/committee/charts/{owner.slug}/2026-10/services.png" in html

    chart = await api.get(f"/committee/charts/{owner.slug}/2026-10/services.png")
    assert (
        chart.status_code == 200
        and chart.headers["content-type"] == "image/png"
        and chart.content[:4] == b"\x89PNG"
    )
    assert (await api.get(f"/committee/charts/{lender.slug}/2026-10/volumes.png")).status_code == 404
    assert (await api.get(f"/committee/charts/{owner.slug}/2026-10/nonsense.png")).status_code == 404

    pdf = await api.get("/committee/pack/2026-10.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert owner.slug in pdf.headers["content-disposition"]
    csv_pack = await api.get("/committee/pack/2026-10.csv")
    partners = {row["partner"] for row in csv.DictReader(io.StringIO(csv_pack.text))}
    assert partners == {owner.slug}  # the lender appears only as the other side of the owner's overflow

    bad = await api.get("/committee", params={"period": "October"})
    assert bad.status_code == 400 and "2026-10" in bad.text
    empty = await api.get("/committee", params={"period": "2026-09"})  # a period with no data
    assert empty.status_code == 200 and "No contacts in this period." in empty.text
