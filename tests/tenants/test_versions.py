"""Catalogue versions: a change makes a new version; an enquiry keeps the version it was routed under."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from hub.runtime import Hub
from plumbing.bus.base import IncomingMessage
from plumbing.db.session import unit_of_work
from routing.models import Enquiry, EnquiryEvent
from tenants.hours import resolution_due
from tenants.models import CatalogueVersion, Service
from tenants.schemas import PartnerDefinition
from tenants.service import apply_definitions
from tests.conftest import unique_slug
from tests.helpers_examples import example_definition, example_raw


async def _apply(hub: Hub, definition: PartnerDefinition) -> tuple[int, bool]:
    async with unit_of_work(hub.sessionmaker) as session:
        (applied,) = await apply_definitions(session, definitions=[definition], source="test")
    await hub.catalogue.reload()
    return applied.version, applied.changed


def _changed(slug: str) -> PartnerDefinition:
    """Chorley's catalogue with the missed-bin service renamed, slower to resolve, and dog fouling gone."""
    raw = example_raw("chorley")
    for service in raw["services"]:
        if service["code"] == "missed-bin":
            service["name"] = "Bin not emptied"
            service["resolution_working_days"] = 5
    raw["services"] = [s for s in raw["services"] if s["code"] != "dog-fouling"]
    raw["tenant"]["slug"] = slug
    raw["agents"] = []
    return PartnerDefinition.model_validate(raw)


async def _enquire(hub: Hub, slug: str, received_at: datetime) -> Enquiry:
    body = {
        "tenant": slug,
        "channel": "web",
        "received_at": received_at.isoformat(),
        "service_code": "missed-bin",
        "attributes": {"bin_type": "grey"},
        "text": "Grey bin missed",
    }
    message_id = uuid.uuid4().hex
    result = await hub.intake.process(
        [
            IncomingMessage(
                routing_key=f"{slug}.web",
                body=json.dumps(body).encode(),
                message_id=message_id,
                content_type="application/json",
                type="enquiry.v1",
            )
        ]
    )
    assert result.outcomes[0].status == "accepted", result.outcomes
    async with hub.sessionmaker() as session:
        enquiry = await session.scalar(select(Enquiry).where(Enquiry.message_id == message_id))
    assert enquiry is not None
    return enquiry


async def test_a_change_makes_a_new_version_and_the_same_definition_does_not(hub: Hub) -> None:
    slug = unique_slug("chorley")
    assert await _apply(hub, example_definition("chorley", slug)) == (1, True)
    assert await _apply(hub, example_definition("chorley", slug)) == (1, False)
    assert await _apply(hub, _changed(slug)) == (2, True)
    assert await _apply(hub, _changed(slug)) == (2, False)
    async with hub.sessionmaker() as session:
        versions = (
            await session.scalars(
                select(CatalogueVersion)
                .where(CatalogueVersion.tenant_slug == slug)
                .order_by(CatalogueVersion.version)
            )
        ).all()
        dropped = await session.scalar(
            select(Service).where(Service.tenant_slug == slug, Service.code == "dog-fouling")
        )
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].digest != versions[1].digest
    assert "agents" not in versions[0].definition
    names = {s["code"]: s["name"] for s in versions[0].definition["services"]}
    assert names["missed-bin"] == "Missed bin collection"
    # A service dropped from the definition is kept for the enquiries that point at it, but takes no new work.
    assert dropped is not None and dropped.active is False
    catalogue = await hub.catalogue.get()
    assert "dog-fouling" not in catalogue.tenants[slug].services
    # ...while anything already waiting for it still reaches an agent with the skills.
    assert f"{slug}/dog-fouling" in catalogue.queues_for_agent(slug, {"environment"})
    assert catalogue.tenants[slug].catalogue_version == 2


async def test_an_enquiry_keeps_the_version_it_was_routed_under(hub: Hub, api: httpx.AsyncClient) -> None:
    slug = unique_slug("chorley")
    await _apply(hub, example_definition("chorley", slug))
    received = datetime(2026, 4, 30, 10, 0, tzinfo=UTC)  # a Thursday; Monday 4 May is a bank holiday
    first = await _enquire(hub, slug, received)
    assert first.catalogue_version == 1

    assert await _apply(hub, _changed(slug)) == (2, True)
    second = await _enquire(hub, slug, received)
    assert second.catalogue_version == 2

    async with hub.sessionmaker() as session:
        event = await session.scalar(
            select(EnquiryEvent).where(
                EnquiryEvent.enquiry_id == first.id, EnquiryEvent.event == "enquiry.received"
            )
        )
    assert event is not None and event.data["catalogue_version"] == 1

    hours = example_definition("chorley", slug).hours()
    old = (
        await api.get(f"/open311/v2/requests/{first.reference}.json", params={"jurisdiction_id": slug})
    ).json()[0]
    new = (
        await api.get(f"/open311/v2/requests/{second.reference}.json", params={"jurisdiction_id": slug})
    ).json()[0]
    assert old["service_name"] == "Missed bin collection"
    assert old["description"] == ""  # text that did not come through Open311 is not published
    assert new["service_name"] == "Bin not emptied"
    # Two working days from Thursday: Friday, then Tuesday (past the bank holiday); five: Friday 8 May.
    assert old["expected_datetime"] == "2026-05-05T16:00:00Z"
    assert new["expected_datetime"] == "2026-05-08T16:00:00Z"
    assert resolution_due(hours, received, 2) == datetime(2026, 5, 5, 16, 0, tzinfo=UTC)
