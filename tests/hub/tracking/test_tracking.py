"""The public tracking page: what was asked and where it has got to, no personal data, 404 and 429."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from backoffice.updates import apply_update
from hub.api.app import create_app
from hub.runtime import Hub
from hub.tracking.ratelimit import MemoryRateLimiter, RedisRateLimiter
from plumbing.db.session import unit_of_work
from routing.case_status import StatusUpdate
from routing.live.redis_state import RedisLiveState
from routing.models import Enquiry
from tenants.service import apply_definitions
from tests.backoffice_helpers import CUSTOMER, TEXT, make_backoffice_partner, pass_to_back_office
from tests.conftest import partner_definition, unique_slug
from tests.hub.web.conftest import intake


@pytest.fixture
def app(hub: Hub) -> FastAPI:
    return create_app(hub)


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client:
        yield client


async def test_the_page_shows_progress_and_nothing_personal(hub: Hub, api: httpx.AsyncClient) -> None:
    partner = await make_backoffice_partner(hub, {"missed-bin": None})
    enquiry = await pass_to_back_office(
        hub, partner, "missed-bin", notes="Customer is Pat, call 01257 000000"
    )
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_update(
            session,
            StatusUpdate(
                tenant=partner.slug,
                source="webhook",
                source_id="u-1",
                status="scheduled",
                at=enquiry.received_at,
                reference=enquiry.reference,
                notes="Collection booked for Thursday",
                expected_date=enquiry.received_at.date(),
            ),
            now=enquiry.received_at,
        )

    as_json = await api.get(f"/track/{enquiry.reference}.json")
    negotiated = await api.get(f"/track/{enquiry.reference.lower()}", headers={"Accept": "application/json"})
    page = await api.get(f"/track/{enquiry.reference}", headers={"Accept": "text/html,*/*"})
    assert as_json.status_code == negotiated.status_code == page.status_code == 200
    assert as_json.json() == negotiated.json()
    body = as_json.json()
    assert body["reference"] == enquiry.reference and body["council"] == f"Council {partner.slug}"
    assert body["service"] == "Service missed-bin" and body["channel"] == "phone"
    assert body["status"] == "scheduled" and body["status_label"] == "Scheduled"
    assert body["expected_date"] == enquiry.received_at.date().isoformat()
    assert body["passed_to_back_office_at"] is not None
    assert [(u["status"], u["notes"]) for u in body["updates"]] == [
        ("scheduled", "Collection booked for Thursday")
    ]
    assert page.headers["content-type"].startswith("text/html")
    assert enquiry.reference in page.text and "Collection booked for Thursday" in page.text
    assert "Service missed-bin" in page.text and "Scheduled" in page.text

    for response in (as_json, page):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        for secret in (*CUSTOMER.values(), TEXT, "01257", "Customer is Pat", partner.agent):
            assert secret not in response.text, f"{secret!r} must not be on the public page"


async def test_unknown_references_are_404_and_the_find_form_redirects(
    hub: Hub, api: httpx.AsyncClient
) -> None:
    page = await api.get("/track/CHO-0000-0000-00")
    assert page.status_code == 404 and "We cannot find that enquiry" in page.text
    assert "CHO-0000-0000-00" in page.text
    as_json = await api.get("/track/CHO-0000-0000-00.json")
    assert as_json.status_code == 404 and as_json.json()["code"] == "unknown_reference"
    odd = await api.get("/track/" + "<script>" * 10)
    assert odd.status_code == 404 and "<script>" not in odd.text
    form = await api.get("/track")
    assert form.status_code == 200 and 'name="reference"' in form.text
    found = await api.get("/track", params={"reference": " cho-1234-5678-9a "})
    assert found.status_code == 303 and found.headers["location"] == "/track/CHO-1234-5678-9A"


async def test_before_the_back_office_the_status_is_the_contact_centres(
    hub: Hub, api: httpx.AsyncClient
) -> None:
    partner = await make_backoffice_partner(hub, {"missed-bin": None})
    enquiry = await pass_to_back_office(hub, partner, "missed-bin")
    body = (await api.get(f"/track/{enquiry.reference}.json")).json()
    assert body["status"] == "passed_to_back_office" and body["status_label"] == "Passed to the service team"
    assert body["updates"] == [] and body["expected_date"] is None


async def test_too_many_requests_from_one_client_get_429_with_retry_after(
    hub: Hub, app: FastAPI, api: httpx.AsyncClient
) -> None:
    app.state.tracking_limiter = MemoryRateLimiter(limit=3, window_seconds=60, clock=lambda: 999_970.0)
    for _ in range(3):
        assert (await api.get("/track/CHO-0000-0000-00.json")).status_code == 404
    limited = await api.get("/track/CHO-0000-0000-00.json")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "50"
    assert limited.json()["code"] == "rate_limited"
    page = await api.get("/track/CHO-0000-0000-00")
    assert page.status_code == 429 and page.headers["retry-after"] == "50"


async def test_the_limit_is_kept_in_redis_when_the_hub_has_it(
    hub: Hub, api: httpx.AsyncClient, app: FastAPI
) -> None:
    await api.get("/track/CHO-0000-0000-00.json")
    assert isinstance(app.state.tracking_limiter, RedisRateLimiter)
    assert isinstance(hub.live, RedisLiveState)
    now = 2_000_000.0
    limiter = RedisRateLimiter(
        hub.live.redis, hub.settings.redis_prefix, limit=2, window_seconds=60, clock=lambda: now
    )
    assert await limiter.hit("track:10.0.0.1") is None
    assert await limiter.hit("track:10.0.0.1") is None
    assert await limiter.hit("track:10.0.0.1") == 40
    assert await limiter.hit("track:10.0.0.2") is None  # another client has its own count


async def test_the_page_names_the_service_as_it_was_and_tells_the_time_on_the_councils_clock(
    hub: Hub, api: httpx.AsyncClient
) -> None:
    """A service renamed after the enquiry keeps its old name here; times are the council's local ones."""
    slug = unique_slug("tz")
    tokyo = partner_definition(slug, [f"{slug}-a"])
    tokyo = tokyo.model_copy(update={"tenant": tokyo.tenant.model_copy(update={"timezone": "Asia/Tokyo"})})
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=[tokyo])
    await hub.catalogue.reload()
    enquiry_id = await intake(hub, slug, service="missed-bin")
    renamed = tokyo.model_copy(
        update={
            "services": [
                s.model_copy(update={"name": "Bins not emptied"}) if s.code == "missed-bin" else s
                for s in tokyo.services
            ]
        }
    )
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=[renamed])
        enquiry = await session.get(Enquiry, enquiry_id)
        assert enquiry is not None
        # 20:30 UTC on 5 December is 05:30 on 6 December in Tokyo (UTC+9, no summer time).
        at = datetime(2026, 12, 5, 20, 30, tzinfo=UTC)
        await apply_update(
            session,
            StatusUpdate(
                tenant=slug,
                source="webhook",
                source_id="tz-1",
                status="scheduled",
                at=at,
                reference=enquiry.reference,
            ),
            now=at,
        )
    page = html.unescape((await api.get(f"/track/{enquiry.reference}")).text)
    assert "Missed bin" in page and "Bins not emptied" not in page
    assert "6 December 2026 at 05:30" in page
    assert (await api.get(f"/track/{enquiry.reference}.json")).json()["service"] == "Missed bin"
