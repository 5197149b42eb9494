"""Status updates coming back, over AMQP (enquiry.update.v1), a signed webhook and Open311 servicerequestupdates:
each applied at most once, stale or unknown ones refused with their code, and the tracking page follows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import func, select, update

from adapters.webhook import sign
from backoffice.models import Case, CaseUpdate
from hub.runtime import Hub
from hub.worker import Worker
from plumbing.db.session import unit_of_work
from routing.models import Enquiry
from tenants.tokens import create_token
from tests.backoffice_helpers import BackofficePartner, make_backoffice_partner, pass_to_back_office
from tests.conftest import eventually
from tests.helpers_amqp import PartnerClient

SECRET = "waste-system-shared-secret"


@pytest.fixture
def partner_client(amqp_url: str) -> Iterator[PartnerClient]:
    client = PartnerClient(amqp_url)
    yield client
    client.close()


async def partner_with_case(hub: Hub) -> tuple[BackofficePartner, Enquiry]:
    adapter = {"name": "webhook", "config": {"url": "http://127.0.0.1:9/never", "secret": SECRET}}
    partner = await make_backoffice_partner(hub, {"missed-bin": adapter, "no-updates": None})
    return partner, await pass_to_back_office(hub, partner, "missed-bin")


async def tracked(api: httpx.AsyncClient, reference: str) -> dict[str, Any]:
    response = await api.get(f"/track/{reference}.json")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def update_rows(hub: Hub, enquiry_id: int) -> int:
    async with hub.sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(CaseUpdate).where(CaseUpdate.enquiry_id == enquiry_id)
            )
            or 0
        )


def at(minutes: int) -> str:
    return (datetime(2026, 11, 2, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()


# -- AMQP -------------------------------------------------------------------------------------------


async def test_updates_over_amqp_change_the_tracking_page_and_bad_ones_are_dead_lettered(
    hub: Hub, worker: Worker, partner_client: PartnerClient, api: httpx.AsyncClient
) -> None:
    partner, enquiry = await partner_with_case(hub)
    _, someone_elses = await partner_with_case(hub)
    assert (await tracked(api, enquiry.reference))["status"] == "passed_to_back_office"
    await asyncio.wait_for(worker.amqp_ready.wait(), timeout=15)
    partner_client.rejected()
    key = f"{partner.slug}.update"

    def publish(body: dict[str, Any], **kwargs: Any) -> str:
        return partner_client.publish(
            kwargs.pop("routing_key", key),
            {"tenant": partner.slug, **body},
            type="enquiry.update.v1",
            **kwargs,
        )

    first = {
        "reference": enquiry.reference,
        "status": "in progress",
        "notes": "A crew has been sent",
        "expected_date": "2026-11-05",
        "at": at(10),
    }
    first_id = publish(first)

    async def status_is(status: str) -> bool:
        return (await tracked(api, enquiry.reference))["status"] == status

    await eventually(lambda: status_is("in_progress"))

    sent = {
        "redelivered": (publish(first, message_id=first_id), None),
        "older than the last": (publish({**first, "at": at(5)}), "out_of_order_update"),
        "same time as the last": (publish({**first, "at": at(10)}), "out_of_order_update"),
        "unknown reference": (publish({**first, "reference": "BOX-0000-0000-00"}), "unknown_reference"),
        "another partner's case": (
            publish({**first, "reference": someone_elses.reference}),
            "unknown_reference",
        ),
        "not a status": (publish({**first, "status": "lost", "at": at(20)}), "invalid_field"),
        "no at": (publish({k: v for k, v in first.items() if k != "at"}), "missing_field"),
        "keyed like an enquiry": (publish(first, routing_key=f"{partner.slug}.web"), "bad_routing_key"),
    }
    publish({"reference": enquiry.reference.lower(), "status": "scheduled", "at": at(30)})
    await eventually(lambda: status_is("scheduled"))

    dead: list[Any] = []

    async def all_dead_lettered() -> bool:
        dead.extend(partner_client.rejected())
        return len(dead) >= 7

    await eventually(all_dead_lettered)
    codes = {d.message_id: d.headers["x-hub-error"] for d in dead}
    for case, (message_id, code) in sent.items():
        assert codes.get(message_id) == code, (case, codes.get(message_id))
    assert await update_rows(hub, enquiry.id) == 2  # the redelivery changed nothing

    page = await tracked(api, enquiry.reference)
    assert page["status"] == "scheduled" and page["status_label"] == "Scheduled"
    assert page["expected_date"] == "2026-11-05"  # kept from the update that set it
    assert [(u["status"], u["notes"]) for u in page["updates"]] == [
        ("scheduled", None),
        ("in_progress", "A crew has been sent"),
    ]
    events = [e.json() for e in partner_client.events()]
    assert [
        e["status"] for e in events if e["event"] == "enquiry.case_updated" and e["owner"] == partner.slug
    ] == [
        "in_progress",
        "scheduled",
    ]


# -- signed webhook -----------------------------------------------------------------------------------


async def test_signed_webhook_updates_are_checked_then_applied_once(hub: Hub, api: httpx.AsyncClient) -> None:
    partner, enquiry = await partner_with_case(hub)
    _, someone_elses = await partner_with_case(hub)
    url = f"/api/v1/backoffice/{partner.slug}/services/missed-bin/updates"
    now = datetime.now(UTC)

    async def post(
        body: dict[str, Any], *, secret: str = SECRET, signed_at: datetime | None = None
    ) -> httpx.Response:
        raw = json.dumps(body).encode()
        header = sign(secret, raw, signed_at or now)
        return await api.post(
            url, content=raw, headers={"X-Hub-Signature": header, "Content-Type": "application/json"}
        )

    good = {"update_id": "u-1", "reference": enquiry.reference, "status": "received", "at": at(1)}
    raw = json.dumps(good).encode()
    refusals = [
        (await api.post(url, content=raw), 401, "missing_signature"),
        (await post(good, secret="not-the-shared-secret"), 401, "bad_signature"),
        (await post(good, signed_at=now - timedelta(minutes=6)), 401, "stale_signature"),
        (await post({**good, "reference": "BOX-0000-0000-00"}), 404, "unknown_reference"),
        (await post({**good, "reference": someone_elses.reference}), 404, "unknown_reference"),
        (await post({**good, "status": "lost"}), 422, "invalid_field"),
        (await post({**good, "at": "2026-11-02T09:00:00"}), 422, "invalid_field"),
        (
            await api.post(
                f"/api/v1/backoffice/{partner.slug}/services/no-updates/updates",
                content=raw,
                headers={"X-Hub-Signature": sign(SECRET, raw, now)},
            ),
            403,
            "updates_not_enabled",
        ),
    ]
    for response, status, code in refusals:
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
        assert response.json()["detail"]
    assert await update_rows(hub, enquiry.id) == 0, "nothing applied by any refusal"

    applied = await post(good)
    assert applied.status_code == 200 and applied.json() == {
        "result": "applied",
        "reference": enquiry.reference,
    }
    replayed = await post(good)  # the same update again (a retry after a lost answer)
    assert replayed.status_code == 200 and replayed.json()["result"] == "duplicate"
    assert replayed.json()["code"] == "duplicate_update"
    older = await post({**good, "update_id": "u-0", "at": at(0)})
    assert older.status_code == 409 and older.json()["code"] == "out_of_order_update"
    # Without an update_id the signed body itself is the identity: a replay inside the window is a duplicate.
    resolved = {"reference": enquiry.reference, "status": "resolved", "notes": "Bin emptied", "at": at(60)}
    assert (await post(resolved)).json()["result"] == "applied"
    assert (await post(resolved)).json()["result"] == "duplicate"
    assert await update_rows(hub, enquiry.id) == 2

    page = await tracked(api, enquiry.reference)
    assert page["status"] == "resolved" and page["updates"][0]["notes"] == "Bin emptied"
    assert [u["status"] for u in page["updates"]] == ["resolved", "received"]


# -- Open311 servicerequestupdates ----------------------------------------------------------------------


async def test_open311_servicerequestupdates_by_reference_or_back_office_id(
    hub: Hub, api: httpx.AsyncClient
) -> None:
    partner, enquiry = await partner_with_case(hub)
    other, _ = await partner_with_case(hub)
    async with unit_of_work(hub.sessionmaker) as session:
        api_key = await create_token(session, role="partner", tenant=partner.slug)
        other_key = await create_token(session, role="partner", tenant=other.slug)
        await session.execute(update(Case).where(Case.enquiry_id == enquiry.id).values(external_ref="SR-77"))

    def form(**values: str) -> dict[str, Any]:
        base = {
            "jurisdiction_id": partner.slug,
            "api_key": api_key,
            "service_request_id": enquiry.reference,
            "update_id": "fms-1",
            "status": "INVESTIGATING",
            "updated_datetime": at(5).replace("+00:00", "Z"),
            "description": "Passed to the crew",
            "media_url": "",
        }
        body = urlencode({k: v for k, v in {**base, **values}.items() if v is not None})
        return {"content": body, "headers": {"Content-Type": "application/x-www-form-urlencoded"}}

    r = await api.post("/open311/v2/servicerequestupdates.xml", **form())
    assert r.status_code == 200, r.text
    assert ElementTree.fromstring(r.text).findtext("request_update/update_id") == "fms-1"
    # By the back office's own id, in JSON, with api_key in the query string (a client habit).
    r = await api.post(
        f"/open311/v2/servicerequestupdates.json?api_key={api_key}",
        **form(
            api_key="",
            service_request_id="SR-77",
            update_id="fms-2",
            status="action_scheduled",
            updated_datetime=at(6),
            expected_datetime="2026-11-09T12:00:00Z",
        ),
    )
    assert r.status_code == 200 and r.json() == [{"update_id": "fms-2"}], r.text
    assert (
        await api.post(
            "/open311/v2/servicerequestupdates.json",
            **form(update_id="fms-2", status="fixed", updated_datetime=at(7)),
        )
    ).json() == [{"update_id": "fms-2"}]  # a repeated update_id changes nothing

    def error_of(response: httpx.Response) -> tuple[int, str]:
        root = ElementTree.fromstring(response.text)
        return response.status_code, root.findtext("error/description") or ""

    missing = error_of(
        await api.post("/open311/v2/servicerequestupdates.xml", **form(update_id="", status=""))
    )
    assert missing == (400, "missing required parameter(s): update_id, status")
    assert error_of(await api.post("/open311/v2/servicerequestupdates", **form(api_key="nope")))[0] == 403
    assert (
        error_of(await api.post("/open311/v2/servicerequestupdates.xml", **form(api_key=other_key)))[0] == 403
    )
    unknown = error_of(
        await api.post("/open311/v2/servicerequestupdates.xml", **form(service_request_id="SR-1"))
    )
    assert unknown[0] == 404 and unknown[1].startswith("unknown_reference")
    stale = error_of(await api.post("/open311/v2/servicerequestupdates.xml", **form(update_id="fms-3")))
    assert stale[0] == 400 and stale[1].startswith("out_of_order_update")
    naive = error_of(
        await api.post(
            "/open311/v2/servicerequestupdates.xml",
            **form(update_id="fms-4", updated_datetime="2026-11-02T10:00:00"),
        )
    )
    assert naive == (400, "updated_datetime must be ISO 8601 with a time zone")
    r = await api.post("/open311/v2/servicerequestupdates.json", **form(update_id="fms-5", status="bogus"))
    assert r.status_code == 400 and r.json()[0]["code"] == 400

    page = await tracked(api, enquiry.reference)
    assert page["status"] == "scheduled" and page["expected_date"] == "2026-11-09"
    assert [u["notes"] for u in page["updates"]] == ["Passed to the crew", "Passed to the crew"]
    assert await update_rows(hub, enquiry.id) == 2
