"""Each adapter against a real receiver: an Open311 server, an SMTP server (aiosmtpd), a folder; and the plugin
registry as installed (entry points)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import httpx
import pytest

from adapters.base import (
    Adapter,
    AdapterConfigError,
    AdapterContext,
    AdapterRegistry,
    Delivery,
    DeliveryError,
)
from adapters.csv_drop import CsvDropAdapter
from adapters.webhook import SignatureError, sign, verify_signature
from backoffice.models import DELIVERED, PARKED, Case
from hub.runtime import Hub
from tests.backoffice_helpers import (
    CUSTOMER,
    TEXT,
    Clock,
    deliveries,
    make_backoffice_partner,
    pass_to_back_office,
    runner_for,
)
from tests.receivers import Open311Receiver, SmtpReceiver


def test_the_four_adapters_are_installed_as_entry_points() -> None:
    registry = AdapterRegistry.from_entry_points()
    assert {"webhook", "open311", "email", "csv_drop"} <= set(registry.names)


def test_a_plugin_that_fails_to_load_is_refused_by_name_only() -> None:
    registry = AdapterRegistry(
        {}, broken={"fax": "acme.fax:FaxAdapter failed to load: ImportError: no modem"}
    )
    with pytest.raises(AdapterConfigError, match=r"names adapter 'fax', which is broken: .*no modem"):
        registry.build({"name": "fax"}, AdapterContext(http=httpx.AsyncClient()), where="service 'x'")


def test_a_signature_is_checked_over_timestamp_and_body_within_the_replay_window() -> None:
    now = datetime.now(UTC)
    body = b'{"reference": "CHO-1"}'
    header = sign("a-long-enough-secret", body, now)
    verify_signature("a-long-enough-secret", header, body, now + timedelta(seconds=299))
    cases = [
        ("a-long-enough-secret", header, body + b" ", now, "bad_signature"),
        ("another-secret-entirely", header, body, now, "bad_signature"),
        ("a-long-enough-secret", header, body, now + timedelta(seconds=301), "stale_signature"),
        ("a-long-enough-secret", header, body, now - timedelta(seconds=301), "stale_signature"),
        ("a-long-enough-secret", None, body, now, "missing_signature"),
        ("a-long-enough-secret", "v1=abc", body, now, "bad_signature"),
    ]
    for secret, given, signed_body, at, code in cases:
        with pytest.raises(SignatureError) as refused:
            verify_signature(secret, given, signed_body, at)
        assert refused.value.code == code


# -- Open311 -----------------------------------------------------------------------------------------


@pytest.fixture
def open311() -> Iterator[Open311Receiver]:
    server = Open311Receiver("key-123", {"MB-01"})
    server.start()
    yield server
    server.stop()


def open311_adapter(server: Open311Receiver, api_key: str = "key-123") -> dict[str, object]:
    return {
        "name": "open311",
        "config": {
            "endpoint": f"{server.url}/open311/v2",
            "api_key": api_key,
            "jurisdiction_id": "waste.example",
            "service_code": "MB-01",
            "reference_attribute": "hub_reference",
        },
    }


async def test_open311_pushes_the_case_and_keeps_the_service_request_id(
    hub: Hub, open311: Open311Receiver
) -> None:
    partner = await make_backoffice_partner(hub, {"missed-bin": open311_adapter(open311)})
    enquiry = await pass_to_back_office(hub, partner, "missed-bin", notes="Bin left at the kerb")
    clock = Clock()
    runner = runner_for(hub, partner, clock)
    open311.stop()
    assert (await runner.run_until_idle()).retrying == 1
    open311.start()
    clock.advance(60)
    assert (await runner.run_until_idle()).delivered == 1

    [sent] = open311.accepted
    form = dict(sent["form"])
    assert form["api_key"] == "key-123" and form["jurisdiction_id"] == "waste.example"
    assert form["service_code"] == "MB-01"
    assert TEXT in form["description"] and "Bin left at the kerb" in form["description"]
    assert form["address_string"] == CUSTOMER["address"] and form["address_id"] == CUSTOMER["uprn"]
    assert (
        form["email"] == CUSTOMER["email"] and form["first_name"] == "Pat" and form["last_name"] == "Resident"
    )
    assert form["attribute[bin_colour]"] == "grey" and form["attribute[hub_reference]"] == enquiry.reference
    [row] = await deliveries(hub, partner)
    assert row.status == DELIVERED and row.external_ref == "SR-1" and open311.by_key[row.idempotency_key] == 1
    async with hub.sessionmaker() as session:
        case = await session.get(Case, enquiry.id)
    assert case is not None and case.external_ref == "SR-1"  # updates may name the case by this id


async def test_open311_token_and_refusals(hub: Hub, open311: Open311Receiver) -> None:
    open311.tokens = True
    partner = await make_backoffice_partner(
        hub,
        {"missed-bin": open311_adapter(open311), "bad-key": open311_adapter(open311, api_key="wrong")},
    )
    await pass_to_back_office(hub, partner, "missed-bin")
    await pass_to_back_office(hub, partner, "bad-key")
    stats = await runner_for(hub, partner, Clock()).run_until_idle()
    assert stats.delivered == 1 and stats.parked == 1
    rows = {r.service_code: r for r in await deliveries(hub, partner)}
    assert rows["missed-bin"].external_ref == "token:TK-1"
    assert rows["bad-key"].status == PARKED and rows["bad-key"].attempts == 1
    assert "answered 403: Invalid api_key" in (rows["bad-key"].last_error or "")


# -- email -------------------------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver()
    server.start()
    yield server
    server.stop()


async def test_email_goes_through_an_outage_once_with_the_case_attached(hub: Hub, smtp: SmtpReceiver) -> None:
    adapter = {
        "name": "email",
        "config": {
            "host": "127.0.0.1",
            "port": smtp.port,
            "from_address": "hub@contact.example",
            "to": "revenues@council.example",
        },
    }
    partner = await make_backoffice_partner(hub, {"council-tax": adapter})
    enquiry = await pass_to_back_office(hub, partner, "council-tax")
    clock = Clock()
    runner = runner_for(hub, partner, clock)
    smtp.stop()
    for _ in range(2):
        assert (await runner.run_until_idle()).retrying == 1
        clock.advance(60)
    smtp.start()
    assert (await runner.run_until_idle()).delivered == 1

    [row] = await deliveries(hub, partner)
    assert smtp.by_key == {row.idempotency_key: 1}
    [message] = smtp.messages
    assert message["To"] == "revenues@council.example"
    assert (
        enquiry.reference in message["Subject"]
        and message["Message-ID"] == f"<{row.idempotency_key.replace(':', '.')}@contact-hub>"
    )
    body, attachment = _parts(message)
    assert TEXT in body and CUSTOMER["name"] in body
    document = json.loads(attachment)
    assert document["reference"] == enquiry.reference and document["case"]["customer"] == CUSTOMER


def _parts(message: Message) -> tuple[str, bytes]:
    parts = [p for p in message.walk() if not p.is_multipart()]
    text = parts[0].get_payload(decode=True)
    attached = parts[1].get_payload(decode=True)
    assert isinstance(text, bytes) and isinstance(attached, bytes)
    assert parts[1].get_filename() == f"{json.loads(attached)['reference']}.json"
    return text.decode(), attached


# -- CSV drop ----------------------------------------------------------------------------------------


def _delivery() -> Delivery:
    return Delivery(
        id=1,
        idempotency_key="CHO-AAAA-BBBB-CC:case.created:0123abcd",
        kind="case.created",
        reference="CHO-AAAA-BBBB-CC",
        tenant="chorley",
        service_code="missed-bin",
        payload={"service_name": "Missed bin", "text": 'Said "hello", then left', "customer": CUSTOMER},
        attempt=1,
        created_at=datetime(2026, 11, 2, 9, 15, tzinfo=UTC),
    )


def _csv_adapter(folder: Path, http: httpx.AsyncClient) -> Adapter:
    return CsvDropAdapter.from_config({"folder": str(folder)}, AdapterContext(http=http))


async def test_a_csv_drop_is_atomic_and_idempotent_by_file_name(tmp_path: Path) -> None:
    folder = tmp_path / "share"
    async with httpx.AsyncClient() as http:
        adapter = _csv_adapter(folder, http)
        with pytest.raises(DeliveryError, match="does not exist"):  # the share is not mounted: retried later
            await adapter.deliver(_delivery())
        _mkdir(folder)
        await adapter.deliver(_delivery())
        first = _read_all(folder)
        await adapter.deliver(_delivery())  # tried again after a crash: the file is there, nothing changes
        assert _read_all(folder) == first
    [(name, content)] = first.items()
    assert name == "20261102T091500Z_CHO-AAAA-BBBB-CC_case.created_0123abcd.csv"
    header, row, _ = content.split("\r\n")
    assert header.startswith("reference,type,council,service_code,service_name")
    assert row.startswith("CHO-AAAA-BBBB-CC,case.created,chorley,missed-bin,Missed bin")
    assert '"Said ""hello"", then left"' in row and "Pat Resident" in row


def _mkdir(folder: Path) -> None:
    folder.mkdir()


def _read_all(folder: Path) -> dict[str, str]:
    """Every file, hidden ones included: no temporary file is left behind."""
    return {p.name: p.read_bytes().decode("utf-8") for p in sorted(folder.iterdir())}
