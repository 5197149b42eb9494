"""Offers: timeouts re-offer and keep the caller's place; missed offers make an agent not ready; rejections."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.runtime import Hub
from plumbing.bus.base import IncomingMessage
from routing.dispatch.rebuild import rebuild_live_state
from routing.models import Enquiry, EnquiryEvent
from tenants.models import Agent, AgentEvent


async def publish_direct(
    hub: Hub, tenant: str, service: str = "missed-bin", priority: int | None = None, channel: str = "phone"
) -> int:
    """Put one enquiry through the intake path (no broker) and return its id (a phone call: one at a time)."""
    body = {
        "tenant": tenant,
        "channel": channel,
        "received_at": datetime.now(UTC).isoformat(),
        "service_code": service,
    }
    if priority is not None:
        body["priority"] = priority
    message_id = uuid.uuid4().hex
    await hub.intake.process(
        [
            IncomingMessage(
                routing_key=f"{tenant}.{channel}",
                body=json.dumps(body).encode(),
                message_id=message_id,
                type="enquiry.v1",
            )
        ]
    )
    async with hub.sessionmaker() as session:
        enquiry_id = await session.scalar(
            select(Enquiry.id).where(Enquiry.tenant_slug == tenant, Enquiry.message_id == message_id)
        )
    assert enquiry_id is not None
    return enquiry_id


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def test_a_timed_out_offer_goes_to_the_next_agent_keeping_its_place(hub: Hub, make_partner) -> None:
    clock = Clock()
    hub.dispatcher.clock = clock
    partner = await make_partner(agents=2)
    first, second = partner.agents
    await hub.desk.set_status(first, "available")
    clock.advance(1)
    await hub.desk.set_status(second, "available")
    early = await publish_direct(hub, partner.slug)  # to the longest idle: first
    late = await publish_direct(hub, partner.slug)  # to second
    assert (await hub.desk.current_offer(first)).enquiry_id == early  # type: ignore[union-attr]
    assert (await hub.desk.current_offer(second)).enquiry_id == late  # type: ignore[union-attr]

    await hub.desk.accept(second, late)
    clock.advance(hub.settings.reservation_timeout_seconds + 1)
    assert await hub.dispatcher.expire_offers() == 1
    # first timed out and stays available, so it is offered the same enquiry again (nobody else is free)
    assert (await hub.desk.current_offer(first)).enquiry_id == early  # type: ignore[union-attr]
    await hub.desk.complete(second, late, "resolved")
    async with hub.sessionmaker() as session:
        events = (
            await session.scalars(
                select(EnquiryEvent.event).where(EnquiryEvent.enquiry_id == early).order_by(EnquiryEvent.id)
            )
        ).all()
    assert events == [
        "enquiry.received",
        "enquiry.queued",
        "enquiry.offered",
        "enquiry.offer_timed_out",
        "enquiry.offered",
    ]


async def test_an_agent_who_misses_offers_goes_not_ready(hub: Hub, make_partner) -> None:
    clock = Clock()
    hub.dispatcher.clock = clock
    partner = await make_partner(agents=1)
    agent = partner.agents[0]
    enquiry_id = await publish_direct(hub, partner.slug)
    await hub.desk.set_status(agent, "available")
    for _ in range(hub.settings.missed_offers_before_not_ready):
        assert (await hub.desk.current_offer(agent)).enquiry_id == enquiry_id  # type: ignore[union-attr]
        clock.advance(hub.settings.reservation_timeout_seconds + 1)
        await hub.dispatcher.expire_offers()
    async with hub.sessionmaker() as session:
        row = await session.get(Agent, agent)
        assert row is not None and row.status == "unavailable"
        enquiry = await session.get(Enquiry, enquiry_id)
        assert enquiry is not None and enquiry.state == "queued"
    assert await hub.desk.current_offer(agent) is None
    assert sum((await hub.live.queue_depths()).values()) == 1
    async with hub.sessionmaker() as session:
        changes = (
            await session.execute(
                select(AgentEvent.status, AgentEvent.reason)
                .where(AgentEvent.agent_id == agent)
                .order_by(AgentEvent.id)
            )
        ).all()
    assert [tuple(c) for c in changes] == [("available", "agent"), ("unavailable", "missed_offers")]


async def test_higher_priority_first_then_oldest_and_a_rejection_keeps_its_place(
    hub: Hub, make_partner
) -> None:
    clock = Clock()
    hub.dispatcher.clock = clock
    partner = await make_partner(agents=1)
    agent = partner.agents[0]
    oldest = await publish_direct(hub, partner.slug)
    clock.advance(1)
    urgent = await publish_direct(hub, partner.slug, priority=9)
    clock.advance(1)
    await publish_direct(hub, partner.slug)
    await hub.desk.set_status(agent, "available")
    assert (await hub.desk.current_offer(agent)).enquiry_id == urgent  # type: ignore[union-attr]
    await hub.desk.reject(agent, urgent)
    assert (await hub.desk.view(agent)).status == "unavailable"
    await hub.desk.set_status(agent, "available")
    assert (await hub.desk.current_offer(agent)).enquiry_id == urgent  # type: ignore[union-attr]
    await hub.desk.accept(agent, urgent)
    await hub.desk.complete(agent, urgent, "resolved")
    assert (await hub.desk.current_offer(agent)).enquiry_id == oldest  # type: ignore[union-attr]


async def test_the_live_state_is_rebuilt_from_the_database(hub: Hub, make_partner) -> None:
    partner = await make_partner(agents=2)
    first, second = partner.agents
    offered = await publish_direct(hub, partner.slug)
    waiting = await publish_direct(hub, partner.slug)
    await hub.desk.set_status(first, "available")
    assert (await hub.desk.current_offer(first)).enquiry_id == offered  # type: ignore[union-attr]

    await hub.live.reset()  # Redis lost everything (a flush, a failover)
    assert await hub.live.queue_depths() == {}
    result = await rebuild_live_state(hub.dispatcher)
    # The database is shared by the whole test run, so other tests' waiting work is rebuilt too.
    assert (
        result is not None and result.queued >= 2 and result.requeued_offers >= 1 and result.agents_ready >= 1
    )
    assert (await hub.live.queue_depths()).get(f"{partner.slug}/missed-bin") == 1
    # The offer in flight went back to its place at the head, and the free agent got it again.
    assert (await hub.desk.current_offer(first)).enquiry_id == offered  # type: ignore[union-attr]
    await hub.desk.set_status(second, "available")
    assert (await hub.desk.current_offer(second)).enquiry_id == waiting  # type: ignore[union-attr]
