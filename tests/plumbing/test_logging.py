"""The redacting log processor: customer fields by name, emails and phone numbers anywhere, SQL parameters."""

from __future__ import annotations

import io
import json
import logging

import structlog

from plumbing.logging import REDACTED, configure_logging, redact_personal_data, scrub

SQL_ERROR = (
    "(sqlalchemy.dialects.postgresql.asyncpg.IntegrityError) <class 'asyncpg.exceptions.NotNullViolationError'>: "
    'null value in column "service_id"\nDETAIL:  Failing row contains (7, chorley, Pat Resident, pat@example.org).'
    "\n[SQL: INSERT INTO enquiries (customer) VALUES ($1::JSONB)]\n"
    '[parameters: (\'{"name": "Pat Resident", "phone": "01257 515151"}\',)]\n'
    "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
)


def test_customer_fields_are_redacted_by_name_at_any_depth() -> None:
    out = redact_personal_data(
        None,
        "info",
        {
            "event": "intake.rejected",
            "customer": {"name": "Pat Resident"},
            "body": {"customer": {"phone": "01257 515151"}, "Email": "x", "service_code": "missed-bin"},
            "count": 3,
        },
    )
    assert out == {
        "event": "intake.rejected",
        "customer": REDACTED,
        "body": {"customer": REDACTED, "Email": REDACTED, "service_code": "missed-bin"},
        "count": 3,
    }


def test_values_that_look_like_an_email_or_a_phone_number_are_redacted_anywhere() -> None:
    assert (
        scrub("from pat.resident+bins@example.org about 01257 515151") == f"from {REDACTED} about {REDACTED}"
    )
    assert scrub("call +447700900123 or 07700 900 123") == f"call {REDACTED} or {REDACTED}"
    assert scrub("uprn 100010380000 at 2026-12-06T03:14:00+00:00, enquiry 42") == (
        f"uprn {REDACTED} at 2026-12-06T03:14:00+00:00, enquiry 42"
    )


def test_customer_fields_quoted_inside_text_lose_their_values() -> None:
    text = scrub("""refused {"name": "Pat Resident", "service": "bins", 'address': '1 Main St, Chorley'}""")
    assert text == f"""refused {{"name": "{REDACTED}", "service": "bins", 'address': "{REDACTED}"}}"""


def test_a_database_error_loses_its_parameters_and_row_details() -> None:
    text = scrub(SQL_ERROR)
    assert "Pat Resident" not in text and "01257" not in text and "pat@example.org" not in text
    assert "[SQL: INSERT INTO enquiries (customer) VALUES ($1::JSONB)]" in text  # the statement itself stays
    assert "[parameters: [redacted]]" in text and "DETAIL: [redacted]" in text


def test_configured_logging_redacts_structlog_lines_exceptions_and_library_records() -> None:
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    try:
        log = structlog.get_logger("test.redaction")
        log.info("enquiry.seen", phone="01257 515151", note="reply to pat@example.org")
        try:
            raise RuntimeError(SQL_ERROR)
        except RuntimeError:
            log.exception("intake.batch_failed", size=3)
        logging.getLogger("sqlalchemy.engine").error("failed: %s", SQL_ERROR)
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers = []
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines][0:2] == ["enquiry.seen", "intake.batch_failed"]
    assert len(lines) == 3
    text = stream.getvalue()
    for secret in ("01257 515151", "pat@example.org", "Pat Resident"):
        assert secret not in text, secret
    assert lines[0]["phone"] == REDACTED and "RuntimeError" in lines[1]["exception"]
