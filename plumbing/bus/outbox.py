"""The outbox relay: publish what committed transactions wrote, then delete it (at least once, in order)."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.bus.base import OutgoingMessage, Publisher
from plumbing.bus.models import OutboxMessage
from plumbing.db.base import table_of
from plumbing.db.session import unit_of_work

_OUTBOX = table_of(OutboxMessage)
# Built once (bound parameters, not values): the relay runs after every commit and sweeps ten times a second.
_OLDEST_UNLOCKED = (
    select(_OUTBOX).order_by(_OUTBOX.c.id).limit(bindparam("limit")).with_for_update(skip_locked=True)
)
_DELETE_SENT = delete(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))


async def relay_once(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher, *, limit: int = 1000
) -> int:
    """Publish up to ``limit`` outbox rows with confirms and delete them; returns how many went out.

    Rows are locked with SKIP LOCKED so several relays share the work; a crash after the publish and
    before the delete publishes those rows again, so consumers dedupe on ``message_id``.
    """
    async with unit_of_work(sessionmaker) as session:
        # Plain rows, not ORM objects: the relay only reads them once and deletes them. Two statements, not
        # one DELETE ... WHERE id IN (SELECT ...) RETURNING: PostgreSQL plans that as a hash join over a
        # sequential scan of the table, which grows with the dead rows of a busy outbox until vacuum.
        rows = (await session.execute(_OLDEST_UNLOCKED, {"limit": limit})).all()
        if not rows:
            return 0
        await publisher.publish_many(
            [
                OutgoingMessage(
                    exchange=row.exchange,
                    routing_key=row.routing_key,
                    body=row.body,
                    message_id=row.message_id,
                    type=row.message_type,
                    headers=row.headers,
                    content_type=row.content_type,
                )
                for row in rows
            ]
        )
        await session.execute(_DELETE_SENT, {"ids": [row.id for row in rows]})
        return len(rows)


async def relay_all(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher, *, limit: int = 1000
) -> int:
    """Relay until a round finds fewer than ``limit`` rows: the outbox was then empty of unlocked rows.

    Rows committed meanwhile are the next nudge's (or sweep's): not one more empty round, a transaction of its
    own, after every batch.
    """
    total = 0
    while True:
        sent = await relay_once(sessionmaker, publisher, limit=limit)
        total += sent
        if sent < limit:
            return total
