"""Blended work (issue 20, item 2): live callers never wait behind web forms, on Redis and in memory."""

from __future__ import annotations

from routing.dispatch.transfer import transfer
from routing.live.base import queue_name
from tests.routing.scenarios.conftest import World


async def test_a_call_is_offered_at_once_to_an_agent_busy_on_web_forms(world: World) -> None:
    # One agent; the partner lets an agent hold two deferrable items at once.
    tenant, (agent,) = await world.partner("blend", 1, blending={"deferrable_at_once": 2})
    await world.desk.set_status(agent, "available")

    (form_a,) = await world.arrive(tenant, channel="web")
    assert await world.offers([agent]) == {agent: form_a}
    await world.desk.accept(agent, form_a)
    world.clock.advance(5)
    (form_b,) = await world.arrive(tenant, channel="web")
    assert await world.offers([agent]) == {agent: form_b}  # room for a second web form (limit 2)
    await world.desk.accept(agent, form_b)
    world.clock.advance(5)
    (form_c,) = await world.arrive(tenant, channel="email")
    assert await world.offers([agent]) == {}, "two deferrable items in hand: the third waits"

    # 10 s after the first form, a caller rings: offered to the same agent at once (0 s waited), the two web
    # forms parked. Before blending this caller waited until both forms were done.
    (call,) = await world.arrive(tenant, channel="phone")
    assert await world.offers([agent]) == {agent: call}
    offered = [e for e in await world.events(call) if e.event == "enquiry.offered"]
    queued = [e for e in await world.events(call) if e.event == "enquiry.queued"]
    assert len(offered) == 1 and (offered[0].at - queued[0].at).total_seconds() == 0
    world.clock.advance(3)
    await world.desk.accept(agent, call)
    for form in (form_a, form_b):
        parked = [e for e in await world.events(form) if e.event == "enquiry.parked"]
        assert len(parked) == 1 and parked[0].data["for_enquiry"] == call
        assert "live contacts never wait behind web forms" in parked[0].data["says"]

    # On the call the agent takes nothing else, live or deferrable.
    (second_call,) = await world.arrive(tenant, channel="phone")
    assert await world.offers([agent]) == {}
    assert (await world.live.queue_depths())[queue_name(tenant, "missed-bin")] == 1

    # The call ends: the waiting caller goes first (live before deferrable), then the forms resume.
    world.clock.advance(60)
    await world.desk.complete(agent, call, "resolved")
    for form in (form_a, form_b):
        (resumed,) = [e for e in await world.events(form) if e.event == "enquiry.resumed"]
        # parked when the call was accepted, resumed when it ended 60 s later
        assert resumed.data["for_enquiry"] == call and resumed.data["parked_seconds"] == 60.0
        assert resumed.agent_id == agent
    assert await world.offers([agent]) == {agent: second_call}
    await world.desk.accept(agent, second_call)
    await world.desk.complete(agent, second_call, "resolved")
    assert await world.offers([agent]) == {}, "still two forms in hand: the email waits for room"
    await world.desk.complete(agent, form_a, "resolved")
    assert await world.offers([agent]) == {agent: form_c}


async def test_without_a_partner_setting_the_hub_default_of_three_deferrable_items_holds(
    world: World,
) -> None:
    tenant, (agent,) = await world.partner("blend-default", 1)
    await world.desk.set_status(agent, "available")
    forms = await world.arrive(tenant, 4, channel="web")
    for form in forms[:3]:
        assert await world.offers([agent]) == {agent: form}
        await world.desk.accept(agent, form)
    assert await world.offers([agent]) == {}  # the fourth waits: three at once (the hub's default)
    (call,) = await world.arrive(tenant, channel="phone")
    assert await world.offers([agent]) == {agent: call}


async def test_after_a_transfer_the_agent_is_free_for_the_next_caller(world: World) -> None:
    # The transferred call left the agent's hands in the database but stayed in them in the live state: the
    # agent, ready again after wrap-up, was never offered anything (and its call's cap stayed taken).
    tenant, (agent,) = await world.partner("blend-transfer", 1)
    await world.desk.set_status(agent, "available")
    (call,) = await world.arrive(tenant, channel="phone")
    assert await world.offers([agent]) == {agent: call}
    await world.desk.accept(agent, call)
    moved = await transfer(world.dispatcher, agent, call, to_tenant=tenant, to_service="general")
    assert await world.offers([agent]) == {}, "in wrap-up after the transfer: nothing yet"
    world.clock.advance(30)
    await world.desk.set_status(agent, "available")
    # The agent holds the general skill too: the caller it transferred is the one waiting, offered at once.
    assert await world.offers([agent]) == {agent: moved.to_enquiry}
