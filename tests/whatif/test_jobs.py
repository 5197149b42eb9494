"""A what-if as a job: started by one request, its progress read while it runs (from another API process too),
then its reports; refusals and failures as problem details."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.auth.service import Principal
from plumbing.db.session import unit_of_work
from plumbing.settings import Settings
from tenants.tokens import create_token
from tests.conftest import Partner
from tests.whatif.test_whatif import record_period, replay_scenario
from whatif import jobs as jobs_module
from whatif import service as service_module
from whatif.jobs import MemoryJobStore, WhatIfJobs


def month(partner: Partner, agents: int, name: str, per_interval: int = 20) -> str:
    """October 2026 round the clock on UTC's clock (no clock change inside): 20 calls per half hour for 30 days
    (48 × 20 × 30 = 28,800 expected) unless told otherwise."""
    return f"""
name: {name}
timezone: UTC
period: {{start: 2026-10-01T00:00:00Z, end: 2026-10-31T00:00:00Z}}
arrivals:
  - {{partner: {partner.slug}, service: missed-bin, per_interval: {per_interval}}}
handle_time: {{mean_seconds: 180}}
patience: {{mean_seconds: 120}}
rotas:
  - {{partner: {partner.slug}, agents: {agents}, skills: [waste]}}
"""


@pytest.fixture
async def second_api(settings: Settings, hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """Another API process on the same PostgreSQL and Redis: its own hub, connections and job table."""
    other = await Hub.start(settings, migrate=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(other)), base_url="http://hub.test"
        ) as client:
            yield client
    finally:
        await other.close()


async def committee_token(hub: Hub, tenant: str | None = None) -> dict[str, str]:
    async with unit_of_work(hub.sessionmaker) as session:
        token = await create_token(session, role="committee", tenant=tenant)
    return {"authorization": f"Bearer {token}"}


async def test_a_months_what_if_reports_progress_then_its_figures_from_either_process(
    hub: Hub, make_partner, api: httpx.AsyncClient, second_api: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    partner = await make_partner(agents=1)
    auth = await committee_token(hub)
    body = {"scenario": month(partner, 4, "four"), "compare": month(partner, 6, "six"), "seed": 2}
    started = await api.post("/api/v1/committee/whatif/jobs", json=body, headers=auth)
    assert started.status_code == 202, started.text
    job = started.json()["id"]
    assert started.headers["location"] == f"/api/v1/committee/whatif/jobs/{job}"

    seen: list[float] = []
    state: dict[str, object] = {}
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        # Read alternately from the process running it and from the other one.
        client = second_api if len(seen) % 2 else api
        r = await client.get(f"/api/v1/committee/whatif/jobs/{job}", headers=auth)
        assert r.status_code == 200, r.text
        state = r.json()
        seen.append(float(state["percent"]))  # type: ignore[arg-type]
        if state["status"] != "running":
            break
        await asyncio.sleep(0.02)
    assert state["status"] == "done", state
    between = [p for p in seen if 0 < p < 100]
    assert between, seen  # progress was read at least once while it ran
    assert seen == sorted(seen)  # and never went back
    assert state["percent"] == 100.0 and state["scenarios"] == ["four", "six"]
    # Done: the last scenario simulated to its end, 2026-10-01 + 30 days.
    assert state["simulated_until"] == "2026-10-31T00:00:00+00:00"
    four, six = state["reports"]  # type: ignore[misc]
    # Staff hours by hand: agents all day for 30 days, 4 × 24 × 30 = 2,880 h and 6 × 24 × 30 = 4,320 h.
    assert (four["cost"]["staff_hours"], six["cost"]["staff_hours"]) == (2880.0, 4320.0)
    assert state["contacts"] == six["contacts"]  # the last scenario's count, at its end
    level = [r["partners"][partner.slug]["service_level"] for r in (four, six)]
    assert level[1] > level[0]
    # Read from the other process once done: the same reports.
    there = await second_api.get(f"/api/v1/committee/whatif/jobs/{job}", headers=auth)
    assert there.json()["reports"] == state["reports"]


async def test_refusals_and_another_scopes_job_are_problem_details(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    partner = await make_partner(agents=1)
    auth = await committee_token(hub)
    bad = await api.post(
        "/api/v1/committee/whatif/jobs",
        json={"scenario": month(partner, 4, "four").replace("per_interval: 20", "per_interval: -1")},
        headers=auth,
    )
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["code"] == "scenario_invalid"
    # Line 6: the text opens with a blank line, then name, timezone, period, arrivals and its first item.
    assert bad.json()["detail"] == (
        "scenario A, line 6 (arrivals, item 1, per_interval): an arrival rate cannot be negative"
    )

    started = await api.post(
        "/api/v1/committee/whatif/jobs", json={"scenario": month(partner, 1, "one")}, headers=auth
    )
    job = started.json()["id"]
    # A partner's own committee member may not read a hub-wide job (its replay could be wider).
    narrow = await committee_token(hub, tenant=partner.slug)
    other = await api.get(f"/api/v1/committee/whatif/jobs/{job}", headers=narrow)
    assert other.status_code == 404 and other.json()["code"] == "not_found"
    unknown = await api.get("/api/v1/committee/whatif/jobs/no-such-job", headers=auth)
    assert unknown.status_code == 404
    async with unit_of_work(hub.sessionmaker) as session:
        agent = await create_token(session, role="agent", agent_id=partner.agents[0])
    refused = await api.get(
        f"/api/v1/committee/whatif/jobs/{job}", headers={"authorization": f"Bearer {agent}"}
    )
    assert refused.status_code == 403


async def test_a_run_that_fails_says_why(
    hub: Hub, make_partner, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    partner = await make_partner(agents=1)
    end = await record_period(hub, partner)  # 60 recorded contacts
    monkeypatch.setattr(service_module, "MAX_INLINE_CONTACTS", 50)  # fewer than recorded
    auth = await committee_token(hub)
    started = await api.post(
        "/api/v1/committee/whatif/jobs", json={"scenario": replay_scenario(partner, end)}, headers=auth
    )
    assert started.status_code == 202, started.text
    url = f"/api/v1/committee/whatif/jobs/{started.json()['id']}"
    for _ in range(200):
        state = (await api.get(url, headers=auth)).json()
        if state["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert state["status"] == "failed"
    problem = state["problem"]
    assert (problem["status"], problem["code"], problem["type"]) == (
        422,
        "scenario_invalid",
        "urn:hub:problem:scenario_invalid",
    )
    assert problem["detail"] == "scenario A: 60 recorded contacts; use `hub simulate`"


async def test_a_job_whose_process_stopped_reads_as_failed() -> None:
    store = MemoryJobStore()
    jobs = WhatIfJobs(store)
    who = Principal("committee", None)
    await store.put(
        "lost",
        {
            "id": "lost",
            "status": "running",
            "owner": "committee:*",
            "heard_at": time.time() - jobs_module.STALE_SECONDS - 1,
            "scenarios": [],
        },
    )
    state = await jobs.read("lost", who)
    assert state is not None and state["status"] == "failed"
    assert state["problem"]["code"] == "whatif_lost"


async def test_too_many_runs_at_once_are_refused(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    partner = await make_partner(agents=1)
    jobs = WhatIfJobs(MemoryJobStore(), max_running=1)
    who = Principal("committee", None)
    kwargs = {
        "catalogue": await hub.catalogue.get(),
        "sessionmaker": hub.sessionmaker,
        "seed": 1,
        "who": who,
        "finish": lambda reports: {"n": len(reports)},
    }
    first = await jobs.start([month(partner, 2, "two")], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(jobs_module.Problem) as refused:
        await jobs.start([month(partner, 2, "two")], **kwargs)  # type: ignore[arg-type]
    assert refused.value.status == 429 and refused.value.code == "whatif_busy"
    await jobs.close()
    assert (await jobs.read(first, who)) is not None
