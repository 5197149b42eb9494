"""The trail's reasons are the decision's own when one process's tick opens a ring and another makes the offer."""

from __future__ import annotations

import json

from hub.runtime import desk_for
from routing.dispatch.service import Dispatcher
from routing.live.base import LiveState
from routing.live.memory import MemoryLiveState
from routing.live.redis_state import RedisLiveState
from routing.policy import gates
from tests.conftest import REDIS_URL
from tests.routing.scenarios.conftest import World


def _second_process(world: World) -> Dispatcher:
    """Another process's dispatcher (``hub serve`` beside the worker): its own router, caches and connection to
    the same live state, nothing in memory shared with the first."""
    live: LiveState = (
        world.live
        if isinstance(world.live, MemoryLiveState)  # in memory there is no second connection to make
        else RedisLiveState.from_url(REDIS_URL, world.live.prefix)  # type: ignore[attr-defined]
    )
    return Dispatcher(
        world.hub.sessionmaker,
        live,
        world.hub.catalogue,
        reservation_ttl_ms=20_000,
        clock=world.clock,
        open_now=world.dispatcher.open_now,
    )


async def test_an_offer_made_by_another_process_gives_the_reasons_of_the_tick_that_opened_the_ring(
    world: World,
) -> None:
    chorley, chorley_agents = await world.partner("chorley", 1)
    ribble, ribble_agents = await world.partner("south-ribble", 3)
    agreement = await world.agreement(
        lender=ribble,
        borrower=chorley,
        services=["missed-bin"],
        conditions={"waited_at_least_seconds": 60},
        lender_protection=0.7,
    )
    serve = _second_process(world)
    await serve.agreements.reload()
    serve_desk = desk_for(serve)
    # Chorley's one agent busy with its own call; South Ribble's a0 and a1 signed in and busy with theirs, a2 off.
    for agent in chorley_agents:
        await world.desk.set_status(agent, "available")
    [own] = await world.arrive(chorley)
    await world.desk.accept(chorley_agents[0], own)
    await world.desk.set_status(ribble_agents[0], "available")
    await world.desk.set_status(ribble_agents[1], "available")
    taken = await world.arrive(ribble, 2)
    offers = await world.offers(ribble_agents[:2])
    assert sorted(offers.values()) == taken
    for agent, enquiry_id in offers.items():
        await world.desk.accept(agent, enquiry_id)
    [waiting] = await world.arrive(chorley)

    # The worker's tick, 60 s on: the caller's ring is due and the gate decided with South Ribble's 2 signed-in
    # agents. Nobody of theirs is idle, so nothing is offered yet.
    world.clock.advance(60)
    ticked_at = world.clock.now
    assert await world.dispatcher.tick() == 0
    [gate] = [
        g for g in await _gates_on_record(world, agreement, f"{chorley}/missed-bin") if g["gate_open"] is True
    ]
    assert gate["decided_at"] == ticked_at.isoformat()

    # 5 s later South Ribble's a0 finishes its own call on the other process and takes the lent caller there.
    world.clock.advance(5)
    await serve_desk.complete(ribble_agents[0], offers[ribble_agents[0]], "resolved")
    await serve_desk.set_status(ribble_agents[0], "available")
    assert await world.offers(ribble_agents) == {ribble_agents[0]: waiting}

    [overflowed] = [e for e in await world.events(waiting) if e.event == "enquiry.overflowed"]
    assert overflowed.data["agreement"] == agreement and overflowed.data["gate_open"] is True
    assert overflowed.data["decided"] == "with_the_gate"
    assert overflowed.data["decided_at"] == ticked_at.isoformat()  # the tick's moment, not the offer's
    assert overflowed.data["reasons"] == gate["reasons"]
    protection = next(r for r in overflowed.data["reasons"] if r["rule"] == "lender_protection")
    # At the tick: South Ribble's own 2 calls in the last half hour at 240 s are 2·240/1800 = 0.267 erlangs; with
    # its 2 agents taking work less one lent, Erlang C with 1 agent answers 1 - 0.267·e^(-0.733·20/240)
    # = 1 - 0.267·0.941 = 74.9 % within 20 s, above the 70 % it keeps: it may lend.
    assert protection == {
        "rule": "lender_protection",
        "says": f"{ribble} stays on target with one agent fewer",
        "figures": {"lender": ribble, "lent_now": 0},
    }

    # Decided at the offer, as the other process used to, the lent agent counts already (2 - 1 lent - 1 = 0
    # agents): it would refuse.
    fresh = await serve.router.snapshot({f"{chorley}/missed-bin"}, world.clock.now)
    [after] = [g for g in gates(fresh) if g.borrower_queue == f"{chorley}/missed-bin"]
    refusal = next(r for r in after.reasons if r.rule == "lender_protection")
    assert refusal.says == f"not: {ribble} would fall to 0% on {ribble}/missed-bin (needs 70%)"
    if serve.live is not world.live:
        await serve.live.close()


async def _gates_on_record(world: World, agreement: str, base_queue: str) -> list[dict[str, object]]:
    raw = await world.live.gate_decisions([f"{agreement}|{base_queue}"])
    return [json.loads(v) for v in raw.values()]
