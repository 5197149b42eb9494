"""The live-state contract: queues, pools, rings, gates, caps and capacity, the same on Redis and in memory."""

from __future__ import annotations

from routing.live.base import Caps, LiveState, Offer, RingPlacement, entry_for, queue_name, stats_since

TTL = 20_000
T0 = 1_800_000_000_000  # a fixed "now" in ms
OWN = queue_name("chorley", "missed-bin")
RING = queue_name("chorley", "missed-bin", agreement="sr-lends")
OWN_TEXT = queue_name("chorley", "missed-bin", "text")


def ring_entry(enquiry_id: int, queued_ms: int, *, opens_after_ms: int = 60_000, priority: int = 5):
    return entry_for(
        enquiry_id,
        "chorley",
        "missed-bin",
        priority,
        queued_ms,
        rings=(RingPlacement(RING, queued_ms + opens_after_ms),),
    )


async def test_highest_priority_then_oldest_goes_to_the_longest_idle_agent(live: LiveState) -> None:
    assert await live.enqueue(entry_for(1, "chorley", "missed-bin", 5, T0), now_ms=T0, ttl_ms=TTL) is None
    assert await live.enqueue(entry_for(2, "chorley", "missed-bin", 5, T0 + 1), now_ms=T0, ttl_ms=TTL) is None
    assert await live.enqueue(entry_for(3, "chorley", "missed-bin", 8, T0 + 2), now_ms=T0, ttl_ms=TTL) is None
    assert await live.queue_depths() == {OWN: 3}
    assert await live.position(2) == (OWN, 3)
    first = await live.agent_ready("ann", [OWN], now_ms=T0 + 10, ttl_ms=TTL)
    second = await live.agent_ready("raj", [OWN], now_ms=T0 + 10, ttl_ms=TTL)
    assert first is not None and first.enquiry_id == 3  # priority 8 first
    assert second is not None and second.enquiry_id == 1  # then the oldest
    # Two idle agents: the one idle longest gets the next arrival.
    offer = await live.agent_ready("lee", [OWN], now_ms=T0 + 20, ttl_ms=TTL)
    assert offer is not None and offer.enquiry_id == 2
    assert await live.agent_ready("kim", [OWN], now_ms=T0 + 30, ttl_ms=TTL) is None
    assert await live.agent_ready("max", [OWN], now_ms=T0 + 40, ttl_ms=TTL) is None
    offer = await live.enqueue(entry_for(4, "chorley", "missed-bin", 5, T0 + 50), now_ms=T0 + 50, ttl_ms=TTL)
    assert offer is not None and offer.agent_id == "kim"


async def test_a_ring_opens_on_time_and_the_caller_keeps_their_place(live: LiveState) -> None:
    await live.configure_caps({"sr-lends": Caps(per_hour=None, concurrent=None)})
    await live.set_gates({RING: True}, now_ms=T0, ttl_ms=TTL)
    await live.enqueue(ring_entry(1, T0), now_ms=T0, ttl_ms=TTL)
    await live.enqueue(ring_entry(2, T0 + 5_000), now_ms=T0 + 5_000, ttl_ms=TTL)
    # The lender's agent is idle but the ring has not opened yet.
    assert await live.agent_ready("sr-mo", [RING], now_ms=T0 + 10_000, ttl_ms=TTL) is None
    assert await live.open_due(T0 + 59_999, TTL) == []
    offers = await live.open_due(T0 + 60_000, TTL)
    assert [(o.enquiry_id, o.agent_id, o.queue) for o in offers] == [(1, "sr-mo", RING)]
    assert offers[0].score == ring_entry(1, T0).score  # same place in any ring
    assert await live.queue_depths() == {OWN: 1}  # taken from the owner's queue too
    # Rejected: back with its rings, at its place, ahead of number 2.
    released = await live.release("sr-mo", 1)
    assert released is not None and released.entry.queue == OWN and released.entry.rings
    await live.enqueue(released.entry, now_ms=T0 + 61_000, ttl_ms=TTL)
    offer = await live.agent_ready("chorley-ann", [OWN], now_ms=T0 + 61_000, ttl_ms=TTL)
    assert offer is not None and offer.enquiry_id == 1


async def test_a_closed_gate_keeps_lenders_out_until_it_opens(live: LiveState) -> None:
    await live.configure_caps({"sr-lends": Caps(per_hour=None, concurrent=None)})
    await live.enqueue(ring_entry(1, T0, opens_after_ms=0), now_ms=T0, ttl_ms=TTL)
    assert await live.agent_ready("sr-mo", [RING], now_ms=T0, ttl_ms=TTL) is None
    offers = await live.set_gates({RING: True}, now_ms=T0 + 1, ttl_ms=TTL)
    assert [(o.enquiry_id, o.agent_id) for o in offers] == [(1, "sr-mo")]


async def test_caps_per_agreement_concurrent_and_per_hour(live: LiveState) -> None:
    await live.configure_caps({"sr-lends": Caps(per_hour=2, concurrent=1)})
    await live.set_gates({RING: True}, now_ms=T0, ttl_ms=TTL)
    for i in range(1, 5):
        await live.enqueue(ring_entry(i, T0 + i, opens_after_ms=0), now_ms=T0 + i, ttl_ms=TTL)
    first = await live.agent_ready("sr-mo", [RING], now_ms=T0 + 10, ttl_ms=TTL)
    assert first is not None and first.enquiry_id == 1
    assert await live.agent_ready("sr-tom", [RING], now_ms=T0 + 10, ttl_ms=TTL) is None  # concurrent cap
    counts = await live.overflow_counts(["sr-lends"], T0 + 10)
    assert (counts["sr-lends"].in_hand, counts["sr-lends"].this_hour) == (1, 1)
    assert await live.accept("sr-mo", 1)
    assert await live.finish("sr-mo", 1)
    offers = await live.set_gates({RING: True}, now_ms=T0 + 20, ttl_ms=TTL)
    assert [o.enquiry_id for o in offers] == [2]
    assert await live.accept("sr-tom", 2) and await live.finish("sr-tom", 2)
    # Two taken this hour: the hourly cap holds the rest back until the next hour.
    assert await live.agent_ready("sr-mo", [RING], now_ms=T0 + 30, ttl_ms=TTL) is None
    assert await live.set_gates({RING: True}, now_ms=T0 + 30, ttl_ms=TTL) == []
    next_hour = (T0 // 3_600_000 + 1) * 3_600_000
    offers = await live.set_gates({RING: True}, now_ms=next_hour, ttl_ms=TTL)
    assert [o.enquiry_id for o in offers] == [3]


async def test_blended_capacity_one_call_or_several_text_contacts_and_calls_first(live: LiveState) -> None:
    queues = [OWN, OWN_TEXT]
    for i in (1, 2, 3):
        await live.enqueue(
            entry_for(i, "chorley", "missed-bin", 5, T0 + i, channel="email"), now_ms=T0, ttl_ms=TTL
        )
    await live.enqueue(entry_for(9, "chorley", "missed-bin", 5, T0 + 9), now_ms=T0, ttl_ms=TTL)
    # The call queued 8 ms after the first email still goes first: live work is never held behind deferrable.
    offer = await live.agent_ready("ann", queues, now_ms=T0 + 10, ttl_ms=TTL, text_capacity=2)
    assert offer is not None and offer.enquiry_id == 9 and await live.accept("ann", 9)
    # A call takes the whole agent.
    assert await live.agent_ready("ann", queues, now_ms=T0 + 11, ttl_ms=TTL, text_capacity=2) is None
    offer = await live.agent_ready("raj", queues, now_ms=T0 + 12, ttl_ms=TTL, text_capacity=2)
    assert offer is not None and offer.enquiry_id == 1 and await live.accept("raj", 1)
    offer = await live.agent_ready("raj", queues, now_ms=T0 + 13, ttl_ms=TTL, text_capacity=2)
    assert offer is not None and offer.enquiry_id == 2 and await live.accept("raj", 2)
    # Two emails in hand: no third (capacity 2), but raj waits in the call queue's pool all the same ...
    assert await live.agent_ready("raj", queues, now_ms=T0 + 14, ttl_ms=TTL, text_capacity=2) is None
    assert (await live.queue_states([OWN]))[OWN].idle_agents == 1
    # ... so the next call is offered to raj at once, the two emails parked meanwhile.
    offer = await live.enqueue(entry_for(10, "chorley", "missed-bin", 5, T0 + 15), now_ms=T0 + 15, ttl_ms=TTL)
    assert offer is not None and offer.agent_id == "raj" and offer.enquiry_id == 10
    assert await live.accept("raj", 10)
    assert await live.agent_ready("raj", queues, now_ms=T0 + 16, ttl_ms=TTL, text_capacity=2) is None
    assert await live.finish("raj", 10) and await live.finish("raj", 1)
    offer = await live.agent_ready("raj", queues, now_ms=T0 + 17, ttl_ms=TTL, text_capacity=2)
    assert offer is not None and offer.enquiry_id == 3  # room for one email again


async def test_withdraw_takes_it_out_of_every_ring_and_schedule(live: LiveState) -> None:
    await live.configure_caps({"sr-lends": Caps(per_hour=None, concurrent=None)})
    await live.set_gates({RING: True}, now_ms=T0, ttl_ms=TTL)
    await live.enqueue(ring_entry(1, T0), now_ms=T0, ttl_ms=TTL)
    await live.schedule_recheck(1, T0 + 30_000)
    assert await live.withdraw(1) is True
    assert await live.withdraw(1) is False
    assert await live.open_due(T0 + 120_000, TTL) == []
    assert await live.pop_rechecks(T0 + 120_000) == []
    assert await live.agent_ready("sr-mo", [RING], now_ms=T0 + 120_000, ttl_ms=TTL) is None
    assert await live.queue_depths() == {}


async def test_expired_offers_come_back_and_rechecks_fire_once(live: LiveState) -> None:
    await live.agent_ready("ann", [OWN], now_ms=T0, ttl_ms=TTL)
    offer = await live.enqueue(entry_for(1, "chorley", "missed-bin", 5, T0), now_ms=T0, ttl_ms=TTL)
    assert offer is not None
    assert await live.pop_expired(T0 + TTL - 1) == []
    [expired] = await live.pop_expired(T0 + TTL)
    assert expired.enquiry_id == 1 and expired.agent_id == "ann"
    assert await live.offer_for("ann") is None
    await live.enqueue(expired.entry, now_ms=T0 + TTL, ttl_ms=TTL)
    await live.schedule_recheck(1, T0 + 30_000)
    assert await live.pop_rechecks(T0 + 29_999) == []
    assert await live.pop_rechecks(T0 + 30_000) == [1]
    assert await live.pop_rechecks(T0 + 40_000) == []


async def test_rolling_figures_per_service(live: LiveState) -> None:
    await live.record_stats(OWN, T0, {"arrivals": 2, "handled": 1, "handle_ms": 180_000})
    await live.record_stats(OWN_TEXT, T0 + 400_000, {"arrivals": 1})
    buckets = (await live.read_stats([OWN], T0 - 1_800_000, T0 + 400_000))[OWN]
    total = stats_since(buckets, T0 - 1_800_000)
    assert (total.arrivals, total.handled, total.handle_ms) == (3, 1, 180_000)
    assert stats_since(buckets, T0 + 400_000).arrivals == 1
    states = await live.queue_states([OWN])
    assert states[OWN].waiting == 0 and states[OWN].head_score is None


async def test_enqueue_many_places_a_batch_as_one_at_a_time_would_and_schedules_rechecks(
    live: LiveState,
) -> None:
    await live.configure_caps({"sr-lends": Caps(per_hour=None, concurrent=None)})
    await live.set_gates({RING: True}, now_ms=T0, ttl_ms=TTL)
    assert await live.agent_ready("ann", [OWN], now_ms=T0, ttl_ms=TTL) is None
    assert await live.agent_ready("sr-mo", [RING], now_ms=T0 + 1, ttl_ms=TTL) is None
    results = await live.enqueue_many(
        [
            (entry_for(1, "chorley", "missed-bin", 5, T0), T0 + 30_000),  # ann takes it: no recheck
            (ring_entry(2, T0 + 1, opens_after_ms=0), None),  # the ring is open: the lender's agent
            (entry_for(3, "chorley", "missed-bin", 5, T0 + 2), T0 + 30_000),  # waits, rechecked later
            (entry_for(4, "chorley", "missed-bin", 5, T0 + 3), None),  # waits
            (entry_for(1, "chorley", "missed-bin", 5, T0), None),  # already placed: nothing
        ],
        now_ms=T0 + 10,
        ttl_ms=TTL,
    )
    assert [(r.enquiry_id, r.agent_id, r.queue) if r else None for r in results] == [
        (1, "ann", OWN),
        (2, "sr-mo", RING),
        None,
        None,
        None,
    ]
    assert await live.queue_depths() == {OWN: 2}
    assert await live.position(4) == (OWN, 2)
    assert await live.pop_rechecks(T0 + 29_999) == []
    assert await live.pop_rechecks(T0 + 30_000) == [3]
    assert await live.enqueue_many([], now_ms=T0, ttl_ms=TTL) == []


async def test_withdraw_many_answers_for_each_as_withdraw_would(live: LiveState) -> None:
    await live.enqueue(entry_for(1, "chorley", "missed-bin", 5, T0), now_ms=T0, ttl_ms=TTL)
    await live.enqueue(entry_for(2, "chorley", "missed-bin", 5, T0 + 1), now_ms=T0, ttl_ms=TTL)
    offer = await live.agent_ready("ann", [OWN], now_ms=T0 + 5, ttl_ms=TTL)
    assert offer is not None and offer.enquiry_id == 1
    results = await live.withdraw_many([1, 2, 3])
    assert isinstance(results[0], Offer) and results[0].agent_id == "ann" and results[0].enquiry_id == 1
    assert results[1:] == [True, False]  # taken from its queue; never there
    assert await live.queue_depths() == {}
    assert await live.withdraw_many([]) == []


async def test_agent_ready_many_matches_in_turn_as_separate_calls_would(live: LiveState) -> None:
    await live.enqueue(entry_for(1, "chorley", "missed-bin", 5, T0), now_ms=T0, ttl_ms=TTL)
    await live.enqueue(entry_for(2, "chorley", "missed-bin", 8, T0 + 1), now_ms=T0, ttl_ms=TTL)
    results = await live.agent_ready_many(
        [("ann", [OWN]), ("raj", [OWN]), ("lee", [OWN]), ("kim", [OWN_TEXT])], now_ms=T0 + 10, ttl_ms=TTL
    )
    # In the order given: the first agent takes the best (priority 8), the second the next, the rest wait.
    assert [(o.agent_id, o.enquiry_id) if o else None for o in results] == [
        ("ann", 2),
        ("raj", 1),
        None,
        None,
    ]
    # Those left waiting joined their pools, idle since now: the next arrival goes to the first of them.
    offer = await live.enqueue(entry_for(3, "chorley", "missed-bin", 5, T0 + 20), now_ms=T0 + 20, ttl_ms=TTL)
    assert offer is not None and offer.agent_id == "lee"
    assert await live.agent_ready_many([], now_ms=T0, ttl_ms=TTL) == []


async def test_offered_enquiries_answer_for_each_agent_as_offer_for_would(live: LiveState) -> None:
    await live.enqueue(entry_for(1, "chorley", "missed-bin", 5, T0), now_ms=T0, ttl_ms=TTL)
    await live.agent_ready("ann", [OWN], now_ms=T0 + 5, ttl_ms=TTL)
    await live.agent_ready("raj", [OWN], now_ms=T0 + 5, ttl_ms=TTL)
    held = await live.offer_for("ann")
    assert held is not None and (held.agent_id, held.enquiry_id) == ("ann", 1)
    # raj idle, nobody never signed in
    assert await live.offer_for("raj") is None and await live.offer_for("nobody") is None
    assert await live.offered_enquiries(["raj", "ann", "nobody"]) == [None, 1, None]
    assert await live.offered_enquiries([]) == []


async def test_ranked_idle_agents_the_highest_rank_first_then_the_longest_idle(live: LiveState) -> None:
    # ann idle since T0 (unranked: 0), raj since T0+1 at rank 5, lee since T0+2 at rank 5, kim since T0+3 at 2.
    assert await live.agent_ready("ann", [OWN], now_ms=T0, ttl_ms=TTL) is None
    assert await live.agent_ready("raj", [OWN], now_ms=T0 + 1, ttl_ms=TTL, ranks={OWN: 5}) is None
    assert await live.agent_ready_many(
        [("lee", [OWN]), ("kim", [OWN])], now_ms=T0 + 2, ttl_ms=TTL, ranks=[{OWN: 5}, {OWN: 2}]
    ) == [None, None]
    chosen = []
    for i in range(4):
        offer = await live.enqueue(
            entry_for(i + 1, "chorley", "missed-bin", 5, T0 + 10), now_ms=T0 + 10, ttl_ms=TTL
        )
        assert offer is not None
        chosen.append(offer.agent_id)
    # Rank 5 (raj idle longer than lee), then rank 2, then the unranked ann though idle longest of all.
    assert chosen == ["raj", "lee", "kim", "ann"]


async def test_replanning_gives_waiting_entries_new_rings_at_the_same_place(live: LiveState) -> None:
    await live.configure_caps({"sr-lends": Caps(per_hour=None, concurrent=None)})
    await live.set_gates({RING: True}, now_ms=T0, ttl_ms=TTL)
    for i in (1, 2, 3):
        await live.enqueue(ring_entry(i, T0 + i, opens_after_ms=3_600_000), now_ms=T0 + i, ttl_ms=TTL)
    await live.schedule_recheck(2, T0 + 30_000)
    assert await live.agent_ready("lender", [RING], now_ms=T0 + 5, ttl_ms=TTL) is None  # ring not open yet
    # The agreement now waits 10 s, not an hour: entry 2 is re-planned first, then 3 (1 stays as it was).
    at = T0 + 20_000
    replanned = await live.replan_many(
        [ring_entry(2, T0 + 2, opens_after_ms=10_000), ring_entry(3, T0 + 3, opens_after_ms=10_000)],
        now_ms=at,
        ttl_ms=TTL,
    )
    # 2's ring is open now: the idle lender has it at once; 3 goes into the ring behind it, keeping its place.
    assert replanned[0] is not None and replanned[0].agent_id == "lender" and replanned[0].enquiry_id == 2
    assert replanned[1] is None
    assert await live.position(1) == (OWN, 1) and await live.position(3) == (OWN, 2)
    # Not waiting (2 is offered now; 99 never was): left alone, nothing added.
    assert await live.replan_many([ring_entry(2, T0 + 2), ring_entry(99, T0)], now_ms=at, ttl_ms=TTL) == [
        None,
        None,
    ]
    assert await live.position(99) is None
    assert (
        await live.agent_ready("lender2", [RING], now_ms=at + 1, ttl_ms=TTL) is not None
    )  # 3 is in the ring
    assert await live.open_due(T0 + 3_600_001, TTL) == []  # 3's old, hour-long schedule is gone


async def test_an_agent_whose_call_is_restored_leaves_every_pool(live: LiveState) -> None:
    # A rebuild restores the calls in agents' hands. An agent made ready before its call was restored (another
    # process's request between the reset and the restore) sat idle in the pools while talking, and the next
    # caller was offered to it: restoring a live contact takes the agent out of every pool.
    queues = [OWN, OWN_TEXT]
    assert await live.agent_ready("ann", queues, now_ms=T0, ttl_ms=TTL, text_capacity=2) is None
    await live.restore_hand("ann", 7, OWN)
    assert (await live.queue_states([OWN]))[OWN].idle_agents == 0
    assert (
        await live.enqueue(entry_for(8, "chorley", "missed-bin", 5, T0 + 1), now_ms=T0 + 1, ttl_ms=TTL)
        is None
    )
    assert (
        await live.enqueue(
            entry_for(9, "chorley", "missed-bin", 5, T0 + 2, channel="web"), now_ms=T0 + 2, ttl_ms=TTL
        )
        is None
    )
    # Made ready again while the call lasts: still nothing.
    assert await live.agent_ready("ann", queues, now_ms=T0 + 3, ttl_ms=TTL, text_capacity=2) is None
    # The call ends: the waiting caller first.
    assert await live.finish("ann", 7)
    offer = await live.agent_ready("ann", queues, now_ms=T0 + 4, ttl_ms=TTL, text_capacity=2)
    assert offer is not None and offer.enquiry_id == 8


async def test_a_restored_web_form_leaves_the_agent_ready_for_calls_after_agent_ready(
    live: LiveState,
) -> None:
    # A restored deferrable item also takes the agent out of its pools (its room may have changed); the
    # rebuild makes every agent ready after restoring hands, which pools it again where it may still take work.
    queues = [OWN, OWN_TEXT]
    assert await live.agent_ready("raj", queues, now_ms=T0, ttl_ms=TTL, text_capacity=1) is None
    await live.restore_hand("raj", 5, OWN_TEXT)
    assert await live.agent_ready("raj", queues, now_ms=T0 + 1, ttl_ms=TTL, text_capacity=1) is None
    states = await live.queue_states([OWN, OWN_TEXT])
    assert (states[OWN].idle_agents, states[OWN_TEXT].idle_agents) == (1, 0)  # a call yes, a second form no
