"""One status truth (issue 18): updates by AMQP, signed webhook and Open311 (with the partner's own api_key) are read
back the same from Open311 (requests, requests/{id}, servicerequestupdates), /track (page and JSON) and the console.
A future-dated update is refused by every route with ``future_dated_update``."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from adapters.webhook import sign
from hub.runtime import Hub
from hub.worker import Worker
from plumbing.bus.base import IncomingMessage
from plumbing.db.session import unit_of_work
from tenants.schemas import PartnerDefinition
from tenants.service import apply_definitions
from tenants.tokens import create_token
from tests.conftest import eventually, unique_slug
from tests.helpers_amqp import PartnerClient
from tests.hub.web.conftest import make_user, sign_in_client

SECRET = "waste-system-shared-secret"
# Monday 30 November 2026, 10:00 in London (GMT). Two working days on: Wednesday 2 December, 17:00 (the close of
# the working day, tenants.hours.END_OF_WORKING_DAY), which is 17:00Z in winter.
RECEIVED = "2026-11-30T10:00:00+00:00"


@pytest.fixture
def partner_client(amqp_url: str) -> Iterator[PartnerClient]:
    client = PartnerClient(amqp_url)
    yield client
    client.close()


async def _partner(hub: Hub) -> tuple[str, str]:
    slug = unique_slug("truth")
    agent = f"{slug}-agent"
    definition = PartnerDefinition.model_validate(
        {
            "tenant": {"slug": slug, "name": f"Council {slug}"},
            "opening_hours": {"default": "always"},
            "services": [
                {"code": "general", "name": "General enquiries", "skills": ["waste"]},
                {
                    "code": "missed-bin",
                    "name": "Missed bin",
                    "lgsl": 524,
                    "skills": ["waste"],
                    "resolution_working_days": 2,
                    "adapter": {
                        "name": "webhook",
                        "config": {"url": "http://127.0.0.1:9/never", "secret": SECRET},
                    },
                },
            ],
            "agents": [{"id": agent, "name": "Agent", "skills": ["waste"]}],
        }
    )
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=[definition])
    await hub.catalogue.reload()
    return slug, agent


async def _passed_to_back_office(hub: Hub, slug: str, agent: str) -> tuple[int, str]:
    body = {
        "tenant": slug,
        "channel": "phone",
        "received_at": RECEIVED,
        "service_code": "missed-bin",
        "text": "My grey bin was not emptied",
        "customer": {},
        "attributes": {},
    }
    await hub.intake.process(
        [
            IncomingMessage(
                routing_key=f"{slug}.phone",
                body=json.dumps(body).encode(),
                message_id=uuid.uuid4().hex,
                type="enquiry.v1",
            )
        ]
    )
    await hub.desk.set_status(agent, "available")
    offer = await hub.desk.current_offer(agent)
    assert offer is not None
    await hub.desk.accept(agent, offer.enquiry_id)
    await hub.desk.complete(agent, offer.enquiry_id, "passed_to_back_office", "Crew to revisit")
    return offer.enquiry_id, offer.reference


class Readers:
    """Every place a status is read: Open311 (three ways), /track (JSON and page), the console."""

    def __init__(self, api: httpx.AsyncClient, slug: str, enquiry_id: int, reference: str) -> None:
        self.api, self.slug, self.enquiry_id, self.reference = api, slug, enquiry_id, reference

    async def everywhere(self) -> dict[str, tuple[str, str | None]]:
        """(status, expected) as each reader gives it."""
        out: dict[str, tuple[str, str | None]] = {}
        one = (
            await self.api.get(f"/open311/v2/requests/{self.reference}.json?jurisdiction_id={self.slug}")
        ).json()
        out["open311 requests/{id}"] = (one[0]["status"], one[0].get("expected_datetime"))
        listed = (
            await self.api.get(
                "/open311/v2/requests.json",
                params={"jurisdiction_id": self.slug, "service_request_id": self.reference},
            )
        ).json()
        out["open311 requests"] = (listed[0]["status"], listed[0].get("expected_datetime"))
        tracked = (await self.api.get(f"/track/{self.reference}.json")).json()
        out["track json"] = (tracked["status"], tracked["expected_date"])
        page = (await self.api.get(f"/track/{self.reference}")).text
        status = re.search(r'class="tag tag-([a-z_]+)"', page)
        expected = re.search(r'data-testid="expected-date">([^<]+)<', page)
        out["track page"] = (status.group(1) if status else "?", expected.group(1) if expected else None)
        console = (await self.api.get(f"/console/enquiries/{self.enquiry_id}")).text
        case = re.search(r'id="case-status" data-status="([a-z_]+)"\s+data-expected="([0-9-]*)"', console)
        assert case is not None, console[:2000]
        out["console"] = (case.group(1), case.group(2) or None)
        return out

    async def open311_updates(self) -> list[str]:
        updates = (
            await self.api.get(
                "/open311/v2/servicerequestupdates.json",
                params={"jurisdiction_id": self.slug, "start_date": "2026-11-30T00:00:00Z"},
            )
        ).json()
        return [u["status"] for u in updates if u["service_request_id"] == self.reference]


def _said(
    status: str, open311: str, expected: str | None, long: str | None
) -> dict[str, tuple[str, str | None]]:
    """What every reader must say: Open311 open/closed with the moment, the others the status with the date."""
    moment = f"{expected}T17:00:00Z" if expected else None
    return {
        "open311 requests/{id}": (open311, moment),
        "open311 requests": (open311, moment),
        "track json": (status, expected),
        "track page": (status, long),
        "console": (status, expected),
    }


async def test_every_route_feeds_one_status_that_every_reader_gives(
    hub: Hub, worker: Worker, partner_client: PartnerClient, api: httpx.AsyncClient
) -> None:
    slug, agent = await _partner(hub)
    enquiry_id, reference = await _passed_to_back_office(hub, slug, agent)
    async with unit_of_work(hub.sessionmaker) as session:
        open311_key = await create_token(session, role="open311", tenant=slug, label="waste system")
    await sign_in_client(api, await make_user(hub, role="agent", tenant=slug, agent_id=agent))
    readers = Readers(api, slug, enquiry_id, reference)
    # Updates dated just after the hand-over, in the order they happen (within the clock-skew allowance).
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)

    def at(seconds: int) -> str:
        return (base + timedelta(seconds=seconds)).isoformat()

    # Before any back office speaks: the hub's own progress, and the catalogue's target, everywhere.
    assert await readers.everywhere() == _said(
        "passed_to_back_office", "open", "2026-12-02", "2 December 2026"
    )

    # AMQP: received by the service team.
    await asyncio.wait_for(worker.amqp_ready.wait(), timeout=15)
    partner_client.publish(
        f"{slug}.update",
        {"tenant": slug, "reference": reference, "status": "received", "at": at(0)},
        type="enquiry.update.v1",
    )

    async def tracked_status() -> str:
        return str((await api.get(f"/track/{reference}.json")).json()["status"])

    await eventually(lambda: _is(tracked_status, "received"))
    assert await readers.everywhere() == _said("received", "open", "2026-12-02", "2 December 2026")

    # Signed webhook: in progress, expected on Friday 4 December.
    url = f"/api/v1/backoffice/{slug}/services/missed-bin/updates"

    async def webhook(body: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(body).encode()
        headers = {
            "X-Hub-Signature": sign(SECRET, raw, datetime.now(UTC)),
            "Content-Type": "application/json",
        }
        return await api.post(url, content=raw, headers=headers)

    r = await webhook(
        {
            "update_id": "w-1",
            "reference": reference,
            "status": "in_progress",
            "at": at(1),
            "expected_date": "2026-12-04",
        }
    )
    assert r.status_code == 200, r.text
    assert await readers.everywhere() == _said("in_progress", "open", "2026-12-04", "4 December 2026")

    # Future-dated, by each route: refused with a clear error, and nothing changes.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = await webhook({"update_id": "w-2", "reference": reference, "status": "closed", "at": tomorrow})
    assert r.status_code == 422 and r.json()["code"] == "future_dated_update", r.text
    assert "in the future" in r.json()["detail"]
    form = {
        "jurisdiction_id": slug,
        "api_key": open311_key,
        "service_request_id": reference,
        "update_id": "fms-0",
        "status": "closed",
        "updated_datetime": tomorrow,
    }
    r = await api.post("/open311/v2/servicerequestupdates.json", data=form)
    assert r.status_code == 400 and "future_dated_update" in r.json()[0]["description"], r.text
    partner_client.rejected()
    future_id = partner_client.publish(
        f"{slug}.update",
        {"tenant": slug, "reference": reference, "status": "closed", "at": tomorrow},
        type="enquiry.update.v1",
    )
    dead: list[Any] = []

    async def dead_lettered() -> bool:
        dead.extend(partner_client.rejected())
        return any(d.message_id == future_id for d in dead)

    await eventually(dead_lettered)
    assert next(d for d in dead if d.message_id == future_id).headers["x-hub-error"] == "future_dated_update"
    assert await readers.everywhere() == _said("in_progress", "open", "2026-12-04", "4 December 2026")

    # Open311 servicerequestupdates with the partner's own Open311 api_key (no bearer token): fixed.
    r = await api.post(
        "/open311/v2/servicerequestupdates.json",
        data={**form, "update_id": "fms-1", "status": "fixed", "updated_datetime": at(2)},
    )
    assert r.status_code == 200, r.text
    assert await readers.everywhere() == _said("resolved", "closed", None, None)
    # The public updates: the hub's own (received, answered, passed on), then the back office's three.
    assert await readers.open311_updates() == [
        "open",
        "in_progress",
        "internal_referral",
        "open",
        "in_progress",
        "fixed",
    ]
    closed = (
        await api.get("/open311/v2/requests.json", params={"jurisdiction_id": slug, "status": "closed"})
    ).json()
    assert reference in [r["service_request_id"] for r in closed]
    still_open = (
        await api.get("/open311/v2/requests.json", params={"jurisdiction_id": slug, "status": "open"})
    ).json()
    assert reference not in [r["service_request_id"] for r in still_open]


async def _is(read: Any, wanted: str) -> bool:
    return bool(await read() == wanted)


async def test_updates_in_one_batch_apply_in_the_order_of_their_own_time(
    hub: Hub, api: httpx.AsyncClient
) -> None:
    """Two AMQP updates for one case arrive newest first in one batch: both apply, the newest is the status."""
    slug, agent = await _partner(hub)
    _, reference = await _passed_to_back_office(hub, slug, agent)
    base = datetime.now(UTC).replace(microsecond=0)

    def message(status: str, seconds: int) -> IncomingMessage:
        body = {
            "tenant": slug,
            "reference": reference,
            "status": status,
            "at": (base + timedelta(seconds=seconds)).isoformat(),
        }
        return IncomingMessage(
            routing_key=f"{slug}.update",
            body=json.dumps(body).encode(),
            message_id=uuid.uuid4().hex,
            content_type="application/json",
            type="enquiry.update.v1",
        )

    result = await hub.intake.process([message("scheduled", 2), message("in_progress", 1)])
    assert result.updated == 2
    tracked = (await api.get(f"/track/{reference}.json")).json()
    assert tracked["status"] == "scheduled"
    assert [u["status"] for u in tracked["updates"]] == ["scheduled", "in_progress"]  # newest first
