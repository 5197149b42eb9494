"""Intake over AMQP, contract v1: enquiries queued, duplicates absorbed, bad messages dead-lettered."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.worker import Worker
from routing.models import Enquiry, EnquiryEvent, IntakeRejection
from tests.conftest import eventually
from tests.helpers_amqp import PartnerClient, enquiry


@pytest.fixture
def partner_client(amqp_url: str) -> Iterator[PartnerClient]:
    client = PartnerClient(amqp_url)
    yield client
    client.close()


async def _ready(worker: Worker) -> None:
    await asyncio.wait_for(worker.amqp_ready.wait(), timeout=15)


async def _enquiries(hub: Hub, tenant: str) -> list[Enquiry]:
    async with hub.sessionmaker() as session:
        return list((await session.scalars(select(Enquiry).where(Enquiry.tenant_slug == tenant))).all())


async def _collect_events(client: PartnerClient, into: list, want: int) -> bool:  # type: ignore[type-arg]
    into.extend(client.events())
    return len(into) >= want


async def test_enquiry_is_stored_queued_and_announced(
    hub: Hub, worker: Worker, make_partner, partner_client: PartnerClient
) -> None:
    partner = await make_partner(agents=0)
    await _ready(worker)
    message_id = partner_client.publish(f"{partner.slug}.phone", enquiry(partner.slug))

    stored = await eventually(lambda: _enquiries(hub, partner.slug))
    assert len(stored) == 1
    assert stored[0].message_id == message_id
    assert stored[0].state == "queued"
    assert stored[0].service_code == "missed-bin"

    events: list = []

    async def ours_announced() -> bool:  # other tests' events still leaving their outbox may come through too
        await _collect_events(partner_client, events, 0)
        return len([e for e in events if e.json().get("owner") == partner.slug]) >= 2

    await eventually(ours_announced)
    mine = [e for e in events if e.json().get("owner") == partner.slug]
    assert [e.json()["event"] for e in mine] == ["enquiry.received", "enquiry.queued"]
    for event in mine:
        body = event.json()
        assert event.routing_key == f"{partner.slug}.{body['event']}"
        assert body["message_id"] == message_id
        assert body["enquiry_id"] == stored[0].id
        assert body["reference"] == stored[0].reference
        assert body["service_code"] == "missed-bin" and body["channel"] == "phone"
        assert body["at"].endswith("+00:00")
    assert await hub.live.queue_depths() == {f"{partner.slug}/missed-bin": 1}


async def test_the_same_message_twice_makes_one_enquiry(
    hub: Hub, worker: Worker, make_partner, partner_client: PartnerClient
) -> None:
    partner = await make_partner(agents=0)
    await _ready(worker)
    body = enquiry(partner.slug)
    message_id = partner_client.publish(f"{partner.slug}.phone", body)
    await eventually(lambda: _enquiries(hub, partner.slug))
    partner_client.publish(f"{partner.slug}.phone", body, message_id=message_id)  # a later redelivery
    partner_client.publish(f"{partner.slug}.phone", body, message_id=message_id)
    marker = partner_client.publish(f"{partner.slug}.web", enquiry(partner.slug, channel="web"))

    async def settled() -> bool:
        return any(e.message_id == marker for e in await _enquiries(hub, partner.slug))

    await eventually(settled)
    rows = await _enquiries(hub, partner.slug)
    assert sorted(e.message_id for e in rows) == sorted([message_id, marker])
    async with hub.sessionmaker() as session:
        queued = await session.scalar(
            select(func.count())
            .select_from(EnquiryEvent)
            .where(EnquiryEvent.tenant_slug == partner.slug, EnquiryEvent.event == "enquiry.queued")
        )
    assert queued == 2
    assert sum((await hub.live.queue_depths()).values()) == 2


def _bad_messages(slug: str) -> list[tuple[str, dict, str]]:  # type: ignore[type-arg]
    """(case, publish kwargs, expected x-hub-error)."""
    good = enquiry(slug)
    return [
        ("bad json", {"routing_key": f"{slug}.phone", "body": b"{not json"}, "bad_json"),
        ("json array", {"routing_key": f"{slug}.phone", "body": b"[1, 2]"}, "bad_json"),
        (
            "unknown tenant",
            {"routing_key": "nobody-here.phone", "body": enquiry("nobody-here")},
            "unknown_tenant",
        ),
        (
            "key and body disagree",
            {"routing_key": f"{slug}.phone", "body": {**good, "tenant": "someone-else"}},
            "tenant_mismatch",
        ),
        ("channel disagrees", {"routing_key": f"{slug}.web", "body": good}, "channel_mismatch"),
        (
            "unknown service",
            {"routing_key": f"{slug}.phone", "body": {**good, "service_code": "no-such"}},
            "unknown_service",
        ),
        (
            "missing received_at",
            {"routing_key": f"{slug}.phone", "body": {k: v for k, v in good.items() if k != "received_at"}},
            "missing_field",
        ),
        (
            "naive received_at",
            {"routing_key": f"{slug}.phone", "body": {**good, "received_at": "2026-11-01T10:00:00"}},
            "invalid_field",
        ),
        (
            "priority of the wrong type",
            {"routing_key": f"{slug}.phone", "body": {**good, "priority": "high"}},
            "invalid_field",
        ),
        (
            "required attribute missing",
            {"routing_key": f"{slug}.phone", "body": {**good, "service_code": "council-tax"}},
            "missing_field",
        ),
        (
            "no service and no text",
            {"routing_key": f"{slug}.phone", "body": {**enquiry(slug, service_code=None), "text": None}},
            "missing_field",
        ),
        ("bad routing key", {"routing_key": f"{slug}", "body": good}, "bad_routing_key"),
        (
            "unknown channel",
            {"routing_key": f"{slug}.fax", "body": {**good, "channel": "fax"}},
            "bad_routing_key",
        ),
        (
            "unknown type",
            {"routing_key": f"{slug}.phone", "body": good, "type": "enquiry.v9"},
            "unknown_type",
        ),
        (
            "not json content type",
            {"routing_key": f"{slug}.phone", "body": good, "content_type": "text/xml"},
            "bad_content_type",
        ),
        (
            "no message id",
            {"routing_key": f"{slug}.phone", "body": good, "message_id": ""},
            "missing_message_id",
        ),
        (
            "broker user is not the tenant",
            {"routing_key": f"{slug}.phone", "body": good, "user_id": "guest"},
            "user_mismatch",
        ),
        (
            "withdrawal of an unknown enquiry",
            {
                "routing_key": f"{slug}.phone",
                "body": {
                    "tenant": slug,
                    "message_id": "never-sent",
                    "reason": "caller_hung_up",
                    "at": good["received_at"],
                },
                "type": "enquiry.withdrawn.v1",
            },
            "unknown_enquiry",
        ),
    ]


async def test_each_kind_of_bad_message_is_dead_lettered_with_its_code(
    hub: Hub, worker: Worker, make_partner, partner_client: PartnerClient
) -> None:
    partner = await make_partner(agents=0)
    await _ready(worker)
    partner_client.rejected()  # start from an empty dead-letter queue
    cases = _bad_messages(partner.slug)
    sent: dict[str, tuple[str, str]] = {}
    for case, kwargs, code in cases:
        kwargs = dict(kwargs)
        routing_key, body = kwargs.pop("routing_key"), kwargs.pop("body")
        kwargs.setdefault("message_id", f"bad-{uuid.uuid4().hex}")
        message_id = partner_client.publish(routing_key, body, **kwargs)
        sent[case] = (message_id, code)
    # The consumer keeps going: a good message after the bad ones is accepted.
    good_id = partner_client.publish(f"{partner.slug}.phone", enquiry(partner.slug))

    async def good_arrived() -> bool:
        return any(e.message_id == good_id for e in await _enquiries(hub, partner.slug))

    await eventually(good_arrived)
    dead: list = []

    async def all_dead_lettered() -> bool:
        dead.extend(partner_client.rejected())
        return len(dead) >= len(cases)

    await eventually(all_dead_lettered)
    by_detail = {(d.message_id or "", d.headers["x-hub-error"]) for d in dead}
    for case, (message_id, code) in sent.items():
        if message_id:
            assert (message_id, code) in by_detail, (
                f"{case}: expected {code}, got {[c for m, c in by_detail if m == message_id]}"
            )
        else:
            assert any(c == code for _m, c in by_detail), case
    for d in dead:
        assert d.headers["x-hub-error-detail"], "every rejection explains itself"
    # Nothing else changed: only the good enquiry exists for this partner.
    assert [e.message_id for e in await _enquiries(hub, partner.slug)] == [good_id]
    async with hub.sessionmaker() as session:
        codes = (
            await session.scalars(
                select(IntakeRejection.code).where(
                    IntakeRejection.message_id.in_([m for m, _ in sent.values() if m])
                )
            )
        ).all()
    assert sorted(codes) == sorted(code for m, code in sent.values() if m)
    # And an enquiry.rejected event went out for the partner's own rejections.
    events = [e.json() for e in partner_client.events()]
    assert any(e["event"] == "enquiry.rejected" and e["owner"] == partner.slug for e in events)


async def test_a_caller_who_hangs_up_while_waiting_is_abandoned(
    hub: Hub, worker: Worker, make_partner, partner_client: PartnerClient
) -> None:
    partner = await make_partner(agents=0)
    await _ready(worker)
    body = enquiry(partner.slug)
    message_id = partner_client.publish(f"{partner.slug}.phone", body)
    await eventually(lambda: _enquiries(hub, partner.slug))
    withdrawal = {
        "tenant": partner.slug,
        "message_id": message_id,
        "reason": "caller_hung_up",
        "at": body["received_at"],
    }
    partner_client.publish(f"{partner.slug}.phone", withdrawal, type="enquiry.withdrawn.v1")

    async def abandoned() -> bool:
        rows = await _enquiries(hub, partner.slug)
        return rows[0].state == "abandoned"

    await eventually(abandoned)
    assert await hub.live.queue_depths() == {}
    # Redelivered withdrawal: no second abandonment.
    partner_client.publish(f"{partner.slug}.phone", withdrawal, type="enquiry.withdrawn.v1")
    await asyncio.sleep(0.5)
    async with hub.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(EnquiryEvent)
            .where(EnquiryEvent.tenant_slug == partner.slug, EnquiryEvent.event == "enquiry.abandoned")
        )
    assert count == 1
    assert json.loads(json.dumps(withdrawal))  # the body we sent was plain JSON
