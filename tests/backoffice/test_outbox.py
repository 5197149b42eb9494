"""The delivery outbox against real receivers: written with the completion, delivered exactly once through an
outage and in order per enquiry, parked after its tries, re-driven, and never stuck behind a misconfigured one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backoffice.models import DELIVERED, PARKED, PENDING
from backoffice.outbox import claim_due, enqueue_delivery
from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from routing.models import Enquiry
from tenants.tokens import create_token
from tests.backoffice_helpers import (
    Clock,
    deliveries,
    make_backoffice_partner,
    pass_to_back_office,
    runner_for,
)
from tests.receivers import WebhookReceiver

SECRET = "s3cret-for-the-waste-system"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(SECRET)
    server.start()
    yield server
    server.stop()


def webhook(receiver: WebhookReceiver) -> dict[str, object]:
    return {"name": "webhook", "config": {"url": f"{receiver.url}/cases", "secret": SECRET}}


def csv_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.csv"))


async def add_note(hub: Hub, enquiry_id: int, text: str, clock: Clock) -> None:
    """A later change to the same case, queued behind the first (the outbox takes any kind)."""
    async with unit_of_work(hub.sessionmaker) as session:
        enquiry = await session.get(Enquiry, enquiry_id)
        assert enquiry is not None
        await enqueue_delivery(
            session, enquiry=enquiry, kind="case.note", payload={"note": text}, now=clock()
        )


async def test_completing_with_passed_to_back_office_queues_the_case_in_the_same_transaction(
    hub: Hub, receiver: WebhookReceiver
) -> None:
    partner = await make_backoffice_partner(hub, {"missed-bin": webhook(receiver)})
    enquiry = await pass_to_back_office(hub, partner, "missed-bin", notes="Side gate is locked")
    [row] = await deliveries(hub, partner)
    assert row.status == PENDING and row.kind == "case.created" and row.enquiry_id == enquiry.id
    assert row.payload["customer"]["name"] == "Pat Resident" and row.payload["notes"] == "Side gate is locked"
    assert row.idempotency_key.startswith(enquiry.reference)

    stats = await runner_for(hub, partner, Clock()).run_until_idle()
    assert stats.delivered == 1
    [document] = receiver.accepted
    assert document["type"] == "case.created" and document["idempotency_key"] == row.idempotency_key
    assert document["case"]["reference"] == enquiry.reference
    assert document["case"]["service_name"] == "Service missed-bin" and document["case"]["lgsl"] == 524
    [row] = await deliveries(hub, partner)
    assert row.status == DELIVERED and row.attempts == 1 and row.external_ref == "WH-1"


async def test_a_receiver_down_then_back_gets_every_case_exactly_once_in_order(
    hub: Hub, receiver: WebhookReceiver
) -> None:
    partner = await make_backoffice_partner(hub, {"missed-bin": webhook(receiver)})
    enquiries = [await pass_to_back_office(hub, partner, "missed-bin") for _ in range(3)]
    clock = Clock()
    for enquiry in enquiries:
        await add_note(hub, enquiry.id, "the customer called back", clock)
    runner = runner_for(hub, partner, clock, max_attempts=6)

    receiver.stop()  # connection refused for two rounds, then up but failing, then well
    for _ in range(2):
        stats = await runner.run_until_idle()
        assert stats.retrying == 3 and stats.delivered == 0  # only the first row of each enquiry is tried
        clock.advance(60)
    receiver.start()
    receiver.fail_with = 503
    assert (await runner.run_until_idle()).retrying == 3
    rows = await deliveries(hub, partner)
    assert all("503" in (r.last_error or "") for r in rows if r.kind == "case.created")
    assert all(r.attempts == 0 for r in rows if r.kind == "case.note")  # waiting behind, never tried
    receiver.fail_with = None
    assert (await runner.run_until_idle()).delivered == 0, "not due yet: backoff is respected"
    clock.advance(60)
    stats = await runner.run_until_idle()
    assert stats.delivered == 6

    assert len(receiver.accepted) == 6
    assert set(receiver.by_key.values()) == {1}, receiver.by_key
    for enquiry in enquiries:
        assert receiver.order_of(enquiry.reference) == ["case.created", "case.note"]
    rows = await deliveries(hub, partner)
    assert {r.status for r in rows} == {DELIVERED}
    assert sorted(r.attempts for r in rows) == [1, 1, 1, 4, 4, 4]


async def test_backoff_grows_with_jitter_and_a_row_parks_after_its_tries(
    hub: Hub, receiver: WebhookReceiver
) -> None:
    partner = await make_backoffice_partner(hub, {"missed-bin": webhook(receiver)})
    enquiry = await pass_to_back_office(hub, partner, "missed-bin")
    clock = Clock()
    await add_note(hub, enquiry.id, "behind the parked one", clock)
    runner = runner_for(hub, partner, clock, max_attempts=3)
    receiver.fail_with = 500
    waits = []
    for _ in range(3):
        await runner.run_until_idle()
        [first, _second] = await deliveries(hub, partner)
        waits.append((first.next_attempt_at - clock()).total_seconds())
        clock.advance(60)
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0  # base 1 s, doubling, half-to-full jitter
    [first, second] = await deliveries(hub, partner)
    assert first.status == PARKED and first.attempts == 3 and "answered 500" in (first.last_error or "")
    # A parked row no longer holds back the rest of its enquiry.
    receiver.fail_with = None
    await runner.run_until_idle()
    [first, second] = await deliveries(hub, partner)
    assert first.status == PARKED and second.status == DELIVERED
    assert receiver.order_of(enquiry.reference) == ["case.note"]


async def test_a_refused_case_parks_at_once_and_a_redrive_from_the_api_delivers_it(
    hub: Hub, receiver: WebhookReceiver
) -> None:
    partner = await make_backoffice_partner(hub, {"missed-bin": webhook(receiver)})
    other = await make_backoffice_partner(hub, {"missed-bin": webhook(receiver)})
    enquiry = await pass_to_back_office(hub, partner, "missed-bin")
    [row] = await deliveries(hub, partner)
    receiver.reject_keys.add(row.idempotency_key)
    clock = Clock()
    runner = runner_for(hub, partner, clock)
    assert (await runner.run_until_idle()).parked == 1  # a 422 is final: no retries

    async with unit_of_work(hub.sessionmaker) as session:
        supervisor = await create_token(session, role="supervisor", tenant=partner.slug)
        stranger = await create_token(session, role="supervisor", tenant=other.slug)
        agent = await create_token(session, role="agent", agent_id=partner.agent)
    base = f"/api/v1/tenants/{partner.slug}/backoffice/deliveries"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub"
    ) as api:
        as_supervisor = {"Authorization": f"Bearer {supervisor}"}
        r = await api.get(base, headers=as_supervisor)
        assert r.status_code == 200, r.text
        [parked] = r.json()
        assert parked["id"] == row.id and parked["reference"] == enquiry.reference
        assert parked["status"] == "parked" and parked["adapter"] == "webhook" and parked["attempts"] == 1
        assert "422" in parked["last_error"] and "cannot take this case" in parked["last_error"]
        assert (await api.get(base, headers={"Authorization": f"Bearer {stranger}"})).status_code == 403
        assert (await api.get(base, headers={"Authorization": f"Bearer {agent}"})).status_code == 403

        receiver.reject_keys.clear()  # the back office fixed its side
        r = await api.post(f"{base}/{row.id}/redrive", headers=as_supervisor)
        assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["redriven"] == 1
        again = await api.post(f"{base}/{row.id}/redrive", headers=as_supervisor)
        assert again.status_code == 409 and again.json()["code"] == "not_parked"
        unknown = await api.post(f"{base}/999999999/redrive", headers=as_supervisor)
        assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_delivery"
        assert (await api.get(base, headers=as_supervisor)).json() == []

    clock.advance(1)
    assert (await runner.run_until_idle()).delivered == 1
    assert receiver.by_key[row.idempotency_key] == 1
    [row] = await deliveries(hub, partner)
    assert row.status == DELIVERED and row.attempts == 1


async def test_misconfigured_adapters_park_with_a_clear_error_and_the_queue_keeps_moving(
    hub: Hub, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    partner = await make_backoffice_partner(
        hub,
        {
            "unknown-adapter": {"name": "carrier-pigeon", "config": {}},
            "no-secret": {"name": "webhook", "config": {"url": receiver.url}},
            "missing-env": {
                "name": "webhook",
                "config": {"url": receiver.url, "secret": "env:HUB_TEST_NO_SUCH_SECRET"},
            },
            "no-adapter": None,
            "good": {"name": "csv_drop", "config": {"folder": str(tmp_path)}},
        },
    )
    for code in ("unknown-adapter", "no-secret", "missing-env", "no-adapter", "good"):
        await pass_to_back_office(hub, partner, code)
    stats = await runner_for(hub, partner, Clock()).run_until_idle()
    assert stats.parked == 4 and stats.delivered == 1
    errors = {
        r.service_code: r.last_error or "" for r in await deliveries(hub, partner) if r.status == PARKED
    }
    assert (
        "'carrier-pigeon', which is not installed (installed: csv_drop, email, open311, webhook)"
        in errors["unknown-adapter"]
    )
    assert errors["no-secret"].startswith(
        "adapter_config: webhook adapter: bad config: secret: Field required"
    )
    assert "HUB_TEST_NO_SUCH_SECRET" in errors["missing-env"]
    assert "names no back-office adapter" in errors["no-adapter"]
    assert len(csv_files(tmp_path)) == 1


async def test_two_workers_never_deliver_the_same_row_twice(hub: Hub, receiver: WebhookReceiver) -> None:
    partner = await make_backoffice_partner(hub, {"missed-bin": webhook(receiver)})
    enquiries = [await pass_to_back_office(hub, partner, "missed-bin") for _ in range(8)]
    clock = Clock()
    for enquiry in enquiries:
        await add_note(hub, enquiry.id, "more", clock)
    first, second = (runner_for(hub, partner, clock, batch_size=3) for _ in range(2))
    await asyncio.gather(first.run_until_idle(), second.run_until_idle())
    assert len(receiver.accepted) == 16 and set(receiver.by_key.values()) == {1}
    for enquiry in enquiries:
        assert receiver.order_of(enquiry.reference) == ["case.created", "case.note"]
    assert first.totals.delivered > 0 and second.totals.delivered > 0


async def test_a_worker_that_dies_mid_delivery_leaves_the_row_to_be_claimed_after_its_lease(
    hub: Hub, receiver: WebhookReceiver
) -> None:
    partner = await make_backoffice_partner(hub, {"missed-bin": webhook(receiver)})
    await pass_to_back_office(hub, partner, "missed-bin")
    clock = Clock()
    runner = runner_for(hub, partner, clock)
    [claimed] = await claim_due(
        hub.sessionmaker,
        now=clock(),
        limit=10,
        lease_seconds=runner.policy.lease_seconds,
        tenants=[partner.slug],
    )
    # ... and the process is gone. While the lease runs, nobody else takes the row.
    assert (await runner.run_until_idle()).attempted == 0
    clock.advance(runner.policy.lease_seconds + 1)
    assert (await runner.run_until_idle()).delivered == 1
    [row] = await deliveries(hub, partner)
    assert row.status == DELIVERED and row.attempts == 2
    assert receiver.by_key[claimed.delivery.idempotency_key] == 1
