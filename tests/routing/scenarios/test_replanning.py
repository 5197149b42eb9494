"""Re-planning (issue 20, item 4): an agreement edit reaches callers already waiting, who keep their place."""

from __future__ import annotations

from datetime import UTC, datetime

from plumbing.db.session import unit_of_work
from routing.live.base import queue_name
from tenants.agreements.service import put_agreements
from tenants.agreements.terms import AgreementDefinition
from tests.conftest import unique_slug
from tests.routing.scenarios.conftest import World


async def test_removing_an_agreements_hours_re_plans_a_waiting_callers_ring(world: World) -> None:
    chorley, _ = await world.partner("chorley", 1)  # nobody signed in at Chorley
    hub, hub_agents = await world.partner("hub", 1, kind="pool")
    agreement_id = unique_slug("agr")
    terms = {"id": agreement_id, "lender": hub, "borrower": chorley, "caps": {"concurrent": 1}}
    evenings = [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "18:00", "to": "22:00"}]

    async def put(**fields: object) -> None:
        async with unit_of_work(world.hub.sessionmaker) as session:
            await put_agreements(
                session, agreements=[AgreementDefinition.model_validate({**terms, **fields})]
            )
        await world.dispatcher.agreements.reload()

    await put(hours=evenings)
    world.clock.now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # Monday 10:00
    await world.desk.set_status(hub_agents[0], "available")
    await world.dispatcher.tick()
    first, second = await world.arrive(chorley, 2)
    routing = next(e for e in await world.events(first) if e.event == "enquiry.queued").data["routing"]
    assert routing["rings"][1]["opens_at"].startswith("2026-11-23T18:00")  # the evening ring, 8 hours away
    world.clock.advance(60)
    await world.dispatcher.tick()
    assert await world.offers(hub_agents) == {}

    # The agreement's hours are removed (any time now). The next tick re-plans both waiting callers.
    await put(hours=[])
    world.clock.advance(1)
    await world.dispatcher.tick()
    # The hub's one agent takes the caller who waited longest; the other keeps its place at the head.
    assert await world.offers(hub_agents) == {hub_agents[0]: first}
    assert await world.live.position(second) == (queue_name(chorley, "missed-bin"), 1)
    replanned = [e for e in await world.events(second) if e.event == "enquiry.replanned"]
    assert len(replanned) == 1
    assert replanned[0].data["says"] == (
        "the agreements changed: its rings were planned again, and it keeps its place in the queue"
    )
    # Queued at 10:00:00, no wait condition and no hours: the ring is open from the moment it was queued.
    assert replanned[0].data["rings"][0]["opens_at"] == "2026-11-23T10:00:00+00:00"
