"""deploy/rabbitmq/definitions.json loaded into the real broker (a vhost and users of this test's own):
the worker's declare is idempotent against it, and the broker itself enforces the partners' permissions."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import pika.exceptions
import pytest

from plumbing.bus.amqp import AmqpConnection, declare_topology
from plumbing.bus.base import OutgoingMessage
from plumbing.settings import Settings
from tests.conftest import AMQP_HOST, RUN_ID

DEFINITIONS = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq" / "definitions.json"


def _hash(password: str) -> str:
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


class Loaded:
    def __init__(self, vhost: str, suffix: str, password: str) -> None:
        self.vhost = vhost
        self.suffix = suffix
        self.password = password

    def url(self, user: str) -> str:
        return f"amqp://{user}{self.suffix}:{self.password}@{AMQP_HOST}:5672/{self.vhost}"


@pytest.fixture(scope="module")
def loaded() -> Iterator[Loaded]:
    """The definitions with the vhost and user names made unique and a known password for every user."""
    ctl = shutil.which("rabbitmqctl")
    assert ctl, "rabbitmqctl is needed"
    data = json.loads(DEFINITIONS.read_text())
    suffix = f"_{RUN_ID}_{uuid.uuid4().hex[:4]}"
    vhost = f"hub_defs{suffix}"
    password = uuid.uuid4().hex
    users = [u["name"] for u in data["users"]]
    for user in data["users"]:
        user["name"] += suffix
        user["password_hash"] = _hash(password)
    for section in ("permissions", "topic_permissions"):
        for entry in data[section]:
            entry["user"] += suffix
    for section in ("vhosts",):
        for entry in data[section]:
            entry["name"] = vhost
    for section in ("permissions", "topic_permissions", "exchanges", "queues", "bindings"):
        for entry in data[section]:
            entry["vhost"] = vhost
    # From stdin: rabbitmqctl may run as the broker's own user, who cannot read our temporary files.
    result = subprocess.run(
        [ctl, "-q", "import_definitions"], input=json.dumps(data), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr or result.stdout
    try:
        yield Loaded(vhost, suffix, password)
    finally:
        subprocess.run([ctl, "-q", "delete_vhost", vhost], check=False, capture_output=True)
        for user in users:
            subprocess.run([ctl, "-q", "delete_user", user + suffix], check=False, capture_output=True)


async def test_the_workers_declare_is_idempotent_against_the_definitions(loaded: Loaded) -> None:
    connection = await AmqpConnection.open(loaded.url("hub"), name="test-definitions")
    try:
        channel = await connection.channel()
        # Same names, same arguments: no PRECONDITION_FAILED (which would close the channel).
        await declare_topology(channel, delivery_limit=Settings().intake_delivery_limit)
        await declare_topology(channel, delivery_limit=Settings().intake_delivery_limit)
        assert not channel.closed.done()
        # An event is routable with no partner listening (the events log stream is bound), so the
        # outbox relay, which publishes with `mandatory`, never stalls on it.
        await channel.enable_confirms()
        await channel.publish_many(
            [OutgoingMessage("hub.events", "chorley.enquiry.queued", b"{}", "evt-1", "enquiry.queued")]
        )
    finally:
        await connection.close()


def _publish(url: str, exchange: str, routing_key: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            exchange, routing_key, b"{}", pika.BasicProperties(message_id="m"), mandatory=True
        )
    finally:
        if connection.is_open:
            connection.close()


def test_a_partner_publishes_to_intake_only_under_its_own_prefix(loaded: Loaded) -> None:
    chorley = loaded.url("chorley")
    _publish(chorley, "hub.intake", "chorley.phone")  # allowed, and routed to hub.intake
    for exchange, key in (
        ("hub.intake", "lancashire.phone"),  # another partner's prefix: topic permission refuses it
        ("hub.intake", "south-ribble.web"),
        ("hub.events", "chorley.enquiry.queued"),  # only the hub announces events
        ("hub.intake.dlx", "chorley.phone"),
        ("", "hub.intake"),  # the default exchange straight into the queue
    ):
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            _publish(chorley, exchange, key)
        assert refused.value.reply_code == 403, (exchange, key)
    # Nor may it read the intake queue or its dead letters.
    connection = pika.BlockingConnection(pika.URLParameters(chorley))
    try:
        for queue in ("hub.intake", "hub.intake.rejected"):
            channel = connection.channel()
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
                channel.basic_get(queue)
            assert refused.value.reply_code == 403
    finally:
        connection.close()


def test_a_partner_reads_only_its_own_events(loaded: Loaded) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(loaded.url("lancashire")))
    try:
        channel = connection.channel()
        queue = "lancashire.events.console"
        channel.queue_declare(queue, exclusive=True)
        channel.queue_bind(queue, "hub.events", routing_key="lancashire.#")
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.queue_bind(queue, "hub.events", routing_key="chorley.#")
        assert refused.value.reply_code == 403
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.queue_declare("someone-elses-queue")
        assert refused.value.reply_code == 403
    finally:
        connection.close()
