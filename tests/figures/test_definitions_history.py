"""Definitions as a history: each version applies from a month; a month published under 2026.1 keeps it, and
later months use 2027.1 (short abandons under 10 s instead of 5 s).

By hand, each month has two contacts of missed bin (threshold 20 s): one answered after 8 s, one abandoned after
7 s. Under 2026.1 the 7-s abandon is not short: service level 1 ÷ (1 + 1) = 50 %, abandonment rate 1 ÷ 2 = 50 %.
Under 2027.1 it is short: service level 1 ÷ 1 = 100 %, abandonment rate 0 ÷ 2 = 0 %.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

import figures.service
from figures.definitions import DEFINITIONS, history, version_at, version_for
from figures.pack import gather, render
from figures.periods import compute_period, period_figures, publish_period
from figures.service import tenant_figures
from hub.migrate import upgrade
from hub.runtime import Hub, intake_for
from plumbing.db.session import unit_of_work
from routing.models import EnquiryEvent, FigureTally
from routing.tallies import SHORT_ABANDON_COLUMNS, rebuild
from tenants.models import Service
from tests.conftest import Partner, enquiry_row


def test_each_version_says_what_changed_and_from_when() -> None:
    assert [d.version for d in history()] == ["2026.1", "2027.1"]
    assert (
        version_for("2025-06"),
        version_for("2026-12"),
        version_for("2027-01"),
        version_for("2030-05"),
    ) == (
        "2026.1",
        "2026.1",
        "2027.1",
        "2027.1",
    )
    new = DEFINITIONS["2027.1"]
    assert new.applies_from == "2027-01" and new.short_abandon_seconds == 10.0
    assert new.changes and "10 s" in new.changes[0] and "10 s" in new.description["service_level"]
    # A moment's version is its month's, on the clock it carries.
    assert version_at(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)) == "2026.1"
    assert version_at(datetime(2027, 1, 1, tzinfo=UTC)) == "2027.1"


def test_every_versions_short_abandon_limit_has_a_tally_column() -> None:
    """A version with a new limit must count it in the tallies, or every month under it would fail to read."""
    columns = FigureTally.__table__.c
    for d in history():
        assert d.short_abandon_seconds in SHORT_ABANDON_COLUMNS, d.version
        assert SHORT_ABANDON_COLUMNS[d.short_abandon_seconds] in columns, d.version


def test_the_live_floor_counts_short_abandons_by_the_version_in_force(hub: Hub) -> None:
    intake = intake_for(hub.dispatcher)
    assert intake.short_abandon_seconds(datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == 5.0
    assert intake.short_abandon_seconds(datetime(2027, 1, 1, 0, 0, tzinfo=UTC)) == 10.0


async def _two_contacts(hub: Hub, partner: Partner, day: datetime) -> None:
    async with unit_of_work(hub.sessionmaker) as session:
        service_id = await session.scalar(
            select(Service.id).where(Service.tenant_slug == partner.slug, Service.code == "missed-bin")
        )
        for i, (answered, abandoned) in enumerate(((8, None), (None, 7))):
            queued = day + timedelta(minutes=i * 10)
            enquiry = enquiry_row(
                partner.slug,
                service_id,
                "missed-bin",
                queued,
                f"{day:%Y%m}-{i}",
                reference=f"R-{partner.slug}-{day:%Y%m}-{i}",
                state="completed" if answered else "abandoned",
                agent_id=partner.agents[0] if answered else None,
                handler_slug=partner.slug if answered else None,
            )
            session.add(enquiry)
            await session.flush()
            rows: list[dict[str, object]] = [{"event": "enquiry.queued", "at": queued}]
            if answered is not None:
                rows.append(
                    {
                        "event": "enquiry.answered",
                        "at": queued + timedelta(seconds=answered),
                        "agent_id": partner.agents[0],
                        "handler_slug": partner.slug,
                    }
                )
            else:
                rows.append({"event": "enquiry.abandoned", "at": queued + timedelta(seconds=abandoned or 0)})
            await session.execute(
                insert(EnquiryEvent),
                [
                    {
                        "enquiry_id": enquiry.id,
                        "tenant_slug": partner.slug,
                        "agent_id": None,
                        "handler_slug": None,
                        "data": {},
                        **r,
                    }
                    for r in rows
                ],
            )
        # Written straight to the log, as a load from elsewhere would be: the tallies are recounted from it.
        await rebuild(
            session, tenant=partner.slug, start=day - timedelta(hours=1), end=day + timedelta(days=1)
        )


async def test_a_published_month_keeps_its_version_and_later_months_use_the_next(
    hub: Hub, make_partner
) -> None:  # type: ignore[no-untyped-def]
    partner = await make_partner(agents=1)
    await _two_contacts(hub, partner, datetime(2026, 12, 8, 10, 0, tzinfo=UTC))
    await _two_contacts(hub, partner, datetime(2027, 1, 12, 10, 0, tzinfo=UTC))
    async with unit_of_work(hub.sessionmaker) as session:
        await publish_period(
            session, tenant=partner.slug, period="2026-12", now=datetime(2027, 1, 4, tzinfo=UTC)
        )
    async with hub.sessionmaker() as session:
        december = await period_figures(session, tenant=partner.slug, period="2026-12")
        january = await period_figures(session, tenant=partner.slug, period="2027-01")
        december_again = await compute_period(session, tenant=partner.slug, period="2026-12")
        paper = await gather(
            session,
            tenants=[partner.slug],
            period="2027-01",
            now=datetime(2027, 2, 1, tzinfo=UTC),
        )
    assert december.published_at is not None and december.definitions_version == "2026.1"
    assert (december.totals["service_level"], december.totals["short_abandoned"]) == (0.5, 0)
    assert december_again.definitions_version == "2026.1"  # recomputed, the month still uses its own version
    assert january.definitions_version == "2027.1"
    assert (january.totals["service_level"], january.totals["short_abandoned"]) == (1.0, 1)
    assert january.totals["abandonment_rate"] == 0.0

    # The paper says which version is in force, what changed, and that the trend's December kept 2026.1.
    assert paper.definitions.version == "2027.1"
    assert [p.definitions_version for p in paper.sections[0].trend[-2:]] == ["2026.1", "2027.1"]
    html = render(paper, "html").decode()
    assert "Definitions in force for January 2027: version 2027.1" in html
    assert "within 10 s (was 5 s)" in html and 'data-version="2026.1"' in html


async def test_a_month_under_2027_1_is_read_from_the_tallies_and_a_row_not_counted_from_the_log(
    hub: Hub, make_partner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """January's tallies count the 7-s abandon as short under 10 s, so the month is summed from them (the event log
    is not read). A row kept before the 10-s column (NULL there) sends the month to the log, with the same figures,
    until a rebuild counts it."""
    partner = await make_partner(agents=1)
    await _two_contacts(hub, partner, datetime(2027, 1, 12, 10, 0, tzinfo=UTC))
    read_from_log: list[tuple[datetime, datetime]] = []
    timelines = figures.service.timelines

    async def watched(session: Any, *, tenant: str, start: datetime, end: datetime) -> Any:
        read_from_log.append((start, end))
        return await timelines(session, tenant=tenant, start=start, end=end)

    monkeypatch.setattr(figures.service, "timelines", watched)
    async with hub.sessionmaker() as session:
        january = await compute_period(session, tenant=partner.slug, period="2027-01")
        # A range on the partner's clock in January (not a whole month): also 2027.1, also from the tallies.
        morning = await tenant_figures(
            session,
            tenant=partner.slug,
            start=datetime(2027, 1, 12, 9, 0, tzinfo=UTC),
            end=datetime(2027, 1, 12, 12, 0, tzinfo=UTC),
        )
    assert (january.definitions_version, january.totals["service_level"]) == ("2027.1", 1.0)
    assert (january.totals["short_abandoned"], january.totals["abandonment_rate"]) == (1, 0.0)
    assert (morning.definitions_version, morning.service_level, morning.short_abandoned) == ("2027.1", 1.0, 1)
    assert read_from_log == []

    tally = FigureTally.__table__.c
    async with unit_of_work(hub.sessionmaker) as session:
        await session.execute(
            update(FigureTally).where(tally.tenant_slug == partner.slug).values(short_abandoned_10s=None)
        )
    async with hub.sessionmaker() as session:
        from_log = await compute_period(session, tenant=partner.slug, period="2027-01")
    assert from_log.totals == january.totals and len(read_from_log) == 1

    async with unit_of_work(hub.sessionmaker) as session:
        await rebuild(
            session,
            tenant=partner.slug,
            start=datetime(2027, 1, 1, tzinfo=UTC),
            end=datetime(2027, 2, 1, tzinfo=UTC),
        )
    async with hub.sessionmaker() as session:
        counted = (
            await session.execute(
                select(tally.abandoned, tally.short_abandoned, tally.short_abandoned_10s).where(
                    tally.tenant_slug == partner.slug, tally.abandoned > 0
                )
            )
        ).all()
        again = await compute_period(session, tenant=partner.slug, period="2027-01")
    assert [tuple(r) for r in counted] == [
        (1, 0, 1)
    ]  # the 7-s abandon: not short under 5 s, short under 10 s
    assert again.totals == january.totals and len(read_from_log) == 1


def test_migration_0020_fills_what_a_rows_own_counts_decide(tmp_path: Path) -> None:
    """No abandons: 0 under 10 s. Every abandon under 5 s: all of them under 10 s. Otherwise unknown (NULL)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    upgrade(url, "0019")
    with sqlite3.connect(tmp_path / "hub.db") as db:
        for i, (abandoned, short) in enumerate(((0, 0), (3, 3), (3, 1))):
            db.execute(
                "INSERT INTO figure_tallies (tenant_slug, slot, service_code, channel, handler_slug, agreement_id, "
                "stripe, offered, answered, answered_within, abandoned, short_abandoned, answered_wait, handled, "
                "handle_seconds, resolved, callbacks, transfers, avoidable) "
                "VALUES ('p', ?, 's', 'phone', '', '', 0, 5, 0, 0, ?, ?, 0, 0, 0, 0, 0, 0, 0)",
                (f"2026-12-0{i + 1} 10:00:00.000000", abandoned, short),
            )
    assert upgrade(url) == ["0020"]
    with sqlite3.connect(tmp_path / "hub.db") as db:
        found = db.execute(
            "SELECT abandoned, short_abandoned_10s FROM figure_tallies ORDER BY slot"
        ).fetchall()
    assert found == [(0, 0), (3, 3), (3, None)]
