"""The poison corpus (tests/fuzz/poison.py): every message is refused with its code at first sight, by the parser,
by intake with good messages around it (one transaction for the batch), and through the real broker and worker
(one delivery each, on the rejected queue with ``x-hub-error``; never a redelivery, never the broker's limit)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.worker import Worker
from plumbing.bus.base import REJECTED_EXCHANGE
from plumbing.bus.models import OutboxMessage
from routing.intake.contract import ErrorCode, Rejection, parse
from routing.models import Enquiry, IntakeRejection
from tests.conftest import eventually
from tests.fuzz.poison import Poison, corpus, generated, good_body
from tests.helpers_amqp import PartnerClient
from tests.helpers_intake import delivery
from tests.routing.intake.test_contract import catalogue


def test_the_parser_refuses_every_poison_kind_with_its_code() -> None:
    for poison in corpus("chorley"):
        parsed = parse(poison.delivery(), catalogue())
        assert isinstance(parsed, Rejection), (poison.name, parsed)
        assert (parsed.code, poison.name) == (poison.code, poison.name), parsed.detail
        assert parsed.detail and len(parsed.detail) < 1000


@settings(max_examples=600, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(generated("chorley"))
def test_generated_poison_is_refused_with_its_code(poison: Poison) -> None:
    parsed = parse(poison.delivery(), catalogue())
    assert isinstance(parsed, Rejection) and parsed.code == poison.code, (poison, parsed)


def test_a_good_body_at_the_limits_is_accepted() -> None:
    """The limits are not off by one: 16 levels, a 10,000-character string and the year 2100 pass."""
    nested: Any = "leaf"
    for _ in range(14):  # body 1, attributes 2, then 14 more objects: 16 levels
        nested = {"a": nested}
    body = good_body("chorley", attributes={"deep": nested, "s": "y" * 10_000, "n": 2**63 - 1})
    body["received_at"] = "2100-12-31T23:00:00+00:00"
    parsed = parse(delivery("chorley.phone", body), catalogue())
    assert not isinstance(parsed, Rejection), parsed


async def test_poison_among_good_messages_is_refused_in_the_same_single_batch(hub: Hub, make_partner) -> None:
    partner = await make_partner("poison", agents=0)
    poisons = corpus(partner.slug)
    good = [delivery(f"{partner.slug}.phone", good_body(partner.slug)) for _ in range(40)]
    batch = good[:20] + [p.delivery(tag=i) for i, p in enumerate(poisons)] + good[20:]

    result = await hub.intake.process(batch)  # one call, one transaction: it must not raise

    assert result.accepted == 40 and result.rejected == len(poisons)
    ids = [p.id_text() for p in poisons]
    async with hub.sessionmaker() as session:
        stored = set(
            (
                await session.scalars(select(Enquiry.message_id).where(Enquiry.tenant_slug == partner.slug))
            ).all()
        )
        rows = (
            await session.execute(
                select(IntakeRejection.message_id, IntakeRejection.code).where(
                    IntakeRejection.message_id.in_(ids)
                )
            )
        ).all()
        events = (
            await session.scalars(
                select(OutboxMessage.message_type).where(
                    OutboxMessage.routing_key == f"{partner.slug}.enquiry.rejected"
                )
            )
        ).all()
    assert stored == {m.message_id for m in good}
    assert dict(rows) == {p.id_text(): p.code for p in poisons}
    # every refusal is announced; one whose routing key was not UTF-8 still names the partner it claimed
    assert list(events) == ["enquiry.rejected"] * len(poisons)
    blob = next(p for p in poisons if p.name == "5 MB attributes")
    async with hub.sessionmaker() as session:
        back = (
            await session.execute(
                select(OutboxMessage.headers, func.length(OutboxMessage.body)).where(
                    OutboxMessage.exchange == REJECTED_EXCHANGE, OutboxMessage.message_id == blob.id_text()
                )
            )
        ).one()
    # the rejected queue gets it back cut to the message limit, its real size in a header
    assert back == ({**back[0], "x-hub-body-bytes": len(blob.body)}, hub.settings.intake_max_message_bytes)


async def test_each_poison_message_is_refused_on_first_delivery_through_the_broker(
    hub: Hub, worker: Worker, make_partner, amqp_url: str
) -> None:
    partner = await make_partner("poison", agents=0)
    await asyncio.wait_for(worker.amqp_ready.wait(), timeout=15)
    poisons = corpus(partner.slug)
    seen: dict[str, int] = {}
    failed: list[int] = []
    real_process = hub.intake.process

    async def counting(batch: list[Any]) -> Any:
        try:
            return await real_process(batch)
        except Exception:
            failed.append(len(batch))
            raise
        finally:
            for message in batch:
                seen[message.message_id or ""] = seen.get(message.message_id or "", 0) + 1

    hub.intake.process = counting  # type: ignore[method-assign]
    client = PartnerClient(amqp_url)
    try:
        client.rejected()
        for poison in poisons:
            client.channel.basic_publish("hub.intake", poison.routing_key, poison.body, poison.properties())
        got: list[Any] = []

        def all_rejected() -> bool:
            got.extend(d for d in client.rejected() if d.routing_key.startswith(partner.slug))
            return len(got) >= len(poisons)

        await eventually(all_rejected, timeout=60, interval=0.2)
        await asyncio.sleep(1)  # nothing more comes: no redelivery, nothing dead-lettered later
        got.extend(d for d in client.rejected() if d.routing_key.startswith(partner.slug))
    finally:
        client.close()
        hub.intake.process = real_process  # type: ignore[method-assign]
    by_id = {d.message_id: d for d in got}
    expected = {p.id_text(): p.code for p in poisons}
    assert len(got) == len(poisons)
    assert {
        (
            d.message_id if isinstance(d.message_id, str) else d.message_id.decode("utf-8", "replace")
        ): d.headers.get("x-hub-error")
        for d in by_id.values()
    } == expected
    assert all("x-first-death-reason" not in d.headers for d in got)  # refused by the hub, not the broker
    assert not failed, failed  # no batch failed
    assert {k: v for k, v in seen.items() if k in expected} == dict.fromkeys(expected, 1)


async def test_distinct_bad_messages_each_reach_the_rejected_queue(
    hub: Hub, worker: Worker, make_partner, amqp_url: str
) -> None:
    """Deduplication is for accepted enquiries: two bad messages under one id, two identical bad bodies with none."""
    partner = await make_partner("poison", agents=0)
    await asyncio.wait_for(worker.amqp_ready.wait(), timeout=15)
    key = f"{partner.slug}.phone"
    client = PartnerClient(amqp_url)
    try:
        client.rejected()
        shared = f"same-id-{partner.slug}"
        client.publish(key, good_body(partner.slug, received_at=12345), message_id=shared)
        client.publish(key, good_body(partner.slug, service_code="no-such-service"), message_id=shared)
        client.publish(key, b"{not json", message_id="")  # no message_id: missing_message_id, twice
        client.publish(key, b"{not json", message_id="")
        got: list[Any] = []

        def four() -> bool:
            got.extend(d for d in client.rejected() if d.routing_key.startswith(partner.slug))
            return len(got) >= 4

        await eventually(four, timeout=30, interval=0.2)
        await asyncio.sleep(0.5)
        got.extend(d for d in client.rejected() if d.routing_key.startswith(partner.slug))
    finally:
        client.close()
    codes = sorted(d.headers["x-hub-error"] for d in got)
    assert codes == sorted(
        [
            ErrorCode.INVALID_FIELD,
            ErrorCode.UNKNOWN_SERVICE,
            ErrorCode.MISSING_MESSAGE_ID,
            ErrorCode.MISSING_MESSAGE_ID,
        ]
    )
    async with hub.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(IntakeRejection.code).where(IntakeRejection.claimed_tenant == partner.slug)
            )
        ).all()
    assert sorted(rows) == codes


async def test_a_redelivered_bad_message_is_refused_once(hub: Hub, make_partner) -> None:
    """A redelivery (same id, same body) after a crash between commit and ack is not refused a second time."""
    partner = await make_partner("poison", agents=0)
    bad = delivery(f"{partner.slug}.phone", good_body(partner.slug, received_at=12345))
    await hub.intake.process([bad])
    await hub.intake.process([bad])
    async with hub.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(IntakeRejection.code).where(IntakeRejection.message_id == bad.message_id)
            )
        ).all()
    assert rows == [ErrorCode.INVALID_FIELD]
