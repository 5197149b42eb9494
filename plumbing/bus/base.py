"""Messages in and out, and the broker contract both transports keep."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

INTAKE_EXCHANGE = "hub.intake"
INTAKE_QUEUE = "hub.intake"
EVENTS_EXCHANGE = "hub.events"
REJECTED_EXCHANGE = "hub.intake.dlx"
REJECTED_QUEUE = "hub.intake.rejected"


class PublishError(Exception):
    """A publish the broker refused (nack) or could not route (mandatory return)."""


@dataclass(frozen=True)
class OutgoingMessage:
    exchange: str
    routing_key: str
    body: bytes
    message_id: str
    type: str
    headers: dict[str, Any] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(frozen=True)
class IncomingMessage:
    """One delivery from ``hub.intake``, with the properties contract v1 reads."""

    routing_key: str
    body: bytes
    message_id: str | None = None
    content_type: str | None = None
    type: str | None = None
    user_id: str | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    redelivered: bool = False
    delivery_tag: int = 0
    undecodable: tuple[str, ...] = ()  # properties that were not UTF-8 (kept decoded with U+FFFD): refused


class Publisher(Protocol):
    async def publish_many(self, messages: list[OutgoingMessage]) -> None:
        """Publish every message and return once the broker confirmed them all; raise PublishError if not."""


BatchHandler = Callable[[list[IncomingMessage]], Awaitable[None]]
