"""The `hub` command as an operator uses it, against the test run's database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hub.runtime import Hub
from tenants.models import Tenant
from tests.conftest import unique_slug


def run_hub(*args: str, settings_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | settings_env
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


async def test_migrate_load_and_token(hub: Hub, database_url: str, tmp_path: Path) -> None:
    env = {
        "HUB_DATABASE_URL": database_url,
        "HUB_REDIS_URL": hub.settings.redis_url or "",
        "HUB_REDIS_PREFIX": hub.settings.redis_prefix,
    }
    migrated = run_hub("migrate", settings_env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "up to date" in migrated.stdout

    slug = unique_slug("cli")
    (tmp_path / "p.yaml").write_text(
        f"tenant: {{slug: {slug}, name: CLI Council}}\nservices:\n  - {{code: general, name: General enquiries}}\n"
        f"  - {{code: missed-bin, name: Missed bin, lgsl: 524, skills: [waste]}}\n"
        f"agents:\n  - {{id: {slug}-a, name: A, skills: [waste]}}\n"
    )
    loaded = run_hub("tenants", "load", str(tmp_path / "p.yaml"), settings_env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert (
        f"loaded CLI Council ({slug}): 2 services, 1 agent (version 1, new catalogue version)"
        in loaded.stdout
    )
    async with hub.sessionmaker() as session:
        assert await session.get(Tenant, slug) is not None

    token = run_hub("token", "create", "--role", "agent", "--agent", f"{slug}-a", settings_env=env)
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip().startswith("hub_")
    refused = run_hub("token", "create", "--role", "agent", settings_env=env)
    assert refused.returncode == 2 and "needs --agent" in refused.stderr


def test_a_bad_file_is_refused_with_its_path_and_nothing_loaded(tmp_path: Path, database_url: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tenant: {slug: x, name: X}\nservices:\n  - {code: a, name: A, priority: high}\n")
    result = run_hub("tenants", "load", str(bad), settings_env={"HUB_DATABASE_URL": database_url})
    assert result.returncode == 2
    assert f"error: {bad}: services, item 1 (code a), priority:" in result.stderr
