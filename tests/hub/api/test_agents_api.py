"""The agent API's refusals: no token, someone else's agent, stale or double actions, bad bodies — never a 500."""

from __future__ import annotations

import httpx

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.tokens import create_token
from tests.conftest import eventually
from tests.helpers_problems import problem_fields


async def token(hub: Hub, **kwargs: str) -> dict[str, str]:
    async with unit_of_work(hub.sessionmaker) as session:
        value = await create_token(session, **kwargs)
    return {"Authorization": f"Bearer {value}"}


async def test_health_and_docs_need_no_token(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}
    assert (await api.get("/docs")).status_code == 200
    assert "/api/v1/agents/{agent_id}/offer/accept" in (await api.get("/openapi.json")).json()["paths"]


async def test_calls_without_a_good_token_are_refused(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/v1/agents/me")).status_code == 401
    assert (await api.get("/api/v1/agents/me", headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_an_agent_acts_only_for_itself_and_roles_are_checked(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    mine, other = await make_partner(agents=1), await make_partner(agents=1)
    as_agent = await token(hub, role="agent", agent_id=mine.agents[0])
    assert (await api.get(f"/api/v1/agents/{other.agents[0]}", headers=as_agent)).status_code == 403
    supervisor = await token(hub, role="supervisor", tenant=mine.slug)
    assert (await api.get(f"/api/v1/agents/{mine.agents[0]}", headers=supervisor)).status_code == 200
    assert (await api.get(f"/api/v1/agents/{other.agents[0]}", headers=supervisor)).status_code == 404
    committee = await token(hub, role="committee", tenant=mine.slug)
    assert (await api.get(f"/api/v1/agents/{mine.agents[0]}", headers=committee)).status_code == 403
    r = await api.get(
        f"/api/v1/tenants/{other.slug}/metrics?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z",
        headers=committee,
    )
    assert r.status_code == 403


async def test_bad_bodies_and_parameters_get_4xx(hub: Hub, make_partner, api: httpx.AsyncClient) -> None:
    partner = await make_partner(agents=1)
    as_agent = await token(hub, role="agent", agent_id=partner.agents[0])
    assert (
        await api.put("/api/v1/agents/me/status", json={"status": "asleep"}, headers=as_agent)
    ).status_code == 422
    assert (await api.put("/api/v1/agents/me/status", content=b"{oops", headers=as_agent)).status_code == 422
    assert (
        await api.post("/api/v1/agents/me/offer/accept", json={"enquiry_id": "x"}, headers=as_agent)
    ).status_code == 422
    r = await api.post(
        "/api/v1/agents/me/complete", json={"enquiry_id": 1, "outcome": "shrug"}, headers=as_agent
    )
    assert r.status_code == 422
    admin = await token(hub, role="admin")
    base = f"/api/v1/tenants/{partner.slug}/metrics"
    assert (await api.get(base, headers=admin)).status_code == 422
    assert (
        await api.get(f"{base}?from=2026-01-01&to=2026-02-01", headers=admin)
    ).status_code == 422  # no zone
    backwards = await api.get(f"{base}?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", headers=admin)
    assert problem_fields(backwards) == {
        "type": "urn:hub:problem:invalid_range",
        "title": "Bad Request",
        "status": 400,
        "code": "invalid_range",
    }
    assert (
        await api.get(
            "/api/v1/tenants/nobody/metrics?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z", headers=admin
        )
    ).status_code == 404
    assert problem_fields(await api.get("/api/v1/agents/me", headers=admin)) == {
        "type": "urn:hub:problem:not_an_agent",
        "title": "Bad Request",
        "status": 400,
        "code": "not_an_agent",
    }


async def test_stale_and_repeated_actions_change_nothing_twice(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    partner = await make_partner(agents=1)
    as_agent = await token(hub, role="agent", agent_id=partner.agents[0])
    from tests.routing.dispatch.test_offers import publish_direct

    enquiry_id = await publish_direct(hub, partner.slug)
    assert (
        await api.put("/api/v1/agents/me/status", json={"status": "available"}, headers=as_agent)
    ).status_code == 200

    async def offer() -> dict | None:  # type: ignore[type-arg]
        return (await api.get("/api/v1/agents/me/offer", headers=as_agent)).json()["offer"]

    assert (await eventually(offer))["enquiry_id"] == enquiry_id
    r = await api.post(
        "/api/v1/agents/me/complete", json={"enquiry_id": enquiry_id, "outcome": "resolved"}, headers=as_agent
    )
    assert r.status_code == 409 and r.json()["code"] == "not_answered"
    r = await api.put("/api/v1/agents/me/status", json={"status": "unavailable"}, headers=as_agent)
    assert r.status_code == 409 and r.json()["code"] == "offer_pending"
    for _ in range(2):  # a double click
        r = await api.post(
            "/api/v1/agents/me/offer/accept", json={"enquiry_id": enquiry_id}, headers=as_agent
        )
        assert r.status_code == 200
    r = await api.post(
        "/api/v1/agents/me/offer/accept", json={"enquiry_id": enquiry_id + 999}, headers=as_agent
    )
    assert r.status_code == 409 and r.json()["code"] == "stale_offer"
    for _ in range(2):
        r = await api.post(
            "/api/v1/agents/me/complete",
            json={"enquiry_id": enquiry_id, "outcome": "resolved"},
            headers=as_agent,
        )
        assert r.status_code == 200
    from sqlalchemy import func, select

    from routing.models import EnquiryEvent

    async with hub.sessionmaker() as session:
        events = (
            await session.execute(
                select(EnquiryEvent.event, func.count())
                .where(EnquiryEvent.enquiry_id == enquiry_id)
                .group_by(EnquiryEvent.event)
            )
        ).all()
    counts = {event: n for event, n in events if event != "enquiry.survey_invited"}  # sampled at random
    assert counts == {
        "enquiry.received": 1,
        "enquiry.queued": 1,
        "enquiry.offered": 1,
        "enquiry.answered": 1,
        "enquiry.completed": 1,
    }
