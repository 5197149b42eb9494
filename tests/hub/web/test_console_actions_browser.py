"""Every action of the console within reach on a 1366×768 laptop and on a phone (390×844): the status buttons,
accept, a callback's outcome, transfer, complete and ready-for-the-next, each pressed in a real browser (Debian's
Chromium) in turn, with no console error on the way."""

from __future__ import annotations

import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from hub.runtime import Hub
from tests.hub.web.conftest import customer_of, intake, make_user, sign_in_page

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def _watch(page: Page, errors: list[str]) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("response", lambda r: errors.append(f"{r.url}: {r.status}") if r.status >= 400 else None)


async def _within_reach(page: Page, name: str, viewport: dict[str, int], *, without_scrolling: bool) -> None:
    """The button is inside the screen's width, and wholly on screen (at once, or once scrolled to)."""
    button = page.get_by_role("button", name=name, exact=True)
    await expect(button).to_be_visible()
    if not without_scrolling:
        await button.scroll_into_view_if_needed()
    box = await button.bounding_box()
    assert box is not None, name
    edge = 1  # a scrolled-to box may sit a fraction of a pixel over the edge
    assert box["x"] >= -edge and box["x"] + box["width"] <= viewport["width"] + edge, (name, box, viewport)
    assert box["y"] >= -edge and box["y"] + box["height"] <= viewport["height"] + edge, (name, box, viewport)


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop-1366x768", "phone-390x844"])
async def test_every_console_action_is_within_reach_and_works(
    hub: Hub, web: str, new_page, make_partner, viewport: dict[str, int]
) -> None:
    laptop = viewport == LAPTOP
    partner = await make_partner(agents=1)
    errors: list[str] = []
    console = await new_page()
    await console.set_viewport_size(viewport)
    _watch(console, errors)
    await sign_in_page(console, web, await make_user(hub, role="agent", agent_id=partner.agents[0]))
    await expect(console.locator("#status")).to_have_text("Offline")
    # The page is no wider than the screen (nothing to reach by scrolling sideways).
    assert await console.evaluate("document.documentElement.scrollWidth") <= viewport["width"]

    await _within_reach(console, "Available", viewport, without_scrolling=True)
    await console.get_by_role("button", name="Available", exact=True).click()
    await expect(console.locator("#status")).to_have_text("Available")

    # A callback arrives: accept it (the offer is at the top of the page on both screens).
    await intake(hub, partner.slug, channel="callback", customer=customer_of(), text="Where is my new bin?")
    await expect(console.locator("#offer")).to_be_visible(timeout=20_000)
    for name in ("Accept", "Reject"):
        await _within_reach(console, name, viewport, without_scrolling=True)
    await console.get_by_role("button", name="Accept", exact=True).click()
    await expect(console.locator("#status")).to_have_text("On a callback")
    await expect(console.locator("#callback-number")).to_have_text("01257 000 111")

    # On a laptop every action of the enquiry in hand is on screen at once; on a phone each is, scrolled to.
    actions = ("Reached: talking now", "No answer", "Line busy", "Wrong number", "Complete", "Transfer")
    for name in actions:
        await _within_reach(console, name, viewport, without_scrolling=laptop)
    assert await console.evaluate("document.documentElement.scrollWidth") <= viewport["width"]

    # The callback's outcome: reached, so the call carries on.
    await console.get_by_role("button", name="Reached: talking now").click()
    await expect(console.locator("#enquiry")).to_be_visible()
    await expect(console.locator("#status")).to_have_text("On a callback")

    # Transfer it to the partner's general queue; after wrap-up the agent (the only one) is offered it again,
    # so the transfer let go of the call (it once stayed in the agent's hand and no call was offered again).
    await console.select_option("#transfer select[name=target]", f"{partner.slug}/general")
    await _within_reach(console, "Transfer", viewport, without_scrolling=laptop)
    await console.get_by_role("button", name="Transfer", exact=True).click()
    await expect(console.locator(".notice")).to_contain_text("Transferred")
    await expect(console.locator("#enquiry")).to_have_count(0)
    await expect(console.locator("#status")).to_have_text("Wrap-up")
    await _within_reach(console, "Ready for the next", viewport, without_scrolling=True)
    await console.get_by_role("button", name="Ready for the next").click()
    await expect(console.locator("#offer")).to_be_visible(timeout=20_000)
    await expect(console.locator("#offer-service")).to_have_text("General enquiries")
    await _within_reach(console, "Accept", viewport, without_scrolling=True)
    await console.get_by_role("button", name="Accept", exact=True).click()

    # Complete, then wrap-up, then ready for the next.
    await console.select_option("#wrap-up select[name=outcome]", "resolved")
    await _within_reach(console, "Complete", viewport, without_scrolling=laptop)
    await console.get_by_role("button", name="Complete", exact=True).click()
    await expect(console.locator("#status")).to_have_text("Wrap-up")
    await _within_reach(console, "Ready for the next", viewport, without_scrolling=True)
    await console.get_by_role("button", name="Ready for the next").click()
    await expect(console.locator("#status")).to_have_text("Available")
    for name in ("On a break", "Not ready", "Offline"):
        await _within_reach(console, name, viewport, without_scrolling=True)
    await console.get_by_role("button", name="Offline", exact=True).click()
    await expect(console.locator("#status")).to_have_text("Offline")
    await console.screenshot(path=f"test-artifacts/console-actions-{viewport['width']}.png", full_page=True)
    assert errors == []
