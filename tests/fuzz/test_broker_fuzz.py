"""A few hundred generated deliveries through the real broker and worker: each ends as exactly one enquiry or one
rejection carrying its code, nothing is dead-lettered (no crash), and the worker keeps going."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pika
from hypothesis import HealthCheck, Phase, given, settings
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.worker import Worker
from routing.models import Enquiry, IntakeRejection
from tests.conftest import eventually
from tests.fuzz.strategies import CODES, deliveries
from tests.helpers_amqp import PartnerClient

THROUGH_BROKER = 300


def generate(n: int, tenants: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(deliveries(tenants))
    def collect(delivery: dict[str, Any]) -> None:
        out.append(delivery)

    collect()
    return out


async def test_generated_deliveries_through_the_broker_each_end_once_with_a_code(
    hub: Hub, worker: Worker, make_partner, amqp_url: str
) -> None:
    partner = await make_partner("fuzz", agents=0)
    await asyncio.wait_for(worker.amqp_ready.wait(), timeout=15)
    generated = [d for d in generate(THROUGH_BROKER, [partner.slug]) if len(d["routing_key"].encode()) <= 255]
    assert len(generated) >= 250
    client = PartnerClient(amqp_url)
    client.rejected()  # start from an empty rejection queue
    ids: list[str] = []
    try:
        for delivery in generated:
            # unique ids, so that "exactly once" is checkable; a few keep no id at all
            message_id = "" if delivery["message_id"] == "" else f"fuzz-{uuid.uuid4().hex}"
            client.channel.basic_publish(
                "hub.intake",
                delivery["routing_key"],
                delivery["body"],
                pika.BasicProperties(
                    message_id=message_id or None,
                    content_type=delivery["content_type"] or None,
                    type=delivery["type"] or None,
                    # the broker itself refuses any user_id but the connection's own (see test_broker_isolation)
                    user_id="guest" if delivery["user_id"] else None,
                    headers=delivery["headers"],
                    delivery_mode=2,
                ),
            )
            if message_id:
                ids.append(message_id)

        async def outcomes() -> dict[str, int]:
            async with hub.sessionmaker() as session:
                enquiries = await session.execute(
                    select(Enquiry.message_id, func.count())
                    .where(Enquiry.message_id.in_(ids))
                    .group_by(Enquiry.message_id)
                )
                rejections = await session.execute(
                    select(IntakeRejection.message_id, func.count())
                    .where(IntakeRejection.message_id.in_(ids))
                    .group_by(IntakeRejection.message_id)
                )
            counts: dict[str, int] = {}
            for message_id, n in [*enquiries.all(), *rejections.all()]:
                counts[message_id] = counts.get(message_id, 0) + n
            return counts

        async def all_ended() -> bool:
            return len(await outcomes()) == len(ids)

        await eventually(all_ended, timeout=90, interval=0.5)
        counts = await outcomes()
        assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
        async with hub.sessionmaker() as session:
            codes = set(
                (
                    await session.scalars(
                        select(IntakeRejection.code).where(IntakeRejection.message_id.in_(ids))
                    )
                ).all()
            )
        assert codes <= CODES and len(codes) >= 5, codes
        await asyncio.sleep(0.5)
        rejected = client.rejected()
        # every message on the rejection queue was refused by the hub with a code; none was dead-lettered
        assert rejected and all(d.headers.get("x-hub-error") in CODES for d in rejected), [
            d.headers for d in rejected if d.headers.get("x-hub-error") not in CODES
        ][:3]
        assert not worker.stop.is_set()
    finally:
        client.close()
