"""The ``hub`` command."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from hub.accounts.cli import users_app
from hub.backoffice_cli import adapters_app
from plumbing.logging import configure_logging
from plumbing.settings import get_settings
from whatif.cli import erlang_command, simulate_command

app = typer.Typer(help="Shared contact-centre hub.", no_args_is_help=True, pretty_exceptions_enable=False)
tenants_app = typer.Typer(help="Partners: definitions and keys.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens for scripts, integrations and tests.", no_args_is_help=True)
live_app = typer.Typer(help="The live state (queues, idle agents, offers).", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(token_app, name="token")
app.add_typer(live_app, name="live")
app.add_typer(users_app, name="users")
app.add_typer(adapters_app, name="adapters")
figures_app = typer.Typer(help="The committee's figures: their tallies.", no_args_is_help=True)
app.add_typer(figures_app, name="figures")
app.command("simulate")(simulate_command)
app.command("erlang")(erlang_command)


@app.callback()
def _operator_scope() -> None:
    """Operator commands are trusted hub-wide code: every partner's rows (row-level security scope ``*``)."""
    from plumbing.db.scope import ALL_PARTNERS, set_scope

    set_scope(ALL_PARTNERS)


EXAMPLES = Path(__file__).resolve().parent.parent / "deploy" / "examples"


def _setup_logging() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)


@app.command()
def migrate() -> None:
    """Apply database migrations to HUB_DATABASE_URL (or the embedded SQLite file)."""
    from hub.migrate import upgrade, where

    settings = get_settings()
    if settings.embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_migrate_url
    applied = upgrade(url)
    if settings.app_role_password is not None and not settings.embedded:
        from hub.migrate import set_app_role_password

        asyncio.run(
            set_app_role_password(url, settings.app_role, settings.app_role_password.get_secret_value())
        )
        typer.echo(f"password of {settings.app_role} set")
    if applied:
        listed = ", ".join(applied)
        typer.echo(f"applied {len(applied)} migration{'s' * (len(applied) != 1)} ({listed}) to {where(url)}")
    else:
        typer.echo(f"database is up to date (no migration to apply): {where(url)}")


@app.command()
def alive(
    max_age: Annotated[float, typer.Option(help="Seconds the last heartbeat may be old")] = 30.0,
) -> None:
    """Liveness probe of `hub worker` and `hub adapters run`: exit 1 when HUB_HEARTBEAT_FILE is stale or missing."""
    from plumbing.heartbeat import age_seconds

    path = get_settings().heartbeat_file
    if path is None:
        typer.echo("HUB_HEARTBEAT_FILE is not set", err=True)
        raise typer.Exit(1)
    age = age_seconds(path)
    if age is None or age > max_age:
        typer.echo(
            f"no heartbeat within {max_age:g} s ({'none' if age is None else f'{age:.0f} s ago'})", err=True
        )
        raise typer.Exit(1)
    typer.echo(f"alive: last heartbeat {age:.1f} s ago")


@tenants_app.command("load")
def tenants_load(
    path: Annotated[Path, typer.Argument(help="A partner YAML file or a folder of them")],
) -> None:
    """Validate every definition (partners and agreements), then store them all in one transaction."""
    from tenants.agreements.loader import load_agreement_files, load_data_sharing_files
    from tenants.agreements.service import AgreementsInvalid
    from tenants.loader import DefinitionsInvalid, load_definitions

    try:
        definitions = load_definitions(path)
        agreements, labels = load_agreement_files(path)
        sharing, sharing_labels = load_data_sharing_files(path)
    except DefinitionsInvalid as exc:
        for error in exc.errors:
            typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None

    async def store() -> list[Applied]:
        from hub.runtime import running_hub
        from plumbing.db.session import unit_of_work
        from tenants.agreements.service import put_agreements
        from tenants.agreements.sharing_service import put_data_sharing
        from tenants.service import apply_definitions

        async with running_hub(get_settings()) as hub, unit_of_work(hub.sessionmaker) as session:
            applied = await apply_definitions(session, definitions=definitions, source=str(path))
            if agreements:
                await put_agreements(session, agreements=agreements, partners=definitions, labels=labels)
            if sharing:
                await put_data_sharing(
                    session, agreements=sharing, partners=definitions, labels=sharing_labels
                )
            return applied

    from tenants.service import Applied

    try:
        applied = asyncio.run(store())
    except AgreementsInvalid as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem.where or problem.path}: {problem.message}", err=True)
        raise typer.Exit(2) from None
    for d, result in zip(definitions, applied, strict=True):
        note = "new catalogue version" if result.changed else "catalogue unchanged"
        # The partner by name, with the slug its files and commands use.
        typer.echo(
            f"loaded {d.tenant.name} ({d.tenant.slug}): {_count(len(d.services), 'service')}, "
            f"{_count(len(d.agents), 'agent')} (version {result.version}, {note})"
        )
    if agreements:
        said = ", ".join(f"{a.name} ({a.id})" if a.name else a.id for a in agreements)
        typer.echo(f"loaded {_count(len(agreements), 'agreement')}: {said}")
    if sharing:
        said = ", ".join(f"{a.name} ({a.id})" if a.name else a.id for a in sharing)
        typer.echo(f"loaded {_count(len(sharing), 'data-sharing agreement')}: {said}")


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


@tenants_app.command("api-key")
def tenants_api_key(
    tenant: Annotated[str, typer.Argument(help="The partner (its slug, also its Open311 jurisdiction_id)")],
    label: Annotated[str, typer.Option(help="Who the key is for, to recognise it by")] = "open311",
) -> None:
    """Print a new Open311 api_key for a partner, once; only its hash is stored."""
    from hub.runtime import running_hub
    from plumbing.auth.service import TokenError
    from plumbing.db.session import unit_of_work
    from tenants.tokens import create_token

    async def make() -> str:
        async with running_hub(get_settings()) as hub, unit_of_work(hub.sessionmaker) as session:
            return await create_token(session, role="open311", tenant=tenant, label=label)

    try:
        typer.echo(asyncio.run(make()))
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


_DURATION = re.compile(r"^(\d{1,6})([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w``: how long a token lives."""
    match = _DURATION.match(text.strip())
    if match is None or int(match[1]) == 0:
        raise typer.BadParameter("give a number and a unit: 30m, 12h, 90d or 2w")
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="agent, supervisor, committee, admin or partner")],
    tenant: Annotated[
        str | None, typer.Option(help="The partner the token is for (omit for hub-wide)")
    ] = None,
    agent: Annotated[str | None, typer.Option(help="The agent id, for the agent role")] = None,
    label: Annotated[str, typer.Option(help="A note to recognise the token by")] = "",
    expires_in: Annotated[
        str | None, typer.Option(help="Refuse the token after this long: 30m, 12h, 90d, 2w (default: never)")
    ] = None,
) -> None:
    """Print a new bearer token (only its hash is stored)."""
    from hub.runtime import running_hub
    from plumbing.auth.service import TokenError
    from plumbing.db.base import utcnow
    from plumbing.db.session import unit_of_work
    from tenants.tokens import create_token

    lifetime = parse_duration(expires_in) if expires_in else None

    async def make() -> str:
        async with running_hub(get_settings()) as hub, unit_of_work(hub.sessionmaker) as session:
            return await create_token(
                session,
                role=role,
                tenant=tenant,
                agent_id=agent,
                label=label,
                expires_at=utcnow() + lifetime if lifetime else None,
            )

    try:
        typer.echo(asyncio.run(make()))
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@token_app.command("revoke")
def token_revoke(
    token: Annotated[str | None, typer.Argument(help="The token itself (or use --id / --label)")] = None,
    token_id: Annotated[int | None, typer.Option("--id", help="The token's id")] = None,
    label: Annotated[str | None, typer.Option(help="Every live token with this label")] = None,
    tenant: Annotated[str | None, typer.Option(help="Only the partner's tokens (with --label)")] = None,
) -> None:
    """Revoke tokens: every process refuses them within a second (docs/operations.md)."""
    from hub.runtime import revocation_marker, running_hub
    from plumbing.auth.service import TokenError, revoke_tokens
    from plumbing.db.base import utcnow
    from plumbing.db.session import unit_of_work

    async def revoke() -> list[int]:
        async with running_hub(get_settings()) as hub:
            async with unit_of_work(hub.sessionmaker) as session:
                revoked = await revoke_tokens(
                    session, token=token, token_id=token_id, label=label, tenant=tenant, at=utcnow()
                )
            marker = revocation_marker(hub)
            if revoked and marker is not None:  # after the commit: every process looks its tokens up again
                await marker.bump()
            return revoked

    try:
        revoked = asyncio.run(revoke())
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not revoked:
        typer.echo("error: no live token matched", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {len(revoked)} token(s): id {', '.join(map(str, revoked))}")


@live_app.command("rebuild")
def live_rebuild() -> None:
    """Rebuild queues, idle agents and offers in Redis from the database."""
    from hub.runtime import running_hub
    from routing.dispatch.rebuild import rebuild_live_state

    async def run() -> None:
        async with running_hub(get_settings()) as hub:
            result = await rebuild_live_state(hub.dispatcher)
        if result is None:
            typer.echo("another process is rebuilding right now; try again in a minute", err=True)
            raise typer.Exit(1)
        typer.echo(
            f"rebuilt: {result.queued} waiting, {result.requeued_offers} offers returned to their queue, "
            f"{result.agents_ready} agents ready, {result.offers} offers made"
        )

    asyncio.run(run())


@figures_app.command("rebuild")
def figures_rebuild(
    from_: Annotated[str, typer.Option("--from", help="ISO date or time (UTC unless it says), inclusive")],
    to: Annotated[str, typer.Option(help="ISO date or time, exclusive")],
    tenant: Annotated[
        list[str] | None, typer.Option(help="Only these owners (repeatable); default: all")
    ] = None,
) -> None:
    """Recount the figures' tallies from the event log for contacts first queued in [from, to).

    Run once after upgrading to migration 0009 (older events were never counted), or after loading events by
    any path other than the worker's (docs/figures.md). Whole 15-minute slots: the bounds are rounded out.
    """
    from datetime import UTC, datetime

    from sqlalchemy import select

    from hub.runtime import running_hub
    from plumbing.db.session import unit_of_work
    from routing.tallies import rebuild
    from tenants.models import Tenant

    def moment(value: str) -> datetime:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    start, end = moment(from_), moment(to)
    if end <= start:
        typer.echo("error: --to must be after --from", err=True)
        raise typer.Exit(2)

    async def run() -> None:
        async with running_hub(get_settings()) as hub:
            async with hub.sessionmaker() as session:
                owners = tenant or list(
                    (await session.scalars(select(Tenant.slug).order_by(Tenant.slug))).all()
                )
            for owner in owners:
                async with unit_of_work(hub.sessionmaker) as session:
                    counted = await rebuild(session, tenant=owner, start=start, end=end)
                typer.echo(f"{owner}: {counted} contacts counted")

    asyncio.run(run())


@app.command()
def report(
    period: Annotated[str, typer.Option(help="The month, e.g. 2026-10 (each partner's local month)")],
    format: Annotated[str, typer.Option("--format", help="pdf, html or csv")] = "pdf",
    tenant: Annotated[
        list[str] | None, typer.Option(help="Only these partners (repeatable); default: every partner")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="File to write (default: committee-pack-PERIOD.FORMAT)")
    ] = None,
    publish: Annotated[
        bool, typer.Option(help="Freeze the period's figures first (never rewritten afterwards)")
    ] = False,
) -> None:
    """The committee's monthly paper: a cover, the summary across partners and the pool, a page for each, how to read it."""
    from datetime import UTC, datetime

    from figures.pack import FORMATS, gather, render
    from figures.periods import PeriodError, period_problem, publish_period
    from hub.runtime import running_hub
    from plumbing.db.session import unit_of_work
    from tenants.models import Tenant

    if format not in FORMATS:
        typer.echo(f"error: --format must be one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    if (problem := period_problem(period)) is not None:
        typer.echo(f"error: --period {problem}", err=True)
        raise typer.Exit(2)

    async def build() -> bytes:
        from sqlalchemy import select

        async with running_hub(get_settings()) as hub:
            async with unit_of_work(hub.sessionmaker) as session:
                rows = list(
                    (
                        await session.scalars(
                            select(Tenant).where(Tenant.kind.in_(("partner", "pool"))).order_by(Tenant.slug)
                        )
                    ).all()
                )
                known = [t.slug for t in rows]
                chosen = tenant or known
                unknown = [t for t in chosen if t not in known]
                if unknown:
                    raise PeriodError(f"no partner {', '.join(unknown)} (known: {', '.join(known)})")
                names = {t.slug: t.name for t in rows}
                for n, slug in enumerate(chosen, 1):
                    # Progress on stderr, a line per partner: reads the same in a terminal and in a log.
                    typer.echo(f"[{n}/{len(chosen)}] {names[slug]}: figures for {period}", err=True)
                    if publish:
                        await publish_period(session, tenant=slug, period=period, now=datetime.now(UTC))
                typer.echo(f"gathering {period} and the months before it ...", err=True)
                paper = await gather(session, tenants=chosen, period=period, now=datetime.now(UTC))
            typer.echo(f"rendering the {format} ...", err=True)
            return render(paper, format)

    try:
        content = asyncio.run(build())
    except PeriodError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    target = output or Path(f"committee-pack-{period}.{format}")
    target.write_bytes(content)
    typer.echo(f"wrote {target} ({len(content):,} bytes)")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Run the HTTP API."""
    import uvicorn

    from hub.api.app import create_app

    _setup_logging()
    uvicorn.run(create_app(), host=host, port=port, log_config=None, access_log=False)


@app.command()
def worker() -> None:
    """Run the AMQP intake consumer, the outbox relay and the dispatcher."""
    from hub.runtime import Hub, settle_heap
    from hub.worker import Worker

    _setup_logging()

    async def run() -> None:
        hub = await Hub.start(get_settings(), pre_ping=False)
        settle_heap()
        work = Worker(hub)
        loop = asyncio.get_running_loop()

        def stop() -> None:
            work.stop.set()
            # A last resort so that an orchestrator's stop always works: nothing is acked before its commit,
            # so leaving hard loses nothing (unacked deliveries are redelivered).
            loop.call_later(STOP_GRACE_SECONDS, _exit_now)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        try:
            await work.run()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(hub.close(), timeout=3)

    asyncio.run(run())


STOP_GRACE_SECONDS = 12.0


def _exit_now() -> None:
    import logging
    import os

    logging.getLogger("hub.worker").warning("worker did not stop within %ss; exiting now", STOP_GRACE_SECONDS)
    os._exit(0)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port for the web address")] = 8000,
    rate: Annotated[float, typer.Option(help="Simulated enquiries per second, all partners together")] = 0.8,
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: run until Ctrl-C)")
    ] = None,
    real_hours: Annotated[
        bool,
        typer.Option(help="Honour the partners' opening hours (by default calls flow at any time of day)"),
    ] = False,
) -> None:
    """Everything in one process on the embedded default, with simulated partners and agents."""
    from hub.demo import run_demo

    asyncio.run(run_demo(port=port, rate=rate, seconds=seconds, examples=EXAMPLES, real_hours=real_hours))


if __name__ == "__main__":
    app()
