"""A client's retried Open311 POST (same api_key, same fields, its own reference among them) is the same request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from routing.models import Enquiry
from tenants.tokens import create_token


async def _count(hub: Hub, slug: str) -> int:
    async with hub.sessionmaker() as session:
        n = await session.scalar(select(func.count()).select_from(Enquiry).where(Enquiry.tenant_slug == slug))
    return int(n or 0)


async def test_a_retried_post_returns_the_same_request_id_and_makes_no_second_case(
    hub: Hub, api: httpx.AsyncClient, make_partner
) -> None:
    partner = await make_partner("retry")
    async with unit_of_work(hub.sessionmaker) as session:
        key = await create_token(session, role="open311", tenant=partner.slug, label="fixmystreet")
        other_key = await create_token(session, role="open311", tenant=partner.slug, label="another client")
    form: dict[str, Any] = {
        "jurisdiction_id": partner.slug,
        "api_key": key,
        "service_code": "missed-bin",
        "description": "Grey bin not emptied on Tuesday",
        "lat": "53.6531",
        "long": "-2.6326",
        "attribute[fixmystreet_id]": "FMS-4411",  # the client's own reference
    }

    async def post(**changes: str) -> str:
        r = await api.post("/open311/v2/requests.json", data={**form, **changes})
        assert r.status_code == 200, r.text
        return str(r.json()[0]["service_request_id"])

    first = await post()
    assert await post() == first, "a retry is the same request"
    assert await _count(hub, partner.slug) == 1
    # Anything different is another request: the client's reference, the words, the client (its api_key).
    others = {
        await post(**{"attribute[fixmystreet_id]": "FMS-4412"}),
        await post(description="Green bin not emptied on Tuesday"),
        await post(api_key=other_key),
    }
    assert first not in others and len(others) == 3
    assert await _count(hub, partner.slug) == 4

    # Beyond the window (600 s by default) the same POST is a new request.
    real_clock = hub.dispatcher.clock
    later = datetime.now(UTC) + timedelta(seconds=hub.settings.open311_retry_window_seconds * 2 + 1)
    hub.dispatcher.clock = lambda: later
    try:
        again = await post()
    finally:
        hub.dispatcher.clock = real_clock
    assert again != first
    assert await _count(hub, partner.slug) == 5
