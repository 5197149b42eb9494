"""A slow request is logged with its steps (plumbing/tracing.py); a quick one, or one with tracing off, is not."""

from __future__ import annotations

import httpx
from structlog.testing import capture_logs

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing import tracing
from plumbing.db.session import unit_of_work
from tenants.tokens import create_token
from tests.routing.dispatch.test_offers import publish_direct


def test_steps_are_timed_from_mark_to_mark_and_reported_over_the_threshold() -> None:
    steps = tracing.begin()
    steps.began = steps.last = steps.last - 0.030  # began 30 ms ago
    tracing.mark("first")
    steps.began -= 0.005  # the next step took 5 ms (and so did the request)
    steps.last -= 0.005
    tracing.mark("second")
    with capture_logs() as logs:
        tracing.end(steps, 20.0, path="/x")
    (line,) = logs
    names = [part.rsplit(" ", 1)[0] for part in line["steps"].split(" | ")]
    assert line["event"] == "request.slow" and names == ["first", "second", "respond"]
    first, second = (float(part.rsplit(" ", 1)[1]) for part in line["steps"].split(" | ")[:2])
    assert first >= 30.0 and second >= 5.0 and line["ms"] >= 35.0 and line["path"] == "/x"
    tracing.mark("outside")  # no request open: nothing recorded, nothing raised
    quick = tracing.begin()
    with capture_logs() as logs:
        tracing.end(quick, 20.0)
    assert logs == []


async def test_an_accept_slower_than_the_threshold_is_logged_with_the_desks_steps(
    hub: Hub,
    make_partner,  # type: ignore[no-untyped-def]
) -> None:
    partner = await make_partner("traced", agents=1)
    agent = partner.agents[0]
    async with unit_of_work(hub.sessionmaker) as session:
        token = await create_token(session, role="agent", agent_id=agent)
    me = {"Authorization": f"Bearer {token}"}
    await hub.desk.set_status(agent, "available")
    enquiry_id = await publish_direct(hub, partner.slug)
    hub.settings.trace_slow_ms = 0.001  # every request is "slow": its steps are logged
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub"
        ) as api:
            with capture_logs() as logs:
                r = await api.post(
                    "/api/v1/agents/me/offer/accept", json={"enquiry_id": enquiry_id}, headers=me
                )
            assert r.status_code == 200, r.text
    finally:
        hub.settings.trace_slow_ms = 20.0
    (line,) = [entry for entry in logs if entry["event"] == "request.slow"]
    names = [part.rsplit(" ", 1)[0] for part in line["steps"].split(" | ")]
    # The token check (its cache missed: a first request), then the desk's steps in order.
    assert names == [
        "auth_marker",
        "auth_lookup",
        "locked",
        "live_accept",
        "written",
        "committed",
        "live_stats",
        "respond",
    ]
    assert line["path"] == "/api/v1/agents/me/offer/accept" and line["in_flight"] >= 0
