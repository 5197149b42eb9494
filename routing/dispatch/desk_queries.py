"""The agent desk's accept and complete on PostgreSQL in two statements: one locks and reads, one writes.

The agent API's hottest path. The general path (``routing/dispatch/desk.py`` with ``presence``, ``record_events``
and the tallies) takes about a dozen round trips for an accept: two row locks, an update of each row, the agent's
event, its agent time, the enquiry's event, its outbox row, the contact's facts (locked, then written) and its
tallies. Here ``hold`` takes the locks and reads everything the desk decides from in one statement (the agent,
then the enquiry, then the contact's facts, in the general path's order), and ``write`` makes every change in one
statement of data-modifying ``WITH`` queries, with the same rows: each owning module makes its rows
(``routing.events.event_params``, ``presence.status_change``, ``routing.tallies.upkeep``).
SQLite (the embedded demo) keeps the general path; the desk decides which applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.db.bulk import one_statement
from routing.dispatch.presence import STATUS_QUERIES, DeskAgent, StatusChange
from routing.events import EVENT_QUERIES, EVENTS_SEQUENCE, NewEvent, event_params
from routing.states import EnquiryState, EventName
from routing.tallies import FACT_FIELDS, UPKEEP_QUERIES, Fact, recount_longest, upkeep

_ENQUIRY_COLUMNS = (
    "id",
    "reference",
    "tenant_slug",
    "message_id",
    "service_code",
    "channel",
    "state",
    "agent_id",
    "queued_at",
    "created_at",
    "follow_up",
)
# Each lock waits for the one before (an uncorrelated EXISTS runs first, as an init plan): agent, enquiry, facts,
# the order the general path takes them in. Then, unlocked: the agent's skills, other work in the agent's hands,
# when the enquiry was answered, and an id for the event to write.
_HOLD = text(
    f"""
WITH a AS MATERIALIZED (
    SELECT tenant_slug, status, status_since FROM agents WHERE id = :agent_id FOR UPDATE
), e AS MATERIALIZED (
    SELECT {", ".join(_ENQUIRY_COLUMNS)} FROM enquiries
    WHERE id = :enquiry_id AND EXISTS (SELECT FROM a) FOR UPDATE
), f AS MATERIALIZED (
    SELECT {", ".join(FACT_FIELDS)} FROM contact_facts
    WHERE enquiry_id = :enquiry_id AND EXISTS (SELECT FROM e) FOR UPDATE
)
SELECT a.tenant_slug AS agent_tenant, a.status AS agent_status, a.status_since AS agent_since,
    ARRAY(SELECT skill FROM agent_skills WHERE agent_id = :agent_id) AS agent_skills,
    e.id IS NOT NULL AS found, {", ".join(f"e.{c} AS e_{c}" for c in _ENQUIRY_COLUMNS)},
    f.enquiry_id IS NOT NULL AS has_fact, {", ".join(f"f.{c} AS f_{c}" for c in FACT_FIELDS)},
    (SELECT count(*) FROM enquiries o
        WHERE o.agent_id = :agent_id AND o.state = '{EnquiryState.ANSWERED}' AND o.id <> :enquiry_id) AS others,
    (SELECT max(at) FROM enquiry_events
        WHERE enquiry_id = :enquiry_id AND event = '{EventName.ANSWERED}') AS answered_at,
    nextval('{EVENTS_SEQUENCE}') AS event_id
FROM a LEFT JOIN e ON true LEFT JOIN f ON true
"""
)


@dataclass(frozen=True)
class EnquiryHeld:
    """The enquiry's columns ``desk._lock_enquiry`` reads (``EnquiryRef.of`` reads it by name)."""

    id: int
    reference: str
    tenant_slug: str
    message_id: str
    service_code: str
    channel: str
    state: str
    agent_id: str | None
    queued_at: datetime | None
    created_at: datetime
    follow_up: str | None


@dataclass(frozen=True)
class Held:
    """What ``hold`` locked and read: the agent (None: no such agent), the enquiry (None: no such enquiry), the
    contact's facts (None: not counted), other work in the agent's hands, when the enquiry was answered (its
    latest answer) and an event id drawn for the write."""

    agent: DeskAgent | None
    enquiry: EnquiryHeld | None = None
    fact: Fact | None = None
    others: int = 0
    answered_at: datetime | None = None
    event_id: int = 0


async def hold(session: AsyncSession, agent_id: str, enquiry_id: int) -> Held:
    """Lock the agent, the enquiry and its facts, and read what the desk decides from: one statement."""
    row: Row[Any] | None = (
        await session.execute(_HOLD, {"agent_id": agent_id, "enquiry_id": enquiry_id})
    ).first()
    if row is None:
        return Held(None)
    agent = DeskAgent(
        agent_id, row.agent_tenant, row.agent_status, frozenset(row.agent_skills), row.agent_since
    )
    values = row._mapping
    enquiry = EnquiryHeld(*(values[f"e_{c}"] for c in _ENQUIRY_COLUMNS)) if row.found else None
    fact = Fact(*(values[f"f_{c}"] for c in FACT_FIELDS)) if row.has_fact else None
    return Held(agent, enquiry, fact, row.others, row.answered_at, row.event_id)


_ACCEPT = (
    "enquiry AS (UPDATE enquiries SET state = CAST(:en_state AS text) WHERE id = CAST(:en_id AS bigint))"
)
_COMPLETE = (
    "enquiry AS (UPDATE enquiries SET state = CAST(:en_state AS text), outcome = CAST(:en_outcome AS text) "
    "WHERE id = CAST(:en_id AS bigint))"
)
_QUERIES = (*STATUS_QUERIES, *EVENT_QUERIES, *UPKEEP_QUERIES)


_MORE_IDS = text(f"SELECT nextval('{EVENTS_SEQUENCE}') FROM generate_series(1, :count)")


async def more_event_ids(session: AsyncSession, count: int) -> list[int]:
    """Ids for events beyond the one ``hold`` drew (ascending: drawn after it)."""
    return list((await session.scalars(_MORE_IDS, {"count": count})).all())


async def write(
    session: AsyncSession,
    held: Held,
    *,
    state: str,
    outcome: str | None = None,
    status: StatusChange,
    events: list[NewEvent],
    more_ids: list[int] | None = None,
) -> None:
    """The enquiry's new state (and outcome), the agent's status change, the enquiry's events with their outbox
    rows (the first with the id ``hold`` drew, the others with ``more_ids``), and the tallies they move (the
    contact's facts as ``held`` read them): one statement.

    Run it last before the commit: it locks the partner's tally rows (every accept, completion and intake batch
    of a partner's 15-minute slot adds to the same row), and each waits for the others' commits.
    """
    assert held.enquiry is not None and held.agent is not None
    facts = {held.fact.enquiry_id: held.fact} if held.fact is not None else {}
    ids = [held.event_id, *(more_ids or [])]
    upkeep_values, recount = upkeep(facts, events, [held.enquiry.id] * len(events), status.spells)
    params: dict[str, Any] = {
        "en_id": held.enquiry.id,
        "en_state": state,
        **status.params,
        **event_params(events, ids),
        **upkeep_values,
    }
    if outcome is not None:
        params["en_outcome"] = outcome
    await session.execute(one_statement((_ACCEPT if outcome is None else _COMPLETE, *_QUERIES)), params)
    # a contact answered after it abandoned left its row's longest wait: recounted once its facts are written
    await recount_longest(session, recount)
