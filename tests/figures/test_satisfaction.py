"""The sampler's recent abandonment from the tallies: hand-computed rates of contacts written through the real write
path (``record_events``), the event log read only for a slot the tallies have not counted, and one statement however
many contacts the hour held.

By hand, at 10:07 UTC the sampler's hour [09:07, 10:07) is read as the slots that overlap it, 09:00–10:15 (the slot
holding 09:07 to the one holding 10:07). The contacts, all missed bin by phone:

- A, queued 08:58, abandoned after 60 s: the 08:45 slot, before the window: not counted.
- B, queued 09:02, abandoned after 40 s: before 09:07 but in the 09:00 slot, which straddles the window's start:
  counted, a long abandon.
- C, queued 09:20, answered after 10 s.
- D, queued 09:35, abandoned after 7 s: long under 2026.1 (5 s), short under 2027.1 (10 s).
- E, queued 09:50, answered after 5 s.
- F, queued 10:05, abandoned after 30 s: a long abandon, in the slot still running.

Five contacts (B to F). In December 2026 (2026.1) B, D and F are long abandons: 3 ÷ 5 = 0.6. In January 2027
(2027.1) D is short: 2 ÷ 5 = 0.4.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import event, select, text, update

from figures.satisfaction import SamplingPolicy, SatisfactionSampler, abandonment_rate, covering_slots
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from routing.events import EnquiryRef, NewEvent, record_events
from routing.models import FigureTally
from tenants.models import Service, Tenant
from tests.conftest import Partner, enquiry_row

# (name, minutes after 09:00 it queued, seconds to its answer or None, seconds to its abandon or None)
PLAN = [
    ("A", -2, None, 60),
    ("B", 2, None, 40),
    ("C", 20, 10, None),
    ("D", 35, None, 7),
    ("E", 50, 5, None),
    ("F", 65, None, 30),
]
DECEMBER = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
JANUARY = datetime(2027, 1, 12, 9, 0, tzinfo=UTC)
NOW = timedelta(hours=1, minutes=7)  # 10:07


async def hour_before(hub: Hub, tenant: str, now: datetime) -> float | None:
    """``abandonment_rate`` of the hour before ``now``, as the sampler asks for it."""
    async with hub.sessionmaker() as session:
        return await abandonment_rate(session, tenant=tenant, start=now - timedelta(hours=1), end=now)


async def write_contacts(
    hub: Hub, partner: Partner, nine: datetime, plan: list[tuple[str, float, int | None, int | None]]
) -> None:
    """Each contact's events through ``record_events``, as intake and the desk write them: the tallies kept."""
    async with unit_of_work(hub.sessionmaker) as session:
        service_id = await session.scalar(
            select(Service.id).where(Service.tenant_slug == partner.slug, Service.code == "missed-bin")
        )
        version = await session.scalar(select(Tenant.catalogue_version).where(Tenant.slug == partner.slug))
        events = []
        for name, minutes, answer, abandon in plan:
            queued = nine + timedelta(minutes=minutes)
            enquiry = enquiry_row(
                partner.slug,
                service_id,
                "missed-bin",
                queued,
                f"{nine:%Y%m}-{name}",
                reference=f"S-{partner.slug}-{nine:%Y%m}-{name}",
                catalogue_version=version,
            )
            session.add(enquiry)
            await session.flush()
            ref = EnquiryRef.of(enquiry)
            events.append(NewEvent(ref, "enquiry.queued", queued))
            if answer is not None:
                agent = partner.agents[0]
                events.append(
                    NewEvent(ref, "enquiry.answered", queued + timedelta(seconds=answer), agent, partner.slug)
                )
            if abandon is not None:
                events.append(NewEvent(ref, "enquiry.abandoned", queued + timedelta(seconds=abandon)))
        events.sort(key=lambda e: e.at)
        await record_events(session, events)


@contextmanager
def statements(hub: Hub) -> Iterator[list[tuple[str, Any]]]:
    """The statements sent while inside, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(hub.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(hub.engine.sync_engine, "before_cursor_execute", count)


def test_the_window_is_the_slots_that_overlap_it() -> None:
    at = datetime(2026, 12, 8, 10, 7, 12, tzinfo=UTC)
    assert covering_slots(at - timedelta(hours=1), at) == (
        datetime(2026, 12, 8, 9, 0, tzinfo=UTC),
        datetime(2026, 12, 8, 10, 15, tzinfo=UTC),
    )
    # On a slot boundary the hour is exactly four slots: the slot starting at now has not begun.
    on = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    assert covering_slots(on - timedelta(hours=1), on) == (on - timedelta(hours=1), on)


@pytest.mark.parametrize(("nine", "expected"), [(DECEMBER, 0.6), (JANUARY, 0.4)])
async def test_recent_abandonment_by_hand_from_the_tallies(
    hub: Hub,
    make_partner,  # type: ignore[no-untyped-def]
    nine: datetime,
    expected: float,
) -> None:
    partner = await make_partner("sampled", agents=1)
    await write_contacts(hub, partner, nine, PLAN)
    now = nine + NOW
    with statements(hub) as seen:
        rate = await hour_before(hub, partner.slug, now)
    assert rate == pytest.approx(expected)
    assert len(seen) == 1 and "figure_tallies" in seen[0][0] and "enquiry_events" not in seen[0][0]
    # The sampler's hour at 10:07 is this read; over the threshold (0.1), the raised rate.
    sampler = SatisfactionSampler(SamplingPolicy(base_rate=0.1, raised_rate=0.3))
    async with hub.sessionmaker() as session:
        assert await sampler.current_rate(session, partner.slug, now) == 0.3
        # Two hours later nothing queued in the hour: no rate, the base rate (a fresh sampler: no cache).
        later = SatisfactionSampler(SamplingPolicy(base_rate=0.1, raised_rate=0.3))
        assert await later.current_rate(session, partner.slug, now + timedelta(hours=2)) == 0.1
        assert (
            await abandonment_rate(
                session, tenant=partner.slug, start=now + timedelta(hours=1), end=now + timedelta(hours=2)
            )
            is None
        )


async def test_a_slot_not_counted_is_read_from_the_event_log(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    """The 09:30 slot's rows lose their 10-s column (NULL, as rows kept before migration 0020 until a rebuild): D's
    7-s abandon, short under 2027.1, is read from the log; summed from the tallies' NULL it would count as long
    (3 ÷ 5). Only that slot is read from the log: C and E's slots still come from the tallies."""
    partner = await make_partner("uncounted", agents=1)
    await write_contacts(hub, partner, JANUARY, PLAN)
    t = FigureTally.__table__.c
    half_past = JANUARY + timedelta(minutes=30)
    async with unit_of_work(hub.sessionmaker) as session:
        await session.execute(
            update(FigureTally.__table__)
            .where(t.tenant_slug == partner.slug, t.slot == half_past)
            .values(short_abandoned_10s=None)
        )
    now = JANUARY + NOW
    with statements(hub) as seen:
        rate = await hour_before(hub, partner.slug, now)
    assert rate == pytest.approx(2 / 5)
    tallies, logged = seen
    assert "figure_tallies" in tallies[0] and "enquiry_events" in logged[0]
    assert half_past in logged[1] and half_past + timedelta(minutes=15) in logged[1]  # that slot's range only
    # Under 2026.1 (December) the column in force is the 5-s one, never NULL: one statement, as before.
    december = await make_partner("uncounted", agents=1)
    await write_contacts(hub, december, DECEMBER, PLAN)
    now = DECEMBER + NOW
    with statements(hub) as seen:
        rate = await hour_before(hub, december.slug, now)
    assert rate == pytest.approx(3 / 5) and len(seen) == 1


async def _rows_scanned(hub: Hub, statement: str, parameters: Any) -> int:
    """The rows PostgreSQL's plan of ``statement`` read from ``figure_tallies`` (EXPLAIN ANALYZE)."""
    async with hub.sessionmaker() as session:  # the session's scope: the rows the sampler's read sees
        conn = await session.connection()
        plan = (
            await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
        ).scalar_one()
    plan = orjson.loads(plan) if isinstance(plan, str) else plan

    def scans(node: dict[str, Any]) -> Iterator[int]:
        if node.get("Relation Name") == "figure_tallies":
            yield int(node["Actual Rows"]) * int(node.get("Actual Loops", 1))
        for child in node.get("Plans", []):
            yield from scans(child)

    return sum(scans(plan[0]["Plan"]))


async def test_the_read_is_one_statement_over_the_same_rows_at_ten_times_the_contacts(
    hub: Hub,
    make_partner,  # type: ignore[no-untyped-def]
) -> None:
    """16 contacts in the hour, then 160 (every fourth abandoned after 30 s): the read is one statement of the
    tallies either way, over the partner's rows in the window's slots (at most a service × channel × handler ×
    stripe each), not one per contact."""
    read = []
    for count in (16, 160):
        partner = await make_partner("volume", agents=1)
        plan = [
            (f"V{i}", 5 + 50 * i / count, None if i % 4 == 0 else 8, 30 if i % 4 == 0 else None)
            for i in range(count)
        ]
        await write_contacts(hub, partner, DECEMBER, plan)
        now = DECEMBER + NOW
        with statements(hub) as seen:
            rate = await hour_before(hub, partner.slug, now)
        assert rate == pytest.approx(0.25)
        ((statement, parameters),) = seen
        async with hub.sessionmaker() as session:
            kept = await session.scalar(
                text("SELECT count(*) FROM figure_tallies WHERE tenant_slug = :slug"), {"slug": partner.slug}
            )
        read.append((await _rows_scanned(hub, statement, parameters), kept))
    (few, few_kept), (many, many_kept) = read
    # 4 slots (09:00–10:00) × 2 handlers (unanswered, the partner) × 8 stripes at most, whatever the volume
    assert few == few_kept and many == many_kept and many <= 4 * 2 * 8
