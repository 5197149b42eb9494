"""Fixtures for the web app: the app served by uvicorn on a free port, Debian's Chromium driven by
Playwright (never a downloaded browser), a screenshot of every open page when a test fails, and helpers
that make users and enquiries."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy import select, update

from hub.accounts.service import create_user
from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.bus.base import IncomingMessage
from plumbing.db.session import unit_of_work
from routing.models import Enquiry
from tests.conftest import eventually

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHROMIUM_INSTALLED = Path(CHROMIUM).exists()
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def web(hub: Hub) -> AsyncIterator[str]:
    """The whole app (API and pages) on a real port, on the test's event loop."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(hub),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            log_config=None,
            timeout_graceful_shutdown=2,
        )
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done(), timeout=15)
    assert not task.done(), "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, timeout=15)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM_INSTALLED:
        raise pytest.UsageError(f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture
async def new_page(
    browser: Browser, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[], Awaitable[Page]]]:
    """Pages in separate browser contexts (separate cookies: one person each); screenshots on failure."""
    contexts = []

    async def make() -> Page:
        context = await browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-GB")
        context.set_default_timeout(15_000)
        contexts.append(context)
        return await context.new_page()

    yield make
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for i, context in enumerate(contexts):
            for j, page in enumerate(context.pages):
                name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
                await page.screenshot(path=str(ARTIFACTS / f"{name}-{i}-{j}.png"), full_page=True)
    for context in contexts:
        await context.close()


async def make_user(
    hub: Hub, *, role: str, tenant: str | None = None, agent_id: str | None = None
) -> tuple[str, str]:
    """A new user with a random password; returns (username, password)."""
    username = f"{role}-{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(12)
    async with unit_of_work(hub.sessionmaker) as session:
        await create_user(
            session, username=username, password=password, role=role, tenant=tenant, agent_id=agent_id
        )
    return username, password


async def sign_in_page(page: Page, base: str, login: tuple[str, str], path: str = "/") -> None:
    await page.goto(f"{base}{path}")
    await page.fill("input[name=username]", login[0])
    await page.fill("input[name=password]", login[1])
    await page.click("button[type=submit]")


async def sign_in_client(client: httpx.AsyncClient, login: tuple[str, str]) -> str:
    """Sign an httpx client in; returns the CSRF token of its session, read from a page."""
    r = await client.post("/sign-in", data={"username": login[0], "password": login[1], "next": "/"})
    assert r.status_code == 303, r.text
    page = await client.get(r.headers["location"])  # the role's own page, which carries the token
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match, "no form token on the page"
    return match.group(1)


def customer_of(name: str = "Pat Resident", **extra: str) -> dict[str, str]:
    return {"name": name, "phone": "01257 000 111", "uprn": "100010380000", **extra}


async def intake(
    hub: Hub,
    tenant: str,
    *,
    service: str = "missed-bin",
    customer: dict[str, Any] | None = None,
    attributes: dict[str, Any] | None = None,
    text: str = "My bin was not emptied",
    channel: str = "web",
) -> int:
    """An enquiry through the real intake path (without the broker); returns its id."""
    message_id = uuid.uuid4().hex
    body = {
        "tenant": tenant,
        "channel": channel,
        "received_at": datetime.now(UTC).isoformat(),
        "service_code": service,
        "text": text,
        "customer": customer or {},
        "attributes": attributes or {},
    }
    result = await hub.intake.process(
        [
            IncomingMessage(
                routing_key=f"{tenant}.{channel}",
                body=json.dumps(body).encode(),
                message_id=message_id,
                content_type="application/json",
                type="enquiry.v1",
            )
        ]
    )
    assert result.accepted == 1, result
    async with hub.sessionmaker() as session:
        enquiry_id = await session.scalar(
            select(Enquiry.id).where(Enquiry.tenant_slug == tenant, Enquiry.message_id == message_id)
        )
    assert enquiry_id is not None
    return enquiry_id


async def settle(hub: Hub, enquiry_id: int, *, outcome: str) -> None:
    """Make an enquiry a finished past contact (out of the live queue too), as if handled earlier."""
    await hub.live.withdraw(enquiry_id)
    async with unit_of_work(hub.sessionmaker) as session:
        await session.execute(
            update(Enquiry).where(Enquiry.id == enquiry_id).values(state="completed", outcome=outcome)
        )
