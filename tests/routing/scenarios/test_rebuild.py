"""After a loss the live state comes back from the database: places, rings, work in hand, caps."""

from __future__ import annotations

import pytest

from routing.dispatch.rebuild import rebuild_live_state
from routing.live.base import queue_name
from tests.routing.scenarios.conftest import World


async def test_rebuild_keeps_places_rings_and_work_in_hand(world: World) -> None:
    chorley, [ann] = await world.partner("chorley", 1)
    ribble, [mo] = await world.partner("south-ribble", 1)
    agreement = await world.agreement(
        lender=ribble, borrower=chorley, conditions={"waited_at_least_seconds": 60}, caps={"concurrent": 1}
    )
    await world.desk.set_status(ann, "available")
    [held] = await world.arrive(chorley)
    await world.desk.accept(ann, held)
    waiting = await world.arrive(chorley, 3)
    world.clock.advance(10)

    await world.live.reset()  # Redis lost everything
    result = await rebuild_live_state(world.dispatcher)
    # (The database is shared with other tests: count ours through the queue.)
    assert result is not None and result.queued >= 3 and result.in_hand >= 1
    assert (await world.live.queue_depths())[queue_name(chorley, "missed-bin")] == 3
    assert await world.live.position(waiting[0]) == (queue_name(chorley, "missed-bin"), 1)
    assert await world.offers([ann]) == {}, "still on a call: capacity came back too"

    await world.desk.set_status(mo, "available")
    assert await world.offers([mo]) == {}
    world.clock.advance(50)  # a minute after they were queued, not after the rebuild
    await world.dispatcher.tick()
    assert await world.offers([mo]) == {mo: waiting[0]}
    counts = await world.live.overflow_counts([agreement], int(world.clock.now.timestamp() * 1000))
    assert counts[agreement].in_hand == 1


async def test_a_rebuild_that_fails_part_way_is_started_again_not_left_half_built(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (found by the faults group): Redis flushed, then PostgreSQL restarted while the worker was
    rebuilding. ``reset`` had already marked the state built, so the failed rebuild was never tried again:
    waiting enquiries were never offered, and offers lost with Redis stayed 'offered' in the database."""
    chorley, [ann] = await world.partner("chorley", 1)
    await world.desk.set_status(ann, "available")
    [offered] = await world.arrive(chorley)
    assert await world.offers([ann]) == {ann: offered}
    waiting = await world.arrive(chorley, 2)

    await world.live.reset()  # Redis lost everything
    real_agreements = world.dispatcher.agreements

    class DatabaseRestarting:
        """The agreements' reload as it fails while PostgreSQL restarts (a stand-in for the cache: the cache's
        class may be compiled with mypyc, whose methods cannot be replaced on an instance)."""

        async def reload(self) -> None:
            raise ConnectionRefusedError("test: the database is restarting")

    monkeypatch.setattr(world.dispatcher, "agreements", DatabaseRestarting())
    with pytest.raises(ConnectionRefusedError):
        await rebuild_live_state(world.dispatcher)
    assert not await world.live.is_built(), "a failed rebuild must be tried again"

    monkeypatch.setattr(world.dispatcher, "agreements", real_agreements)
    assert await rebuild_live_state(world.dispatcher) is not None  # at once: the claim was released
    assert await world.live.is_built()
    queue = queue_name(chorley, "missed-bin")
    # The lost offer is back at the head of its queue (or offered again to ann); the others keep their places.
    assert await world.live.position(waiting[1]) is not None
    places = {e: await world.live.position(e) for e in [offered, *waiting]}
    in_queue = [e for e, p in places.items() if p is not None and p[0] == queue]
    assert set(in_queue) | set((await world.offers([ann])).values()) == {offered, *waiting}
