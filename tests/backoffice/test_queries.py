"""backoffice/queries.py: the back-office backlog /metrics reports."""

from __future__ import annotations

from datetime import UTC, datetime

from backoffice.models import DELIVERED, PARKED, PENDING
from backoffice.outbox import enqueue_delivery
from backoffice.queries import backlog
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tests.routing.test_queries import arrive


async def test_the_backlog_counts_pending_and_parked_deliveries_per_partner(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    partner = await make_partner("backlog", agents=0)
    case = await arrive(hub, partner.slug, "phone")
    assert case is not None
    now = datetime.now(UTC)
    async with unit_of_work(hub.sessionmaker) as session:
        for status in (PENDING, PARKED, PARKED, DELIVERED):
            row = await enqueue_delivery(session, enquiry=case, kind="case", payload={}, now=now)
            row.status = status
    async with hub.sessionmaker() as session:
        mine = {(status, n) for slug, status, n in await backlog(session) if slug == partner.slug}
    assert mine == {(PENDING, 1), (PARKED, 2)}  # delivered ones are not waiting
