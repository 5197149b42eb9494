"""Record state changes: an append-only event row and, in the same transaction, an outbox message."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import ColumnElement, Row, insert
from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.bus.base import EVENTS_EXCHANGE
from plumbing.bus.models import OutboxMessage
from plumbing.db.base import table_of
from plumbing.db.bulk import as_arrays, on_postgresql, unnest_cte, unnest_insert
from routing.models import Enquiry, EnquiryEvent
from routing.tallies import count_callbacks, counts_statement, fold_events, recount_longest, write_counts


class HasRefColumns(Protocol):
    """Anything holding ``EnquiryRef.columns()`` by name (the desk's locked rows)."""

    @property
    def id(self) -> int: ...
    @property
    def reference(self) -> str: ...
    @property
    def tenant_slug(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def service_code(self) -> str: ...
    @property
    def channel(self) -> str: ...


@dataclass(frozen=True)
class EnquiryRef:
    """What every event body carries about its enquiry (contract v1, docs/design.md, "The partner contract")."""

    id: int
    reference: str
    owner: str
    message_id: str
    service_code: str
    channel: str
    # Known to intake, which makes the enquiry: the figures count a new contact from them without reading it back
    # (routing.tallies). None elsewhere: the upkeep reads them when it needs them.
    catalogue_version: int | None = None
    service_threshold: int | None = None  # the service's answer-within seconds in that catalogue

    @classmethod
    def of(cls, enquiry: Enquiry | Row[Any] | HasRefColumns) -> EnquiryRef:
        """From an enquiry, or a row that selected ``columns()`` (read by name, so other columns may follow)."""
        return cls(
            enquiry.id,
            enquiry.reference,
            enquiry.tenant_slug,
            enquiry.message_id,
            enquiry.service_code,
            enquiry.channel,
        )

    @staticmethod
    def columns() -> tuple[ColumnElement[Any], ...]:
        """The enquiry columns a ref is made of: select them, then ``EnquiryRef.of(row)``."""
        enquiries = table_of(Enquiry)
        return (
            enquiries.c.id,
            enquiries.c.reference,
            enquiries.c.tenant_slug,
            enquiries.c.message_id,
            enquiries.c.service_code,
            enquiries.c.channel,
        )


@dataclass(frozen=True)
class NewEvent:
    enquiry: EnquiryRef
    event: str  # e.g. EventName.QUEUED
    at: datetime
    agent_id: str | None = None
    handler: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def event_body(event: NewEvent, event_id: int) -> dict[str, Any]:
    e = event.enquiry
    body: dict[str, Any] = {
        "event": event.event,
        "event_id": event_id,
        "at": event.at.isoformat(),
        "owner": e.owner,
        "message_id": e.message_id,
        "enquiry_id": e.id,
        "reference": e.reference,
        "service_code": e.service_code,
        "channel": e.channel,
    }
    if event.handler:
        body["handler"] = event.handler
    if event.agent_id:
        body["agent_id"] = event.agent_id
    body.update(event.data)
    return body


_EVENT_COLUMNS = {
    "enquiry_id": "bigint",
    "tenant_slug": "text",
    "event": "text",
    "at": "timestamptz",
    "agent_id": "text",
    "handler_slug": "text",
    "data": "jsonb",
}
_OUTBOX_COLUMNS = {
    "exchange": "text",
    "routing_key": "text",
    "message_id": "text",
    "message_type": "text",
    "content_type": "text",
    "headers": "jsonb",
    "body": "bytea",
    "created_at": "timestamptz",
}
# On PostgreSQL: one cached statement each, whatever the batch (plumbing.db.bulk). The events' ids come back in
# ascending order, the order their rows went in (drawn from one sequence, one row after the other).
_INSERT_EVENTS = unnest_insert("enquiry_events", _EVENT_COLUMNS, returning="id")
_INSERT_OUTBOX = unnest_insert("outbox", _OUTBOX_COLUMNS)


async def record_events(session: AsyncSession, events: list[NewEvent]) -> None:
    """Insert the event rows and their outbox messages, and count them in the figures' tallies (two statements
    whatever the batch size, and a read of the facts of contacts already counted that the batch moves)."""
    if not events:
        return
    rows = [_event_row(e) for e in events]
    postgres = on_postgresql(session)
    # The figures' tallies move in this same transaction: they commit, or roll back, with the events. Folded first
    # (it locks the facts it reads), written with the outbox's rows: no round trip of their own on PostgreSQL.
    counts = await fold_events(
        session, events, [e.enquiry.id for e in events], {e.enquiry.id: e.enquiry for e in events}
    )
    events_table, outbox_table = table_of(EnquiryEvent), table_of(OutboxMessage)
    if postgres:
        ids = sorted((await session.scalars(_INSERT_EVENTS, as_arrays(rows, _EVENT_COLUMNS))).all())
    else:  # the embedded SQLite: Core inserts (the tables, not the ORM classes)
        ids = list(
            (
                await session.scalars(
                    insert(events_table).returning(events_table.c.id, sort_by_parameter_order=True), rows
                )
            ).all()
        )
    messages = _outbox_rows(events, ids)
    if postgres:
        statement, params = counts_statement(counts, _INSERT_OUTBOX)
        await session.execute(statement, {**as_arrays(messages, _OUTBOX_COLUMNS), **params})
        # rows a contact's wait left (answered after abandoning): rare, a statement of its own once the facts are in
        await recount_longest(session, counts.recount)
    else:
        await session.execute(insert(outbox_table), messages)
        await write_counts(session, counts)
    await count_callbacks(session, events)  # callbacks' own figures (figures.callbacks)


# -- The same rows for a caller that writes them in a statement of its own (the agent desk on PostgreSQL,
# routing/dispatch/desk_queries.py): the events' ids drawn beforehand (``nextval``), so that each outbox body,
# which carries its event's id, is made here as ``record_events`` makes it. The tallies are the caller's to keep.

EVENTS_SEQUENCE = "enquiry_events_id_seq"
EVENT_QUERIES = (
    unnest_cte("new_events", "enquiry_events", {"id": "bigint", **_EVENT_COLUMNS}, prefix="ev_"),
    unnest_cte("new_outbox", "outbox", _OUTBOX_COLUMNS, prefix="ob_"),
)


def event_params(events: list[NewEvent], ids: list[int]) -> dict[str, list[Any]]:
    """``EVENT_QUERIES``' parameters: ``record_events``' rows with the ids given (one per event, ascending)."""
    rows = [{"id": event_id, **_event_row(e)} for e, event_id in zip(events, ids, strict=True)]
    messages = _outbox_rows(events, ids)
    return {
        **as_arrays(rows, {"id": "bigint", **_EVENT_COLUMNS}, prefix="ev_"),
        **as_arrays(messages, _OUTBOX_COLUMNS, prefix="ob_"),
    }


def _event_row(e: NewEvent) -> dict[str, Any]:
    """An event's row in ``enquiry_events`` (its id drawn by the insert, or given by the caller)."""
    return {
        "enquiry_id": e.enquiry.id,
        "tenant_slug": e.enquiry.owner,
        "event": e.event,
        "at": e.at,
        "agent_id": e.agent_id,
        "handler_slug": e.handler,
        "data": e.data,
    }


def _outbox_rows(events: list[NewEvent], ids: list[int]) -> list[dict[str, Any]]:
    """Each event's outbox message: published to ``hub.events`` once the transaction has committed."""
    now = datetime.now(UTC)
    return [
        {
            "exchange": EVENTS_EXCHANGE,
            "routing_key": f"{e.enquiry.owner}.{e.event}",
            "message_id": f"evt-{event_id}",
            "message_type": e.event,
            "content_type": "application/json",
            "headers": {},
            "body": orjson.dumps(event_body(e, event_id), option=orjson.OPT_NON_STR_KEYS),
            "created_at": now,
        }
        for e, event_id in zip(events, ids, strict=True)
    ]
