"""Definitions as a history: each version applies from a month; a month published under 2026.1 keeps it, and
later months use 2027.1 (short abandons under 10 s instead of 5 s).

By hand, each month has two contacts of missed bin (threshold 20 s): one answered after 8 s, one abandoned after
7 s. Under 2026.1 the 7-s abandon is not short: service level 1 ÷ (1 + 1) = 50 %, abandonment rate 1 ÷ 2 = 50 %.
Under 2027.1 it is short: service level 1 ÷ 1 = 100 %, abandonment rate 0 ÷ 2 = 0 %.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from figures.definitions import DEFINITIONS, history, version_for
from figures.pack import gather, render
from figures.periods import compute_period, period_figures, publish_period
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from routing.models import Enquiry, EnquiryEvent
from routing.tallies import rebuild
from tenants.models import Service
from tests.conftest import Partner


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


async def _two_contacts(hub: Hub, partner: Partner, day: datetime) -> None:
    async with unit_of_work(hub.sessionmaker) as session:
        service_id = await session.scalar(
            select(Service.id).where(Service.tenant_slug == partner.slug, Service.code == "missed-bin")
        )
        for i, (answered, abandoned) in enumerate(((8, None), (None, 7))):
            queued = day + timedelta(minutes=i * 10)
            enquiry = Enquiry(
                reference=f"R-{partner.slug}-{day:%Y%m}-{i}",
                tenant_slug=partner.slug,
                message_id=f"{day:%Y%m}-{i}",
                channel="phone",
                service_id=service_id,
                service_code="missed-bin",
                priority=5,
                received_at=queued,
                created_at=queued,
                queued_at=queued,
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
