"""What the `hub` command says to an operator: flags shown as flags, errors that say what is wrong and how to
fix it, `hub migrate` saying what it did and where, definition files' errors naming the file, the service and
the unknown key (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hub.test_cli import run_hub


@pytest.mark.parametrize("command", [(), ("report",), ("simulate",), ("tenants", "load"), ("demo",)])
def test_help_shows_flags_as_flags(command: tuple[str, ...]) -> None:
    shown = run_hub(*command, "--help", settings_env={"COLUMNS": "120"})
    assert shown.returncode == 0, shown.stderr
    assert "--help" in shown.stdout and "<bool>" not in shown.stdout, shown.stdout


def test_a_period_that_is_not_a_month_says_why_and_how_to_write_it() -> None:
    thirteenth = run_hub("report", "--period", "2026-13", settings_env={})
    assert thirteenth.returncode == 2
    assert thirteenth.stderr.strip() == (
        "error: --period '2026-13' has no month 13: months run from 01 to 12, e.g. 2026-10 for October 2026"
    )
    worded = run_hub("report", "--period", "October", settings_env={})
    assert worded.returncode == 2
    assert "write the year and the month as YYYY-MM, e.g. 2026-10 for October 2026" in worded.stderr


def test_migrate_says_how_many_migrations_it_applied_and_to_which_file(tmp_path: Path) -> None:
    database = tmp_path / "fresh.sqlite3"
    env = {"HUB_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    first = run_hub("migrate", settings_env=env)
    assert first.returncode == 0, first.stderr
    # Every migration in hub/migrations/versions (0001 onwards), all new to an empty file.
    count = len(list((Path(__file__).resolve().parents[2] / "hub" / "migrations" / "versions").glob("0*.py")))
    assert count >= 13
    assert first.stdout.startswith(f"applied {count} migrations (0001, "), first.stdout
    assert first.stdout.rstrip().endswith(f"to the SQLite file {database}"), first.stdout
    again = run_hub("migrate", settings_env=env)
    assert (
        again.stdout.strip() == f"database is up to date (no migration to apply): the SQLite file {database}"
    )


def test_migrate_names_a_postgresql_database_without_its_password(database_url: str) -> None:
    with_password = database_url.replace("postgres@", "postgres:s3cret-word@", 1)
    done = run_hub("migrate", settings_env={"HUB_DATABASE_URL": with_password})
    assert done.returncode == 0, done.stderr
    assert "s3cret-word" not in done.stdout + done.stderr
    assert "postgres:***@127.0.0.1" in done.stdout and "up to date" in done.stdout


def test_definition_errors_name_the_file_the_service_and_the_unknown_key(tmp_path: Path) -> None:
    bad = tmp_path / "chorley.yaml"
    bad.write_text(
        "tenant: {slug: chorley-x, name: X}\nservices:\n  - {code: general, name: General}\n"
        "  - {code: missed-bin, name: Missed bin, lgsl: 524, colour: grey, priority: high}\n"
    )
    broken = tmp_path / "south.yaml"
    broken.write_text("tenant: {slug: south\n  name: [X\n")
    result = run_hub("tenants", "load", str(tmp_path), settings_env={})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert (
        f"error: {bad}: services, item 2 (code missed-bin): unknown key 'colour': check its spelling, or remove it"
        in lines
    )
    assert any(
        line.startswith(f"error: {bad}: services, item 2 (code missed-bin), priority: ") for line in lines
    )
    assert f"error: {broken}: not valid YAML at line 2, column 7: " in result.stderr
    assert "<unicode string>" not in result.stderr and "Extra inputs" not in result.stderr
