"""The committee's paper on a small month computed by hand (``write_log``: six contacts of one partner in
October 2026, one answered by a lender under an agreement at £4.20), with the hub's pool beside them.

By hand, for the owner: offered 6; answered 4 (E1, E2, E3, E6); within threshold 3 (E1 10 s and E6 5 s of 20 s,
E3 25 s of council tax's 30 s; E2 waited 50 s); abandoned 2, one short (E4, 3 s), one long (E5, 60 s).
Service level 3 ÷ (4 + 1) = 60.0 %; missed bin 2 ÷ (3 + 1) = 50.0 %; council tax 1 ÷ 1 = 100.0 %. Every target is
80 % (council tax's within 30 s), so the owner's volume-weighted target is 80.0 %: 60.0 % is "missed" (more than
5 points below), council tax "met". Overflow: the owner gave 1 (E2), the lender received 1; the ledger line is
1 × £4.20, so the owner's net recharge is −4.20 and the lender's +4.20. September has no contacts.
"""

from __future__ import annotations

import csv
import html
import io
from datetime import UTC, datetime, timedelta

import pypdfium2
from sqlalchemy import select

from figures.callbacks import from_events, from_tallies
from figures.pack import (
    CALLBACK_COLUMNS,
    CALLBACK_FIELDS,
    CSV_FAMILIES,
    Rag,
    fragment,
    gather,
    rag,
    render,
    service_rows,
    summary_rows,
)
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from routing.events import EnquiryRef, NewEvent, record_events
from routing.models import Enquiry
from routing.states import EventName
from routing.tallies import rebuild
from tenants.models import Service
from tenants.service import apply_definitions
from tests.conftest import Partner, partner_definition, store_agreement, unique_slug
from tests.figures.test_figures import write_log

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def test_rag_against_the_target() -> None:
    assert rag(0.80, 0.80) is Rag.MET
    assert rag(0.76, 0.80) is Rag.NEAR  # 4 points below
    assert rag(0.75, 0.80) is Rag.NEAR  # exactly 5 points below is still near
    assert rag(0.74, 0.80) is Rag.MISSED
    assert rag(None, 0.80) is Rag.NONE and rag(0.9, None) is Rag.NONE


async def _paper_month(hub: Hub, make_partner) -> tuple[Partner, Partner, str, object]:  # type: ignore[no-untyped-def]
    owner, lender = await make_partner("owner", agents=2), await make_partner("lender", agents=1)
    await write_log(hub, owner, lender)
    pool = unique_slug("pool")
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=[partner_definition(pool, [f"{pool}-a"], kind="pool")])
    async with hub.sessionmaker() as session:
        paper = await gather(session, tenants=[pool, lender.slug, owner.slug], period="2026-10", now=NOW)
    return owner, lender, pool, paper


async def test_the_summary_judges_each_service_against_its_own_target(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    owner, lender, pool, paper = await _paper_month(hub, make_partner)
    rows = {r.section.slug: r for r in summary_rows(paper)}  # type: ignore[arg-type]
    assert [r.section.kind for r in summary_rows(paper)] == ["partner", "partner", "pool"]  # type: ignore[arg-type]
    mine = rows[owner.slug]
    assert (mine.offered, round(mine.service_level or 0, 4), round(mine.target or 0, 4)) == (6, 0.6, 0.8)
    assert mine.rag is Rag.MISSED
    assert (mine.overflow_given, mine.overflow_received, mine.net_recharge) == (1, 0, -4.2)
    assert (mine.sl_vs_month, mine.offered_vs_month, mine.sl_vs_year) == ("–", "–", "–")  # nothing before
    assert (rows[lender.slug].overflow_given, rows[lender.slug].overflow_received) == (0, 1)
    assert rows[lender.slug].net_recharge == 4.2 and rows[lender.slug].rag is Rag.NONE
    assert rows[pool].section.name == f"Test partner {pool}" and rows[pool].offered == 0
    services = {r.code: r for r in service_rows(rows[owner.slug].section)}
    assert services["missed-bin"].rag is Rag.MISSED and services["missed-bin"].service_level == 0.5
    assert services["council-tax"].rag is Rag.MET and services["council-tax"].threshold_seconds == 30


async def test_the_pdf_has_a_cover_a_summary_names_and_how_to_read_it(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    owner, lender, pool, paper = await _paper_month(hub, make_partner)
    document = pypdfium2.PdfDocument(render(paper, "pdf"))  # type: ignore[arg-type]
    pages = [document[i].get_textpage().get_text_range() for i in range(len(document))]
    cover, summary = pages[0], pages[1]
    assert "Monthly performance paper: October 2026" in cover
    assert "All partners and the hub's shared pool" in cover
    assert "version 2026.1" in cover and "Prepared 03 November 2026" in cover
    assert f"Test partner {owner.slug}" in cover and "shared pool" in cover
    assert "Summary across the partners and the pool: October 2026" in summary
    assert "60.0 % missed" in summary and "50.0 % missed" in summary and "100.0 % met" in summary
    assert f"Test partner {pool}" in summary and f"Test partner {lender.slug}" in summary
    assert "−£4.20" in summary and "+£4.20" in summary  # the owner owes the lender
    assert owner.slug not in summary.replace(f"Test partner {owner.slug}", "")  # names, not slugs
    first = next(i for i, p in enumerate(pages) if f"Test partner {owner.slug}: October 2026" in p)
    owner_pages = "\n".join(pages[first : first + 3])  # its page of figures and charts, then its tables
    assert "Overflow given" in owner_pages and "Overflow received" in owner_pages
    assert "Satisfaction" in "\n".join(pages) and "net recharge" in "\n".join(pages)
    assert "How to read this paper" in pages[-1] and "Definitions history" in pages[-1]
    assert "2027.1" in pages[-1] and "10 s" in pages[-1]  # the next version and what it changes


async def test_the_csv_carries_every_figure_family(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    owner, lender, pool, paper = await _paper_month(hub, make_partner)
    rows = list(csv.DictReader(io.StringIO(render(paper, "csv").decode())))  # type: ignore[arg-type]
    families = {(r["family"], r["partner"]) for r in rows}
    for family in CSV_FAMILIES:
        if family == "callbacks":
            continue  # this month has none: test_callbacks_are_in_the_pack_its_csv_and_on_the_committee_page
        assert (family, owner.slug) in families or (family, lender.slug) in families, family
    mine = [r for r in rows if r["partner"] == owner.slug]
    total = next(r for r in mine if r["family"] == "service" and r["service_code"] == "*")
    assert (total["offered"], total["service_level"], total["rag"]) == ("6", "0.6", "missed")
    assert {r["channel"]: r["offered"] for r in mine if r["family"] == "channel"} == {
        "phone": "4",
        "web": "1",
        "email": "1",
    }
    (ledger,) = [r for r in mine if r["family"] == "ledger"]
    assert (ledger["lender"], ledger["handled"], ledger["amount"]) == (lender.slug, "1", "4.2")
    (given,) = [r for r in mine if r["family"] == "overflow_given"]
    assert (given["handler"], given["handled"]) == (lender.slug, "1")
    (received,) = [r for r in rows if r["family"] == "overflow_received"]
    assert (received["partner"], received["owner"], received["handled"]) == (lender.slug, owner.slug, "1")
    (recharge,) = [r for r in mine if r["family"] == "recharge"]
    assert recharge["net"] == "-4.2"
    assert {r["family"] for r in rows if r["partner"] == pool} >= {"occupancy", "recharge", "satisfaction"}


async def test_the_html_paper_names_agreements_and_figures_where_a_person_reads(
    hub: Hub, make_partner
) -> None:  # type: ignore[no-untyped-def]
    owner, lender, _pool, paper = await _paper_month(hub, make_partner)
    page = html.unescape(render(paper, "html").decode())  # type: ignore[arg-type]
    agreement = f"{lender.slug}-lends-{owner.slug}"
    # The ledger line under its name (the id stays in a data attribute and in the CSV, for a program).
    assert f'data-agreement="{agreement}">the weekday lending agreement</td>' in page
    assert f">{agreement}<" not in page
    # The definitions by the figures' names, not their codes.
    assert (
        "<dt><b>Service level</b></dt>" in page and "<dt><b>First-contact resolution (FCR)</b></dt>" in page
    )
    assert "<b>service_level</b>" not in page and "<b>longest_wait</b>" not in page
    pdf = pypdfium2.PdfDocument(render(paper, "pdf"))  # type: ignore[arg-type]
    text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "the weekday lending agreement" in text and agreement not in text
    assert "Abandonment rate:" in text and "abandonment_rate" not in text


# October 2026, a Monday at 10:00 in London (BST: 09:00 UTC).
CALLBACK_DAY = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


async def _callbacks_month(hub: Hub, make_partner, *, old: bool = False) -> tuple[Partner, object]:  # type: ignore[no-untyped-def]
    """Two callbacks of one partner's missed-bin service, written through ``record_events`` (so counted as they
    land): C1 sent as a callback, missed once (put back), reached 20 min after it queued, completed; C2 a caller
    who took the offer of one, then a wrong number (given up)."""
    partner = await make_partner("cb-pack", agents=1)
    (agent,) = partner.agents
    t = CALLBACK_DAY
    async with unit_of_work(hub.sessionmaker) as session:
        service_id = await session.scalar(
            select(Service.id).where(Service.tenant_slug == partner.slug, Service.code == "missed-bin")
        )
        made = []
        for name, channel in (("C1", "callback"), ("C2", "phone")):
            enquiry = Enquiry(
                reference=f"REF-{partner.slug}-{name}",
                tenant_slug=partner.slug,
                message_id=name,
                channel=channel,
                service_id=service_id,
                service_code="missed-bin",
                priority=5,
                received_at=t,
                created_at=t,
                queued_at=t,
                state="completed",
                follow_up="callback" if channel == "phone" else None,
            )
            session.add(enquiry)
            await session.flush()
            made.append(EnquiryRef.of(enquiry))
        c1, c2 = made
        attempted = EventName.CALLBACK_ATTEMPTED.value
        await record_events(
            session,
            [
                NewEvent(c1, EventName.QUEUED, t),
                NewEvent(c2, EventName.QUEUED, t),
                NewEvent(c2, EventName.CALLBACK_ACCEPTED, t + timedelta(seconds=30)),
                NewEvent(
                    c1,
                    attempted,
                    t + timedelta(minutes=1),
                    agent_id=agent,
                    data={
                        "attempt": 1,
                        "of": 3,
                        "result": "no_answer",
                        "retry_at": "x",
                        "since_queued_seconds": 60,
                    },
                ),
                NewEvent(
                    c2,
                    attempted,
                    t + timedelta(minutes=2),
                    agent_id=agent,
                    data={"attempt": 1, "of": 3, "result": "wrong_number", "given_up": True},
                ),
                NewEvent(
                    c1,
                    attempted,
                    t + timedelta(minutes=20),
                    agent_id=agent,
                    # ``old``: as recorded before attempts carried the wait
                    data={"attempt": 2, "of": 3, "result": "reached"}
                    | ({} if old else {"since_queued_seconds": 1200}),
                ),
                NewEvent(
                    c1,
                    EventName.COMPLETED,
                    t + timedelta(minutes=25),
                    data={"outcome": "resolved", "callback": True},
                ),
                NewEvent(
                    c2,
                    EventName.COMPLETED,
                    t + timedelta(minutes=2),
                    data={"outcome": "callback_not_reached"},
                ),
            ],
        )
    async with hub.sessionmaker() as session:
        paper = await gather(session, tenants=[partner.slug], period="2026-10", now=NOW, months=1)
    return partner, paper


async def test_callbacks_are_in_the_pack_its_csv_and_on_the_committee_page(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    partner, paper = await _callbacks_month(hub, make_partner)
    # By hand: requested 2 (C1 sent as one, C2's offer taken); rung 3; reached 1 (C1's second); missed 2, of
    # which 1 put back (C1's first) and 1 given up (C2's wrong number); completed 1 (C1; C2 was not reached);
    # time to callback 1,200 s (C1 reached 20 min after it queued).
    (section,) = paper.sections  # type: ignore[attr-defined]
    whole, bins = section.now.callbacks
    expected = ["2", "3", "1", "2", "1", "1", "1", "1200.0"]
    assert whole["service_code"] == "*" and bins["service_code"] == "missed-bin"
    for row in (whole, bins):
        assert [str(row[k]) for k in (*CALLBACK_FIELDS[:-1], "time_to_callback_seconds")] == expected
    # The month from the tallies equals the event log's reference.
    async with hub.sessionmaker() as session:
        start, end = (
            CALLBACK_DAY.replace(day=1, hour=0) - timedelta(hours=1),
            datetime(2026, 11, 1, tzinfo=UTC),
        )
        kept = await from_tallies(session, tenant=partner.slug, start=start, end=end)
        assert kept == await from_events(session, tenant=partner.slug, start=start, end=end)
    # `hub figures rebuild` recounts them from the log to the same figures.
    async with unit_of_work(hub.sessionmaker) as session:
        await rebuild(session, tenant=partner.slug, start=start, end=end)
    async with hub.sessionmaker() as session:
        assert await from_tallies(session, tenant=partner.slug, start=start, end=end) == kept

    rows = list(csv.DictReader(io.StringIO(render(paper, "csv").decode())))  # type: ignore[arg-type]
    family = [r for r in rows if r["family"] == "callbacks"]
    assert [r["service_code"] for r in family] == ["*", "missed-bin"]
    assert [family[1][c] for c in CALLBACK_COLUMNS] == expected

    html = fragment("partner_tables", paper, section)  # type: ignore[arg-type]
    assert '<tr data-service="missed-bin"><td>Missed bin</td>' in html
    assert "<td>2</td><td>3</td><td>1</td><td>2</td><td>1</td>" in html and "1200 s" in html

    document = pypdfium2.PdfDocument(render(paper, "pdf"))  # type: ignore[arg-type]
    text = " ".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    assert "Callbacks" in text and "Time to callback" in text and "1200 s" in text


async def test_the_recount_works_out_the_time_to_callback_of_attempts_recorded_before_it_was_written(
    hub: Hub,
    make_partner,  # type: ignore[no-untyped-def]
) -> None:
    partner, _paper = await _callbacks_month(hub, make_partner, old=True)
    start, end = (
        datetime(2026, 9, 30, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    )  # October in London
    async with unit_of_work(hub.sessionmaker) as session:
        await rebuild(session, tenant=partner.slug, start=start, end=end)
    async with hub.sessionmaker() as session:
        kept = await from_tallies(session, tenant=partner.slug, start=start, end=end)
        assert kept == await from_events(session, tenant=partner.slug, start=start, end=end)
    # C1 first queued at 09:00 UTC and was reached at 09:20: 1,200 s, from its events.
    assert kept["missed-bin"].time_to_callback_seconds == 1200.0


async def test_an_agreement_renamed_later_keeps_its_name_in_a_past_months_paper(
    hub: Hub, make_partner
) -> None:  # type: ignore[no-untyped-def]
    """October's paper names the agreement as it was written; renamed today (December), October keeps the old
    name and December's paper has the new one."""
    owner, lender, _pool, october = await _paper_month(hub, make_partner)
    agreement = f"{lender.slug}-lends-{owner.slug}"
    await store_agreement(
        hub,
        id=agreement,
        name="the all-week lending agreement",
        lender=lender.slug,
        borrower=owner.slug,
        services="all",
        conditions={"waited_at_least_seconds": 60},
        unit_rate=4.2,
    )
    async with hub.sessionmaker() as session:
        again = await gather(session, tenants=[lender.slug, owner.slug], period="2026-10", now=NOW)
        december = await gather(
            session, tenants=[lender.slug, owner.slug], period="2026-12", now=datetime(2027, 1, 2, tzinfo=UTC)
        )
    assert october.agreement(agreement) == "the weekday lending agreement"  # type: ignore[attr-defined]
    assert again.agreement(agreement) == "the weekday lending agreement"
    assert december.agreement(agreement) == "the all-week lending agreement"
