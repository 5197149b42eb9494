"""``hub adapters``: run the delivery workers, see what is parked, send it again."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from backoffice.outbox import RetryPolicy
from plumbing.settings import Settings, get_settings

adapters_app = typer.Typer(help="Back-office adapters and their delivery queue.", no_args_is_help=True)


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.adapter_max_attempts,
        base_seconds=settings.adapter_backoff_base_seconds,
        cap_seconds=settings.adapter_backoff_cap_seconds,
    )


@adapters_app.command("run")
def run(
    once: Annotated[bool, typer.Option(help="Deliver what is due now, then exit")] = False,
    tenant: Annotated[
        list[str] | None, typer.Option(help="Only this partner's deliveries (repeat for several)")
    ] = None,
) -> None:
    """Deliver queued cases to back offices until stopped (run as many as you like: claims never overlap)."""
    from backoffice.runner import DeliveryRunner
    from hub.runtime import Hub
    from plumbing.heartbeat import beat
    from plumbing.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)

    async def main() -> None:
        hub = await Hub.start(settings)
        runner = DeliveryRunner(
            hub.sessionmaker,
            policy=retry_policy(settings),
            batch_size=settings.adapter_batch_size,
            tenants=tenant or None,
        )
        try:
            if once:
                stats = await runner.run_until_idle()
                typer.echo(f"delivered {stats.delivered}, to retry {stats.retrying}, parked {stats.parked}")
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            heartbeat = (
                asyncio.create_task(beat(settings.heartbeat_file, settings.heartbeat_seconds))
                if settings.heartbeat_file is not None
                else None
            )
            try:
                await runner.run(stop)
            finally:
                if heartbeat is not None:
                    heartbeat.cancel()
        finally:
            await runner.close()
            await hub.close()

    asyncio.run(main())


@adapters_app.command("list")
def list_adapters() -> None:
    """Installed adapters, and each service's adapter with whether its configuration is usable."""
    import httpx

    from adapters.base import AdapterConfigError, AdapterContext, AdapterRegistry
    from hub.runtime import Hub
    from tenants.models import Service

    registry = AdapterRegistry.from_entry_points()
    typer.echo(f"installed: {', '.join(registry.names) or 'none'}")

    async def main() -> int:
        from sqlalchemy import select

        hub = await Hub.start(get_settings())
        problems = 0
        try:
            async with hub.sessionmaker() as session, httpx.AsyncClient() as http:
                services = (
                    await session.scalars(select(Service).order_by(Service.tenant_slug, Service.code))
                ).all()
                for service in services:
                    spec = (service.definition or {}).get("adapter")
                    where = f"{service.tenant_slug}/{service.code}"
                    if not spec:
                        typer.echo(f"{where}: no adapter (cases passed to the back office are parked)")
                        continue
                    try:
                        registry.build(spec, AdapterContext(http=http), where=where)
                        typer.echo(f"{where}: {spec.get('name')} ok")
                    except AdapterConfigError as exc:
                        problems += 1
                        typer.echo(f"{where}: error: {exc}")
        finally:
            await hub.close()
        return problems

    if asyncio.run(main()):
        raise typer.Exit(1)


@adapters_app.command("parked")
def parked(
    tenant: Annotated[str | None, typer.Option(help="Only this partner's")] = None,
) -> None:
    """Deliveries parked after their last try, with the error that parked them."""
    from backoffice.outbox import list_deliveries
    from hub.runtime import running_hub

    async def main() -> None:
        async with running_hub(get_settings()) as hub, hub.sessionmaker() as session:
            rows = await list_deliveries(session, tenant=tenant)
        if not rows:
            typer.echo("nothing parked")
        for row, reference in rows:
            typer.echo(
                f"{row.id}\t{row.tenant_slug}/{row.service_code}\t{reference}\t{row.kind}\t"
                f"tries {row.attempts}\t{row.last_error}"
            )

    asyncio.run(main())


@adapters_app.command("redrive")
def redrive_command(
    delivery_id: Annotated[int, typer.Argument(help="The id shown by `hub adapters parked`")],
) -> None:
    """Queue a parked delivery again with a fresh set of tries."""
    from datetime import UTC, datetime

    from backoffice.outbox import RedriveError, redrive
    from hub.runtime import running_hub
    from plumbing.db.session import unit_of_work

    async def main() -> str:
        async with running_hub(get_settings()) as hub, unit_of_work(hub.sessionmaker) as session:
            row = await redrive(session, delivery_id=delivery_id, now=datetime.now(UTC))
            return f"delivery {row.id} ({row.tenant_slug}/{row.service_code}) queued again"

    try:
        typer.echo(asyncio.run(main()))
    except RedriveError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
