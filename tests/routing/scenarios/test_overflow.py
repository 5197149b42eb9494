"""Overflow between partners under agreements, with numbers (issue 4), on Redis and in memory."""

from __future__ import annotations

from datetime import UTC, datetime

from routing.live.base import queue_name
from tests.routing.scenarios.conftest import World


async def _busy_with_own_calls(world: World, tenant: str, agents: list[str]) -> None:
    for agent in agents:
        await world.desk.set_status(agent, "available")
    taken = await world.arrive(tenant, len(agents))
    offers = await world.offers(agents)
    assert sorted(offers.values()) == taken
    for agent, enquiry_id in offers.items():
        await world.desk.accept(agent, enquiry_id)


async def test_chorley_overflows_to_south_ribble_after_60_s_up_to_the_cap(world: World) -> None:
    chorley, chorley_agents = await world.partner("chorley", 2)
    ribble, ribble_agents = await world.partner("south-ribble", 4)
    agreement = await world.agreement(
        lender=ribble,
        borrower=chorley,
        services=["missed-bin"],
        conditions={"waited_at_least_seconds": 60},
        caps={"concurrent": 3, "per_hour": 5},
        lender_protection=0.8,
        unit_rate=4.2,
    )
    await _busy_with_own_calls(world, chorley, chorley_agents)
    waiting = await world.arrive(chorley, 30)
    for agent in ribble_agents:
        await world.desk.set_status(agent, "available")  # idle: no work of their own
    await world.dispatcher.tick()
    assert await world.offers(ribble_agents) == {}

    world.clock.advance(59)
    await world.dispatcher.tick()
    assert await world.offers(ribble_agents) == {}, "not before the minute is up"

    world.clock.advance(1)
    await world.dispatcher.tick()
    offers = await world.offers(ribble_agents)
    # The three who waited longest, in order, to the longest-idle lenders; the concurrent cap holds the 4th.
    assert sorted(offers.values()) == waiting[:3]
    assert len(offers) == 3
    assert (await world.live.queue_depths())[queue_name(chorley, "missed-bin")] == 27

    first = await world.enquiry(waiting[0])
    assert first.state == "offered" and first.handler_slug == ribble and first.agreement_id == agreement
    overflowed = [e for e in await world.events(waiting[0]) if e.event == "enquiry.overflowed"]
    assert overflowed and overflowed[0].handler_slug == ribble
    reasons = overflowed[0].data["reasons"]
    assert any(r["rule"] == "lender_protection" and not r["says"].startswith("not") for r in reasons)
    assert any("waited" in r["says"] or "within" in r["says"] or r["rule"] for r in reasons)

    # They take and finish their calls: the cap frees, and two more go (5 per hour in all), then no more.
    for agent, enquiry_id in offers.items():
        await world.desk.accept(agent, enquiry_id)
    world.clock.advance(120)
    for agent, enquiry_id in offers.items():
        await world.desk.complete(agent, enquiry_id, "resolved")
    await world.dispatcher.tick()
    second = await world.offers(ribble_agents)
    assert sorted(second.values()) == waiting[3:5]
    for agent, enquiry_id in second.items():
        await world.desk.accept(agent, enquiry_id)
        await world.desk.complete(agent, enquiry_id, "resolved")
    world.clock.advance(1)
    await world.dispatcher.tick()
    assert await world.offers(ribble_agents) == {}, "the hourly cap is reached"
    counts = await world.live.overflow_counts([agreement], int(world.clock.now.timestamp() * 1000))
    assert counts[agreement].this_hour == 5 and counts[agreement].in_hand == 0


async def test_the_lender_stops_lending_when_its_own_service_level_would_fall(world: World) -> None:
    chorley, chorley_agents = await world.partner("chorley", 2)
    ribble, ribble_agents = await world.partner("south-ribble", 4)
    await world.agreement(
        lender=ribble,
        borrower=chorley,
        conditions={"waited_at_least_seconds": 60},
        caps={"concurrent": 3},
        lender_protection=0.8,
    )
    await _busy_with_own_calls(world, chorley, chorley_agents)
    waiting = await world.arrive(chorley, 30)
    for agent in ribble_agents:
        await world.desk.set_status(agent, "available")
    world.clock.advance(60)
    await world.dispatcher.tick()
    offers = await world.offers(ribble_agents)
    assert sorted(offers.values()) == waiting[:3]
    for agent, enquiry_id in offers.items():
        await world.desk.accept(agent, enquiry_id)

    # South Ribble's own calls pick up: 20 in the last half hour at 240 s each is 2.7 erlangs. With 4 agents,
    # less the 3 lent and one more, Erlang C gives far under 80 % answered in 20 s: lending stops.
    now_ms = int(world.clock.now.timestamp() * 1000)
    await world.live.record_stats(queue_name(ribble, "missed-bin"), now_ms, {"arrivals": 20})
    await world.dispatcher.tick()
    world.clock.advance(30)
    for agent, enquiry_id in offers.items():
        await world.desk.complete(agent, enquiry_id, "resolved")
    await world.dispatcher.tick()
    assert await world.offers(ribble_agents) == {}, "protected: no more of chorley's calls"
    gates = await world.dispatcher.router.gates_now(world.clock.now)
    [gate] = [g for g in gates if g.borrower_queue == f"{chorley}/missed-bin"]
    assert not gate.open
    protection = next(r for r in gate.reasons if r.rule == "lender_protection")
    assert protection.says.startswith("not:") and protection.figures["predicted_service_level"] < 0.8


async def test_after_18_00_chorley_calls_go_to_the_hub_evening_team(world: World) -> None:
    chorley, _ = await world.partner("chorley", 1)  # nobody signed in at Chorley in the evening
    hub, hub_agents = await world.partner("hub", 2, kind="pool")
    await world.agreement(
        lender=hub,
        borrower=chorley,
        channels=["phone", "callback"],
        hours=[{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "18:00", "to": "22:00"}],
        caps={"concurrent": 2},
    )
    world.clock.now = datetime(2026, 11, 23, 17, 55, tzinfo=UTC)
    for agent in hub_agents:
        await world.desk.set_status(agent, "available")
    await world.dispatcher.tick()
    [early] = await world.arrive(chorley)
    assert await world.offers(hub_agents) == {}, "the evening team starts at 18:00"
    routing = next(e for e in await world.events(early) if e.event == "enquiry.queued").data["routing"]
    assert routing["rings"][1]["opens_at"].startswith("2026-11-23T18:00")

    world.clock.now = datetime(2026, 11, 23, 18, 0, 1, tzinfo=UTC)
    await world.dispatcher.tick()
    assert list((await world.offers(hub_agents)).values()) == [early]

    world.clock.now = datetime(2026, 11, 23, 18, 5, tzinfo=UTC)
    [late] = await world.arrive(chorley)
    offers = await world.offers(hub_agents)
    assert sorted(offers.values()) == [early, late], "offered at once at 18:05"
    assert (await world.enquiry(late)).handler_slug == hub


async def test_out_of_hours_with_no_agreement_gets_voicemail_or_a_callback(world: World) -> None:
    plain, _ = await world.partner("chorley", 1)
    kind, _ = await world.partner("lancashire", 1, callbacks=True)
    world.closed.update({plain, kind})
    [to_voicemail] = await world.arrive(plain)
    [to_callback] = await world.arrive(kind)
    [email] = await world.arrive(plain, channel="email")

    events = [e.event for e in await world.events(to_voicemail)]
    assert events == ["enquiry.received", "enquiry.queued", "enquiry.voicemail"]
    assert (await world.enquiry(to_voicemail)).follow_up == "voicemail"
    assert [e.event for e in await world.events(to_callback)][-1] == "enquiry.callback_offered"
    assert [e.event for e in await world.events(email)] == ["enquiry.received", "enquiry.queued"]
    queued = next(e for e in await world.events(to_voicemail) if e.event == "enquiry.queued")
    assert any(r["rule"] == "out_of_hours" for r in queued.data["routing"]["reasons"])

    # The caller leaves the message and hangs up: the voicemail keeps its place for the morning.
    from plumbing.bus.base import IncomingMessage

    row = await world.enquiry(to_voicemail)
    body = {
        "tenant": plain,
        "message_id": row.message_id,
        "reason": "caller_hung_up",
        "at": world.clock.now.isoformat(),
    }
    import json

    await world.intake.process(
        [
            IncomingMessage(
                routing_key=f"{plain}.phone",
                body=json.dumps(body).encode(),
                message_id="w-" + row.message_id,
                content_type="application/json",
                type="enquiry.withdrawn.v1",
            )
        ]
    )
    assert (await world.enquiry(to_voicemail)).state == "queued"
    assert await world.live.position(to_voicemail) == (queue_name(plain, "missed-bin"), 1)


async def test_an_overflow_trail_gives_the_reasons_that_opened_the_ring_not_a_look_taken_after(
    world: World,
) -> None:
    """Issue 18: the trail said "would fall to 0 %" for an overflow that did happen (reasons worked out after)."""
    chorley, chorley_agents = await world.partner("chorley", 1)
    ribble, ribble_agents = await world.partner("south-ribble", 2)
    agreement = await world.agreement(
        lender=ribble,
        borrower=chorley,
        services=["missed-bin"],
        conditions={"waited_at_least_seconds": 60},
        caps={"concurrent": 1},
        lender_protection=0.8,
    )
    await _busy_with_own_calls(world, chorley, chorley_agents)
    [waiting] = await world.arrive(chorley, 1)
    # One call of South Ribble's own in the last half hour at 240 s: 240/1800 = 0.133 erlangs. With its 2 agents
    # less one lent, Erlang C with 1 agent answers 1 - 0.133·e^(-0.867·20/240) = 87.6 % within 20 s: it may lend.
    # Once its agent is reserved, a second look counts 2 - 1 lent - 1 = 0 agents: "would fall to 0 %".
    now_ms = int(world.clock.now.timestamp() * 1000)
    await world.live.record_stats(queue_name(ribble, "missed-bin"), now_ms, {"arrivals": 1})
    for agent in ribble_agents:
        await world.desk.set_status(agent, "available")
    world.clock.advance(60)
    await world.dispatcher.tick()
    offers = await world.offers(ribble_agents)
    assert list(offers.values()) == [waiting]

    [overflowed] = [e for e in await world.events(waiting) if e.event == "enquiry.overflowed"]
    assert overflowed.handler_slug == ribble
    assert overflowed.data["agreement"] == agreement and overflowed.data["gate_open"] is True
    assert overflowed.data["decided"] == "with_the_gate"
    assert overflowed.data["decided_at"] == world.clock.now.isoformat()
    protection = next(r for r in overflowed.data["reasons"] if r["rule"] == "lender_protection")
    assert protection["says"] == f"{ribble} stays on target with one agent fewer"
    assert protection["figures"]["lent_now"] == 0

    # The same gate looked at now, after the reservation, would refuse: the reason the old trail recorded.
    gates = await world.dispatcher.router.gates_now(world.clock.now)
    [gate] = [g for g in gates if g.borrower_queue == f"{chorley}/missed-bin"]
    after = next(r for r in gate.reasons if r.rule == "lender_protection")
    assert after.says == f"not: {ribble} would fall to 0% on {ribble}/missed-bin (needs 80%)"


async def test_the_hourly_cap_counts_the_agreements_local_hour_when_the_clocks_go_back(world: World) -> None:
    """On Sunday 25 October 2026 London's 01:00-02:00 happens twice (BST, then GMT): one local hour, one cap."""
    chorley, chorley_agents = await world.partner("chorley", 1)
    ribble, ribble_agents = await world.partner("south-ribble", 2)
    agreement = await world.agreement(
        lender=ribble,
        borrower=chorley,
        services=["missed-bin"],
        conditions={"waited_at_least_seconds": 60},
        caps={"per_hour": 2},
        timezone="Europe/London",
    )
    world.clock.now = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 01:00 BST
    await _busy_with_own_calls(world, chorley, chorley_agents)
    waiting = await world.arrive(chorley, 6)
    for agent in ribble_agents:
        await world.desk.set_status(agent, "available")

    async def lend_and_finish() -> list[int]:
        await world.dispatcher.tick()
        offers = await world.offers(ribble_agents)
        for agent, enquiry_id in offers.items():
            await world.desk.accept(agent, enquiry_id)
            await world.desk.complete(agent, enquiry_id, "resolved")
        return sorted(offers.values())

    world.clock.now = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST
    assert await lend_and_finish() == waiting[:2]
    # 01:10 GMT is 01:10Z: a new UTC hour, but the same local hour 01 as 01:30 BST. The cap holds.
    world.clock.now = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)
    assert await lend_and_finish() == []
    counts = await world.live.overflow_counts([agreement], int(world.clock.now.timestamp() * 1000))
    assert counts[agreement].this_hour == 2
    # 02:00 GMT: the next local hour, two more.
    world.clock.now = datetime(2026, 10, 25, 2, 0, 30, tzinfo=UTC)
    assert await lend_and_finish() == waiting[2:4]


async def test_a_visitor_out_of_hours_is_told_the_next_opening_not_sent_to_voicemail(world: World) -> None:
    # The desk is open weekdays 09:00-17:00 (London, on UTC in November); the world's clock closes the partner.
    # At 18:00 on Monday the next opening is Tuesday 09:00.
    visit, _ = await world.partner(
        "visit",
        1,
        opening_hours={"default": "always", "face_to_face": {"mon-fri": "09:00-17:00"}},
    )
    world.closed.add(visit)
    world.clock.now = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    [visitor] = await world.arrive(visit, channel="face_to_face")
    events = await world.events(visitor)
    assert "enquiry.voicemail" not in [e.event for e in events]
    told = next(e for e in events if e.event == "enquiry.told_next_opening")
    assert told.data["next_opening"] == "2026-11-24T09:00:00+00:00"
    assert told.data["says"] == "the desk opens again at 2026-11-24T09:00+00:00"
    gone = await world.enquiry(visitor)
    assert (gone.state, gone.outcome) == ("completed", "told_next_opening")
    assert queue_name(visit, "missed-bin") not in await world.live.queue_depths()
