"""Intake messages as the hub's consumer hands them to ``hub.intake.process``, for tests that skip the broker."""

from __future__ import annotations

import json
import uuid
from typing import Any

from plumbing.bus.base import IncomingMessage


def delivery(
    routing_key: str, body: dict[str, Any], *, type: str = "enquiry.v1", message_id: str | None = None
) -> IncomingMessage:
    return IncomingMessage(
        routing_key=routing_key,
        body=json.dumps(body).encode(),
        message_id=message_id or uuid.uuid4().hex,
        content_type="application/json",
        type=type,
    )
