"""Catalogue and agreement changes take effect in every running process within a second (issue 18, item 8).

The change is made here; a separate `hub serve` process must show it: its Open311 service list names the new
service name, and a request posted to it just after is stamped with the new catalogue version.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from plumbing.settings import Settings
from routing.models import Enquiry
from tenants.agreements.models import AgreementRow
from tenants.agreements.service import put_agreements
from tenants.agreements.terms import AgreementDefinition
from tenants.schemas import PartnerDefinition
from tenants.service import apply_definitions
from tenants.tokens import create_token
from tests.conftest import partner_definition


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A second process: `hub serve` on the test's database and Redis."""
    port = _free_port()
    env = {
        **os.environ,
        "HUB_DATABASE_URL": settings.database_url or "",
        "HUB_REDIS_URL": settings.redis_url or "",
        "HUB_AMQP_URL": settings.amqp_url or "",
        "HUB_REDIS_PREFIX": settings.redis_prefix,
        "HUB_OPEN311_POSTS_PER_MINUTE": "100000",
        "HUB_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def _service_name(client: httpx.AsyncClient, slug: str) -> str | None:
    try:
        r = await client.get("/open311/v2/services.json", params={"jurisdiction_id": slug})
    except httpx.TransportError:
        return None
    if r.status_code != 200:
        return None
    return next((s["service_name"] for s in r.json() if s["service_code"] == "missed-bin"), None)


async def test_a_catalogue_load_reaches_another_running_process_within_a_second(
    hub: Hub, make_partner, served: str
) -> None:
    partner = await make_partner("propagate")
    async with unit_of_work(hub.sessionmaker) as session:
        key = await create_token(session, role="open311", tenant=partner.slug, label="test")
    async with httpx.AsyncClient(base_url=served, timeout=10) as client:
        deadline = time.monotonic() + 60
        while await _service_name(client, partner.slug) != "Missed bin":  # up, and its catalogue read
            assert time.monotonic() < deadline, "hub serve did not start"
            await asyncio.sleep(0.2)

        raw = partner_definition(partner.slug, partner.agents).model_dump(mode="json")
        for service in raw["services"]:
            if service["code"] == "missed-bin":
                service["name"] = "Missed bin collection"
        async with unit_of_work(hub.sessionmaker) as session:
            await apply_definitions(session, definitions=[PartnerDefinition.model_validate(raw)])
        loaded = time.monotonic()
        # Version 1 was the partner's first load; the rename is version 2.
        while await _service_name(client, partner.slug) != "Missed bin collection":
            assert time.monotonic() - loaded < 5, "the other process still shows the old catalogue"
            await asyncio.sleep(0.05)
        seen_after = time.monotonic() - loaded
        print(f"\ncatalogue change seen by the other process after {seen_after:.2f} s")
        r = await client.post(
            "/open311/v2/requests.json",
            data={
                "jurisdiction_id": partner.slug,
                "api_key": key,
                "service_code": "missed-bin",
                "description": "Grey bin not emptied",
                "lat": "53.6531",
                "long": "-2.6326",
            },
        )
        assert r.status_code == 200, r.text
        reference = r.json()[0]["service_request_id"]
    async with hub.sessionmaker() as session:
        version = await session.scalar(
            select(Enquiry.catalogue_version).where(Enquiry.reference == reference)
        )
    assert version == 2
    # A stamp read every half second at most, the reload, and a request's round trip: within a second.
    assert seen_after < 1.0, seen_after


async def test_an_invalid_stored_agreement_is_skipped_and_reported_not_fatal(
    hub: Hub, make_partner, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    lender, borrower = await make_partner("lender"), await make_partner("borrower")
    good, bad = f"{lender.slug}-lends", f"{lender.slug}-broken"
    async with unit_of_work(hub.sessionmaker) as session:
        await put_agreements(
            session,
            agreements=[
                AgreementDefinition.model_validate(
                    {"id": i, "lender": lender.slug, "borrower": borrower.slug, "services": [code]}
                )
                for i, code in ((good, "missed-bin"), (bad, "general"))
            ],
        )
    async with unit_of_work(hub.sessionmaker) as session:
        # A row edited by hand into something that no longer reads as an agreement.
        await session.execute(
            update(AgreementRow)
            .where(AgreementRow.id == bad)
            .values(
                definition={"id": bad, "lender": lender.slug, "borrower": borrower.slug, "unit_rate": "lots"}
            )
        )
    terms = await hub.dispatcher.agreements.reload()  # the router's own read: no exception
    ids = {t.id for t in terms}
    assert good in ids and bad not in ids
    assert [(s.id, s.error.split(":")[0]) for s in hub.dispatcher.agreements.skipped if s.id == bad] == [
        (bad, "unit_rate")
    ]
    monkeypatch.setattr(hub.settings, "metrics_public", True)  # as on an internal listener
    metrics = (await api.get("/metrics")).text
    assert f'hub_agreements_invalid{{agreement="{bad}"}} 1.0' in metrics
    assert f'agreement="{good}"' not in metrics
    # Writing it again, valid, mends it: the bad row does not block the write.
    async with unit_of_work(hub.sessionmaker) as session:
        await put_agreements(
            session,
            agreements=[
                AgreementDefinition.model_validate(
                    {"id": bad, "lender": lender.slug, "borrower": borrower.slug, "services": ["general"]}
                )
            ],
        )
    assert bad in {t.id for t in await hub.dispatcher.agreements.reload()}
    assert f'agreement="{bad}"' not in (await api.get("/metrics")).text
