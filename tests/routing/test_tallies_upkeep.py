"""The figures' upkeep on the hot paths costs no statement of its own (routing/tallies.py, docs/figures.md).

Intake's events carry what counting a new contact needs (its catalogue version and the service's threshold), so
nothing is read back; facts and tallies go in as ``WITH`` clauses of the outbox insert; an offer sets a contact's
pending agreement in SQL without reading its facts. The figures those make are proved equal to the event-log
reference in tests/figures/test_tallies.py; these tests pin the statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from routing.events import EnquiryRef, NewEvent, record_events
from routing.models import ContactFact, Enquiry, FigureTally
from tests.helpers_intake import delivery


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
    assert not [
        s for s in seen if s.startswith("SELECT") and ("contact_facts" in s or "catalogue_versions" in s)
    ]
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
