"""Hypothesis strategies for contract v1 deliveries: near-valid messages with one or more things wrong, and junk."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from routing.intake.contract import CHANNELS, ENQUIRY_TYPE, UPDATE_TYPE, WITHDRAWN_TYPE, ErrorCode

CODES = {v for k, v in vars(ErrorCode).items() if k.isupper()}
NASTY_TEXT = st.sampled_from(
    ["", " ", "\x00", "\u202e\ufeff", "null", "'; DROP TABLE enquiries; --", "ü" * 300, "x" * 5000, "1e309"]
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=60),
    NASTY_TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "tenant",
    "channel",
    "received_at",
    "service_code",
    "text",
    "priority",
    "customer",
    "attributes",
    "call",
    "location",
    "media_url",
    "message_id",
    "reason",
    "at",
    "reference",
    "status",
    "expected_date",
]
TIMES = st.sampled_from(
    ["2026-11-02T09:15:00+00:00", "2026-11-02T09:15:00", "2026-02-30T25:61:00Z", "yesterday", "", "0"]
)


def good_body(tenant: str, channel: str) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "channel": channel,
        "received_at": "2026-11-02T09:15:00+00:00",
        "service_code": "missed-bin",
        "text": "My bin was not emptied",
        "customer": {"name": "Pat", "phone": "01257 000000"},
    }


@st.composite
def bodies(draw: st.DrawFn, tenant: str, channel: str) -> bytes:
    """A valid body with fields dropped, replaced by any JSON, or added; or plain junk bytes."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return json.dumps(draw(JSON_VALUES)).encode()
    body: dict[str, Any] = good_body(tenant, channel)
    for _ in range(draw(st.integers(0, 4))):
        field = draw(st.sampled_from(FIELDS))
        action = draw(st.integers(0, 3))
        if action == 0:
            body.pop(field, None)
        elif action == 1 and field in ("received_at", "at"):
            body[field] = draw(TIMES)
        else:
            body[field] = draw(JSON_VALUES)
    return json.dumps(body, allow_nan=False).encode()


@st.composite
def routing_keys(draw: st.DrawFn, tenants: list[str]) -> str:
    part = st.one_of(st.sampled_from([*tenants, "hub", "nobody"]), st.text(max_size=12))
    kind = draw(st.integers(0, 5))
    if kind < 3:
        return f"{draw(st.sampled_from(tenants))}.{draw(st.sampled_from([*CHANNELS, 'update']))}"
    if kind == 3:
        return f"{draw(part)}.{draw(st.one_of(st.sampled_from(CHANNELS), st.text(max_size=8)))}"
    return ".".join(draw(st.lists(part, max_size=4)))[:255]


@st.composite
def deliveries(draw: st.DrawFn, tenants: list[str]) -> dict[str, Any]:
    """Everything a partner controls: routing key, body and properties (message_id, type, content_type, user_id)."""
    key = draw(routing_keys(tenants))
    head, _, tail = key.partition(".")
    tenant = head if head in tenants else tenants[0]
    channel = tail if tail in CHANNELS else "phone"
    return {
        "routing_key": key,
        "body": draw(bodies(tenant, channel)),
        "message_id": draw(
            st.one_of(st.uuids().map(str), st.sampled_from(["", "x" * 201, "a\x00b"]), st.text(max_size=40))
        ),
        "type": draw(
            st.one_of(
                st.sampled_from([ENQUIRY_TYPE, ENQUIRY_TYPE, WITHDRAWN_TYPE, UPDATE_TYPE]),
                st.text(max_size=20),
            )
        ),
        "content_type": draw(st.sampled_from(["application/json", "application/json", "", "text/plain"])),
        "user_id": draw(st.one_of(st.none(), st.sampled_from([*tenants, "guest", "mallory"]))),
        "headers": draw(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3)),
    }
