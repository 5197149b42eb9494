"""A crash between the intake commit and placing in the live state: the redelivered message places it."""

from __future__ import annotations

from dataclasses import replace

from hub.runtime import Hub
from plumbing.bus.base import IncomingMessage
from tests.helpers_amqp import enquiry
from tests.helpers_intake import delivery


def _message(tenant: str) -> IncomingMessage:
    return delivery(f"{tenant}.phone", enquiry(tenant))


async def test_a_redelivery_after_a_crash_before_placing_puts_the_enquiry_in_its_queue(
    hub: Hub, make_partner
) -> None:
    partner = await make_partner(agents=0)
    message = _message(partner.slug)
    first = await hub.intake.process([message])
    enquiry_id = first.outcomes[0].enquiry_id
    assert enquiry_id is not None and await hub.live.position(enquiry_id) is not None
    # The crash: committed in PostgreSQL, but the live state never got it (and nothing was acked).
    assert await hub.live.withdraw(enquiry_id) is True
    assert await hub.live.position(enquiry_id) is None

    again = await hub.intake.process([replace(message, redelivered=True)])
    assert (again.accepted, again.duplicates) == (0, 1)
    assert again.outcomes[0].enquiry_id == enquiry_id
    position = await hub.live.position(enquiry_id)
    assert position is not None and position[1] == 1

    # A further repeat changes nothing: placing is idempotent.
    await hub.intake.process([message])
    assert await hub.live.position(enquiry_id) == position
