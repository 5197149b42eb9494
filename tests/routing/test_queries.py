"""routing/queries.py: the reads the pages and routes make of enquiries and intake refusals."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select, update

from hub.runtime import Hub
from plumbing.bus.base import IncomingMessage
from plumbing.db.session import unit_of_work
from routing.models import Enquiry
from routing.queries import (
    enquiries_received,
    enquiry_by_id,
    enquiry_by_reference,
    enquiry_in_hand,
    oldest_queued,
    reference_of,
    rejections_by_claimed_partner,
)
from routing.states import EnquiryState
from tests.helpers_amqp import enquiry


async def arrive(hub: Hub, tenant: str, channel: str, body: bytes | None = None) -> Enquiry | None:
    message_id = uuid.uuid4().hex
    await hub.intake.process(
        [
            IncomingMessage(
                routing_key=f"{tenant}.{channel}",
                body=body if body is not None else json.dumps(enquiry(tenant, channel=channel)).encode(),
                message_id=message_id,
                content_type="application/json",
                type="enquiry.v1",
            )
        ]
    )
    async with hub.sessionmaker() as session:
        return await session.scalar(select(Enquiry).where(Enquiry.message_id == message_id))


async def test_the_contact_in_hand_is_the_live_one_then_the_oldest(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    partner = await make_partner("in-hand", agents=2)
    agent, idle = partner.agents
    arrived = [await arrive(hub, partner.slug, channel) for channel in ("web", "phone", "phone")]
    web, call, later_call = (e.id for e in arrived if e is not None)
    async with unit_of_work(hub.sessionmaker) as session:
        await session.execute(
            update(Enquiry)
            .where(Enquiry.id.in_((web, call, later_call)))
            .values(state=EnquiryState.ANSWERED, agent_id=agent)
        )
    async with hub.sessionmaker() as session:
        # the web form came first, but it waits behind the calls; of the calls, the older
        assert (await enquiry_in_hand(session, agent)).id == call  # type: ignore[union-attr]
        assert await enquiry_in_hand(session, idle) is None
    async with unit_of_work(hub.sessionmaker) as session:
        await session.execute(
            update(Enquiry).where(Enquiry.id.in_((call, later_call))).values(state=EnquiryState.COMPLETED)
        )
    async with hub.sessionmaker() as session:
        assert (await enquiry_in_hand(session, agent)).id == web  # type: ignore[union-attr]


async def test_an_enquiry_by_id_or_reference_and_the_counts_metrics_read(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    partner = await make_partner("counted", agents=0)
    first = await arrive(hub, partner.slug, "phone")
    second = await arrive(hub, partner.slug, "phone")
    assert first is not None and second is not None
    # a message that is not JSON: refused, and counted against the partner its routing key claims
    assert await arrive(hub, partner.slug, "phone", body=b"{not json") is None
    async with hub.sessionmaker() as session:
        found = await enquiry_by_id(session, first.id)
        assert found is not None and found.reference == first.reference
        assert await enquiry_by_id(session, None) is None
        by_reference = await enquiry_by_reference(session, second.reference)
        assert by_reference is not None and by_reference.id == second.id
        assert await enquiry_by_reference(session, "NO-SUCH-REF") is None
        assert await reference_of(session, second.id) == second.reference
        assert await reference_of(session, 0) is None

        assert dict(await enquiries_received(session))[partner.slug] == 2
        # with no agents both wait queued; the longest-waiting was queued first
        assert first.state == second.state == EnquiryState.QUEUED
        assert dict(await oldest_queued(session))[partner.slug] == first.queued_at
        assert dict(await rejections_by_claimed_partner(session))[partner.slug] == 1
