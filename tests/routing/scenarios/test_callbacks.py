"""Callbacks end to end (issue 20, item 5): offered as a callback, rung, missed, retried, kept; on both states."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from hub.runtime import desk_for
from routing.dispatch.callbacks import AttemptResult, figures
from routing.dispatch.service import Dispatcher
from routing.live.base import queue_name
from tests.routing.scenarios.conftest import MONDAY_10, World


async def test_a_callback_is_rung_missed_retried_and_kept(world: World) -> None:
    tenant, (agent,) = await world.partner("cb", 1, callbacks=True)
    await world.desk.set_status(agent, "available")
    (callback,) = await world.arrive(tenant, channel="callback")

    offer = await world.desk.current_offer(agent)
    assert offer is not None and offer.enquiry_id == callback
    # The offer says it is a callback, the number to ring and why (the test message's customer and text).
    assert offer.callback and offer.callback_number == "01257 000000"
    assert offer.callback_reason == "Missed bin: My bin was not emptied" and offer.callback_attempts == 0

    await world.desk.accept(agent, callback)
    first = await world.desk.callback_attempt(agent, callback, AttemptResult.NO_ANSWER)
    # Retry rules (the service's defaults): 15 minutes later, 3 attempts in all.
    assert (first.attempt, first.next_step, first.retry_at) == (1, "retry", MONDAY_10 + timedelta(minutes=15))
    assert queue_name(tenant, "missed-bin") not in await world.live.queue_depths()  # out until then
    assert (await world.desk.view(agent)).status == "available"
    [item] = await world.desk.callback_worklist(agent)
    assert (item.enquiry_id, item.state, item.attempts, item.number) == (
        callback,
        "waiting_retry",
        1,
        "01257 000000",
    )

    world.clock.advance(15 * 60 - 1)
    await world.dispatcher.tick()
    assert await world.offers([agent]) == {}, "not before the retry time"
    world.clock.advance(1)
    await world.dispatcher.tick()
    assert await world.offers([agent]) == {agent: callback}
    await world.desk.accept(agent, callback)
    second = await world.desk.callback_attempt(agent, callback, AttemptResult.BUSY)
    assert (second.attempt, second.next_step, second.retry_at) == (
        2,
        "retry",
        MONDAY_10 + timedelta(minutes=30),
    )

    world.clock.advance(15 * 60)
    await world.dispatcher.tick()
    assert await world.offers([agent]) == {agent: callback}
    offer = await world.desk.current_offer(agent)
    assert offer is not None and offer.callback_attempts == 2
    await world.desk.accept(agent, callback)
    third = await world.desk.callback_attempt(agent, callback, AttemptResult.REACHED)
    assert (third.attempt, third.next_step) == (3, "talk")
    await world.desk.complete(agent, callback, "resolved")
    assert (await world.enquiry(callback)).outcome == "resolved"

    trail = [e.event for e in await world.events(callback)]
    assert trail.count("enquiry.callback_attempted") == 3 and trail.count("enquiry.callback_retry_due") == 2
    says = [e.data["says"] for e in await world.events(callback) if e.event == "enquiry.callback_attempted"]
    assert says[0].startswith("attempt 1 of 3: no answer; rung again from 2026-11-23T10:15")
    assert says[2] == "attempt 3: the caller answered"

    async with world.hub.sessionmaker() as session:
        kept = await figures(session, tenant, MONDAY_10, MONDAY_10 + timedelta(hours=1))
    assert kept["attempts"] == {"reached": 1, "no_answer": 1, "busy": 1, "wrong_number": 0}
    assert (kept["kept"], kept["given_up"], kept["attempts_total"]) == (1, 0, 3)


async def test_a_callback_never_reached_is_given_up_after_the_last_attempt(world: World) -> None:
    tenant, (agent,) = await world.partner("cb-miss", 1, callbacks=True)
    await world.desk.set_status(agent, "available")
    (callback,) = await world.arrive(tenant, channel="callback")
    for attempt in (1, 2, 3):
        await world.dispatcher.tick()
        assert await world.offers([agent]) == {agent: callback}
        await world.desk.accept(agent, callback)
        recorded = await world.desk.callback_attempt(agent, callback, AttemptResult.NO_ANSWER)
        assert recorded.attempt == attempt
        world.clock.advance(15 * 60)
    assert recorded.next_step == "given_up" and recorded.retry_at is None
    gone = await world.enquiry(callback)
    assert (gone.state, gone.outcome) == ("completed", "callback_not_reached")
    await world.dispatcher.tick()
    assert await world.offers([agent]) == {} and await world.desk.callback_worklist(agent) == []


async def test_the_idle_tick_opens_no_transaction_and_a_retry_recorded_elsewhere_is_not_late(
    world: World,
) -> None:
    # Issue 20's loose end: the tick (every second) opened a transaction for missed callbacks even with none due.
    world.clock.advance(3 * 24 * 3600)  # Thursday 10:00, a day no other test's callbacks fall due on
    start = world.clock.now
    tenant, (agent,) = await world.partner("cb-idle", 1, callbacks=True)
    # Another process's desk: the retries it records are not told to the ticking dispatcher.
    elsewhere = Dispatcher(
        world.hub.sessionmaker, world.live, world.hub.catalogue, reservation_ttl_ms=20_000, clock=world.clock
    )
    desk = desk_for(elsewhere)
    await desk.set_status(agent, "available")
    (callback,) = await world.arrive(tenant, channel="callback")
    assert await world.offers([agent]) == {agent: callback}

    looks: list[str] = []

    def count(_conn, _cursor, statement: str, *_args: object) -> None:  # type: ignore[no-untyped-def]
        if "retry_at" in statement and "FOR UPDATE" in statement:
            looks.append(statement)

    event.listen(world.hub.engine.sync_engine, "before_cursor_execute", count)
    try:
        assert await world.dispatcher.retry_callbacks(world.clock.now) == 0  # 10:00:00, a look: none due
        for _ in range(29):  # 10:00:01 … 10:00:29, idle
            world.clock.advance(1)
            assert await world.dispatcher.retry_callbacks(world.clock.now) == 0
        assert len(looks) == 1, "29 idle ticks, no look"

        # 10:00:29, elsewhere: rung, no answer; due again 15 minutes later, at 10:15:29.
        await desk.accept(agent, callback)
        missed = await desk.callback_attempt(agent, callback, AttemptResult.NO_ANSWER)
        assert missed.retry_at == start + timedelta(minutes=15, seconds=29)
        placed_at = None
        while world.clock.now < start + timedelta(minutes=16):
            world.clock.advance(1)
            if await world.dispatcher.retry_callbacks(world.clock.now):
                placed_at = world.clock.now
                break
    finally:
        event.remove(world.hub.engine.sync_engine, "before_cursor_execute", count)
    assert placed_at == start + timedelta(minutes=15, seconds=29), "placed at the second it fell due"
    assert await world.offers([agent]) == {agent: callback}
    # Looks: 10:00:00; every 30 s from 10:00:30 to 10:15:00 (30); at 10:15:29, when the one seen at 10:15:00
    # falls due (1): 32 in 930 ticks, where every tick used to open a transaction.
    assert len(looks) == 32
