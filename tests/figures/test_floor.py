"""figures/floor.py: the live floor a supervisor reads, and where a partner's day starts."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from figures.floor import read_floor, start_of_day
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from routing.dispatch.presence import STATUSES
from routing.models import Enquiry
from routing.states import EnquiryState
from tenants.models import Agent
from tenants.queries import tenant_by_slug
from tests.routing.test_queries import arrive


def test_the_day_starts_at_midnight_where_the_partner_is() -> None:
    # British Summer Time: midnight in London is 23:00 UTC the evening before
    assert start_of_day(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "Europe/London") == datetime(
        2026, 6, 30, 23, 0, tzinfo=UTC
    )
    # Greenwich Mean Time: the same as UTC
    assert start_of_day(datetime(2026, 1, 15, 12, 0, tzinfo=UTC), "Europe/London") == datetime(
        2026, 1, 15, 0, 0, tzinfo=UTC
    )


async def test_the_floor_shows_who_waits_who_is_busy_with_what_and_the_newest_contacts(  # type: ignore[no-untyped-def]
    hub: Hub, make_partner
) -> None:
    partner = await make_partner("floor", agents=2)
    busy, resting = partner.agents
    first, second, third = [await arrive(hub, partner.slug, "phone") for _ in range(3)]
    assert first is not None and second is not None and third is not None
    async with unit_of_work(hub.sessionmaker) as session:
        await session.execute(
            update(Enquiry).where(Enquiry.id == first.id).values(state=EnquiryState.ANSWERED, agent_id=busy)
        )
        await session.execute(update(Agent).where(Agent.id == busy).values(name="Ann Busy", status="busy"))
        await session.execute(update(Agent).where(Agent.id == resting).values(name="Bob Rest"))
    now = hub.dispatcher.clock()
    async with hub.sessionmaker() as session:
        tenant = await tenant_by_slug(session, partner.slug)
        assert tenant is not None
        floor = await read_floor(session, tenant=tenant, now=now)

    assert (floor.tenant, floor.tenant_name) == (partner.slug, f"Test partner {partner.slug}")
    assert floor.waiting == 2  # the second and third; the first is in hand
    assert second.queued_at is not None
    assert floor.longest_wait_seconds == (now - second.queued_at).total_seconds()
    assert floor.agents_by_state == {**dict.fromkeys(STATUSES, 0), "busy": 1, "offline": 1}
    assert [(a.name, a.status, a.enquiry_reference, a.enquiry_id, a.channel) for a in floor.agents] == [
        ("Ann Busy", "busy", first.reference, first.id, "phone"),
        ("Bob Rest", "offline", None, None, None),
    ]
    assert [(e.reference, e.service_name, e.agent_name) for e in floor.recent] == [
        (third.reference, "Missed bin", None),
        (second.reference, "Missed bin", None),
        (first.reference, "Missed bin", "Ann Busy"),
    ]
    assert (floor.overflow_in, floor.overflow_out) == (0, 0)
