"""What the `hub` command says to an operator: flags shown as flags, errors that say what is wrong and how to
fix it, `hub migrate` saying what it did and where, definition files' errors naming the file, the service and
the unknown key (issue 21)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.runtime import Hub
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


def _commands() -> list[tuple[str, ...]]:
    """Every command and sub-command of `hub`, as typed."""
    import click
    import typer

    from hub.cli import app

    def walk(command: click.Command, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        found = [path]
        if hasattr(command, "list_commands"):  # a group (typer's own click, so not click.Group)
            context = click.Context(command)
            for name in command.list_commands(context):  # type: ignore[attr-defined]
                sub = command.get_command(context, name)  # type: ignore[attr-defined]
                assert sub is not None
                found += walk(sub, (*path, name))
        return found

    return walk(typer.main.get_command(app), ())


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c) or "hub")
def test_every_commands_help_shows_flags_as_flags_and_cites_only_the_docs(command: tuple[str, ...]) -> None:
    from typer.testing import CliRunner

    from hub.cli import app

    shown = CliRunner().invoke(app, [*command, "--help"], prog_name="hub", env={"COLUMNS": "120"})
    assert shown.exit_code == 0, shown.output
    assert shown.output.lstrip().startswith(f"Usage: {' '.join(('hub', *command))} "), shown.output
    assert "--help" in shown.output and "<bool>" not in shown.output, shown.output
    for outside in ("DESIGN", "§", "../shared", "brief"):
        assert outside not in shown.output, (outside, shown.output)


def test_a_scenario_with_an_unknown_key_names_the_file_the_line_the_item_and_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "what-if.yaml"
    bad.write_text(
        "name: typo\n"
        "period: {start: 2026-10-06T08:00:00Z, end: 2026-10-06T16:00:00Z}\n"
        "partners:\n"
        "  - slug: town\n"
        "    services:\n"
        "      - {code: bins, skills: [waste], colour: grey}\n"
        "arrivals:\n"
        "  - {partner: town, service: bins, per_interval: 4}\n"
        "rotas:\n"
        "  - {partner: town, agents: 2, skills: [waste]}\n"
        "agreement: []\n"
    )
    done = run_hub("simulate", str(bad), settings_env={})
    assert done.returncode == 2
    # Items counted from 1 and named by their slug or code, as the partner definitions' errors are.
    assert done.stderr.strip().splitlines() == [
        f"error: {bad}, line 6 (partners, item 1 (slug town), services, item 1 (code bins)): "
        "unknown key 'colour': check its spelling, or remove it",
        f"error: {bad}, line 11: unknown key 'agreement': check its spelling, or remove it",
    ]


def test_long_work_reports_progress_in_plain_lines_when_piped() -> None:
    """`hub simulate` off a terminal: a line as each quarter of the period is passed (looked at every 16,384
    events, so a short run says only its end), on stderr, no bar redrawn; its lines are never folded at the
    width a pipe gets, and what the change costs reads by name."""
    scenario = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "scenarios"
    done = run_hub("simulate", str(scenario / "with-evening-agreement.yaml"), settings_env={"COLUMNS": "60"})
    assert done.returncode == 0, done.stderr
    said = done.stderr.strip().splitlines()
    quarters = [
        re.fullmatch(r"simulating with evening agreement: (25|50|75|100)% \([\d,]+ contacts\)", line)
        for line in said
    ]
    assert all(quarters) and said[-1].startswith("simulating with evening agreement: 100% ("), said
    assert [int(q.group(1)) for q in quarters if q] == sorted({int(q.group(1)) for q in quarters if q}), said
    assert "\r" not in done.stderr and "\x1b" not in done.stderr + done.stdout
    # The figures table reads partners by name.
    assert "Chorley Council" in done.stdout and "│ chorley " not in done.stdout
    # The cost, one line per agreement, whole although wider than 60 columns: the hub's evening team's
    # contacts at the agreement's £3.10 each.
    line = next(x for x in done.stdout.splitlines() if x.startswith("    evening agreement: "))
    cost = re.fullmatch(
        r"    evening agreement: Shared contact centre \(hub team\) answered ([\d,]+) for Chorley Council "
        r"at £3\.10 = £([\d,.]+)",
        line,
    )
    assert cost, line
    handled, amount = int(cost.group(1).replace(",", "")), float(cost.group(2).replace(",", ""))
    assert handled > 0 and round(handled * 3.10, 2) == amount


async def test_the_report_names_each_partner_as_it_goes(
    hub: Hub, make_partner, database_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    partner = await make_partner("report")
    env = {
        "HUB_DATABASE_URL": database_url,
        "HUB_REDIS_URL": hub.settings.redis_url or "",
        "HUB_REDIS_PREFIX": hub.settings.redis_prefix,
    }
    target = tmp_path / "pack.csv"
    done = run_hub(
        "report",
        "--period",
        "2026-10",
        "--tenant",
        partner.slug,
        "--format",
        "csv",
        "--output",
        str(target),
        settings_env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"[1/1] Test partner {partner.slug}: figures for 2026-10",
        "gathering 2026-10 and the months before it ...",
        "rendering the csv ...",
    ]
    assert done.stdout.strip() == f"wrote {target} ({target.stat().st_size:,} bytes)"
    unknown = run_hub("report", "--period", "2026-10", "--tenant", "nowhere", settings_env=env)
    assert unknown.returncode == 2 and "error: no partner nowhere (known: " in unknown.stderr
