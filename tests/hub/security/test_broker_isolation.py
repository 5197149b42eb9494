"""Broker isolation: a partner's RabbitMQ user publishes only to hub.intake under its own routing-key prefix.

Each partner user gets (in this run's vhost) write permission on ``hub.intake`` alone and the topic permission
``^<slug>\\.`` on it; RabbitMQ itself refuses another prefix (ACCESS_REFUSED) and a ``user_id`` that is not the
connection's own user (PRECONDITION_FAILED). The hub checks ``user_id`` too: a trusted connection that publishes for a
partner with another ``user_id`` is rejected with ``user_mismatch``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import uuid
from collections.abc import Iterator

import pika
import pika.exceptions
import pytest

from hub.runtime import Hub
from hub.worker import Worker
from tests.conftest import AMQP_HOST, eventually
from tests.helpers_amqp import PartnerClient, enquiry
from tests.routing.intake.test_amqp_intake import _enquiries


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True)


def grant_partner_user(vhost: str, slug: str, password: str) -> None:
    """What an operator runs per partner (documented in docs/guarantees.md)."""
    _ctl("add_user", slug, password)
    _ctl("set_permissions", "-p", vhost, slug, "^$", "^hub\\.intake$", "^$")
    _ctl("set_topic_permissions", "-p", vhost, slug, "hub.intake", f"^{slug}\\.", "^$")


@pytest.fixture
def partner_users(amqp_vhost: str) -> Iterator[list[tuple[str, str]]]:
    made: list[tuple[str, str]] = []
    yield made
    for user, _ in made:
        subprocess.run(["rabbitmqctl", "-q", "delete_user", user], check=False, capture_output=True)


def _publish(vhost: str, user: str, password: str, routing_key: str, body: dict, **props: str) -> None:
    params = pika.ConnectionParameters(
        host=AMQP_HOST, virtual_host=vhost, credentials=pika.PlainCredentials(user, password)
    )
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            "hub.intake",
            routing_key,
            json.dumps(body).encode(),
            pika.BasicProperties(
                message_id=uuid.uuid4().hex,
                content_type="application/json",
                type="enquiry.v1",
                delivery_mode=2,
                **props,
            ),
            mandatory=True,
        )
    finally:
        if connection.is_open:
            connection.close()


async def test_a_partner_user_publishes_only_its_own_keys_and_cannot_spoof_user_id(
    hub: Hub, worker: Worker, make_partner, amqp_url: str, amqp_vhost: str, partner_users: list
) -> None:
    a, b = await make_partner("amqp-a", agents=0), await make_partner("amqp-b", agents=0)
    await asyncio.wait_for(worker.amqp_ready.wait(), timeout=15)  # hub.intake exists
    password_a = secrets.token_urlsafe(12)
    await asyncio.to_thread(grant_partner_user, amqp_vhost, a.slug, password_a)
    partner_users.append((a.slug, password_a))

    # Its own key: accepted by the broker and by the hub.
    await asyncio.to_thread(_publish, amqp_vhost, a.slug, password_a, f"{a.slug}.phone", enquiry(a.slug))
    await eventually(lambda: _enquiries(hub, a.slug), timeout=15)

    # The other partner's key: the broker closes the channel with ACCESS_REFUSED (403).
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        await asyncio.to_thread(_publish, amqp_vhost, a.slug, password_a, f"{b.slug}.phone", enquiry(b.slug))
    assert refused.value.reply_code == 403 and "ACCESS_REFUSED" in refused.value.reply_text

    # A spoofed user_id (b's name on a's connection): the broker refuses it (PRECONDITION_FAILED, 406).
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as spoofed:
        await asyncio.to_thread(
            _publish, amqp_vhost, a.slug, password_a, f"{a.slug}.phone", enquiry(a.slug), user_id=b.slug
        )
    assert spoofed.value.reply_code == 406

    # Nor may it read anything, or publish anywhere but hub.intake.
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as reading:
        params = pika.ConnectionParameters(
            host=AMQP_HOST, virtual_host=amqp_vhost, credentials=pika.PlainCredentials(a.slug, password_a)
        )
        connection = await asyncio.to_thread(pika.BlockingConnection, params)
        try:
            await asyncio.to_thread(connection.channel().basic_get, "hub.intake.rejected")
        finally:
            if connection.is_open:
                connection.close()
    assert reading.value.reply_code == 403

    # The hub's own check: a connection allowed to publish anything (guest) naming user_id 'guest' for b.
    client = PartnerClient(amqp_url)
    try:
        client.publish(f"{b.slug}.phone", enquiry(b.slug), user_id="guest")

        def rejected() -> list:
            return [d for d in client.rejected() if d.headers.get("x-hub-error") == "user_mismatch"] or []

        found: list = []

        def has_mismatch() -> bool:
            found.extend(rejected())
            return bool(found)

        await eventually(has_mismatch, timeout=15)
    finally:
        client.close()
    assert await _enquiries(hub, b.slug) == []
