"""Figures from a fixed event log with hand-computed answers, a published month that later definitions
must not rewrite, the pack in every format, and satisfaction sampling."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pypdfium2
import pytest
from sqlalchemy import insert, select

import figures.definitions as defs
from figures.definitions import compute
from figures.pack import CSV_COLUMNS, gather, render
from figures.periods import PeriodError, compute_period, period_figures, publish_period
from figures.satisfaction import (
    SamplingPolicy,
    SatisfactionSampler,
    SurveyError,
    abandonment_rate,
    covering_slots,
    record_rating,
    sampled,
    satisfaction_figures,
)
from figures.service import group_figures, tenant_figures, timelines
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from routing.models import Enquiry, EnquiryEvent
from routing.tallies import rebuild
from tenants.agreements.service import put_agreements
from tenants.agreements.terms import AgreementDefinition
from tenants.models import AgentEvent, Service
from tests.conftest import Partner

T = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # 10:00 in London (BST)


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T + timedelta(minutes=minutes, seconds=seconds)


async def write_log(hub: Hub, owner: Partner, other: Partner, *, count: bool = True) -> dict[str, int]:
    """Six contacts (see the module's test for the hand-computed figures) and two agents' shifts."""
    a1, a2 = owner.agents
    lender_agent = other.agents[0]
    plan = {
        # name: (service, channel, queued, answered, abandoned, completed, outcome, handler agent, tags)
        "E1": ("missed-bin", "phone", at(0), at(0, 10), None, at(5, 10), "resolved", a1, []),
        "E2": (
            "missed-bin",
            "phone",
            at(1),
            at(1, 50),
            None,
            at(4, 50),
            "passed_to_back_office",
            lender_agent,
            [],
        ),
        "E3": ("council-tax", "web", at(2), at(2, 25), None, at(3, 25), "transferred", a2, []),
        "E4": ("missed-bin", "phone", at(3), None, at(3, 3), None, None, None, []),
        "E5": ("missed-bin", "phone", at(4), None, at(5), None, None, None, []),
        "E6": (
            "missed-bin",
            "email",
            at(59, 59),
            at(60, 4),
            None,
            at(61, 4),
            "callback_booked",
            a2,
            ["avoidable:chasing_progress"],
        ),
    }
    ids: dict[str, int] = {}
    agreement_id = f"{other.slug}-lends-{owner.slug}"
    async with unit_of_work(hub.sessionmaker) as session:
        await put_agreements(
            session,
            agreements=[
                AgreementDefinition.model_validate(
                    {
                        "id": agreement_id,
                        "name": "the weekday lending agreement",
                        "lender": other.slug,
                        "borrower": owner.slug,
                        "services": "all",
                        "conditions": {"waited_at_least_seconds": 60},
                        "unit_rate": 4.2,
                    }
                )
            ],
        )
        services = dict(
            (
                await session.execute(
                    select(Service.code, Service.id).where(Service.tenant_slug == owner.slug)
                )
            ).all()
        )
        for name, (
            service,
            channel,
            queued,
            answered,
            abandoned,
            completed,
            outcome,
            agent,
            tags,
        ) in plan.items():
            enquiry = Enquiry(
                reference=f"REF-{owner.slug}-{name}",
                tenant_slug=owner.slug,
                message_id=name,
                channel=channel,
                service_id=services[service],
                service_code=service,
                priority=5,
                received_at=queued,
                created_at=queued,
                queued_at=queued,
                state="completed" if completed else "abandoned",
                agent_id=agent,
                handler_slug=(other.slug if agent == lender_agent else owner.slug) if agent else None,
            )
            session.add(enquiry)
            await session.flush()
            ids[name] = enquiry.id
            handler = enquiry.handler_slug
            rows = [{"event": "enquiry.received", "at": queued}, {"event": "enquiry.queued", "at": queued}]
            if answered:
                rows.append(
                    {
                        "event": "enquiry.offered",
                        "at": answered - timedelta(seconds=2),
                        "agent_id": agent,
                        "handler_slug": handler,
                        # the dispatcher records the agreement an overflowed offer was made under
                        "data": {"agreement": agreement_id} if agent == lender_agent else {},
                    }
                )
                rows.append(
                    {"event": "enquiry.answered", "at": answered, "agent_id": agent, "handler_slug": handler}
                )
            if abandoned:
                rows.append(
                    {"event": "enquiry.abandoned", "at": abandoned, "data": {"reason": "caller_hung_up"}}
                )
            if completed:
                rows.append(
                    {
                        "event": "enquiry.completed",
                        "at": completed,
                        "agent_id": agent,
                        "handler_slug": handler,
                        "data": {"outcome": outcome, **({"tags": tags} if tags else {})},
                    }
                )
            await session.execute(
                insert(EnquiryEvent),
                [
                    {
                        "enquiry_id": enquiry.id,
                        "tenant_slug": owner.slug,
                        "agent_id": None,
                        "handler_slug": None,
                        "data": {},
                        **r,
                    }
                    for r in rows
                ],
            )
        shifts = [
            (a1, "available", "offline", at(-1)),
            (a1, "busy", "available", at(0, 10)),
            (a1, "wrap_up", "busy", at(5, 10)),
            (a1, "available", "wrap_up", at(5, 40)),
            (a1, "offline", "available", at(90)),
            (a2, "available", "offline", at(-1)),
            (a2, "busy", "available", at(2, 25)),
            (a2, "available", "busy", at(3, 25)),
            (a2, "busy", "available", at(60, 4)),
            (a2, "available", "busy", at(61, 4)),
            (a2, "offline", "available", at(90)),
        ]
        await session.execute(
            insert(AgentEvent),
            [
                {
                    "agent_id": a,
                    "tenant_slug": owner.slug,
                    "status": s,
                    "previous": p,
                    "at": when,
                    "reason": "test",
                }
                for a, s, p, when in shifts
            ],
        )
        # written straight into the log, not through record_events: count them as `hub figures rebuild` does
        if count:
            await rebuild(session, tenant=owner.slug, start=at(-60), end=at(120))
    return ids


@pytest.fixture
async def log(hub: Hub, make_partner) -> tuple[Partner, Partner]:
    owner, other = await make_partner("owner", agents=2), await make_partner("lender", agents=1)
    await write_log(hub, owner, other)
    return owner, other


async def test_hand_computed_figures(hub: Hub, log: tuple[Partner, Partner]) -> None:
    owner, other = log
    async with hub.sessionmaker() as session:
        f = await tenant_figures(session, tenant=owner.slug, start=at(-60), end=at(120))
    assert (f.offered, f.answered, f.answered_within_threshold) == (6, 4, 3)
    assert (f.abandoned, f.short_abandoned) == (2, 1)
    assert f.service_level == pytest.approx(3 / 5)  # 3 within ÷ (4 answered + 1 abandoned after 5 s)
    assert f.abandonment_rate == pytest.approx(1 / 6)
    assert f.asa_seconds == pytest.approx((10 + 50 + 25 + 5) / 4)
    assert f.handled == 4
    assert f.aht_seconds == pytest.approx((300 + 30 + 180 + 60 + 60) / 4)  # E1 has 30 s of wrap-up
    assert f.first_contact_resolution == pytest.approx(1 / 4)
    assert f.longest_wait_seconds == pytest.approx(60)
    assert (f.callbacks, f.transfers, f.avoidable) == (1, 1, 1)
    # The overflowed call counts against its owner, not the partner that answered it.
    async with hub.sessionmaker() as session:
        lender = await tenant_figures(session, tenant=other.slug, start=at(-60), end=at(120))
    assert lender.offered == 0


async def test_interval_boundary_and_grouping(hub: Hub, log: tuple[Partner, Partner]) -> None:
    owner, _ = log
    async with hub.sessionmaker() as session:
        contacts = await timelines(session, tenant=owner.slug, start=at(-60), end=at(120))
    zone = ZoneInfo("Europe/London")
    hours = group_figures(contacts, interval="hour", zone=zone, by_service=False, by_channel=False)
    # E6 queued at 09:59:59 UTC, 10:59:59 in London: still the 10:00 hour, one second before the boundary.
    assert [(r.interval_start.isoformat(), r.figures.offered) for r in hours] == [
        ("2026-10-05T10:00:00+01:00", 6)
    ]
    quarter = group_figures(contacts, interval="15min", zone=zone, by_service=False, by_channel=False)
    assert [r.figures.offered for r in quarter] == [5, 1]
    assert quarter[1].interval_start.isoformat() == "2026-10-05T10:45:00+01:00"
    by = group_figures(contacts, interval="day", zone=zone, by_service=True, by_channel=True)
    assert {(r.service_code, r.channel): r.figures.offered for r in by} == {
        ("council-tax", "web"): 1,
        ("missed-bin", "email"): 1,
        ("missed-bin", "phone"): 4,
    }


async def test_period_occupancy_overflow_and_publication(
    hub: Hub, log: tuple[Partner, Partner], monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, other = log
    async with hub.sessionmaker() as session:
        october = await compute_period(session, tenant=owner.slug, period="2026-10")
    handling, available = 300 + 30 + 60 + 60, 70 + 5060 + 205 + 3399 + 1736
    assert october.occupancy == pytest.approx(handling / (handling + available))
    assert october.overflow == [
        {"owner": owner.slug, "handler": other.slug, "handled": 1, "answered_within_threshold": 0}
    ]
    # The ledger: one contact answered by the lender under the agreement at £4.20 a contact.
    agreement = f"{other.slug}-lends-{owner.slug}"
    assert october.ledger == [
        {
            "agreement": agreement,
            "lender": other.slug,
            "borrower": owner.slug,
            "handled": 1,
            "answered_within_threshold": 0,
            "unit_rate": 4.2,
            "amount": 4.2,
        }
    ]
    assert october.recharge == {"owes": 4.2, "owed": 0.0, "net": -4.2}
    # Contacts per department (the catalogue's service groups).
    assert [(d["department"], d["offered"], d["answered"]) for d in october.by_department] == [
        ("Revenues and benefits", 1, 1),
        ("Waste and recycling", 5, 3),
    ]
    async with hub.sessionmaker() as session:
        lender_october = await compute_period(session, tenant=other.slug, period="2026-10")
    assert lender_october.recharge == {"owes": 0.0, "owed": 4.2, "net": 4.2}
    assert lender_october.totals["offered"] == 0  # the work counts against its owner
    assert october.totals["service_level"] == pytest.approx(0.6)
    assert october.definitions_version == "2026.1"

    async with unit_of_work(hub.sessionmaker) as session:
        await publish_period(
            session, tenant=owner.slug, period="2026-10", now=datetime(2026, 11, 21, tzinfo=UTC)
        )
    async with unit_of_work(hub.sessionmaker) as session:
        with pytest.raises(PeriodError, match="already published"):
            await publish_period(
                session, tenant=owner.slug, period="2026-10", now=datetime(2026, 11, 21, tzinfo=UTC)
            )
        with pytest.raises(PeriodError, match="not ended"):
            await publish_period(
                session, tenant=owner.slug, period="2099-01", now=datetime(2026, 11, 21, tzinfo=UTC)
            )

    # A new definition applies from October on (the month is asked again); the published month keeps 2026.1.
    # Its limit is one the tallies count (10 s): E4 (3 s) is short under both, E5 (60 s) under neither.
    later = replace(
        defs.DEFINITIONS["2026.1"], version="2026.2", short_abandon_seconds=10.0, applies_from="2026-10"
    )
    monkeypatch.setitem(defs.DEFINITIONS, "2026.2", later)
    async with hub.sessionmaker() as session:
        published = await period_figures(session, tenant=owner.slug, period="2026-10")
        fresh = await compute_period(session, tenant=owner.slug, period="2026-10")
    assert published.definitions_version == "2026.1" and published.totals["service_level"] == pytest.approx(
        0.6
    )
    assert published.published_at is not None
    assert fresh.definitions_version == "2026.2" and fresh.totals["service_level"] == pytest.approx(3 / 5)
    # A version whose limit the tallies do not count is refused by name, not summed under another limit.
    stricter = replace(later, version="2026.3", short_abandon_seconds=2.0)
    monkeypatch.setitem(defs.DEFINITIONS, "2026.3", stricter)
    async with hub.sessionmaker() as session:
        with pytest.raises(ValueError, match=r"no short abandons under 2\.0 s"):
            await compute_period(session, tenant=owner.slug, period="2026-10", version="2026.3")


async def test_the_pack_renders_in_every_format(hub: Hub, log: tuple[Partner, Partner]) -> None:
    owner, _ = log
    async with hub.sessionmaker() as session:
        october = await gather(session, tenants=[owner.slug], period="2026-10", now=T)
        empty = await gather(session, tenants=[owner.slug], period="2026-09", now=T)  # a period with no data
    for paper in (october, empty):
        document = pypdfium2.PdfDocument(render(paper, "pdf"))
        assert len(document) >= 4
        image = document[0].render(scale=1).to_pil().convert("L")
        histogram = image.histogram()
        dark = sum(histogram[:200])
        assert dark > 0.01 * sum(histogram), "the first page has ink on it"
    html = render(october, "html").decode()
    assert "definitions version 2026.1" in html and "data:image/png;base64," in html
    assert f"Test partner {owner.slug}" in html
    rows = list(csv.DictReader(io.StringIO(render(october, "csv").decode())))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert rows[0]["service_code"] == "*" and rows[0]["offered"] == "6"
    assert {r["service_code"] for r in rows[1:] if r["family"] == "service"} == {"missed-bin", "council-tax"}


async def test_the_samplers_abandonment_rate_is_the_figures_own(
    hub: Hub, log: tuple[Partner, Partner]
) -> None:
    owner, other = log
    async with hub.sessionmaker() as session:
        for tenant, start, end in [
            (owner.slug, at(-54), at(6)),  # the hour the sampler looks at, at 10:06
            (owner.slug, at(0), at(2)),
            (owner.slug, at(3), at(60)),
            (other.slug, at(-60), at(60)),  # contacts of its own or none: None when there are none
            (owner.slug, at(100), at(160)),
        ]:
            # the figures' own over the 15-minute slots the range overlaps (the sampler's window)
            first, last = covering_slots(start, end)
            expected = compute(
                await timelines(session, tenant=tenant, start=first, end=last)
            ).abandonment_rate
            assert await abandonment_rate(session, tenant=tenant, start=start, end=end) == expected
        # 1 long abandon in the 5 contacts queued in the slots of that hour (09:00–10:15 UTC): over the threshold.
        assert await abandonment_rate(session, tenant=owner.slug, start=at(-54), end=at(6)) == pytest.approx(
            0.2
        )


async def test_satisfaction_sampling_rises_with_abandonment(hub: Hub, log: tuple[Partner, Partner]) -> None:
    policy = SamplingPolicy(base_rate=0.1, raised_rate=0.5, abandonment_threshold=0.1)
    assert policy.rate(None) == 0.1 and policy.rate(0.05) == 0.1 and policy.rate(0.2) == 0.5
    assert sampled("REF-1", 1.0) and not sampled("REF-1", 0.0)
    assert sampled("REF-1", 0.3) == sampled("REF-1", 0.3)
    owner, _ = log
    sampler = SatisfactionSampler(policy)
    async with hub.sessionmaker() as session:
        # 1 long abandon in the 5 contacts queued in the hour before 10:06 UTC (20 %): over the threshold, raised.
        assert await sampler.current_rate(session, owner.slug, at(6)) == 0.5
        calm = SatisfactionSampler(policy)
        assert await calm.current_rate(session, owner.slug, at(200)) == 0.1
    rate_one = SatisfactionSampler(SamplingPolicy(base_rate=1.0, raised_rate=1.0))
    async with unit_of_work(hub.sessionmaker) as session:
        enquiry_ids = (
            await session.scalars(
                select(Enquiry.id).where(Enquiry.tenant_slug == owner.slug, Enquiry.state == "completed")
            )
        ).all()
        invites = [
            await rate_one.maybe_invite(
                session, enquiry_id=i, tenant=owner.slug, reference=f"R{i}", now=at(10)
            )
            for i in enquiry_ids
        ]
    assert all(invites)
    async with unit_of_work(hub.sessionmaker) as session:
        for invite, rating in zip(invites, ["good", "good", "poor", "average"], strict=True):
            await record_rating(session, token=invite.token, rating=rating, now=at(20))  # type: ignore[union-attr]
    async with unit_of_work(hub.sessionmaker) as session:
        with pytest.raises(SurveyError, match="already"):
            await record_rating(session, token=invites[0].token, rating="poor", now=at(21))  # type: ignore[union-attr]
        with pytest.raises(SurveyError, match="rating must be"):
            await record_rating(session, token=invites[1].token, rating="meh", now=at(21))  # type: ignore[union-attr]
    async with hub.sessionmaker() as session:
        figures = await satisfaction_figures(session, tenant=owner.slug, start=at(0), end=at(60))
    assert (figures.invited, figures.responses, figures.good, figures.poor) == (4, 4, 2, 1)
    assert figures.net_score == pytest.approx((2 - 1) / 4)
