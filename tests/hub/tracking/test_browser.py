"""The tracking page in a real browser (Debian's chromium through Playwright): a citizen finds their enquiry by
reference and sees the back office's updates arrive, one over AMQP and one over the signed webhook."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from playwright.async_api import async_playwright, expect

from adapters.webhook import sign
from hub.api.app import create_app
from hub.runtime import Hub
from hub.worker import Worker
from tests.backoffice_helpers import CUSTOMER, make_backoffice_partner, pass_to_back_office
from tests.conftest import eventually
from tests.helpers_amqp import PartnerClient
from tests.receivers import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SECRET = "browser-test-shared-secret"


@pytest.fixture
async def served(hub: Hub) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, timeout=10)


async def test_a_citizen_follows_their_enquiry_in_the_browser(
    hub: Hub, worker: Worker, served: str, amqp_url: str
) -> None:
    adapter = {"name": "webhook", "config": {"url": "http://127.0.0.1:9/unused", "secret": SECRET}}
    partner = await make_backoffice_partner(hub, {"missed-bin": adapter})
    enquiry = await pass_to_back_office(hub, partner, "missed-bin")
    await asyncio.wait_for(worker.amqp_ready.wait(), timeout=15)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            await page.goto(f"{served}/track")
            await page.fill("#reference", enquiry.reference.lower())
            await page.click("button[type=submit]")
            await expect(page.get_by_test_id("reference")).to_have_text(enquiry.reference)
            await expect(page.get_by_test_id("status")).to_have_text("Passed to the service team")
            await expect(page.get_by_test_id("no-updates")).to_be_visible()
            for value in CUSTOMER.values():
                assert value not in await page.content()

            client = PartnerClient(amqp_url)
            try:
                client.publish(
                    f"{partner.slug}.update",
                    {
                        "reference": enquiry.reference,
                        "status": "scheduled",
                        "notes": "Collection booked",
                        "expected_date": "2026-12-03",
                        "at": datetime.now(UTC).isoformat(),
                    },
                    type="enquiry.update.v1",
                )
            finally:
                client.close()
            await _reload_until(page, "Scheduled")
            await expect(page.get_by_test_id("expected-date")).to_have_text("3 December 2026")
            await expect(page.get_by_test_id("updates")).to_contain_text("Collection booked")

            body = json.dumps(
                {
                    "update_id": "done-1",
                    "reference": enquiry.reference,
                    "status": "resolved",
                    "notes": "Bin emptied this morning",
                    "at": datetime.now(UTC).isoformat(),
                }
            ).encode()
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    f"{served}/api/v1/backoffice/{partner.slug}/services/missed-bin/updates",
                    content=body,
                    headers={"X-Hub-Signature": sign(SECRET, body, datetime.now(UTC))},
                )
            assert response.status_code == 200, response.text
            await page.reload()
            await expect(page.get_by_test_id("status")).to_have_text("Resolved")
            items = page.get_by_test_id("updates").locator("li")
            await expect(items).to_have_count(2)
            await expect(items.first).to_contain_text("Bin emptied this morning")

            await page.goto(f"{served}/track/CHO-0000-0000-00")
            await expect(page.get_by_test_id("not-found")).to_be_visible()
        finally:
            await browser.close()


async def _reload_until(page, label: str, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    """The AMQP update lands when the worker has taken it in: reload like an impatient citizen would."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await page.reload()
        if (await page.get_by_test_id("status").inner_text()) == label:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the page never showed {label!r}")
        await asyncio.sleep(0.2)
