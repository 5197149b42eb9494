"""Alembic environment: runs migrations over the async engine for HUB_DATABASE_URL (or the embedded file)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from hub.models import Base
from plumbing.db.session import create_engine

config = context.config
target_metadata = Base.metadata


def _applied(ctx: object, step: Any, heads: object, run_args: object) -> None:
    """Note each migration run, for ``hub migrate`` to say what it did."""
    applied = config.attributes.get("applied")
    if applied is not None and step.is_upgrade:
        applied.append(str(step.up_revision_id))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        on_version_apply=_applied,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by hub.migrate"
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `hub migrate`")
run()
