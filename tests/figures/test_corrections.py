"""A published month is corrected by a new publication that names the one it corrects; the original stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from figures.models import PublishedPeriod
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.tokens import create_token
from tests.figures.test_figures_as_they_were import contact
from tests.helpers_problems import problem_fields


async def test_a_correction_is_a_new_publication_the_readers_take_and_the_original_stays(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    partner = await make_partner("corrected", agents=1)
    october = datetime(2026, 10, 14, 10, 0, tzinfo=UTC)
    # Two October calls answered at 10 s and 30 s (missed-bin: within 20 s): 1 of 2.
    await contact(hub, partner, queued=october, answered_after=10)
    await contact(hub, partner, queued=october + timedelta(minutes=5), answered_after=30)
    async with unit_of_work(hub.sessionmaker) as session:
        committee = {"Authorization": f"Bearer {await create_token(session, role='committee')}"}
    base = f"/api/v1/tenants/{partner.slug}/periods/2026-10"

    nothing = await api.post(f"{base}/corrections", json={"reason": "too early"}, headers=committee)
    assert problem_fields(nothing) == {
        "type": "urn:hub:problem:period_refused",
        "title": "Conflict",
        "status": 409,
        "code": "period_refused",
    }
    assert "nothing to correct" in nothing.json()["detail"]
    published = await api.post(f"{base}/publish", headers=committee)
    assert published.status_code == 200
    assert published.json()["totals"]["answered_within_threshold"] == 1

    # A third October call reaches the log late (a back office's batch loaded after the month was published).
    await contact(hub, partner, queued=october + timedelta(minutes=10), answered_after=5)
    read = (await api.get(base, headers=committee)).json()
    assert read["totals"]["answered"] == 2 and read["correction"] is None  # published: not recomputed

    again = await api.post(f"{base}/publish", headers=committee)
    assert (
        problem_fields(again)["code"] == "period_refused" and "publish a correction" in again.json()["detail"]
    )
    corrected = await api.post(
        f"{base}/corrections", json={"reason": "one call loaded late"}, headers=committee
    )
    assert corrected.status_code == 200, corrected.text
    body = corrected.json()
    # 3 answered, 2 within 20 s (10 s and 5 s): 2/3
    assert (body["totals"]["answered"], body["totals"]["answered_within_threshold"]) == (3, 2)
    read = (await api.get(base, headers=committee)).json()
    assert read["totals"]["answered"] == 3
    assert read["correction"]["reason"] == "one call loaded late"
    assert read["correction"]["corrects_published_at"] == published.json()["published_at"]

    # A second correction corrects the first: a chain, never a fork; readers take its end.
    await contact(hub, partner, queued=october + timedelta(minutes=20), answered_after=25)
    second = await api.post(f"{base}/corrections", json={"reason": "another late call"}, headers=committee)
    assert second.status_code == 200
    assert (await api.get(base, headers=committee)).json()["totals"]["answered"] == 4

    async with hub.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(PublishedPeriod)
                .where(PublishedPeriod.tenant_slug == partner.slug)
                .order_by(PublishedPeriod.id)
            )
        ).all()
    assert [r.corrects for r in rows] == [None, rows[0].id, rows[1].id]
    assert [r.figures["totals"]["answered"] for r in rows] == [2, 3, 4]  # each as it was quoted
    assert [r.reason for r in rows] == [None, "one call loaded late", "another late call"]
    assert {r.definitions_version for r in rows} == {rows[0].definitions_version}
