"""Partners whose services have back-office adapters, and enquiries passed to the back office the real way:
intake, an offer, accept, complete with ``passed_to_back_office``."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from backoffice.models import BackofficeDelivery
from backoffice.outbox import RetryPolicy
from backoffice.runner import DeliveryRunner
from hub.runtime import Hub
from plumbing.bus.base import IncomingMessage
from plumbing.db.session import unit_of_work
from routing.models import Enquiry
from tenants.schemas import PartnerDefinition
from tenants.service import apply_definitions
from tests.conftest import unique_slug

CUSTOMER = {
    "name": "Pat Resident",
    "phone": "01257 000000",
    "email": "pat.resident@example.org",
    "uprn": "100010380000",
    "address": "1 Market Street, Chorley",
}
TEXT = "My grey bin was not emptied on Tuesday"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class BackofficePartner:
    slug: str
    agent: str


async def make_backoffice_partner(hub: Hub, services: dict[str, dict[str, Any] | None]) -> BackofficePartner:
    """A partner with one agent (skill ``waste``) and a service per entry: code -> ``adapter:`` block or None."""
    slug = unique_slug("bo")
    definition = PartnerDefinition.model_validate(
        {
            "tenant": {"slug": slug, "name": f"Council {slug}"},
            "opening_hours": {"default": "always"},
            "services": [{"code": "general", "name": "General enquiries", "skills": ["waste"]}]
            + [
                {
                    "code": code,
                    "name": f"Service {code}",
                    "lgsl": 524,
                    "skills": ["waste"],
                    **({"adapter": adapter} if adapter is not None else {}),
                }
                for code, adapter in services.items()
            ],
            "agents": [{"id": f"{slug}-agent", "name": "Agent", "skills": ["waste"]}],
        }
    )
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=[definition])
    await hub.catalogue.reload()
    return BackofficePartner(slug, f"{slug}-agent")


async def pass_to_back_office(
    hub: Hub, partner: BackofficePartner, service_code: str, *, notes: str | None = "Crew to revisit"
) -> Enquiry:
    """Take an enquiry in through intake and have the partner's agent pass it to the back office."""
    message_id = uuid.uuid4().hex
    body = {
        "tenant": partner.slug,
        "channel": "phone",
        "received_at": datetime.now(UTC).isoformat(),
        "service_code": service_code,
        "text": TEXT,
        "customer": CUSTOMER,
        "attributes": {"bin_colour": "grey"},
        "call": {"call_id": message_id, "caller": CUSTOMER["phone"]},
    }
    await hub.intake.process(
        [
            IncomingMessage(
                routing_key=f"{partner.slug}.phone",
                body=json.dumps(body).encode(),
                message_id=message_id,
                type="enquiry.v1",
            )
        ]
    )
    await hub.desk.set_status(partner.agent, "available")
    offer = await hub.desk.current_offer(partner.agent)
    assert offer is not None, "the agent should be offered the enquiry"
    await hub.desk.accept(partner.agent, offer.enquiry_id)
    await hub.desk.complete(partner.agent, offer.enquiry_id, "passed_to_back_office", notes)
    async with hub.sessionmaker() as session:
        enquiry = await session.get(Enquiry, offer.enquiry_id)
    assert enquiry is not None and enquiry.message_id == message_id
    return enquiry


def runner_for(
    hub: Hub, partner: BackofficePartner, clock: Clock, *, max_attempts: int = 5, **kwargs: Any
) -> DeliveryRunner:
    """A worker for this partner's deliveries only, on an injected clock (no sleeping through backoff)."""
    return DeliveryRunner(
        hub.sessionmaker,
        policy=RetryPolicy(
            max_attempts=max_attempts, base_seconds=1.0, cap_seconds=8.0, rng=random.Random(6)
        ),
        clock=clock,
        tenants=[partner.slug],
        **kwargs,
    )


async def deliveries(hub: Hub, partner: BackofficePartner) -> list[BackofficeDelivery]:
    async with hub.sessionmaker() as session:
        return list(
            (
                await session.scalars(
                    select(BackofficeDelivery)
                    .where(BackofficeDelivery.tenant_slug == partner.slug)
                    .order_by(BackofficeDelivery.id)
                )
            ).all()
        )
