"""Honest predicted waits (issue 20, item 3): lenders' agents under open agreements are counted, on both states."""

from __future__ import annotations

from routing.dispatch.router import terms_of_service
from routing.dispatch.service import facts_of
from routing.policy import estimate_wait
from tests.routing.scenarios.conftest import World


async def _queued_routing(world: World, enquiry_id: int) -> dict:  # type: ignore[type-arg]
    return next(e for e in await world.events(enquiry_id) if e.event == "enquiry.queued").data["routing"]


async def test_a_predicted_wait_counts_a_lenders_idle_agents(world: World) -> None:
    # Lancashire has nobody signed in; the hub's two agents are idle under an agreement open now.
    lancs, _ = await world.partner("lancashire", 1)
    hub, hub_agents = await world.partner("hub", 2, kind="pool")
    agreement = await world.agreement(lender=hub, borrower=lancs, caps={"concurrent": 2})
    for agent in hub_agents:
        await world.desk.set_status(agent, "available")
    await world.dispatcher.tick()  # the gate opens
    [caller] = await world.arrive(lancs)
    routing = await _queued_routing(world, caller)
    # Before: "no_agents" (None). Now: position 1 with 2 idle agents counted: 0 s, and the lender is published.
    assert routing["predicted_wait_seconds"] == 0.0
    assert routing["prediction_method"] == "position_with_lenders"
    wait = next(r for r in routing["reasons"] if r["rule"] == "predicted_wait")
    assert wait["says"] == "about 0 s (position with lenders)"
    [lender] = wait["figures"]["lenders"]
    assert lender == {
        "agreement": agreement,
        "lender": hub,
        "agents": 2,
        "idle": 2,
        "opens_in_seconds": 0.0,
        "counted": True,
    }
    assert wait["figures"]["own_agents"] == 0
    assert list((await world.offers(hub_agents)).values()) == [caller]  # and a hub agent has it at once


async def test_a_ring_opening_after_60_s_is_counted_from_then_and_re_estimated_while_waiting(
    world: World,
) -> None:
    lancs, _ = await world.partner("lancashire", 1)
    hub, hub_agents = await world.partner("hub", 2, kind="pool")
    await world.agreement(lender=hub, borrower=lancs, conditions={"waited_at_least_seconds": 60})
    for agent in hub_agents:
        await world.desk.set_status(agent, "available")
    await world.dispatcher.tick()
    [caller] = await world.arrive(lancs)
    routing = await _queued_routing(world, caller)
    # Own agents: none (no estimate). The hub ring opens in 60 s with 2 idle: 60 s + 0 s at position 1.
    assert (routing["predicted_wait_seconds"], routing["prediction_method"]) == (
        60.0,
        "position_with_lenders",
    )

    world.clock.advance(25)
    enquiry = await world.enquiry(caller)
    catalogue = await world.hub.catalogue.get()
    info = catalogue.service(lancs, "missed-bin")
    assert info is not None
    snapshot = await world.dispatcher.router.snapshot({f"{lancs}/missed-bin"}, world.clock.now)
    again = estimate_wait(facts_of(enquiry), terms_of_service(info), snapshot, 1)
    # The ring opens in 60 − 25 = 35 s. This caller's arrival is now in the rolling half hour (1 in 1800 s), so
    # Erlang C applies with the ring's 2 agents: A = 240/1800 = 0.1333 erlangs; C(2, A) = (A²/2 · 2/(2 − A)) /
    # (1 + A + A²/2 · 2/(2 − A)) = 0.009524 / 1.142857 = 0.008333; ASA = C · 240 / (2 − A) = 1.07 s. 35 + 1.07.
    assert again.method == "erlang_c_with_lenders" and round(again.seconds or 0, 2) == 36.07

    world.clock.advance(35)
    await world.dispatcher.tick()
    assert list((await world.offers(hub_agents)).values()) == [caller]  # taken when predicted
