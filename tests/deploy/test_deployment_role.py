"""The deployment files run the app under row-level security: deploy/compose.yaml and deploy/k8s/ connect the app as
the role their migration grants to, and that role, migrated with their settings into a scratch database on the
local PostgreSQL, is no superuser, owns nothing, has no BYPASSRLS, and can do its job within a partner's scope."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
import yaml
from sqlalchemy import func, select

from hub.migrate import set_app_role_password
from hub.runtime import Hub
from plumbing.db.scope import ALL_PARTNERS, tenant_scope
from plumbing.db.session import unit_of_work
from plumbing.settings import Settings
from routing.models import Enquiry
from tenants.service import apply_definitions
from tests.conftest import PG_ADMIN_URL, partner_definition
from tests.fuzz.poison import good_body
from tests.helpers_intake import delivery

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
K8S = ROOT / "deploy" / "k8s"
APP_SERVICES = ("api", "worker", "adapters")


def _resolve(value: str) -> str:
    """Compose's ${NAME:-default}, as it would be with nothing in deploy/.env."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def compose_settings() -> dict[str, dict[str, str]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    return {
        name: {k: _resolve(str(v)) for k, v in services[name]["environment"].items()}
        for name in services
        if "environment" in services[name] and name in (*APP_SERVICES, "migrate")
    }


def _k8s_documents() -> list[dict[str, Any]]:
    return [d for f in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]


def k8s_settings() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(config map, the app's secret, the migration Job's own env names -> secret keys)."""
    docs = _k8s_documents()
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "hub-config")[
        "data"
    ]
    secret = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "hub-secrets")[
        "stringData"
    ]
    job = next(d for d in docs if d["kind"] == "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert {"configMapRef": {"name": "hub-config"}} in container["envFrom"]  # the Job reads HUB_APP_ROLE too
    job_env = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e}
    return config, secret, job_env


def _user(url: str) -> str:
    return urlsplit(url).username or ""


def test_compose_and_kubernetes_connect_the_app_as_the_role_the_migration_grants_to() -> None:
    compose = compose_settings()
    role = compose["api"]["HUB_APP_ROLE"]
    for name in APP_SERVICES:
        assert _user(compose[name]["HUB_DATABASE_URL"]) == role, name
        assert compose[name]["HUB_APP_ROLE"] == role, name
    migrate = compose["migrate"]
    assert migrate["HUB_APP_ROLE"] == role and migrate["HUB_APP_ROLE_PASSWORD"]
    owner = _user(migrate["HUB_MIGRATE_DATABASE_URL"])
    assert owner != role
    postgres = yaml.safe_load(COMPOSE.read_text())["services"]["postgres"]["environment"]
    assert postgres["POSTGRES_USER"] == owner  # the image's superuser migrates; the app is not it
    # the app's password is the one the migration sets
    assert urlsplit(compose["api"]["HUB_DATABASE_URL"]).password == migrate["HUB_APP_ROLE_PASSWORD"]

    config, secret, job_env = k8s_settings()
    assert _user(secret["HUB_DATABASE_URL"]) == config["HUB_APP_ROLE"]
    assert _user(secret[job_env["HUB_MIGRATE_DATABASE_URL"]]) != config["HUB_APP_ROLE"]
    assert job_env["HUB_APP_ROLE_PASSWORD"] in secret


def test_every_long_running_process_has_a_liveness_probe() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in APP_SERVICES:
        check = services[name]["healthcheck"]["test"]
        assert check and not services[name]["healthcheck"].get("disable"), name
    for name in ("worker", "adapters"):
        assert services[name]["healthcheck"]["test"][1:3] == ["hub", "alive"], name
        assert services[name]["environment"]["HUB_HEARTBEAT_FILE"]
    deployments = [d for d in _k8s_documents() if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} >= {"hub-api", "hub-worker", "hub-adapters"}
    for deployment in deployments:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert "livenessProbe" in container, deployment["metadata"]["name"]


@pytest.fixture
def scratch_database() -> Iterator[str]:
    name = f"hub_deploy_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", PG_ADMIN_URL, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    yield name
    subprocess.run(
        ["psql", PG_ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
        check=True,
        capture_output=True,
    )


async def test_migrated_with_the_files_settings_the_app_role_is_unprivileged_and_does_its_job(
    scratch_database: str,
) -> None:
    compose = compose_settings()
    config, _secret, _job = k8s_settings()
    role = compose["migrate"]["HUB_APP_ROLE"]
    assert role == config["HUB_APP_ROLE"]
    base = urlsplit(PG_ADMIN_URL)
    owner_url = f"postgresql://{base.username}@{base.hostname}:{base.port or 5432}/{scratch_database}"
    app_url = f"postgresql://{role}@{base.hostname}:{base.port or 5432}/{scratch_database}"
    # `hub migrate` as the files run it: the owner's URL to migrate with, HUB_APP_ROLE from the files.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
        "HUB_DATABASE_URL": app_url,
        "HUB_MIGRATE_DATABASE_URL": owner_url,
        "HUB_APP_ROLE": role,
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / "hub"), "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]

    admin = await asyncpg.connect(owner_url)
    try:
        found = await admin.fetchrow(
            "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = $1", role
        )
        assert (
            found is not None
            and not found["rolsuper"]
            and not found["rolbypassrls"]
            and not found["rolcreaterole"]
        )
        owned = await admin.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = $1", role
        )
        assert owned == 0
        assert (
            await admin.fetchval(
                "SELECT datdba::regrole::text FROM pg_database WHERE datname = $1", scratch_database
            )
            != role
        )
    finally:
        await admin.close()

    hub = await Hub.start(
        Settings(database_url=app_url.replace("postgresql://", "postgresql+asyncpg://")), migrate=False
    )
    try:
        a, b = f"depa-{uuid.uuid4().hex[:6]}", f"depb-{uuid.uuid4().hex[:6]}"
        with tenant_scope(ALL_PARTNERS):  # setting partners up is hub-wide work
            async with unit_of_work(hub.sessionmaker) as session:
                await apply_definitions(
                    session, definitions=[partner_definition(a, []), partner_definition(b, [])]
                )
            await hub.catalogue.reload()
        for slug in (a, b):
            with tenant_scope([slug]):  # each enquiry inserted under its own partner's scope
                result = await hub.intake.process([delivery(f"{slug}.phone", good_body(slug))])
                assert result.accepted == 1
        with tenant_scope([a]):
            async with hub.sessionmaker() as session:
                seen = (
                    await session.execute(
                        select(Enquiry.tenant_slug, func.count()).group_by(Enquiry.tenant_slug)
                    )
                ).all()
        assert seen == [(a, 1)]  # its own enquiry read back; the other partner's is invisible
    finally:
        await hub.close()


async def test_hub_migrate_gives_the_app_role_its_password(scratch_database: str) -> None:
    """HUB_APP_ROLE_PASSWORD (the compose and Kubernetes files set it for the migration) is what the role gets."""
    role = f"hub_pw_{uuid.uuid4().hex[:8]}"
    base = urlsplit(PG_ADMIN_URL)
    owner_url = f"postgresql://{base.username}@{base.hostname}:{base.port or 5432}/{scratch_database}"
    admin = await asyncpg.connect(owner_url)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN")
        await set_app_role_password(
            owner_url.replace("postgresql://", "postgresql+asyncpg://"), role, "it's s3cret"
        )
        stored = await admin.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1", role)
        assert stored is not None and stored.startswith("SCRAM-SHA-256$")  # stored hashed, quotes and all
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()
