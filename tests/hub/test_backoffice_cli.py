"""`hub adapters` as an operator uses it: see what is parked, re-drive it, run a worker, check configurations."""

from __future__ import annotations

from pathlib import Path

from backoffice.models import DELIVERED, PARKED
from hub.runtime import Hub
from tests.backoffice_helpers import (
    Clock,
    deliveries,
    make_backoffice_partner,
    pass_to_back_office,
    runner_for,
)
from tests.hub.test_cli import run_hub


def _csv_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.csv"))


def _mkdir(folder: Path) -> None:
    folder.mkdir()


async def test_parked_redrive_and_run(hub: Hub, database_url: str, tmp_path: Path) -> None:
    share = tmp_path / "share"
    partner = await make_backoffice_partner(
        hub,
        {
            "missed-bin": {"name": "csv_drop", "config": {"folder": str(share)}},
            "broken": {"name": "email", "config": {"host": "127.0.0.1"}},
        },
    )
    await pass_to_back_office(hub, partner, "missed-bin")
    await runner_for(hub, partner, Clock(), max_attempts=1).run_until_idle()  # the share is not mounted
    [row] = await deliveries(hub, partner)
    assert row.status == PARKED
    env = {"HUB_DATABASE_URL": database_url, "HUB_LOG_LEVEL": "WARNING"}

    listed = run_hub("adapters", "parked", "--tenant", partner.slug, settings_env=env)
    assert listed.returncode == 0, listed.stderr
    assert f"{row.id}\t{partner.slug}/missed-bin" in listed.stdout and "does not exist" in listed.stdout

    _mkdir(share)
    redriven = run_hub("adapters", "redrive", str(row.id), settings_env=env)
    assert redriven.returncode == 0, redriven.stderr
    assert f"delivery {row.id} ({partner.slug}/missed-bin) queued again" in redriven.stdout
    again = run_hub("adapters", "redrive", str(row.id), settings_env=env)
    assert again.returncode == 2 and "is pending, not parked" in again.stderr

    ran = run_hub("adapters", "run", "--once", "--tenant", partner.slug, settings_env=env)
    assert ran.returncode == 0, ran.stderr
    assert "delivered 1, to retry 0, parked 0" in ran.stdout
    [row] = await deliveries(hub, partner)
    assert row.status == DELIVERED and len(_csv_names(share)) == 1

    checked = run_hub("adapters", "list", settings_env=env)
    assert checked.returncode == 1  # a misconfigured service is an error an operator must see
    assert "installed: csv_drop, email, open311, webhook" in checked.stdout
    assert f"{partner.slug}/missed-bin: csv_drop ok" in checked.stdout
    assert (
        f"{partner.slug}/broken: error: email adapter: bad config: from_address: Field required"
        in checked.stdout
    )
