"""HTTP input is bounded (plumbing/bounded.py): a body over the limit is refused with 413 before it is read, a
JSON number that is not finite gets 422 on every route, media URLs are checked and only safe ones republished, and
every HTML page carries the security headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from routing.models import Enquiry
from tenants.tokens import create_token
from tests.hub.api.test_agents_api import token
from tests.hub.api.test_problems import _is_problem

LIMIT = 1_048_576  # HUB_HTTP_MAX_BODY_BYTES's default


async def _asgi(app: Any, scope: dict[str, Any], chunks: list[bytes] | None) -> tuple[int, bytes, int]:
    """Call the app as a server would; returns (status, body, request chunks the app pulled)."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if chunks is None:
            raise AssertionError("the body was read")
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(
        {
            "type": "http",
            "http_version": "1.1",
            "scheme": "http",
            "server": ("hub.test", 80),
            "client": ("127.0.0.1", 1),
            "root_path": "",
            "query_string": b"",
            **scope,
        },
        receive,
        send,
    )
    start = next(m for m in sent if m["type"] == "http.response.start")
    return (
        start["status"],
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
        pulled,
    )


async def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read(hub: Hub) -> None:
    app = create_app(hub)
    status, body, _ = await _asgi(
        app,
        {
            "method": "POST",
            "path": "/api/v1/backoffice/anyone/services/any/updates",
            "headers": [
                (b"content-length", str(200 * 1024 * 1024).encode()),
                (b"content-type", b"application/json"),
            ],
        },
        None,  # reading the body would fail the test
    )
    assert status == 413 and b'"code":"too_large"' in body


async def test_a_body_without_a_length_is_read_only_up_to_the_limit(hub: Hub) -> None:
    app = create_app(hub)
    chunk = b"x" * 65_536
    status, body, pulled = await _asgi(
        app,
        {"method": "POST", "path": "/api/v1/backoffice/anyone/services/any/updates", "headers": []},
        [chunk] * 3_200,  # 200 MB offered, in 64 kB chunks
    )
    assert status == 413 and b'"code":"too_large"' in body
    assert pulled == LIMIT // len(chunk) + 1  # one chunk past the limit, then no more


async def test_a_body_at_the_limit_reaches_its_route(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/v1/backoffice/nobody-here/services/none/updates",
        content=b" " * LIMIT,
        headers={"content-type": "application/json"},
    )
    _is_problem(response, 404, "unknown_service")  # the route answered: the size was allowed


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"NaN", b"Infinity", b"-Infinity"])
async def test_numbers_that_are_not_finite_get_422_on_every_json_route(
    hub: Hub, make_partner, api: httpx.AsyncClient, number: bytes
) -> None:
    partner = await make_partner(agents=1)
    as_agent = await token(hub, role="agent", agent_id=partner.agents[0])
    committee = await token(hub, role="committee")
    json_type = {"content-type": "application/json"}
    calls = [
        ("PUT", "/api/v1/agents/me/status", b'{"status": %s}' % number, as_agent),
        ("POST", "/api/v1/agents/me/offer/accept", b'{"enquiry_id": %s}' % number, as_agent),
        (
            "POST",
            "/api/v1/agents/me/complete",
            b'{"enquiry_id": 1, "outcome": "resolved", "x": [%s]}' % number,
            as_agent,
        ),
        ("POST", "/api/v1/committee/whatif", b'{"scenario": "x", "weight": %s}' % number, committee),
        (
            "POST",
            f"/api/v1/backoffice/{partner.slug}/services/missed-bin/updates",
            b'{"at": %s}' % number,
            {},
        ),
    ]
    for method, path, content, headers in calls:
        response = await api.request(method, path, content=content, headers={**headers, **json_type})
        body = _is_problem(response, 422, "not_finite")
        assert number.lstrip(b"-").decode() in str(body["detail"]), (path, body)


async def test_media_urls_are_checked_and_only_safe_ones_republished(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    partner = await make_partner(agents=0)
    async with unit_of_work(hub.sessionmaker) as session:
        key = await create_token(session, role="open311", tenant=partner.slug, label="test")
    form = {
        "jurisdiction_id": partner.slug,
        "api_key": key,
        "service_code": "missed-bin",
        "lat": "53.65",
        "long": "-2.63",
        "description": "bins",
    }
    attack = 'https://x/"><img src=x onerror=alert(1)>'
    refused = await api.post("/open311/v2/requests.json", data={**form, "media_url": attack})
    assert refused.status_code == 400 and "media_url" in refused.text
    posted = await api.post(
        "/open311/v2/requests.json", data={**form, "media_url": "https://example.org/a.jpg"}
    )
    assert posted.status_code in (200, 201), posted.text
    request_id = posted.json()[0]["service_request_id"]
    read = await api.get(f"/open311/v2/requests/{request_id}.json", params={"jurisdiction_id": partner.slug})
    assert read.json()[0]["media_url"] == "https://example.org/a.jpg"
    # one stored before the check (or by any other path) is not republished
    async with unit_of_work(hub.sessionmaker) as session:
        await session.execute(
            update(Enquiry).where(Enquiry.tenant_slug == partner.slug).values(media_url=attack)
        )
        assert (
            await session.scalar(select(Enquiry.media_url).where(Enquiry.tenant_slug == partner.slug))
            == attack
        )
    for fmt in ("json", "xml"):
        read = await api.get(
            f"/open311/v2/requests/{request_id}.{fmt}", params={"jurisdiction_id": partner.slug}
        )
        assert read.status_code == 200 and "onerror" not in read.text and "<img" not in read.text


@pytest.mark.parametrize("path", ["/track", "/track/NO-SUCH-REF", "/sign-in"])
async def test_every_html_page_carries_the_security_headers(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(path, headers={"accept": "text/html"})
    assert response.headers["content-type"].startswith("text/html"), (path, response.headers)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("same-origin", "no-referrer")
