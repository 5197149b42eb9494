"""Accept and complete in two statements on PostgreSQL (routing/dispatch/desk_queries.py) write exactly the rows
the general path writes: enquiry, agent, both event logs, the outbox and every tally; refusals alike.

Each journey runs twice on the same clock, once with ``desk.one_statement`` off (the general path, as SQLite runs
it) and once on; the rows are read back with the partner's names and the ids made neutral, and compared.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import event, text

from figures.satisfaction import SamplingPolicy, SatisfactionSampler
from hub.runtime import Completion, Hub
from plumbing.db.session import unit_of_work
from routing.dispatch.desk import DeskError
from routing.tallies import STRIPES, rebuild
from tests.helpers_intake import delivery
from tests.routing.dispatch.test_offers import Clock, publish_direct

# 10:14:50 UTC: the agent's spells cross the 10:15 slot boundary, so agent time is split over two slots.
START = datetime(2026, 12, 6, 10, 14, 50, tzinfo=UTC)


def _clock(hub: Hub) -> Clock:
    # Every completion invited to a survey: sampling draws by reference, which differs between runs.
    hub.desk.hooks = Completion(SatisfactionSampler(SamplingPolicy(base_rate=1.0, raised_rate=1.0)))
    clock = Clock()
    clock.now = START
    hub.dispatcher.clock = clock
    return clock


async def _rows(hub: Hub, slug: str, agent_id: str, enquiry_ids: list[int]) -> dict[str, Any]:
    """Everything an accept or a completion writes, for one partner, with names and ids made neutral."""
    names = {agent_id: "A", slug: "P"}  # the agent's id holds the partner's slug: replaced first
    enquiries = {e: f"E{i}" for i, e in enumerate(enquiry_ids)}
    # Drawn afresh (or read from the wall clock) in each run:
    drawn = ("reference", "message_id", "received_at", "survey_path")

    def neutral(value: Any) -> Any:
        if isinstance(value, str):
            for name, alias in names.items():
                value = value.replace(name, alias)
        if isinstance(value, dict):
            return {
                k: enquiries.get(v, v)
                if k in ("enquiry_id", "for_enquiry")
                else "…"
                if k in drawn
                else neutral(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [neutral(v) for v in value]
        return value

    ids = {"ids": enquiry_ids, "slug": slug, "agent": agent_id}
    async with hub.sessionmaker() as session:
        references = (
            await session.execute(text("SELECT id, reference FROM enquiries WHERE id = ANY(:ids)"), ids)
        ).all()
        names.update({reference: f"R{enquiry_ids.index(e)}" for e, reference in references})

        async def read(sql: str) -> list[tuple[Any, ...]]:
            """The rows' values but a surrogate ``id`` (drawn from a sequence: differs between runs)."""
            return [
                tuple(neutral(v) for k, v in row._mapping.items() if k != "id")
                for row in (await session.execute(text(sql), ids)).all()
            ]

        events = (
            await session.execute(
                text(
                    "SELECT id, event, at, agent_id, handler_slug, data FROM enquiry_events "
                    "WHERE enquiry_id = ANY(:ids) ORDER BY id"
                ),
                ids,
            )
        ).all()
        event_ids = {row.id: f"V{i}" for i, row in enumerate(events)}
        outbox = []
        for row in (
            await session.execute(
                text(
                    "SELECT exchange, routing_key, message_id, message_type, content_type, headers, body "
                    "FROM outbox WHERE message_id = ANY(:mids) ORDER BY id"
                ),
                {"mids": [f"evt-{i}" for i in event_ids]},
            )
        ).all():
            body = orjson.loads(row.body)
            body["event_id"] = event_ids[body["event_id"]]
            outbox.append(
                (
                    *neutral(list(row[:2])),
                    event_ids[int(row.message_id.removeprefix("evt-"))],
                    *row[3:6],
                    neutral(body),
                )
            )
        return {
            "enquiries": [
                (enquiries[row[0]], *row[1:])
                for row in await read(
                    "SELECT id AS enquiry, state, outcome, agent_id, handler_slug FROM enquiries "
                    "WHERE id = ANY(:ids) ORDER BY id"
                )
            ],
            "events": [(event_ids[r.id], *(neutral(v) for v in r[1:])) for r in events],
            "outbox": outbox,
            "agent": await read("SELECT status, status_since, missed_offers FROM agents WHERE id = :agent"),
            "agent_events": await read(
                "SELECT status, previous, at, reason FROM agent_events WHERE agent_id = :agent ORDER BY id"
            ),
            "contact_facts": [
                (enquiries[row[0]], *row[1:])
                for row in await read(
                    "SELECT * FROM contact_facts WHERE enquiry_id = ANY(:ids) ORDER BY enquiry_id"
                )
            ],
            # a row's stripe named by the journey's contacts in it (their ids, so their stripes, differ by run)
            "figure_tallies": sorted(
                (
                    *row[:-1],
                    tuple(enquiries[e] for e in enquiry_ids if e % STRIPES == row[-1]),
                )
                for row in await read(
                    "SELECT tenant_slug, slot, service_code, channel, handler_slug, agreement_id, offered, "
                    "answered, answered_within, abandoned, short_abandoned, answered_wait, handled, "
                    "handle_seconds, resolved, callbacks, transfers, avoidable, longest_wait, stripe "
                    "FROM figure_tallies WHERE tenant_slug = :slug"
                )
            ),
            "agent_tallies": await read("SELECT * FROM agent_tallies WHERE agent_id = :agent ORDER BY slot"),
        }


Journey = Callable[[Hub, Clock, str, str], Any]


async def _both_ways(hub: Hub, make_partner, journey: Journey) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The journey's rows on the general path and on the two statements; asserts they are the same."""
    seen = []
    for one_statement in (False, True):
        hub.desk.one_statement = one_statement
        clock = _clock(hub)
        partner = await make_partner("desk-rows", agents=1)
        agent = partner.agents[0]
        enquiry_ids = await journey(hub, clock, partner.slug, agent)
        seen.append(await _rows(hub, partner.slug, agent, enquiry_ids))
        await hub.live.reset()  # the next run's agent starts with an empty live state, as this one did
    general, statements = seen
    for table in general:
        assert statements[table] == general[table], table
    # And the tallies kept are the event log's own count: recounted from the log, nothing changes.
    async with unit_of_work(hub.sessionmaker) as session:
        await rebuild(
            session, tenant=partner.slug, start=START - timedelta(hours=1), end=START + timedelta(hours=1)
        )
    recounted = await _rows(hub, partner.slug, agent, enquiry_ids)
    for table in ("contact_facts", "agent_tallies"):
        assert recounted[table] == statements[table], table
    # A cell a contact moved out of is kept at zero; a recount makes none.
    assert recounted["figure_tallies"] == [r for r in statements["figure_tallies"] if any(r[6:-1])]
    return statements


async def _offered(hub: Hub, clock: Clock, slug: str, agent: str) -> int:
    """The agent goes available at 10:14:50; a call arrives at 10:14:52 and is offered to them."""
    await hub.desk.set_status(agent, "available")
    clock.advance(2)
    enquiry_id = await publish_direct(hub, slug)
    offer = await hub.desk.current_offer(agent)
    assert offer is not None and offer.enquiry_id == enquiry_id
    return enquiry_id


async def test_accept_then_complete_writes_the_general_paths_rows(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    async def journey(hub: Hub, clock: Clock, slug: str, agent: str) -> list[int]:
        enquiry_id = await _offered(hub, clock, slug, agent)
        clock.advance(5)  # accepted at 10:14:57, 5 s after it queued
        assert await hub.desk.accept(agent, enquiry_id) == enquiry_id
        clock.advance(93)  # completed at 10:16:30
        await hub.desk.complete(agent, enquiry_id, "resolved", notes="bin out", tags=["avoidable:chased"])
        return [enquiry_id]

    rows = await _both_ways(hub, make_partner, journey)
    # The hand-worked figures both paths agree on:
    assert rows["enquiries"] == [("E0", "completed", "resolved", "A", "P")]
    assert [(name, status) for name, status, *_ in rows["agent_events"]] == [
        ("available", "offline"),
        ("busy", "available"),
        ("available", "busy"),
    ]
    assert rows["agent"] == [("available", START + timedelta(seconds=100), 0)]
    # available 10:14:50 → 10:14:57 (7 s); busy 10:14:57 → 10:16:30: 3 s in the 10:00 slot, 90 s in 10:15.
    assert [(r[2].time().isoformat(), r[3], r[4]) for r in rows["agent_tallies"]] == [
        ("10:00:00", 3.0, 7.0),
        ("10:15:00", 90.0, 0.0),
    ]
    answered = [e for e in rows["events"] if e[1] == "enquiry.answered"]
    assert len(answered) == 1 and answered[0][5] == {"waited_seconds": 5.0}
    assert [o[3] for o in rows["outbox"]] == [e[1] for e in rows["events"]]  # one message per event
    # The contact moved from the unanswered cell (handler "") to the answering partner's: the first left at 0.
    unanswered, answered_by = rows["figure_tallies"]
    assert unanswered[4:] == ("", "", 0, 0, 0, 0, 0, 0.0, 0, 0.0, 0, 0, 0, 0, None, ("E0",))
    # One contact offered, answered within 20 s (5 s), handled 93 s (10:14:57 → 10:16:30), resolved, avoidable;
    # the longest wait 5 s. From handler_slug on, in the SELECT's order; both rows in E0's stripe.
    assert answered_by[4:] == ("P", "", 1, 1, 1, 0, 0, 5.0, 1, 93.0, 1, 0, 0, 1, 5.0, ("E0",))


async def test_complete_into_wrap_up_writes_the_general_paths_rows(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    async def journey(hub: Hub, clock: Clock, slug: str, agent: str) -> list[int]:
        enquiry_id = await _offered(hub, clock, slug, agent)
        clock.advance(30)  # 10:15:22: 30 s after it queued, past missed-bin's 20 s
        await hub.desk.accept(agent, enquiry_id)
        await hub.desk.accept(agent, enquiry_id)  # a double-click changes nothing
        clock.advance(60)
        await hub.desk.complete(agent, enquiry_id, "passed_to_back_office", wrap_up=True)
        await hub.desk.complete(agent, enquiry_id, "passed_to_back_office", wrap_up=True)  # repeated
        clock.advance(20)
        await hub.desk.set_status(agent, "available")  # leaving wrap-up: its 20 s join the contact
        return [enquiry_id]

    rows = await _both_ways(hub, make_partner, journey)
    assert [(name, status) for name, status, *_ in rows["agent_events"]] == [
        ("available", "offline"),
        ("busy", "available"),
        ("wrap_up", "busy"),
        ("available", "wrap_up"),
    ]
    (fact,) = rows["contact_facts"]
    assert fact[-4] == 20.0  # wrap_seconds: 10:16:22 → 10:16:42


async def test_blended_work_writes_the_general_paths_rows(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    """Two web forms in hand (the agent stays busy: no change of status), then a call that parks them (the
    general path on both sides), then each completed: busy while others are in hand, available after the last."""

    async def journey(hub: Hub, clock: Clock, slug: str, agent: str) -> list[int]:
        await hub.desk.set_status(agent, "available")
        taken = []
        for channel in ("web", "web", "phone"):
            clock.advance(2)
            enquiry_id = await publish_direct(hub, slug, channel=channel)
            offer = await hub.desk.current_offer(agent)
            assert offer is not None and offer.enquiry_id == enquiry_id  # room for up to three forms
            clock.advance(3)
            await hub.desk.accept(agent, enquiry_id)
            taken.append(enquiry_id)
        form_a, form_b, call = taken
        for enquiry_id in (call, form_a, form_b):
            clock.advance(10)
            await hub.desk.complete(agent, enquiry_id, "resolved")
        return taken

    rows = await _both_ways(hub, make_partner, journey)
    # Each arrives 2 s after the last accept and is accepted 3 s later: accepts at 10:14:55, 10:15:00 and
    # 10:15:05, completions 10 s apart at 10:15:15, 10:15:25, 10:15:35. Busy from the first accept to the last
    # completion: one spell, no event between; the call's accept parked both forms.
    assert [(name, status) for name, status, *_ in rows["agent_events"]] == [
        ("available", "offline"),
        ("busy", "available"),
        ("available", "busy"),
    ]
    assert sum(1 for e in rows["events"] if e[1] == "enquiry.parked") == 2
    assert [(r[2].time().isoformat(), r[3], r[4]) for r in rows["agent_tallies"]] == [
        ("10:00:00", 5.0, 5.0),  # busy 10:14:55 → 10:15:00, available 10:14:50 → 10:14:55
        ("10:15:00", 35.0, 0.0),  # busy 10:15:00 → 10:15:35
    ]


@pytest.mark.parametrize(
    "refusal", ["expired", "unknown_agent_accepts", "unknown_agent_completes", "not_answered", "not_yours"]
)
async def test_refusals_are_the_same_problems_and_write_nothing(hub: Hub, make_partner, refusal: str) -> None:  # type: ignore[no-untyped-def]
    problems = []

    async def journey(hub: Hub, clock: Clock, slug: str, agent: str) -> list[int]:
        enquiry_id = await _offered(hub, clock, slug, agent)
        before = await _rows(hub, slug, agent, [enquiry_id])
        clock.advance(5)
        with pytest.raises(DeskError) as refused:
            if refusal == "expired":  # the live state let the offer go as the agent clicked
                assert await hub.live.release(agent, enquiry_id) is not None
                await hub.desk.accept(agent, enquiry_id)
            elif refusal == "unknown_agent_accepts":
                await hub.desk.accept(f"{slug}-nobody", enquiry_id)
            elif refusal == "unknown_agent_completes":
                await hub.desk.complete(f"{slug}-nobody", enquiry_id, "resolved")
            elif refusal == "not_answered":
                await hub.desk.complete(agent, enquiry_id, "resolved")
            else:
                await hub.desk.accept(agent, enquiry_id)
                await hub.desk.complete(agent, enquiry_id + 10_000_000, "resolved")
        problems.append((refused.value.status, refused.value.code, str(refused.value).replace(slug, "P")))
        assert await _rows(hub, slug, agent, [enquiry_id]) == before or refusal == "not_yours"
        return [enquiry_id]

    await _both_ways(hub, make_partner, journey)
    general, statements = problems
    assert statements == general
    expected = {
        "expired": (409, "stale_offer"),
        "unknown_agent_accepts": (404, "unknown_agent"),
        "unknown_agent_completes": (404, "unknown_agent"),
        "not_answered": (409, "not_answered"),
        "not_yours": (409, "not_yours"),
    }[refusal]
    assert general[:2] == expected


async def test_another_agent_cannot_take_an_offer(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    problems = []
    for one_statement in (False, True):
        hub.desk.one_statement = one_statement
        clock = _clock(hub)
        partner = await make_partner("desk-taken", agents=2)
        mine, theirs = partner.agents
        await hub.desk.set_status(theirs, "available")
        clock.advance(2)
        enquiry_id = await publish_direct(hub, partner.slug)  # offered to theirs, the only one available
        await hub.desk.set_status(mine, "available")
        with pytest.raises(DeskError) as refused:
            await hub.desk.accept(mine, enquiry_id)
        problems.append((refused.value.status, refused.value.code, str(refused.value)))
        await hub.desk.accept(theirs, enquiry_id)  # still theirs to take
        await hub.live.reset()
    assert problems[0] == problems[1]
    assert problems[0][:2] == (409, "stale_offer")


async def test_accept_and_complete_are_two_statements_each_on_postgresql(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    counts: dict[bool, list[int]] = {}
    seen: list[tuple[int, str]] = []  # (connection, statement or "COMMIT") in the order sent

    def count(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append((id(conn.connection.dbapi_connection), statement))

    def committed(conn: Any) -> None:
        seen.append((id(conn.connection.dbapi_connection), "COMMIT"))

    def in_the_transaction() -> int:
        """Statements of the desk's transaction: the first one's connection, up to its commit (routing's
        caches refreshing on their own clocks, before or after, are not the desk's)."""
        mine = seen[0][0]
        return [s for c, s in seen if c == mine].index("COMMIT")

    event.listen(hub.engine.sync_engine, "before_cursor_execute", count)
    event.listen(hub.engine.sync_engine, "commit", committed)
    try:
        for one_statement in (False, True):
            hub.desk.one_statement = one_statement
            clock = _clock(hub)
            partner = await make_partner("desk-count", agents=1)
            agent = partner.agents[0]
            enquiry_id = await _offered(hub, clock, partner.slug, agent)
            clock.advance(5)
            seen.clear()
            await hub.desk.accept(agent, enquiry_id)
            accepted = in_the_transaction()
            clock.advance(60)
            seen.clear()
            await hub.desk.complete(agent, enquiry_id, "resolved")
            counts[one_statement] = [accepted, in_the_transaction()]
            await hub.live.reset()
    finally:
        event.remove(hub.engine.sync_engine, "before_cursor_execute", count)
        event.remove(hub.engine.sync_engine, "commit", committed)
    # The scope goes with BEGIN (plumbing/db/session.py): no statement of its own. General path, accepting a call:
    # agent lock, enquiry lock, enquiry update, agent time, agent update, agent event, web forms or emails to park,
    # facts lock, event, then the outbox with the facts and tallies as its WITH clauses (record_events) = 10.
    # Completing: the same without the parking, with the read of other work in hand and the answer time (10), then
    # the survey (every completion is invited here): the partner's abandonment, the invite looked up and inserted,
    # its event and outbox row = 15.
    assert counts[False] == [10, 15]
    # Two statements: hold, write = 2. Completing: hold, the survey's abandonment, lookup and insert, an id for its
    # event, then the write with both events = 6.
    assert counts[True] == [2, 6]


async def test_a_completion_after_long_abandons_invites_at_the_raised_rate(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    """Journey from intake to the desk to the survey: two calls queue at 10:14:52 while the agent is away; one
    caller hangs up 30 s later (a long abandon); the agent answers the other and completes it. The partner's hour
    then holds 1 long abandon in 2 contacts (50 %, over the 10 % threshold): the completion is invited at the
    raised rate (1.0; the base rate, 0, would invite none). A partner whose hour holds no abandon is not invited.
    Both desk paths, from the tallies the same transactions kept."""
    policy = SamplingPolicy(base_rate=0.0, raised_rate=1.0, abandonment_threshold=0.1)
    for one_statement in (False, True):
        hub.desk.one_statement = one_statement
        invited: dict[str, list[tuple[Any, ...]]] = {}
        for hung_up in (True, False):
            clock = _clock(hub)
            hub.desk.hooks = Completion(SatisfactionSampler(policy))
            partner = await make_partner("desk-survey", agents=1)
            agent = partner.agents[0]
            clock.advance(2)
            first, second = await publish_direct(hub, partner.slug), await publish_direct(hub, partner.slug)
            clock.advance(30)
            if hung_up:
                async with hub.sessionmaker() as session:
                    message_id = (
                        await session.execute(
                            text("SELECT message_id FROM enquiries WHERE id = :id"), {"id": first}
                        )
                    ).scalar_one()
                withdrawal = {
                    "tenant": partner.slug,
                    "message_id": message_id,
                    "reason": "caller_hung_up",
                    "at": clock.now.isoformat(),
                }
                result = await hub.intake.process(
                    [delivery(f"{partner.slug}.phone", withdrawal, type="enquiry.withdrawn.v1")]
                )
                assert result.withdrawn == 1
            await hub.desk.set_status(agent, "available")
            offer = await hub.desk.current_offer(agent)
            assert offer is not None
            await hub.desk.accept(agent, offer.enquiry_id)
            clock.advance(60)
            await hub.desk.complete(agent, offer.enquiry_id, "resolved")
            async with hub.sessionmaker() as session:
                invited["hung up" if hung_up else "calm"] = [
                    tuple(row)
                    for row in await session.execute(
                        text(
                            "SELECT s.sample_rate, e.data->>'sample_rate' FROM survey_invites s "
                            "JOIN enquiry_events e ON e.enquiry_id = s.enquiry_id AND e.event = 'enquiry.survey_invited' "
                            "WHERE s.enquiry_id = ANY(:ids)"
                        ),
                        {"ids": [first, second]},
                    )
                ]
            await hub.live.reset()
        assert invited == {"hung up": [(1.0, "1.0")], "calm": []}, one_statement
