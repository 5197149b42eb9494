"""enquiry.update.v1 parsing, without a broker: statuses normalised, the first problem reported with its code."""

from __future__ import annotations

import pytest

from routing.intake.contract import CaseStatusUpdate, Rejection, parse
from tests.routing.intake.test_contract import catalogue, message

UPDATE = {
    "tenant": "chorley",
    "reference": "CHO-7K3M-9QX2-D4",
    "status": "In progress",
    "notes": "Crew sent",
    "expected_date": "2026-11-05",
    "at": "2026-11-02T09:15:00Z",
}


def test_an_update_parses_with_its_status_normalised() -> None:
    parsed = parse(message(UPDATE, key="chorley.update", type="enquiry.update.v1"), catalogue())
    assert isinstance(parsed, CaseStatusUpdate)
    assert parsed.status == "in_progress" and parsed.reference == UPDATE["reference"]
    assert parsed.expected_date is not None and parsed.expected_date.isoformat() == "2026-11-05"
    assert parsed.message_id == "m-1" and parsed.tenant == "chorley"


@pytest.mark.parametrize(
    ("body", "key", "code"),
    [
        ({**UPDATE, "status": "lost"}, "chorley.update", "invalid_field"),
        ({k: v for k, v in UPDATE.items() if k != "reference"}, "chorley.update", "missing_field"),
        ({**UPDATE, "at": "2026-11-02T09:15:00"}, "chorley.update", "invalid_field"),
        ({**UPDATE, "expected_date": "soon"}, "chorley.update", "invalid_field"),
        (UPDATE, "chorley.phone", "bad_routing_key"),
        ({**UPDATE, "tenant": "preston"}, "chorley.update", "tenant_mismatch"),
        (UPDATE, "preston.update", "unknown_tenant"),
        (UPDATE, "hub.update", "unknown_tenant"),
    ],
)
def test_bad_updates_are_refused_with_their_code(body: dict[str, str], key: str, code: str) -> None:
    parsed = parse(message(body, key=key, type="enquiry.update.v1"), catalogue())
    assert isinstance(parsed, Rejection) and parsed.code == code, parsed
    assert parsed.detail


def test_mysociety_statuses_are_understood() -> None:
    for given, expected in (("action_scheduled", "scheduled"), ("FIXED", "resolved"), ("open", "received")):
        parsed = parse(
            message({**UPDATE, "status": given}, key="chorley.update", type="enquiry.update.v1"), catalogue()
        )
        assert isinstance(parsed, CaseStatusUpdate) and parsed.status == expected
