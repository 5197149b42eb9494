"""/docs renders with the network cut (every non-local request aborted): the hub serves their assets
from a Python package. Every page a person opens loads without a console error or a failed request."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import ConsoleMessage, Page, Route, expect

from hub.runtime import Hub
from routing.models import Enquiry
from tests.hub.web.conftest import customer_of, intake, make_user, settle, sign_in_page

LOCAL = {"127.0.0.1", "localhost"}


async def _cut_network(page: Page, outside: list[str]) -> None:
    async def route(r: Route) -> None:
        if urlsplit(r.request.url).hostname in LOCAL:
            await r.continue_()
        else:
            outside.append(r.request.url)
            await r.abort()

    await page.route("**/*", route)


def _watch(page: Page, errors: list[str]) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("response", lambda r: errors.append(f"{r.url}: {r.status}") if r.status >= 400 else None)


async def test_the_api_docs_render_with_the_network_cut(web: str, new_page) -> None:
    page = await new_page()
    outside: list[str] = []
    errors: list[str] = []
    await _cut_network(page, outside)
    _watch(page, errors)
    await page.goto(f"{web}/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Shared contact-centre hub")
    # An operation of ours is listed, so the schema was read and drawn.
    await expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/enquiries/{enquiry_id}/trail")
    ).to_have_count(1)
    icon = await page.request.get(f"{web}/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/x-icon"
    assert (outside, errors) == ([], [])
    # ReDoc is not served (it cannot work offline), so nothing may point at it.
    assert (await page.request.get(f"{web}/redoc")).status == 404
    assert "redoc" not in (await page.content()).lower()


# Every page a person opens, as whom, and the status its document answers with (a refusal is a page too).
PAGES = [
    ("anyone", "/sign-in", 200),
    ("anyone", "/docs", 200),
    ("anyone", "/track", 200),
    ("anyone", "/track/{reference}", 200),
    ("anyone", "/track/NO-SUCH-REF", 404),
    ("anyone", "/survey/any-token", 200),  # the form (a token is checked when the answer is sent)
    ("agent", "/console", 200),
    ("agent", "/console/enquiries/{enquiry}", 200),
    ("agent", "/console/enquiries/999999999", 404),
    ("agent", "/supervisor", 403),
    ("supervisor", "/supervisor", 200),
    ("supervisor", "/supervisor/agents/{agent}", 200),
    ("supervisor", "/supervisor/enquiries/{enquiry}", 200),
    ("supervisor", "/supervisor/find?reference={reference}", 200),
    ("supervisor", "/committee", 200),
    # A partner's committee member: the whole-committee view would draw every test partner of the run.
    ("committee", "/committee", 200),
    ("committee", "/committee/whatif", 200),
]


@pytest.mark.parametrize(("who", "path", "status"), PAGES, ids=[f"{w}:{p}" for w, p, _ in PAGES])
async def test_no_page_has_a_console_error_or_a_failed_request(
    hub: Hub, web: str, new_page, make_partner, who: str, path: str, status: int
) -> None:
    partner = await make_partner(agents=1)
    agent = partner.agents[0]
    enquiry = await intake(hub, partner.slug, customer=customer_of("Pat Resident"))
    await settle(hub, enquiry, outcome="passed_to_back_office")
    async with hub.sessionmaker() as session:
        reference = (await session.get(Enquiry, enquiry)).reference  # type: ignore[union-attr]
    target = web + path.format(reference=reference, enquiry=enquiry, agent=agent)
    page = await new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Chromium reports the page's own refusal or not-found as a failed load: that one is by design.
        own = message.location.get("url") == target and f"status of {status}" in message.text
        if message.type == "error" and not (status >= 400 and own):
            errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    # Any failed request but the page's own document.
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.url}: {r.status}")
            if r.status >= 400 and not (r.request.resource_type == "document" and r.url == target)
            else None
        ),
    )
    if who != "anyone":
        login = await make_user(
            hub,
            role=who,
            tenant=None if who == "agent" else partner.slug,
            agent_id=agent if who == "agent" else None,
        )
        await sign_in_page(page, web, login)
        await page.wait_for_load_state("load", timeout=60_000)
    # "load", not "networkidle": the console keeps its event stream open for as long as it is shown.
    response = await page.goto(target, wait_until="load", timeout=60_000)  # /committee draws charts
    assert response is not None and response.status == status, (target, response and response.status)
    if path == "/docs":
        await expect(page.locator(".swagger-ui .info .title")).to_be_visible()
    else:
        await expect(page.locator("main h1, main h2").first).to_be_visible()
    assert "/redoc" not in await page.content()
    await page.wait_for_timeout(500)  # a late script error or favicon request would land by now
    assert errors == []
