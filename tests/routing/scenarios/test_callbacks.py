"""Callbacks end to end (issue 20, item 5): offered as a callback, rung, missed, retried, kept; on both states."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from figures.callbacks import CallbackFigures, callback_figures, from_events, from_tallies
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


async def test_callback_figures_are_kept_as_the_events_land_and_equal_the_event_log(world: World) -> None:
    tenant, (agent,) = await world.partner("cb-figures", 1, callbacks=True)
    await world.desk.set_status(agent, "available")
    start = world.clock.now  # Monday 10:00
    (first,) = await world.arrive(tenant, channel="callback")  # 10:00:00, requested
    await world.desk.accept(agent, first)
    world.clock.advance(20)
    await world.desk.callback_attempt(agent, first, AttemptResult.NO_ANSWER)  # 10:00:20, missed, retried
    world.clock.advance(40)
    (second,) = await world.arrive(tenant, channel="callback")  # 10:01:00, requested
    await world.desk.accept(agent, second)
    await world.desk.callback_attempt(agent, second, AttemptResult.WRONG_NUMBER)  # 10:01:00, missed, given up
    world.clock.now = start + timedelta(minutes=15, seconds=20)  # the first is due again at 10:15:20
    await world.dispatcher.tick()
    await world.desk.accept(agent, first)
    world.clock.advance(10)
    reached = await world.desk.callback_attempt(agent, first, AttemptResult.REACHED)  # 10:15:30
    assert reached.next_step == "talk"
    world.clock.advance(270)
    await world.desk.complete(agent, first, "resolved")  # 10:20:00, completed

    # By hand, for the hour 10:00–11:00 (the second's wrong number gives it up at once; the first is reached
    # 15 min 30 s = 930 s after it first queued at 10:00:00):
    expected = CallbackFigures(
        tenant,
        "missed-bin",
        requested=2,
        attempted=3,
        answered=1,
        missed=2,
        retried=1,
        given_up=1,
        completed=1,
        reached_wait_seconds=930.0,
    )
    hour = (start, start + timedelta(hours=1))
    async with world.hub.sessionmaker() as session:
        kept = await from_tallies(session, tenant=tenant, start=hour[0], end=hour[1])
        reference = await from_events(session, tenant=tenant, start=hour[0], end=hour[1])
        assert kept == reference == {"missed-bin": expected}
        assert expected.time_to_callback_seconds == 930.0 and expected.reached_rate == 1 / 3
        # A window off the slots, 10:00:30–10:30: the first's request and first attempt fall before it.
        window = await callback_figures(
            session, tenant=tenant, start=start + timedelta(seconds=30), end=start + timedelta(minutes=30)
        )
        assert window == await from_events(
            session, tenant=tenant, start=start + timedelta(seconds=30), end=start + timedelta(minutes=30)
        )
        assert window["missed-bin"] == CallbackFigures(
            tenant, "missed-bin", 1, 2, 1, 1, 0, 1, 1, 930.0
        )  # requested 1 (the second), rung 2 (wrong number, reached), …
