"""``hub users``: operators create the people who sign in to the web app."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

users_app = typer.Typer(
    help="People who sign in to the web app (console, floor, figures).", no_args_is_help=True
)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="What they type to sign in")],
    role: Annotated[str, typer.Option(help="agent, supervisor, committee or admin")],
    tenant: Annotated[
        str | None, typer.Option(help="Their partner (omit for hub staff who span partners)")
    ] = None,
    agent: Annotated[str | None, typer.Option(help="The agent id, for the agent role")] = None,
    name: Annotated[str, typer.Option(help="Their name as shown on pages")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a user; the password is asked for (or read from stdin) and only its argon2 hash is stored."""
    from hub.accounts.service import AccountError, create_user
    from hub.runtime import running_hub
    from plumbing.db.session import unit_of_work
    from plumbing.settings import get_settings

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def make() -> str:
        async with running_hub(get_settings()) as hub, unit_of_work(hub.sessionmaker) as session:
            user = await create_user(
                session,
                username=username,
                password=password,
                role=role,
                tenant=tenant,
                agent_id=agent,
                name=name,
            )
            return (
                f"created {user.username} ({user.role}{', ' + user.tenant_slug if user.tenant_slug else ''})"
            )

    try:
        typer.echo(asyncio.run(make()))
    except AccountError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
