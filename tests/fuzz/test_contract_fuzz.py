"""At least 10,000 generated deliveries against the contract v1 parser: it never raises, and every refusal carries a
stable code from ErrorCode with a sentence for people."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from plumbing.bus.base import IncomingMessage
from routing.intake.contract import CaseStatusUpdate, NewEnquiry, Rejection, Withdrawal, parse
from tests.fuzz.strategies import CODES, deliveries
from tests.routing.intake.test_contract import catalogue

CASES = 10_500
seen: dict[str, int] = {"cases": 0, "rejected": 0, "accepted": 0}


@settings(
    max_examples=CASES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(deliveries(["chorley"]))
def test_the_parser_refuses_bad_deliveries_with_a_code_and_never_crashes(delivery: dict[str, Any]) -> None:
    message = IncomingMessage(
        routing_key=delivery["routing_key"],
        body=delivery["body"],
        message_id=delivery["message_id"] or None,
        content_type=delivery["content_type"] or None,
        type=delivery["type"],
        user_id=delivery["user_id"],
        headers=delivery["headers"],
    )
    parsed = parse(message, catalogue())
    seen["cases"] += 1
    assert isinstance(parsed, NewEnquiry | Withdrawal | CaseStatusUpdate | Rejection)
    if isinstance(parsed, Rejection):
        seen["rejected"] += 1
        assert parsed.code in CODES
        assert isinstance(parsed.detail, str) and parsed.detail
    else:
        seen["accepted"] += 1
        assert parsed.tenant == "chorley"


def test_enough_cases_were_generated() -> None:
    # Runs after the property above (same module, file order): hypothesis ran every example asked for.
    assert seen["cases"] >= 10_000, seen
    assert seen["rejected"] > 1000 and seen["accepted"] > 50, seen
