"""The figures' upkeep on the hot paths costs no statement of its own (routing/tallies.py, docs/figures.md).

Intake's events carry what counting a new contact needs (its catalogue version and the service's threshold), so
nothing is read back; facts and tallies go in as ``WITH`` clauses of the outbox insert; an offer sets a contact's
pending agreement in SQL without reading its facts. The figures those make are proved equal to the event-log
reference in tests/figures/test_tallies.py; these tests pin the statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from hub.runtime import Hub
from plumbing.db.base import Base, table_of
from plumbing.db.session import unit_of_work
from routing.events import EnquiryRef, NewEvent, record_events
from routing.models import ContactFact, Enquiry, FigureTally
from routing.tallies import (
    KEY,
    STRIPES,
    SUMS,
    UNSTRIPED,
    Counts,
    Fact,
    stripe_of,
    thresholds,
    upkeep,
    write_counts,
)
from tenants.models import CatalogueVersion, Service, Tenant
from tests.helpers_intake import delivery

# ``tenants.catalogue.catalogue_stamp``'s statement as PostgreSQL receives it
CATALOGUE_STAMP = " ".join(
    str(select(func.max(CatalogueVersion.id)).compile(dialect=postgresql.dialect())).split()
)


@contextmanager
def statements(hub: Hub) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(hub.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(hub.engine.sync_engine, "before_cursor_execute", note)


def council_tax(tenant: str, i: int) -> Any:
    body = {
        "tenant": tenant,
        "channel": "phone",
        "received_at": datetime.now(UTC).isoformat(),
        "service_code": "council-tax",
        "customer": {"name": f"Caller {i}"},
        "attributes": {"account_number": f"A{i:05d}"},
    }
    return delivery(f"{tenant}.phone", body)


async def test_intake_to_offer_counts_the_contact_without_a_statement_of_its_own(
    hub: Hub, make_partner: Any
) -> None:
    partner = await make_partner(agents=2)
    await hub.intake.process([council_tax(partner.slug, 0)])  # the catalogue version's thresholds: read once
    for agent in partner.agents:
        await hub.desk.set_status(agent, "available")  # the first takes contact 0; the second waits

    with statements(hub) as seen:
        result = await hub.intake.process([council_tax(partner.slug, i) for i in (1, 2, 3)])
    assert result.accepted == 3
    touching = [s for s in seen if "contact_facts" in s or "figure_tallies" in s]
    # intake's batch (three new contacts) and the offer of one of them to the agent: one statement each, the
    # outbox insert carrying the facts and tallies; nothing read back (no SELECT of facts, enquiries' services
    # or catalogue versions)
    assert len(touching) == 2, touching
    assert all(s.startswith("WITH") and "INSERT INTO outbox" in s for s in touching), touching
    # the catalogue cache's twice-a-second check of the newest version may land in this window: it is not intake's
    read_back = [
        s for s in seen if s.startswith("SELECT") and ("contact_facts" in s or "catalogue_versions" in s)
    ]
    assert not [s for s in read_back if s != CATALOGUE_STAMP], read_back
    assert not [s for s in seen if s.startswith("SELECT") and "JOIN services" in s]

    async with hub.sessionmaker() as session:
        facts = (
            await session.execute(
                select(ContactFact.threshold_seconds, ContactFact.pending_agreement, ContactFact.answered_at)
                .join(Enquiry, Enquiry.id == ContactFact.enquiry_id)
                .where(Enquiry.tenant_slug == partner.slug)
            )
        ).all()
        offered = await session.scalar(
            select(func.sum(FigureTally.offered)).where(FigureTally.tenant_slug == partner.slug)
        )
        states = sorted(
            (await session.scalars(select(Enquiry.state).where(Enquiry.tenant_slug == partner.slug))).all()
        )
    # council tax answers within 30 s in the test catalogue (tests/conftest.py), not the default 20
    assert sorted(facts) == [(30, None, None)] * 4
    assert offered == 4  # contact 0 and the batch's three (1 + 3), however their quarter hours fall
    assert states == ["offered", "offered", "queued", "queued"]


async def test_an_offer_sets_the_pending_agreement_in_sql_and_the_answer_counts_under_it(
    hub: Hub, make_partner: Any
) -> None:
    partner = await make_partner(agents=0)
    await hub.intake.process([council_tax(partner.slug, 0)])
    async with hub.sessionmaker() as session:
        enquiry = (
            await session.execute(select(*EnquiryRef.columns()).where(Enquiry.tenant_slug == partner.slug))
        ).one()
    ref = EnquiryRef.of(enquiry)
    at = datetime.now(UTC)

    async def record(*events: NewEvent) -> list[str]:
        with statements(hub) as seen:
            async with unit_of_work(hub.sessionmaker) as session:
                await record_events(session, list(events))
        return seen

    async def pending() -> str | None:
        async with hub.sessionmaker() as session:
            return await session.scalar(
                select(ContactFact.pending_agreement).where(ContactFact.enquiry_id == ref.id)
            )

    seen = await record(NewEvent(ref, "enquiry.offered", at, data={"agreement": "lend-1"}))
    assert not [s for s in seen if s.startswith("SELECT") and "contact_facts" in s]
    assert await pending() == "lend-1"
    await record(NewEvent(ref, "enquiry.offered", at + timedelta(seconds=1)))  # offered at home: no agreement
    assert await pending() is None
    await record(
        NewEvent(ref, "enquiry.offered", at + timedelta(seconds=2), data={"agreement": "lend-1"}),
        NewEvent(ref, "enquiry.offered", at + timedelta(seconds=3), data={"agreement": "lend-2"}),
    )
    assert await pending() == "lend-2"  # the last offer of a batch wins, as the reference reads them
    seen = await record(NewEvent(ref, "enquiry.answered", at + timedelta(seconds=4), handler="lender"))
    assert [s for s in seen if s.startswith("SELECT") and "contact_facts" in s]  # an answer moves the tallies
    await record(NewEvent(ref, "enquiry.offered", at + timedelta(seconds=5), data={"agreement": "lend-3"}))
    assert await pending() == "lend-2"  # answered already: a later offer changes nothing

    async with hub.sessionmaker() as session:
        rows = (
            await session.execute(
                select(
                    FigureTally.handler_slug,
                    FigureTally.agreement_id,
                    FigureTally.offered,
                    FigureTally.answered,
                )
                .where(FigureTally.tenant_slug == partner.slug)
                .where(FigureTally.offered != 0)
            )
        ).all()
    # its contribution moved from the unanswered row to the lender's, under the last offer's agreement
    assert rows == [("lender", "lend-2", 1, 1)]


async def _queued_contacts(hub: Hub, slug: str, at: datetime, count: int) -> list[EnquiryRef]:
    """``count`` phone contacts of the partner's missed-bin service, made at ``at`` (their events are the test's)."""
    async with unit_of_work(hub.sessionmaker) as session:
        service_id = await session.scalar(
            select(Service.id).where(Service.tenant_slug == slug, Service.code == "missed-bin")
        )
        version = await session.scalar(select(Tenant.catalogue_version).where(Tenant.slug == slug))
        refs = []
        for i in range(count):
            enquiry = Enquiry(
                reference=f"W-{slug}-{i}",
                tenant_slug=slug,
                message_id=f"w-{slug}-{i}",
                channel="phone",
                service_id=service_id,
                service_code="missed-bin",
                priority=5,
                received_at=at,
                created_at=at,
                queued_at=at,
                state="queued",
                catalogue_version=version,
            )
            session.add(enquiry)
            await session.flush()
            refs.append(EnquiryRef.of(enquiry))
    return refs


async def test_a_wait_that_leaves_its_row_leaves_its_longest_wait(hub: Hub, make_partner: Any) -> None:
    """Issue 19: a contact abandoned, then answered in a later batch, moves to its handler's row, and the
    unanswered row's longest wait is recounted from the contacts still in it (GREATEST alone kept the old one)."""
    partner = await make_partner(agents=0)
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # one 15-minute slot, 09:00, for all three contacts
    # three contacts of one stripe, so their rows are shared (17 enquiries in 8 stripes: one holds three); the
    # others are never queued, so never counted
    by_stripe: dict[int, list[EnquiryRef]] = {}
    for ref in await _queued_contacts(hub, partner.slug, t0, 2 * STRIPES + 1):
        by_stripe.setdefault(stripe_of(ref.id), []).append(ref)
    a, b, c = next(refs for refs in by_stripe.values() if len(refs) >= 3)[:3]

    async def record(*events: NewEvent) -> list[str]:
        with statements(hub) as seen:
            async with unit_of_work(hub.sessionmaker) as session:
                await record_events(session, list(events))
        return seen

    async def rows() -> list[tuple[Any, ...]]:
        async with hub.sessionmaker() as session:
            t = FigureTally
            return [
                tuple(r)
                for r in await session.execute(
                    select(t.handler_slug, t.offered, t.answered, t.abandoned, t.longest_wait)
                    .where(t.tenant_slug == partner.slug)
                    .order_by(t.handler_slug)
                )
            ]

    queued = [NewEvent(r, e, t0) for r in (a, b, c) for e in ("enquiry.received", "enquiry.queued")]
    await record(
        *queued,
        NewEvent(a, "enquiry.abandoned", t0 + timedelta(seconds=30)),
        NewEvent(b, "enquiry.abandoned", t0 + timedelta(seconds=18)),
    )
    # three offered, two abandoned; the longest wait a's 30 s
    assert await rows() == [("", 3, 0, 2, 30.0)]

    seen = await record(
        NewEvent(a, "enquiry.offered", t0 + timedelta(seconds=35), "agent-x", partner.slug),
        NewEvent(a, "enquiry.answered", t0 + timedelta(seconds=35), "agent-x", partner.slug),
    )
    # a answered after all: its 35 s wait in the partner's row; the unanswered row keeps b (18 s) and c (no wait)
    assert await rows() == [("", 2, 0, 1, 18.0), (partner.slug, 1, 1, 0, 35.0)]
    # the recount, rare, costs a read of the row's facts and an update of its longest wait
    assert (
        len([s for s in seen if s.startswith("SELECT") and "FROM contact_facts" in s]) == 2
    )  # lock, recount
    assert len([s for s in seen if s.startswith("UPDATE figure_tallies SET longest_wait")]) == 1

    # b answered too, with no handler named, and its answer stamped before its abandonment (a late event): it
    # stays in the unanswered row, its wait now 12 s; c's none: the row's longest wait is 12 s, not 18
    await record(NewEvent(b, "enquiry.answered", t0 + timedelta(seconds=12)))
    assert await rows() == [("", 2, 1, 0, 12.0), (partner.slug, 1, 1, 0, 35.0)]
    # and a batch that moves no wait out of a row recounts nothing
    seen = await record(NewEvent(c, "enquiry.abandoned", t0 + timedelta(seconds=50)))
    assert not [s for s in seen if "longest_wait" in s and s.startswith("UPDATE")]
    assert await rows() == [("", 2, 1, 1, 50.0), (partner.slug, 1, 1, 0, 35.0)]


async def test_the_embedded_sqlite_recounts_a_longest_wait_alike() -> None:
    """The same move on SQLite (the demo's database): facts and tallies written by ``write_counts``."""
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as connection:
        await connection.run_sync(
            Base.metadata.create_all, tables=[table_of(ContactFact), table_of(FigureTally)]
        )
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    # enquiries 1 and 9: both in stripe 1 (9 % 8), so they share their rows
    a = Fact(1, "p", "missed-bin", "phone", 20, t0, abandoned_at=t0 + timedelta(seconds=30))
    b = Fact(9, "p", "missed-bin", "phone", 20, t0, abandoned_at=t0 + timedelta(seconds=18))
    unanswered = ("p", t0, "missed-bin", "phone", "", "", 1)
    zero = dict.fromkeys(SUMS, 0)

    def row(key: tuple[Any, ...], longest: float | None, **sums: int) -> dict[str, Any]:
        return {**dict(zip(KEY, key, strict=True)), **zero, **sums, "longest_wait": longest}

    try:
        async with AsyncSession(engine) as session, session.begin():
            # a and b queued and abandoned: 2 offered, 2 abandoned, the longest wait a's 30 s
            await write_counts(session, Counts([a, b], [row(unanswered, 30.0, offered=2, abandoned=2)]))
            # a answered at 35 s by partner q: out of the unanswered row (-1 offered, -1 abandoned), into q's
            answered = replace(a, answered_at=t0 + timedelta(seconds=35), handler_slug="q")
            moved = [
                row(unanswered, None, offered=-1, abandoned=-1),
                row(("p", t0, "missed-bin", "phone", "q", "", 1), 35.0, offered=1, answered=1),
            ]
            await write_counts(session, Counts([answered], moved, recount=[unanswered]))
            t = table_of(FigureTally).c
            kept = (
                await session.execute(
                    select(t.handler_slug, t.offered, t.abandoned, t.longest_wait).order_by(t.handler_slug)
                )
            ).all()
        # b's 18 s is all the unanswered row has left
        assert [tuple(r) for r in kept] == [("", 1, 1, 18.0), ("q", 1, 0, 35.0)]
    finally:
        await engine.dispose()


def test_the_desks_upkeep_names_the_row_a_wait_left() -> None:
    """The desk's one statement (``upkeep``) names the rows to recount, as ``fold_events`` does: only a move of a
    contact that already had a wait (abandoned, then accepted) names one."""
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    waiting = Fact(7, "p", "missed-bin", "phone", 20, t0)
    abandoned = replace(waiting, abandoned_at=t0 + timedelta(seconds=30))
    answered = SimpleNamespace(
        event="enquiry.answered", at=t0 + timedelta(seconds=35), agent_id="agent-x", handler="q", data={}
    )
    assert upkeep({7: waiting}, [answered], [7])[1] == []  # no wait before: nothing left behind
    # enquiry 7's rows are stripe 7
    assert upkeep({7: abandoned}, [answered], [7])[1] == [("p", t0, "missed-bin", "phone", "", "", 7)]


async def test_two_answers_of_one_slot_wait_on_each_others_tally_row_only_in_one_stripe(
    hub: Hub, make_partner: Any
) -> None:
    """Every answer of a partner's slot moved the same two tally rows and held their locks to its commit, so
    concurrent accepts queued on them (docs/benchmarks.md). Now a contact's rows are its stripe's: an answer
    recorded while another, uncommitted, holds its rows goes through unless both contacts share a stripe."""
    partner = await make_partner(agents=0)
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # one slot, one service, one channel: one group of rows
    by_stripe: dict[int, list[EnquiryRef]] = {}
    for ref in await _queued_contacts(hub, partner.slug, t0, 2 * STRIPES + 1):
        by_stripe.setdefault(stripe_of(ref.id), []).append(ref)
    a, same = next(refs for refs in by_stripe.values() if len(refs) >= 2)[:2]
    other = next(refs[0] for stripe, refs in by_stripe.items() if stripe != stripe_of(a.id))
    async with unit_of_work(hub.sessionmaker) as session:
        await record_events(
            session,
            [NewEvent(r, e, t0) for r in (a, same, other) for e in ("enquiry.received", "enquiry.queued")],
        )

    def answered(ref: EnquiryRef, seconds: int) -> list[NewEvent]:
        at = t0 + timedelta(seconds=seconds)
        return [NewEvent(ref, "enquiry.answered", at, "agent-x", partner.slug)]

    async def answer_beside(ref: EnquiryRef, seconds: int) -> None:
        """Record ``ref``'s answer while a's, uncommitted, holds a's rows; give up on a lock after 300 ms."""
        async with unit_of_work(hub.sessionmaker) as session:
            await session.execute(text("SET LOCAL lock_timeout = '300ms'"))
            await record_events(session, answered(ref, seconds))

    async with unit_of_work(hub.sessionmaker) as holding:
        await record_events(holding, answered(a, 5))  # a's rows locked until this block commits
        await answer_beside(other, 7)  # another stripe: no wait
        with pytest.raises(DBAPIError, match="lock timeout"):
            await answer_beside(same, 9)  # a's stripe: waits for a's commit (here: gives up)
    async with hub.sessionmaker() as session:
        t = FigureTally
        summed = (
            await session.execute(
                select(t.handler_slug, func.sum(t.offered), func.sum(t.answered), func.max(t.longest_wait))
                .where(t.tenant_slug == partner.slug)
                .group_by(t.handler_slug)
                .order_by(t.handler_slug)
            )
        ).all()
    # three queued; a (5 s) and other (7 s) answered, same's answer rolled back: still waiting
    assert [tuple(r) for r in summed] == [("", 1, 0, None), (partner.slug, 2, 2, 7.0)]


def test_the_desks_upkeep_writes_each_contact_in_its_stripe() -> None:
    """The desk's one statement keys its tally rows as intake and the recount do: by the contact's stripe."""
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    waiting = Fact(8 * 12 + 5, "p", "missed-bin", "phone", 20, t0)  # enquiry 101: stripe 5
    answered = SimpleNamespace(
        event="enquiry.answered", at=t0 + timedelta(seconds=3), agent_id="agent-x", handler="q", data={}
    )
    params, _ = upkeep({101: waiting}, [answered], [101])
    # out of the unanswered row, into q's: both stripe 5
    assert list(zip(params["ft_handler_slug"], params["ft_stripe"], params["ft_offered"], strict=True)) == [
        ("", 5, -1),
        ("q", 5, 1),
    ]


async def test_a_row_counted_before_the_stripes_is_recounted_over_its_whole_group() -> None:
    """Migration 0019 keeps the rows it found as stripe -1 (``UNSTRIPED``): contacts of any stripe. When a contact
    counted there leaves it, the row's longest wait is recounted from the whole group, not from one stripe."""
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as connection:
        await connection.run_sync(
            Base.metadata.create_all, tables=[table_of(ContactFact), table_of(FigureTally)]
        )
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    # enquiries 1 (stripe 1) and 2 (stripe 2), both abandoned, both counted before the stripes
    a = Fact(1, "p", "missed-bin", "phone", 20, t0, abandoned_at=t0 + timedelta(seconds=30))
    b = Fact(2, "p", "missed-bin", "phone", 20, t0, abandoned_at=t0 + timedelta(seconds=18))
    group = ("p", t0, "missed-bin", "phone", "", "")
    zero = dict.fromkeys(SUMS, 0)

    def row(key: tuple[Any, ...], longest: float | None, **sums: int) -> dict[str, Any]:
        return {**dict(zip(KEY, key, strict=True)), **zero, **sums, "longest_wait": longest}

    try:
        async with AsyncSession(engine) as session, session.begin():
            await write_counts(
                session, Counts([a, b], [row((*group, UNSTRIPED), 30.0, offered=2, abandoned=2)])
            )
            # a answered at 35 s by q: taken out of its own stripe's row (the upkeep knows no other), into q's
            answered = replace(a, answered_at=t0 + timedelta(seconds=35), handler_slug="q")
            moved = [
                row((*group, 1), None, offered=-1, abandoned=-1),
                row(("p", t0, "missed-bin", "phone", "q", "", 1), 35.0, offered=1, answered=1),
            ]
            await write_counts(session, Counts([answered], moved, recount=[(*group, 1)]))
            t = table_of(FigureTally).c
            kept = (
                await session.execute(
                    select(t.handler_slug, t.stripe, t.offered, t.abandoned, t.longest_wait).order_by(
                        t.handler_slug, t.stripe
                    )
                )
            ).all()
        # the unstriped row keeps b's 18 s, recounted over the group; stripe 1's row has no wait left in it; summed,
        # the unanswered group is 1 offered, 1 abandoned, longest 18 s
        assert [tuple(r) for r in kept] == [
            ("", -1, 2, 2, 18.0),
            ("", 1, -1, -1, None),
            ("q", 1, 1, 0, 35.0),
        ]
    finally:
        await engine.dispose()


async def test_thresholds_reads_more_enquiries_than_one_statement_may_name(
    hub: Hub, make_partner: Any
) -> None:
    """A rebuild's day at a partnership's volume (33,334 contacts a day in a 10⁶ month) named every id in one
    statement, past asyncpg's 32,767 parameters: it failed. Read in chunks, the real one among 40,000 is found."""
    partner = await make_partner()
    await hub.intake.process([council_tax(partner.slug, 0)])
    async with hub.sessionmaker() as session:
        (real,) = (await session.scalars(select(Enquiry.id).where(Enquiry.tenant_slug == partner.slug))).all()
        unknown = range(10**12, 10**12 + 40_000)
        found = await thresholds(session, [*unknown, real])
    # council-tax answers within 30 s in the test partner's catalogue (tests/conftest.py)
    assert found == {real: (partner.slug, "council-tax", "phone", 30)}
