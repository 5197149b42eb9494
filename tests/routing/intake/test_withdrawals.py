"""Withdrawals find their enquiry by (partner, message_id), and only that pair, whatever else a batch holds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from hub.runtime import Hub
from plumbing.bus.base import IncomingMessage
from plumbing.db.scope import all_partners
from routing.models import Enquiry
from tests.helpers_amqp import enquiry
from tests.helpers_intake import delivery


def _enquiry(tenant: str, message_id: str) -> IncomingMessage:
    return delivery(f"{tenant}.phone", enquiry(tenant), message_id=message_id)


def _withdrawal(tenant: str, message_id: str) -> IncomingMessage:
    body = {
        "tenant": tenant,
        "message_id": message_id,
        "reason": "caller_hung_up",
        "at": datetime.now(UTC).isoformat(),
    }
    return delivery(f"{tenant}.phone", body, type="enquiry.withdrawn.v1")


async def test_two_partners_withdrawals_in_one_batch_take_only_their_own_enquiries(
    hub: Hub, make_partner
) -> None:
    a, b = await make_partner(agents=0), await make_partner(agents=0)
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    # Both partners used both message ids: the cross pairs (a, second) and (b, first) must stay waiting.
    placed = await hub.intake.process(
        [_enquiry(a.slug, first), _enquiry(a.slug, second), _enquiry(b.slug, first), _enquiry(b.slug, second)]
    )
    ids = [o.enquiry_id for o in placed.outcomes]
    assert placed.accepted == 4

    result = await hub.intake.process([_withdrawal(a.slug, first), _withdrawal(b.slug, second)])

    assert (result.withdrawn, result.rejected) == (2, 0)
    with all_partners():
        async with hub.sessionmaker() as session:
            rows = await session.execute(
                select(Enquiry.tenant_slug, Enquiry.message_id, Enquiry.state).where(Enquiry.id.in_(ids))
            )
            states = {(tenant, message_id): state for tenant, message_id, state in rows}
    assert states == {
        (a.slug, first): "abandoned",
        (a.slug, second): "queued",
        (b.slug, first): "queued",
        (b.slug, second): "abandoned",
    }
