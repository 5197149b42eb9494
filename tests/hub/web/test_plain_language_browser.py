"""What a person reads, in a real browser: the trail in sentences, the agent's panel in the service's own words
with its actions in view (a 1366×768 laptop and a phone), names instead of codes, no console errors."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.async_api import ConsoleMessage, Page, expect

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.agreements.service import put_agreements
from tenants.agreements.terms import AgreementDefinition
from tenants.schemas import PartnerDefinition
from tenants.service import apply_definitions
from tenants.tokens import create_token
from tests.hub.web.conftest import customer_of, intake, make_user, sign_in_page

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def _owner(slug: str, agent_id: str) -> PartnerDefinition:
    return PartnerDefinition.model_validate(
        {
            "tenant": {"slug": slug, "name": "Borough of Testing", "kind": "partner"},
            "opening_hours": {"default": "always"},
            "services": [
                {"code": "general", "name": "General enquiries", "group": "Council", "skills": ["general"]},
                {
                    "code": "bulky",
                    "name": "Bulky household waste collection",
                    "group": "Waste",
                    "lgsl": 524,
                    "skills": ["waste"],
                    "priority": 4,
                    "attributes": [
                        {
                            "code": "items",
                            "description": "What needs collecting?",
                            "datatype": "multivaluelist",
                            "values": [
                                {"key": "sofa", "name": "Sofa or armchair"},
                                {"key": "fridge", "name": "Fridge or freezer"},
                            ],
                        },
                        {
                            "code": "collect_on",
                            "description": "Preferred collection day",
                            "datatype": "datetime",
                        },
                    ],
                },
            ],
            "agents": [{"id": agent_id, "name": "Lee Hart", "skills": ["general", "waste"]}],
        }
    )


def _watch(page: Page, errors: list[str]) -> None:
    """Every console error and failed request of a page (a missing favicon included) lands in ``errors``."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("response", lambda r: errors.append(f"{r.url}: {r.status}") if r.status >= 400 else None)


async def _in_view(page: Page, selector: str, viewport: dict[str, int]) -> None:
    box = await page.locator(selector).bounding_box()
    assert box is not None, selector
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], (selector, box)
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (selector, box)


async def test_the_panel_reads_in_the_services_words_and_the_trail_in_sentences(
    hub: Hub, web: str, new_page, make_partner, api: httpx.AsyncClient
) -> None:
    slug = f"testing-{uuid.uuid4().hex[:8]}"
    agent_id = f"{slug}-lee"
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=[_owner(slug, agent_id)])
    lender = await make_partner("lender")
    async with unit_of_work(hub.sessionmaker) as session:
        await put_agreements(
            session,
            agreements=[
                AgreementDefinition.model_validate(
                    {
                        "id": f"{lender.slug}-helps-{slug}",
                        "name": "test evening agreement",
                        "lender": lender.slug,
                        "borrower": slug,
                        "conditions": {"waited_at_least_seconds": 600},
                    }
                )
            ],
        )
    await hub.catalogue.reload()
    await hub.dispatcher.agreements.reload()
    errors: list[str] = []

    console = await new_page()
    await console.set_viewport_size(LAPTOP)
    _watch(console, errors)
    await sign_in_page(console, web, await make_user(hub, role="agent", agent_id=agent_id))
    await expect(console.locator("header .who")).to_have_text("Lee Hart · Agent, Borough of Testing")
    await console.get_by_role("button", name="Available").click()
    await expect(console.locator("#status")).to_have_text("Available")

    enquiry_id = await intake(
        hub,
        slug,
        service="bulky",
        channel="phone",
        customer=customer_of("Pat Resident"),
        attributes={"items": ["sofa", "fridge"], "collect_on": "2026-12-01", "council_tax_arrears": True},
        text="Old sofa and a fridge",
    )
    await expect(console.locator("#offer")).to_be_visible(timeout=20_000)
    await expect(console.locator("#offer-service")).to_have_text("Bulky household waste collection")
    await expect(console.locator("#offer-channel")).to_have_text("Phone call")
    await console.get_by_role("button", name="Accept").click()
    await expect(console.locator("#enquiry")).to_be_visible()

    # The service's own questions as labels (an answer it does not define: its code in words); lists as lists,
    # yes/no, dates as dates.
    customer = console.locator("#customer")
    await expect(customer.locator("dt")).to_contain_text(
        ["Name", "Phone", "What needs collecting?", "Preferred collection day", "Council tax arrears"]
    )
    await expect(customer.locator("dd[data-code=items] li")).to_have_text(
        ["Sofa or armchair", "Fridge or freezer"]
    )
    await expect(customer.locator("dd[data-code=collect_on]")).to_have_text("1 December 2026")
    await expect(customer.locator("dd[data-code=council_tax_arrears]")).to_have_text("Yes")
    await expect(console.locator("#enquiry-channel")).to_have_text("Phone call")

    # Complete and Transfer in view on a laptop without scrolling, and after scrolling to the bottom.
    for selector in ("#wrap-up button[type=submit]", "#transfer button[type=submit]"):
        await _in_view(console, selector, LAPTOP)
    await console.mouse.wheel(0, 2000)
    await _in_view(console, "#wrap-up button[type=submit]", LAPTOP)
    await console.screenshot(path="test-artifacts/console-1366x768.png")
    # On a phone: the actions come first, inside the screen's width, the one to finish in view.
    await console.set_viewport_size(PHONE)
    await console.reload()
    await _in_view(console, "#wrap-up button[type=submit]", PHONE)
    await console.screenshot(path="test-artifacts/console-phone.png", full_page=True)

    # The supervisor reads the trail in sentences: names, not slugs or dicts.
    floor = await new_page()
    await floor.set_viewport_size(LAPTOP)
    _watch(floor, errors)
    await sign_in_page(floor, web, await make_user(hub, role="supervisor", tenant=slug))
    await expect(floor.locator("header .who")).to_contain_text("Supervisor, Borough of Testing")
    row = floor.locator(f"#recent tr[data-enquiry='{enquiry_id}']")
    await expect(row).to_contain_text("Bulky household waste collection")
    await expect(row).to_contain_text("Lee Hart")
    await row.get_by_role("link").click()
    steps = floor.locator("#trail .says")
    await expect(floor.locator("#trail-summary")).to_contain_text(
        "Bulky household waste collection for Borough of Testing"
    )
    await expect(steps.nth(0)).to_have_text(re.compile(r"^Received by Borough of Testing at \d\d:\d\d"))
    await expect(steps.nth(1)).to_have_text(
        re.compile(
            r"^Queued for Borough of Testing's “Bulky household waste collection” queue at priority 4\. "
            r".*Test partner lender-\w+ may take it from \d\d:\d\d under the test evening agreement; "
            r"(open|closed) now\.$"
        )
    )
    await expect(steps.nth(2)).to_have_text(re.compile(r"^Offered to Lee Hart, to accept within \d+ s\.$"))
    await expect(steps.nth(3)).to_have_text(re.compile(r"^Answered by Lee Hart after a wait of \d+ s\.$"))
    page_says = await steps.all_inner_texts()
    assert not [s for s in page_says if "{" in s or "_" in s or slug in s], page_says
    await floor.screenshot(path="test-artifacts/trail-1366x768.png", full_page=True)

    # The API keeps the structured data and adds the same sentences.
    async with unit_of_work(hub.sessionmaker) as session:
        token = await create_token(session, role="supervisor", tenant=slug)
    trail = (
        await api.get(f"/api/v1/enquiries/{enquiry_id}/trail", headers={"Authorization": f"Bearer {token}"})
    ).json()
    assert [s["says"] for s in trail["steps"]] == page_says
    assert trail["steps"][1]["data"]["routing"]["priority"] == 4
    assert (trail["owner_name"], trail["service_name"]) == (
        "Borough of Testing",
        "Bulky household waste collection",
    )

    assert errors == []
