"""No personal data in logs. A real ``hub worker`` process takes an accepted enquiry, a refused one and a batch
that fails in PostgreSQL (a trigger quoting the customer's row in its error), and its whole log is searched for the
customers' phone numbers and email addresses."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from sqlalchemy import select

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from plumbing.settings import Settings
from routing.models import Enquiry, IntakeRejection
from tenants.tokens import create_token
from tests.conftest import eventually
from tests.helpers_amqp import PartnerClient, enquiry

PHONE = "01257 515151"
EMAIL = "pat.resident@example.org"


def _psql(database_url: str, sql: str) -> None:
    url = database_url.replace("postgresql+asyncpg://", "postgresql://")
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)


async def test_the_worker_logs_no_customer_phone_or_email_even_for_a_failing_batch(
    hub: Hub, settings: Settings, make_partner, amqp_url: str, tmp_path: Path
) -> None:
    failing = await make_partner("logfail", agents=0)
    fine = await make_partner("logok", agents=0)
    trigger = f"refuse_{uuid.uuid4().hex[:8]}"
    owner_url = settings.migrate_database_url or ""
    # The database refuses this partner's enquiries with an error that quotes the customer: the batch fails
    # after parsing, as an unforeseen fault would, and the error text carries personal data.
    _psql(
        owner_url,
        f"""
        CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'test refuses %', NEW.customer::text USING DETAIL = NEW.customer::text; END $$;
        CREATE TRIGGER {trigger} BEFORE INSERT ON enquiries FOR EACH ROW
            WHEN (NEW.tenant_slug = '{failing.slug}') EXECUTE FUNCTION {trigger}();
        """,
    )
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "HUB_DATABASE_URL": settings.database_url or "",
        "HUB_REDIS_URL": settings.redis_url or "",
        "HUB_AMQP_URL": amqp_url,
        "HUB_REDIS_PREFIX": settings.redis_prefix,
        "HUB_LOG_LEVEL": "DEBUG",
        "HUB_INTAKE_BATCH_WAIT_MS": "50",
    }
    customer = {"name": "Pat Resident", "phone": PHONE, "email": EMAIL, "uprn": "100010380000"}
    client = PartnerClient(amqp_url)
    with log_path.open("wb") as log_file:
        worker = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "hub"),
            "worker",
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        await eventually(lambda: "amqp.connected" in log_path.read_text(), timeout=30, interval=0.2)
        doomed = [
            client.publish(f"{failing.slug}.phone", enquiry(failing.slug, customer=customer, call=None))
            for _ in range(3)
        ]
        accepted = client.publish(f"{fine.slug}.phone", enquiry(fine.slug, customer=customer, call=None))
        refused = client.publish(
            f"{fine.slug}.phone", enquiry(fine.slug, customer=customer, call=None, received_at=12345)
        )

        async def settled() -> bool:
            async with hub.sessionmaker() as session:
                rejected = set(
                    (
                        await session.scalars(
                            select(IntakeRejection.message_id).where(
                                IntakeRejection.message_id.in_([*doomed, refused])
                            )
                        )
                    ).all()
                )
                stored = await session.scalar(select(Enquiry.id).where(Enquiry.message_id == accepted))
            return rejected == {*doomed, refused} and stored is not None

        await eventually(settled, timeout=60, interval=0.3)
        await asyncio.sleep(0.5)
    finally:
        client.close()
        worker.terminate()
        await asyncio.wait_for(worker.wait(), timeout=20)
        _psql(owner_url, f"DROP TRIGGER {trigger} ON enquiries; DROP FUNCTION {trigger}();")
    log = log_path.read_text()
    assert '"intake.batch_failed"' in log and "test refuses" in log  # the failure and its error were logged
    assert '"intake.rejected"' in log
    for secret in (PHONE, PHONE.replace(" ", ""), EMAIL, "100010380000", "Pat Resident"):
        assert secret not in log, secret


async def test_hub_serve_logs_no_customer_phone_or_email_on_its_paths(
    hub: Hub, settings: Settings, make_partner, tmp_path: Path
) -> None:
    """A real ``hub serve`` at DEBUG: an Open311 post with the customer's details (in the form and in the query),
    a refused one, a sign-in attempt with an email for a username, a tracking lookup and a refused JSON body."""
    partner = await make_partner("logapi", agents=0)
    async with unit_of_work(hub.sessionmaker) as session:
        key = await create_token(session, role="open311", tenant=partner.slug, label="test")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = tmp_path / "serve.log"
    env = {
        **os.environ,
        "HUB_DATABASE_URL": settings.database_url or "",
        "HUB_REDIS_URL": settings.redis_url or "",
        "HUB_AMQP_URL": settings.amqp_url or "",
        "HUB_REDIS_PREFIX": settings.redis_prefix,
        "HUB_LOG_LEVEL": "DEBUG",
    }
    with log_path.open("wb") as log_file:
        server = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "hub"),
            "serve",
            "--port",
            str(port),
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    form = {
        "jurisdiction_id": partner.slug,
        "api_key": key,
        "service_code": "missed-bin",
        "lat": "53.65",
        "long": "-2.63",
        "description": f"Bins not emptied, call me on {PHONE}",
        "first_name": "Pat",
        "last_name": "Resident",
        "email": EMAIL,
        "phone": PHONE,
    }
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:

            async def up() -> bool:
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, timeout=60, interval=0.3)
            posted = await client.post("/open311/v2/requests.json", data=form)
            assert posted.status_code in (200, 201), posted.text
            in_query = await client.post("/open311/v2/requests.json", params=form, data={})
            assert in_query.status_code in (200, 201, 400), in_query.text
            # refused with an error that names the value it refused
            refused = await client.post(
                "/open311/v2/requests.json", data={**form, "service_code": f"bins {PHONE}"}
            )
            assert refused.status_code == 400 and PHONE in refused.text
            signed = await client.post("/sign-in", data={"username": EMAIL, "password": PHONE})
            assert signed.status_code in (200, 303, 401, 429)
            assert (await client.get(f"/track/{posted.json()[0]['service_request_id']}")).status_code in (
                200,
                404,
            )
            bad = await client.put(
                "/api/v1/agents/me/status",
                content=f'{{"status": 1e999, "email": "{EMAIL}"}}'.encode(),
                headers={"content-type": "application/json"},
            )
            assert bad.status_code in (401, 422)
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=20)
    log = log_path.read_text()
    assert "Application startup complete" in log  # the server's log was captured (its paths log little)
    for secret in (PHONE, PHONE.replace(" ", ""), EMAIL):
        assert secret not in log, (secret, [line for line in log.splitlines() if secret in line][:3])
