"""Intake with the catalogue: free text classified (and the reason kept), attributes checked, outcomes told."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from hub.runtime import Hub
from plumbing.bus.base import IncomingMessage
from routing.models import Enquiry, EnquiryEvent
from tests.helpers_examples import load_example
from tests.helpers_intake import delivery


def _message(slug: str, message_id: str | None = None, **body: Any) -> IncomingMessage:
    content = {"tenant": slug, "channel": "email", "received_at": datetime.now(UTC).isoformat(), **body}
    return delivery(f"{slug}.email", content, message_id=message_id)


async def _received(hub: Hub, reference: str) -> tuple[Enquiry, dict[str, Any]]:
    async with hub.sessionmaker() as session:
        enquiry = await session.scalar(select(Enquiry).where(Enquiry.reference == reference))
        assert enquiry is not None
        event = await session.scalar(
            select(EnquiryEvent).where(
                EnquiryEvent.enquiry_id == enquiry.id, EnquiryEvent.event == "enquiry.received"
            )
        )
        assert event is not None
        return enquiry, event.data


async def test_text_without_a_service_code_is_classified_and_the_terms_recorded(hub: Hub) -> None:
    slug = (await load_example(hub, "chorley")).tenant.slug
    result = await hub.intake.process(
        [
            _message(slug, text="Someone has dumped a mattress and tyres in the lane behind the shops"),
            _message(slug, text="Can I book the wedding venue at Astley Hall?"),
        ]
    )
    assert [o.status for o in result.outcomes] == ["accepted", "accepted"]
    dumped, data = await _received(hub, result.outcomes[0].reference or "")
    # Fly-tipping asks what was dumped; a classified enquiry is routed anyway and the adviser asks.
    assert dumped.service_code == "flytipping"
    assert data["classification"] == {
        "service_code": "flytipping",
        "matched_terms": ["dumped"],
        "score": 1,
        "fallback": False,
    }
    assert data["catalogue_version"] == dumped.catalogue_version == 1
    unknown, data = await _received(hub, result.outcomes[1].reference or "")
    assert unknown.service_code == "general"
    assert data["classification"] == {
        "service_code": "general",
        "matched_terms": [],
        "score": 0,
        "fallback": True,
    }


async def test_an_explicit_service_has_its_questions_checked(hub: Hub) -> None:
    slug = (await load_example(hub, "chorley")).tenant.slug
    result = await hub.intake.process(
        [
            _message(slug, service_code="missed-bin", text="bin"),
            _message(slug, service_code="missed-bin", attributes={"bin_type": "purple"}),
            _message(slug, service_code="bulky-waste", attributes={"items": ["sofa", "piano"]}),
            _message(slug, service_code="bulky-waste", attributes={"items": ["sofa"], "item_count": "two"}),
            _message(slug, service_code="bulky-waste", attributes={"items": "sofa", "item_count": 2}),
        ]
    )
    outcomes = [(o.status, o.code) for o in result.outcomes]
    assert outcomes == [
        ("rejected", "missing_field"),
        ("rejected", "invalid_field"),
        ("rejected", "invalid_field"),
        ("rejected", "invalid_field"),
        ("accepted", None),
    ]
    assert "attributes.bin_type" in (result.outcomes[0].detail or "")
    assert "'purple' is not one of grey, blue, green, brown" in (result.outcomes[1].detail or "")


async def test_outcomes_follow_the_messages_duplicates_included(hub: Hub) -> None:
    slug = (await load_example(hub, "lancashire")).tenant.slug
    first = _message(slug, "same-id", service_code="drains", text="Gully blocked on Church Lane")
    nul = _message(slug, service_code="drains", text="blocked\x00gully")
    result = await hub.intake.process([first, first, _message(slug, service_code="nope"), nul])
    assert [o.status for o in result.outcomes] == ["accepted", "duplicate", "rejected", "rejected"]
    assert result.outcomes[0].reference == result.outcomes[1].reference
    assert result.outcomes[2].code == "unknown_service"
    # PostgreSQL cannot store a NUL: the message is refused instead of failing the batch it came in.
    assert result.outcomes[3].code == "invalid_field"
    later = await hub.intake.process([first])  # a redelivery in a later batch
    assert later.outcomes[0].status == "duplicate"
    assert later.outcomes[0].reference == result.outcomes[0].reference
    assert (result.accepted, result.duplicates, result.rejected) == (1, 1, 2)
