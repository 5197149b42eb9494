"""An offer is made in Redis and recorded in PostgreSQL in two steps; a failure between them (the database
restarting, a worker killed) must not leave an enquiry that is never offered again. Found by the faults group."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from plumbing.db.session import unit_of_work
from routing.live.base import queue_name
from routing.models import Enquiry
from tests.routing.scenarios.conftest import World


async def _consistent(world: World, enquiry_id: int, agent: str) -> None:
    """Waiting in its queue, or on offer to the agent in both stores: never only in one of them."""
    state = (await world.enquiry(enquiry_id)).state
    offer = await world.live.offer_for(agent)
    if state == "queued":
        assert await world.live.position(enquiry_id) is not None, "waiting in the database, in no live queue"
    else:
        assert state == "offered" and offer is not None and offer.enquiry_id == enquiry_id, (state, offer)


async def test_a_reservation_whose_offer_was_never_recorded_goes_back_to_its_queue_when_it_expires(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    chorley, [ann] = await world.partner("chorley", 1)
    [enquiry] = await world.arrive(chorley)
    real_record = world.dispatcher.record_offers

    async def database_restarting(offers: list) -> None:  # type: ignore[type-arg]
        raise ConnectionRefusedError("test: the database is restarting")

    monkeypatch.setattr(world.dispatcher, "record_offers", database_restarting)
    with pytest.raises(ConnectionRefusedError):
        await world.desk.set_status(ann, "available")  # reserved in Redis; the offer's commit fails
    monkeypatch.setattr(world.dispatcher, "record_offers", real_record)
    assert (await world.enquiry(enquiry)).state == "queued"
    assert await world.offers([ann]) == {ann: enquiry}

    world.clock.advance(world.dispatcher.reservation_ttl_ms / 1000 + 1)
    await world.dispatcher.expire_offers()
    await _consistent(world, enquiry, ann)
    assert await world.live.position(enquiry) == (queue_name(chorley, "missed-bin"), 1) or (
        await world.offers([ann]) == {ann: enquiry}
    )


async def test_an_offer_the_live_state_lost_is_put_back_in_its_queue(world: World) -> None:
    chorley, [ann] = await world.partner("chorley", 1)
    await world.desk.set_status(ann, "available")
    [enquiry] = await world.arrive(chorley)
    assert await world.offers([ann]) == {ann: enquiry}
    assert (await world.enquiry(enquiry)).state == "offered"
    # The expiry took it out of Redis, then its database write failed: 'offered' there, nowhere in Redis.
    await world.live.pop_expired(10**15)
    assert await world.offers([ann]) == {}

    # (The database is shared with other tests, whose old offers the sweep may also put back: look at ours.)
    await world.dispatcher.recover_lost_offers()
    assert (await world.enquiry(enquiry)).state == "offered", "too young: the live state may catch up"
    world.clock.advance(world.dispatcher.reservation_ttl_ms / 1000 + 11)
    assert await world.dispatcher.recover_lost_offers() >= 1
    assert (await world.enquiry(enquiry)).state == "queued"
    assert await world.live.position(enquiry) == (queue_name(chorley, "missed-bin"), 1)
    assert [e.event for e in await world.events(enquiry)][-1] == "enquiry.offer_withdrawn"
    await world.dispatcher.recover_lost_offers()
    assert [e.event for e in await world.events(enquiry)][-1] == "enquiry.offer_withdrawn"  # once


async def test_lost_offers_are_found_among_live_offers_which_are_left_alone(world: World) -> None:
    chorley, agents = await world.partner("chorley", 3)
    for agent in agents:
        await world.desk.set_status(agent, "available")
    enquiries = await world.arrive(chorley, 3)
    offers = await world.offers(agents)
    assert sorted(offers.values()) == sorted(enquiries)
    lost_agent, *kept_agents = agents
    # Its offer gone from the live state (taken back, not queued again), still 'offered' in the database.
    assert await world.live.release(lost_agent, offers[lost_agent]) is not None
    assert await world.live.offer_for(lost_agent) is None

    world.clock.advance(world.dispatcher.reservation_ttl_ms / 1000 + 11)
    assert await world.dispatcher.recover_lost_offers() >= 1
    assert (await world.enquiry(offers[lost_agent])).state == "queued"
    for agent in kept_agents:
        assert (await world.enquiry(offers[agent])).state == "offered"


async def test_an_offer_made_before_offers_carried_their_expiry_is_still_checked(world: World) -> None:
    """Rows on offer across the upgrade that added ``offered_until`` have none: the sweep still looks at them."""
    chorley, [ann] = await world.partner("chorley", 1)
    await world.desk.set_status(ann, "available")
    [enquiry] = await world.arrive(chorley)
    assert (await world.enquiry(enquiry)).offered_until is not None
    async with unit_of_work(world.hub.sessionmaker) as session:
        await session.execute(update(Enquiry).where(Enquiry.id == enquiry).values(offered_until=None))
    await world.live.pop_expired(10**15)  # and the live state lost it
    world.clock.advance(world.dispatcher.reservation_ttl_ms / 1000 + 11)
    assert await world.dispatcher.recover_lost_offers() >= 1
    assert (await world.enquiry(enquiry)).state == "queued"
