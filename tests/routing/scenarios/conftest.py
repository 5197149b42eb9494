"""A routing world for scenarios: the real database, a dispatcher on each live state, and a clock we move."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from hub.runtime import Hub, desk_for, intake_for
from plumbing.bus.base import IncomingMessage
from plumbing.db.session import unit_of_work
from routing.dispatch.desk import AgentDesk
from routing.dispatch.service import Dispatcher
from routing.intake.service import IntakeProcessor
from routing.live.base import LiveState
from routing.live.memory import MemoryLiveState
from routing.live.redis_state import RedisLiveState
from routing.models import Enquiry, EnquiryEvent
from tenants.agreements.service import put_agreements
from tenants.agreements.terms import AgreementDefinition
from tenants.schemas import PartnerDefinition
from tenants.service import apply_definitions
from tests.conftest import REDIS_URL, partner_definition, unique_slug
from tests.helpers_amqp import enquiry


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class World:
    hub: Hub
    live: LiveState
    clock: Clock
    dispatcher: Dispatcher
    desk: AgentDesk
    intake: IntakeProcessor
    closed: set[str] = field(default_factory=set)

    async def partner(
        self,
        base: str,
        agents: int,
        *,
        kind: str = "partner",
        callbacks: bool = False,
        **extra: Any,
    ) -> tuple[str, list[str]]:
        slug = unique_slug(base)
        agent_ids = [f"{slug}-a{i}" for i in range(agents)]
        raw = {**partner_definition(slug, agent_ids, kind=kind).model_dump(mode="json"), **extra}
        if callbacks:
            for service in raw["services"]:
                service["routing"] = {"callbacks": True}
        async with unit_of_work(self.hub.sessionmaker) as session:
            await apply_definitions(session, definitions=[PartnerDefinition.model_validate(raw)])
        await self.hub.catalogue.reload()
        return slug, agent_ids

    async def agreement(self, **fields: Any) -> str:
        agreement_id = unique_slug("agr")
        async with unit_of_work(self.hub.sessionmaker) as session:
            await put_agreements(
                session, agreements=[AgreementDefinition.model_validate({"id": agreement_id, **fields})]
            )
        await self.dispatcher.agreements.reload()
        return agreement_id

    async def arrive(self, tenant: str, n: int = 1, channel: str = "phone") -> list[int]:
        messages = [
            IncomingMessage(
                routing_key=f"{tenant}.{channel}",
                body=json.dumps(enquiry(tenant, channel=channel)).encode(),
                message_id=uuid.uuid4().hex,
                content_type="application/json",
                type="enquiry.v1",
            )
            for _ in range(n)
        ]
        await self.intake.process(messages)
        async with self.hub.sessionmaker() as session:
            ids = await session.scalars(
                select(Enquiry.id)
                .where(Enquiry.message_id.in_([m.message_id for m in messages]))
                .order_by(Enquiry.id)
            )
            return list(ids)

    async def offers(self, agents: list[str]) -> dict[str, int]:
        out = {}
        for agent in agents:
            offer = await self.live.offer_for(agent)
            if offer is not None:
                out[agent] = offer.enquiry_id
        return out

    async def events(self, enquiry_id: int) -> list[EnquiryEvent]:
        async with self.hub.sessionmaker() as session:
            rows = await session.scalars(
                select(EnquiryEvent).where(EnquiryEvent.enquiry_id == enquiry_id).order_by(EnquiryEvent.id)
            )
            return list(rows)

    async def enquiry(self, enquiry_id: int) -> Enquiry:
        async with self.hub.sessionmaker() as session:
            row = await session.get(Enquiry, enquiry_id)
            assert row is not None
            return row


# A Monday in November (London is on UTC then), mid-morning.
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "redis"])
async def world(request: pytest.FixtureRequest, hub: Hub, redis_prefix: str) -> AsyncIterator[World]:
    live: LiveState = (
        MemoryLiveState()
        if request.param == "memory"
        else RedisLiveState.from_url(REDIS_URL, redis_prefix + "scenario:")
    )
    await live.reset()
    clock = Clock(MONDAY_10)
    closed: set[str] = set()
    dispatcher = Dispatcher(
        hub.sessionmaker,
        live,
        hub.catalogue,
        reservation_ttl_ms=20_000,
        clock=clock,
        open_now=lambda tenant, _channel, _moment: tenant not in closed,
    )
    yield World(hub, live, clock, dispatcher, desk_for(dispatcher), intake_for(dispatcher), closed)
    await live.close()
