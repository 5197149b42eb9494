"""A partner's side of the broker for tests: plain pika BlockingConnection, independent of the hub's code."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pika


@dataclass
class Delivered:
    routing_key: str
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None
    type: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)


class PartnerClient:
    """Publishes to hub.intake with confirms; reads hub.events and the dead-letter queue."""

    def __init__(self, url: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()
        self.channel.exchange_declare("hub.intake", "topic", durable=True)
        self.channel.exchange_declare("hub.events", "topic", durable=True)
        self.events_queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.events_queue, "hub.events", routing_key="#")

    def publish(
        self,
        routing_key: str,
        body: bytes | dict[str, Any],
        *,
        message_id: str | None = None,
        type: str = "enquiry.v1",
        content_type: str = "application/json",
        user_id: str | None = None,
    ) -> str:
        message_id = message_id if message_id is not None else uuid.uuid4().hex
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.channel.basic_publish(
            "hub.intake",
            routing_key,
            payload,
            pika.BasicProperties(
                message_id=message_id or None,
                content_type=content_type,
                type=type,
                delivery_mode=2,
                user_id=user_id,
            ),
            mandatory=True,
        )
        return message_id

    def _drain(self, queue: str) -> list[Delivered]:
        out = []
        while True:
            method, props, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            out.append(
                Delivered(method.routing_key, body, dict(props.headers or {}), props.message_id, props.type)
            )

    def events(self) -> list[Delivered]:
        return self._drain(self.events_queue)

    def rejected(self) -> list[Delivered]:
        return self._drain("hub.intake.rejected")

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()

    def sleep(self, seconds: float) -> None:
        self.connection.sleep(seconds)


def enquiry(
    tenant: str, channel: str = "phone", service_code: str | None = "missed-bin", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant": tenant,
        "channel": channel,
        "received_at": datetime.now(UTC).isoformat(),
        "text": "My bin was not emptied",
        "customer": {"name": "Pat Resident", "phone": "01257 000000", "uprn": "100010380000"},
    }
    if service_code is not None:
        body["service_code"] = service_code
    if channel == "phone":
        body["call"] = {"call_id": uuid.uuid4().hex, "caller": "01257 000000", "dialled": "0300 000 0000"}
    body.update(extra)
    return body


def wait_for(predicate, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s")


def close_connections(vhost: str, reason: str, *, client_name: str | None = None) -> int:
    """Have the broker close this vhost's connections (only those named ``client_name``, if given).

    ``rabbitmqctl list_connections`` ignores ``-p``: it lists every vhost's connections. Filtering on the vhost
    column here is what keeps a test from closing other runs' connections on a shared broker (it once closed
    every ``hub worker`` on the machine, soaks and benchmarks included).
    """
    ctl = shutil.which("rabbitmqctl") or "rabbitmqctl"
    listed = subprocess.run(
        [ctl, "-s", "list_connections", "pid", "vhost", "client_properties"],
        check=True,
        capture_output=True,
        text=True,
    )
    closed = 0
    for line in listed.stdout.splitlines():
        pid, _, rest = line.partition("\t")
        their_vhost, _, properties = rest.partition("\t")
        if their_vhost != vhost:
            continue
        if client_name is not None and f'"{client_name}"' not in properties:
            continue
        subprocess.run([ctl, "-q", "close_connection", pid, reason], check=False, capture_output=True)
        closed += 1
    return closed
