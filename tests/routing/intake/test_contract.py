"""Contract v1 parsing, without a broker: the first problem found is reported with its code."""

from __future__ import annotations

import json
from typing import Any

from plumbing.bus.base import IncomingMessage
from routing.intake.contract import ErrorCode, NewEnquiry, Rejection, Withdrawal, parse
from tenants.catalogue import Catalogue, ServiceInfo, TenantInfo


def catalogue() -> Catalogue:
    services = {
        code: ServiceInfo(i, "chorley", code, code.title(), frozenset({"waste"}), 5, 20, 0.8, required)
        for i, (code, required) in enumerate(
            [("missed-bin", ()), ("council-tax", ("account_number",)), ("general", ())]
        )
    }
    return Catalogue(
        tenants={
            "chorley": TenantInfo("chorley", "Chorley", "partner", services),
            "hub": TenantInfo("hub", "Hub", "pool", {}),
        }
    )


def message(
    body: Any, *, key: str = "chorley.phone", type: str = "enquiry.v1", **props: Any
) -> IncomingMessage:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return IncomingMessage(
        routing_key=key,
        body=raw,
        message_id=props.pop("message_id", "m-1"),
        type=type,
        content_type=props.pop("content_type", "application/json"),
        **props,
    )


GOOD = {
    "tenant": "chorley",
    "channel": "phone",
    "received_at": "2026-11-02T09:15:00+00:00",
    "service_code": "missed-bin",
}


def test_a_good_enquiry_parses_with_the_service_priority() -> None:
    parsed = parse(message(GOOD), catalogue())
    assert isinstance(parsed, NewEnquiry)
    assert parsed.service.code == "missed-bin" and parsed.priority == 5 and parsed.channel == "phone"


def test_priority_in_the_message_wins() -> None:
    parsed = parse(message({**GOOD, "priority": 8}), catalogue())
    assert isinstance(parsed, NewEnquiry) and parsed.priority == 8


def test_text_without_a_service_goes_to_general_enquiries() -> None:
    body = {k: v for k, v in GOOD.items() if k != "service_code"} | {"text": "A question"}
    parsed = parse(message(body), catalogue())
    assert isinstance(parsed, NewEnquiry) and parsed.service.code == "general"


def test_a_withdrawal_parses() -> None:
    body = {
        "tenant": "chorley",
        "message_id": "m-0",
        "reason": "caller_hung_up",
        "at": "2026-11-02T09:16:00Z",
    }
    parsed = parse(message(body, type="enquiry.withdrawn.v1"), catalogue())
    assert isinstance(parsed, Withdrawal) and parsed.enquiry_message_id == "m-0"


def code_of(msg: IncomingMessage) -> str:
    parsed = parse(msg, catalogue())
    assert isinstance(parsed, Rejection), parsed
    assert parsed.detail
    return parsed.code


def test_rejections_carry_stable_codes() -> None:
    assert code_of(message(b"\xff\xfe")) == ErrorCode.BAD_JSON
    assert code_of(message(GOOD, key="hub.phone")) == ErrorCode.UNKNOWN_TENANT  # a pool is not a partner
    assert (
        code_of(message({**GOOD, "call": {"call_id": "c"}, "channel": "web"}, key="chorley.web"))
        == ErrorCode.INVALID_FIELD
    )
    assert code_of(message({**GOOD, "priority": 12})) == ErrorCode.INVALID_FIELD
    assert code_of(message({**GOOD, "priority": True})) == ErrorCode.INVALID_FIELD
    assert code_of(message({**GOOD, "customer": "Pat"})) == ErrorCode.INVALID_FIELD
    assert (
        code_of(message({**GOOD, "service_code": "council-tax", "attributes": {"account_number": ""}}))
        == ErrorCode.MISSING_FIELD
    )
    assert code_of(message({**GOOD, "text": "x" * 4001})) == ErrorCode.INVALID_FIELD
    assert code_of(message(GOOD, key="chorley.phone.extra")) == ErrorCode.BAD_ROUTING_KEY
    assert (
        code_of(
            message(
                {"tenant": "chorley", "message_id": "m", "reason": "bored", "at": "2026-11-02T09:16:00Z"},
                type="enquiry.withdrawn.v1",
            )
        )
        == ErrorCode.INVALID_FIELD
    )


def test_detail_names_the_field() -> None:
    parsed = parse(message({k: v for k, v in GOOD.items() if k != "received_at"}), catalogue())
    assert isinstance(parsed, Rejection) and "received_at" in parsed.detail
