"""/docs renders with the network cut (every non-local request aborted): the hub serves their assets
from a Python package. Every page a person opens loads without a console error or a failed request."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import ConsoleMessage, Page, Route, expect

from hub.runtime import Hub
from tests.hub.web.conftest import make_user, sign_in_page

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


async def test_no_page_has_a_console_error_or_a_failed_request(
    hub: Hub, web: str, new_page, make_partner
) -> None:
    partner = await make_partner(agents=1)
    logins = {
        "agent": (await make_user(hub, role="agent", agent_id=partner.agents[0]), ["/console"]),
        "supervisor": (
            await make_user(hub, role="supervisor", tenant=partner.slug),
            ["/supervisor", f"/supervisor/agents/{partner.agents[0]}", "/committee"],
        ),
        # A partner's committee member: the whole-committee view would draw every test partner of the run.
        "committee": (await make_user(hub, role="committee", tenant=partner.slug), ["/committee"]),
    }
    errors: list[str] = []
    visited = []
    for login, paths in logins.values():
        page = await new_page()
        _watch(page, errors)
        await sign_in_page(page, web, login)
        await page.wait_for_load_state("load", timeout=60_000)
        for path in paths:
            # "load", not "networkidle": the console keeps its event stream open for as long as it is shown.
            await page.goto(f"{web}{path}", wait_until="load", timeout=60_000)  # /committee draws charts
            await expect(page.locator("main")).to_be_visible()
            visited.append(path)
        await page.wait_for_timeout(500)  # a late script error or favicon request would land by now
    assert len(visited) == 5 and errors == []
