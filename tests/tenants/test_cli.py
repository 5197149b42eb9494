"""`hub tenants load` and `hub tenants api-key`, run as an operator would, against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import select

from hub.runtime import Hub
from plumbing.auth.models import ApiToken
from plumbing.auth.service import check_api_key, hash_token
from plumbing.settings import Settings
from tenants.models import Tenant
from tests.conftest import unique_slug
from tests.helpers_examples import EXAMPLES, example_raw


def _hub_command(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUB_DATABASE_URL": settings.database_url or "", "HUB_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_a_bad_file_loads_nothing_and_says_where(hub: Hub, settings: Settings, tmp_path: Path) -> None:
    slug = unique_slug("chorley")
    good = example_raw("chorley")
    good["tenant"]["slug"] = slug
    good["agents"] = []
    (tmp_path / "a-good.yaml").write_text(yaml.safe_dump(good), encoding="utf-8")
    bad = example_raw("lancashire")
    bad["tenant"]["slug"] = unique_slug("lancashire")
    bad["agents"] = []
    bad["services"][2]["attributes"][0]["values"] = []
    (tmp_path / "b-bad.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")

    result = _hub_command(settings, "tenants", "load", str(tmp_path))
    assert result.returncode == 2
    assert (
        f"error: {tmp_path / 'b-bad.yaml'}: services, item 3 (code pothole), attributes, item 1 (code where): "
        "a singlevaluelist needs values" in result.stderr
    )
    async with hub.sessionmaker() as session:
        assert await session.get(Tenant, slug) is None, "the good file must not be loaded alone"

    (tmp_path / "b-bad.yaml").unlink()
    result = _hub_command(settings, "tenants", "load", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (
        f"loaded Chorley Council ({slug}): 6 services, 0 agents (version 1, new catalogue version)"
        in result.stdout
    )
    result = _hub_command(settings, "tenants", "load", str(tmp_path))
    assert (
        f"loaded Chorley Council ({slug}): 6 services, 0 agents (version 1, catalogue unchanged)"
        in result.stdout
    )

    result = _hub_command(settings, "tenants", "api-key", slug)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    async with hub.sessionmaker() as session:
        assert await check_api_key(session, key, tenant=slug)
        row = await session.scalar(select(ApiToken).where(ApiToken.tenant_slug == slug))
    assert row is not None and row.token_hash == hash_token(key) and key not in row.token_hash
    assert _hub_command(settings, "tenants", "api-key", "nobody-here").returncode == 2


def test_the_examples_folder_is_what_the_cli_loads() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == [
        "agreements.yaml",
        "chorley.yaml",
        "data-sharing.yaml",
        "hub.yaml",
        "lancashire.yaml",
        "south-ribble.yaml",
    ]
