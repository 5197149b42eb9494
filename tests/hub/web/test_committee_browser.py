"""What a committee member sees, in a real browser (Debian's Chromium): the summary's met/near/missed cells, the
charts loading under the pages' strict content policy, and a what-if whose chart renders and whose cost is shown.

The month is ``write_log``'s (tests/figures/test_pack.py has it computed by hand): the owner's service level is
60.0 % against 80.0 % (missed), missed bin 50.0 % (missed), council tax 100.0 % (met); it gave one contact to
the lender, whose £4.20 the owner owes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from playwright.async_api import Page, expect

from hub.runtime import Hub
from tests.conftest import Partner
from tests.figures.test_figures import write_log
from tests.hub.web.conftest import make_user, sign_in_page
from tests.whatif.test_jobs import month
from tests.whatif.test_whatif import poisson


def _csp_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and ("Content Security Policy" in m.text or "Refused" in m.text)
            else None
        ),
    )
    return errors


async def test_a_committee_member_reads_the_summary_against_each_services_target(
    hub: Hub, make_partner, web: str, new_page: Callable[[], Awaitable[Page]]
) -> None:  # type: ignore[no-untyped-def]
    owner, lender = await make_partner("owner", agents=2), await make_partner("lender", agents=1)
    await write_log(hub, owner, lender)
    login = await make_user(hub, role="committee", tenant=owner.slug)
    page = await new_page()
    await page.set_viewport_size({"width": 1366, "height": 768})  # a laptop
    errors = _csp_errors(page)
    await sign_in_page(page, web, login, "/committee")
    await page.goto(f"{web}/committee?period=2026-10")

    row = page.locator(f'#summary-partners tr[data-tenant="{owner.slug}"]')
    await expect(row.locator("td").first).to_have_text(f"Test partner {owner.slug}")  # a name, not a slug
    level = row.locator("td.rag")
    await expect(level).to_have_text("60.0 % missed")
    await expect(level).to_have_attribute("data-rag", "missed")
    assert await level.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(248, 215, 215)"
    await expect(row.locator("td.given")).to_have_text("1")
    await expect(row.locator("td.net")).to_have_text("−£4.20")
    services = page.locator(f'#summary-services tr[data-tenant="{owner.slug}"]')
    await expect(services.locator("[data-rag]")).to_have_text(["100.0 % met", "50.0 % missed"])
    await expect(services.locator("td:nth-child(3)")).to_have_text(["80 % in 30 s", "80 % in 20 s"])
    await expect(page.locator("#rag-legend")).to_contain_text(
        "missed (red): 5 percentage points or more below"
    )

    section = page.locator(f'section.partner[data-tenant="{owner.slug}"]')
    await expect(section.locator("table.overflow-given tbody tr")).to_have_text(
        re.compile(rf"Test partner {lender.slug}\s*1\s*0")
    )
    await expect(section.locator("table.overflow-received")).to_contain_text("None.")
    charts = section.locator("img.chart")
    await expect(charts).to_have_count(4)
    for i in range(4):
        chart = charts.nth(i)
        await chart.scroll_into_view_if_needed()
        await expect(chart).to_have_js_property("complete", True)
        width = await chart.evaluate("e => [e.naturalWidth, e.getBoundingClientRect().width]")
        assert width[0] > 0, "the chart loaded"
        assert width[1] > 1000, "the chart spans the page's width on a laptop"
    await expect(page.locator("#definitions-history tr[data-version]")).to_have_count(2)
    assert errors == []


async def test_a_what_if_shows_its_chart_and_what_the_change_costs(
    hub: Hub, make_partner, web: str, new_page: Callable[[], Awaitable[Page]]
) -> None:  # type: ignore[no-untyped-def]
    partner: Partner = await make_partner(agents=2)
    page = await new_page()
    errors = _csp_errors(page)
    await sign_in_page(page, web, await make_user(hub, role="committee"), "/committee/whatif")
    await expect(page.locator("#whatif-source")).to_contain_text("Scenario A")
    await page.fill("textarea[name=a]", poisson(partner, 4, "four agents"))
    await page.fill("textarea[name=b]", poisson(partner, 6, "six agents"))
    await page.get_by_role("button", name="Run").click()

    chart = page.locator("svg#chart")
    await expect(chart).to_be_visible()
    box = await chart.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 150
    bars = chart.locator(f'rect.bar[data-partner="{partner.slug}"]')
    await expect(bars).to_have_count(2)
    heights = [float(await bars.nth(i).get_attribute("height") or 0) for i in range(2)]
    assert heights[1] > heights[0] > 0  # six agents answer more within the threshold than four

    # Staff hours by hand: the period is 08:00–16:00 UTC and the shifts are all day, so 4 × 8 h and 6 × 8 h.
    hours = page.locator('#decision tr[data-figure="staff_hours"] td')
    await expect(hours).to_have_text(["Staff hours on the rotas", "32.0 h", "48.0 h", "+16.0 h"])
    cost = page.locator('#decision tr[data-figure="overflow_amount"] td')
    await expect(cost).to_have_text(["Overflow cost at the agreed unit rates", "£0.00", "£0.00", "+£0.00"])
    gain = await page.locator('#decision tr[data-figure="service_level"] td').all_inner_texts()
    assert re.fullmatch(r"\+\d+\.\d pt", gain[3]), gain
    assert errors == [], errors


async def test_a_months_what_if_shows_a_moving_bar_then_its_projection(
    hub: Hub, make_partner, web: str, new_page: Callable[[], Awaitable[Page]]
) -> None:  # type: ignore[no-untyped-def]
    partner: Partner = await make_partner(agents=2)
    page = await new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await sign_in_page(page, web, await make_user(hub, role="committee"), "/committee/whatif")
    # 60 calls per half hour for 30 days: 48 × 60 × 30 = 86,400 contacts expected in each scenario.
    await page.fill("textarea[name=a]", month(partner, 7, "seven agents", per_interval=60))
    await page.fill("textarea[name=b]", month(partner, 9, "nine agents", per_interval=60))
    await page.get_by_role("button", name="Run").click()

    bar = page.locator("progress#whatif-bar")
    await expect(bar).to_be_visible()
    seen: list[float] = []
    projection = page.locator("#projection")
    while not await projection.is_visible():
        value = await page.evaluate(
            "() => { const b = document.getElementById('whatif-bar'); return b ? b.value : null; }"
        )
        if value is not None:
            seen.append(float(value))
        await page.wait_for_timeout(50)
    moving = [v for v in seen if 0 < v < 100]
    assert moving, seen  # the bar stood strictly between empty and full at least once
    assert seen == sorted(seen)
    await expect(page.locator("#whatif-status")).to_have_count(0)  # gone with the run
    await expect(page.locator("svg#chart")).to_be_visible()
    # Staff hours by hand: all day for 30 days on UTC's clock, 7 × 24 × 30 = 5,040 h and 9 × 24 × 30 = 6,480 h.
    hours = page.locator('#decision tr[data-figure="staff_hours"] td')
    await expect(hours).to_have_text(["Staff hours on the rotas", "5,040.0 h", "6,480.0 h", "+1,440.0 h"])
    await expect(page.locator("textarea[name=b]")).to_contain_text("name: nine agents")  # to edit again
    assert errors == [], errors
