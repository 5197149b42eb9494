"""Interval tallies of the event log, kept in the same transaction as the events they count.

Every committee figure is a ratio of counts and sums over contacts grouped by when they first queued. This module
keeps those counts and sums per owner × 15-minute slot × service × channel × (answering partner, agreement) in
``figure_tallies``, so a month reads ~3,000 rows instead of rebuilding a million timelines (docs/figures.md).

Each queued contact has one ``contact_facts`` row: what its events so far say (first queued, first answered, ...).
When an event changes it, its old contribution is taken out of the tallies and its new one put in, in the same
transaction as the event rows: a batch that is rolled back, or redelivered and deduplicated, never counts twice.
Counting is a property of the event log, so it lives here, beside ``record_events``; the figures floor reads it.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Float, TextClause, bindparam, case, cast, delete, func, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.db.base import table_of
from plumbing.db.bulk import as_arrays, on_postgresql, unnest_cte, unnest_insert, with_
from routing.models import AgentTally, CallbackTally, ContactFact, Enquiry, EnquiryEvent, FigureTally
from routing.states import EventName
from tenants.models import Agent, AgentEvent, CatalogueVersion, Service

SLOT = timedelta(minutes=15)
WRAP_HORIZON = timedelta(days=1)
# Short abandons are counted under every limit a definitions version uses (figures/definitions.py): 5 s since
# 2026.1, 10 s from 2027.1, so a month reads its tallies whichever version is in force for it. A version with
# another limit needs a column of its own here and a migration (tests/figures/test_definitions_history.py fails
# until it has one); rows counted before a column existed hold NULL there, and ``hub figures rebuild`` counts them.
SHORT_ABANDON_COLUMNS: dict[float, str] = {5.0: "short_abandoned", 10.0: "short_abandoned_10s"}
COUNTED_EVENTS = frozenset(
    {
        EventName.QUEUED,
        EventName.OFFERED,
        EventName.ANSWERED,
        EventName.ABANDONED,
        EventName.COMPLETED,
        EventName.TRANSFERRED,
        EventName.CALLBACK_OFFERED,
    }
)
SUMS = (
    "offered",
    "answered",
    "answered_within",
    "abandoned",
    "answered_wait",
    "handled",
    "handle_seconds",
    "resolved",
    "callbacks",
    "transfers",
    "avoidable",
    *SHORT_ABANDON_COLUMNS.values(),  # abandoned within each limit
)
# A group's counts are kept in up to STRIPES rows, each contact in the row of its enquiry id modulo STRIPES: every
# accept, completion and intake batch of a partner's slot used to add to one row and hold its lock to the commit,
# so at 50 calls a second they queued on it (docs/benchmarks.md). Readers sum a group's rows and take the largest
# longest wait, so the figures do not depend on the stripes; a contact's rows (unanswered, then answered) share
# its stripe, so a recount of a row reads the contacts of its stripe only.
STRIPES = 8
# Rows counted before the stripes (migration 0019) hold contacts of every stripe: their longest wait is recounted
# over the whole group (``recount_longest``), so they stay right without a rebuild.
UNSTRIPED = -1
KEY = ("tenant_slug", "slot", "service_code", "channel", "handler_slug", "agreement_id", "stripe")


def stripe_of(enquiry_id: int) -> int:
    """The stripe of a contact's tally rows."""
    return enquiry_id % STRIPES


# A batch's events share a few moments, and converting each is most of the cost of keying it.
@functools.lru_cache(maxsize=4096)
def slot_of(moment: datetime) -> datetime:
    """The start of the 15-minute slot holding ``moment`` (UTC; whole local hours and days are unions of slots)."""
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def contribution(
    *,
    queued_at: datetime,
    answered_at: datetime | None,
    abandoned_at: datetime | None,
    completed_at: datetime | None,
    wrap_seconds: float,
    threshold_seconds: int,
    outcome: str | None,
    transferred: bool,
    callback: bool,
    avoidable: bool,
) -> tuple[tuple[float, ...], float | None]:
    """One contact's counts and sums, in ``SUMS`` order, and its wait (for the longest wait)."""
    end = answered_at or abandoned_at
    wait = (end - queued_at).total_seconds() if end else None
    answered = answered_at is not None
    abandoned = not answered and abandoned_at is not None
    handled = answered and completed_at is not None
    handle = (
        (completed_at - answered_at).total_seconds() + wrap_seconds  # type: ignore[operator]
        if handled
        else 0.0
    )
    return (
        1,
        int(answered),
        int(answered and (wait or 0.0) <= threshold_seconds),
        int(abandoned),
        (wait or 0.0) if answered else 0.0,
        int(handled),
        handle,
        int(handled and outcome == "resolved"),
        int(callback),
        int(transferred),
        int(avoidable),
        *(int(abandoned and (wait or 0.0) < limit) for limit in SHORT_ABANDON_COLUMNS),
    ), wait


@dataclass(frozen=True)
class Fact:
    """A contact as its events so far describe it (the ``contact_facts`` row)."""

    enquiry_id: int
    tenant_slug: str
    service_code: str
    channel: str
    threshold_seconds: int
    queued_at: datetime
    answered_at: datetime | None = None
    abandoned_at: datetime | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None
    handler_slug: str | None = None
    agreement_id: str | None = None
    pending_agreement: str | None = None
    outcome: str | None = None
    wrap_seconds: float = 0.0
    transferred: bool = False
    callback: bool = False
    avoidable: bool = False

    def key(self) -> tuple[Any, ...]:
        return (
            self.tenant_slug,
            slot_of(self.queued_at),
            self.service_code,
            self.channel,
            self.handler_slug or "",
            self.agreement_id or "",
            stripe_of(self.enquiry_id),
        )

    def counts(self) -> tuple[tuple[float, ...], float | None]:
        return contribution(
            queued_at=self.queued_at,
            answered_at=self.answered_at,
            abandoned_at=self.abandoned_at,
            completed_at=self.completed_at,
            wrap_seconds=self.wrap_seconds,
            threshold_seconds=self.threshold_seconds,
            outcome=self.outcome,
            transferred=self.transferred,
            callback=self.callback,
            avoidable=self.avoidable,
        )


class EventLike(Protocol):
    @property
    def event(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def agent_id(self) -> str | None: ...
    @property
    def handler(self) -> str | None: ...
    @property
    def data(self) -> dict[str, Any]: ...


def apply_event(fact: Fact, event: EventLike) -> Fact:
    """The fact after one more event: the first of each kind counts (as the figures' reference reads them)."""
    name = event.event
    if name == EventName.OFFERED and fact.answered_at is None:
        return replace(fact, pending_agreement=(event.data or {}).get("agreement"))
    if name == EventName.ANSWERED and fact.answered_at is None:
        return replace(
            fact, answered_at=event.at, handler_slug=event.handler, agreement_id=fact.pending_agreement
        )
    if name == EventName.ABANDONED and fact.abandoned_at is None:
        return replace(fact, abandoned_at=event.at)
    if name == EventName.COMPLETED and fact.completed_at is None:
        data = event.data or {}
        outcome = data.get("outcome")
        tags = set(data.get("tags", []))
        return replace(
            fact,
            completed_at=event.at,
            completed_by=event.agent_id,
            outcome=outcome,
            transferred=fact.transferred or outcome == "transferred",
            callback=fact.callback or outcome == "callback_booked",
            avoidable="avoidable" in tags or any(t.startswith("avoidable:") for t in tags),
        )
    if name == EventName.TRANSFERRED:
        return replace(fact, transferred=True)
    if name == EventName.CALLBACK_OFFERED:
        return replace(fact, callback=True)
    return fact


@dataclass(frozen=True)
class _Event:
    event: str
    at: datetime
    agent_id: str | None
    handler: str | None
    data: dict[str, Any]


class _Delta:
    """The change to the tallies of a batch, summed per key."""

    def __init__(self) -> None:
        self.sums: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0] * len(SUMS))
        self.longest: dict[tuple[Any, ...], float] = {}
        # rows a contact's wait left (its key changed, or its wait shrank): GREATEST cannot take a wait out, so
        # their longest wait is recounted from the facts once these are written (``recount_longest``)
        self.recount: set[tuple[Any, ...]] = set()

    def queued(self, enquiry_id: int, tenant: str, slot: datetime, service: str, channel: str) -> None:
        """A contact just queued, nothing more known: offered, and no wait yet (``contribution`` of it)."""
        self.sums[(tenant, slot, service, channel, "", "", stripe_of(enquiry_id))][0] += 1

    def move(self, old: Fact | None, new: Fact) -> None:
        if old == new:
            return
        key = new.key()
        values, wait = new.counts()
        if old is not None:
            old_values, old_wait = old.counts()
            cell = self.sums[old.key()]
            for i, v in enumerate(old_values):
                cell[i] -= v
            if old_wait is not None and (old.key() != key or wait is None or wait < old_wait):
                self.recount.add(old.key())
        cell = self.sums[key]
        for i, v in enumerate(values):
            cell[i] += v
        if wait is not None:
            self.longest[key] = max(wait, self.longest.get(key, wait))

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for key in sorted(self.sums):
            cell = self.sums[key]
            if not any(cell) and key not in self.longest:
                continue
            row: dict[str, Any] = dict(zip(KEY, key, strict=True))
            for name, value in zip(SUMS, cell, strict=True):
                row[name] = value if name in ("answered_wait", "handle_seconds") else round(value)
            row["longest_wait"] = self.longest.get(key)
            out.append(row)
        return out


_FACT_COLUMNS = {
    "enquiry_id": "bigint",
    "tenant_slug": "text",
    "service_code": "text",
    "channel": "text",
    "threshold_seconds": "integer",
    "queued_at": "timestamptz",
    "answered_at": "timestamptz",
    "abandoned_at": "timestamptz",
    "completed_at": "timestamptz",
    "completed_by": "text",
    "handler_slug": "text",
    "agreement_id": "text",
    "pending_agreement": "text",
    "outcome": "text",
    "wrap_seconds": "double precision",
    "transferred": "boolean",
    "callback": "boolean",
    "avoidable": "boolean",
}
_TALLY_COLUMNS = {
    "tenant_slug": "text",
    "slot": "timestamptz",
    "service_code": "text",
    "channel": "text",
    "handler_slug": "text",
    "agreement_id": "text",
    "stripe": "smallint",
    **{
        name: ("double precision" if name in ("answered_wait", "handle_seconds") else "integer")
        for name in SUMS
    },
    "longest_wait": "double precision",
}
_UPSERT_FACTS = unnest_insert(
    "contact_facts",
    _FACT_COLUMNS,
    on_conflict="(enquiry_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _FACT_COLUMNS if c != "enquiry_id"),
    prefix="f_",
)
_ADD_TALLIES = unnest_insert(
    "figure_tallies",
    _TALLY_COLUMNS,
    on_conflict=f"({', '.join(KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = figure_tallies.{c} + excluded.{c}" for c in SUMS)
    + ", longest_wait = GREATEST(figure_tallies.longest_wait, excluded.longest_wait)",
    prefix="t_",
)
# A contact just queued, with nothing else said of it yet: six columns sent, the rest as ``Fact``'s defaults.
_NEW_COLUMNS = dict(list(_FACT_COLUMNS.items())[:6])
_REST = {c: kind for c, kind in _FACT_COLUMNS.items() if c not in _NEW_COLUMNS}
_REST_DEFAULTS = {
    c: "0" if kind == "double precision" else "false" if kind == "boolean" else "NULL"
    for c, kind in _REST.items()
}
_INSERT_NEW_FACTS = text(
    f"INSERT INTO contact_facts ({', '.join(_FACT_COLUMNS)}) SELECT "
    + ", ".join([f"n.{c}" for c in _NEW_COLUMNS] + [f"{v}::{_REST[c]}" for c, v in _REST_DEFAULTS.items()])
    + " FROM unnest("
    + ", ".join(f"CAST(:n_{c} AS {kind}[])" for c, kind in _NEW_COLUMNS.items())
    + f") WITH ORDINALITY AS n({', '.join(_NEW_COLUMNS)}, position) ORDER BY position "
    "ON CONFLICT (enquiry_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _FACT_COLUMNS if c != "enquiry_id")
)
assert tuple(_FACT_COLUMNS) == tuple(f.name for f in fields(Fact))  # positional rows below rely on it
# A contact only offered in a batch changes at most its pending agreement (which no tally reads): set in SQL, with
# no read of its facts (an offer's transaction costs no statement of its own this way, see ``Counts``).
_OFFERS = text(
    "UPDATE contact_facts AS f SET pending_agreement = o.agreement "
    "FROM unnest(CAST(:o_enquiry_id AS bigint[]), CAST(:o_agreement AS text[])) AS o(enquiry_id, agreement) "
    "WHERE f.enquiry_id = o.enquiry_id AND f.answered_at IS NULL "
    "AND f.pending_agreement IS DISTINCT FROM o.agreement"
)


@dataclass(frozen=True)
class Counts:
    """A batch's changes to facts and tallies, to be written in the transaction of the events they count.

    On PostgreSQL they are written as ``WITH`` clauses of one statement (``counts_statement``): the events'
    outbox insert carries them, so the upkeep costs intake no round trip of its own.
    """

    facts: Sequence[Fact] = ()
    tallies: Sequence[dict[str, Any]] = ()
    # contacts just queued: ``Fact``'s first six fields, the rest its defaults
    new: Sequence[tuple[Any, ...]] = ()
    offers: dict[int, str | None] | None = None  # contacts only offered: each last offer's agreement
    # tally keys whose longest wait a contact left: recounted after the writes (``recount_longest``), rare
    recount: Sequence[tuple[Any, ...]] = ()

    def __bool__(self) -> bool:
        return bool(self.facts or self.tallies or self.new or self.offers or self.recount)


def _parts(counts: Counts) -> tuple[tuple[TextClause, ...], dict[str, Any]]:
    """The statements and parameters that write ``counts`` on PostgreSQL (facts first, each in key order)."""
    parts: list[TextClause] = []
    params: dict[str, Any] = {}
    if counts.facts:
        facts = sorted(counts.facts, key=lambda f: f.enquiry_id)
        parts.append(_UPSERT_FACTS)
        params.update({f"f_{name}": [getattr(f, name) for f in facts] for name in _FACT_COLUMNS})
    if counts.new:
        parts.append(_INSERT_NEW_FACTS)
        columns = zip(*sorted(counts.new), strict=True)
        params.update({f"n_{name}": list(values) for name, values in zip(_NEW_COLUMNS, columns, strict=True)})
    if counts.tallies:
        parts.append(_ADD_TALLIES)
        params.update(as_arrays(counts.tallies, _TALLY_COLUMNS, prefix="t_"))
    if counts.offers:
        ids = sorted(counts.offers)
        parts.append(_OFFERS)
        params.update(o_enquiry_id=ids, o_agreement=[counts.offers[i] for i in ids])
    return tuple(parts), params


def counts_statement(counts: Counts, main: TextClause) -> tuple[TextClause, dict[str, Any]]:
    """``main`` (a PostgreSQL statement) carrying the writes of ``counts``, and their parameters, to add to its own.

    Facts of contacts already counted were locked by ``fold_events``, and a new contact's are no one else's: the
    order of the clauses cannot deadlock two transactions; tally rows go in key order within their clause.
    The caller runs ``recount_longest(session, counts.recount)`` after it (rows a contact's wait left; rare).
    """
    parts, params = _parts(counts)
    return with_(parts, main), params


async def write_counts(session: AsyncSession, counts: Counts) -> None:
    """Write ``counts`` on their own (one statement on PostgreSQL)."""
    if not counts:
        return
    if on_postgresql(session):
        parts, params = _parts(counts)
        if parts:
            await session.execute(with_(parts[1:], parts[0]), params)
        await recount_longest(session, counts.recount)
        return
    facts_table, tallies = table_of(ContactFact), table_of(FigureTally)
    every = [*counts.facts, *(Fact(*row) for row in counts.new)]
    for fact in sorted(every, key=lambda f: f.enquiry_id):
        row = {name: getattr(fact, name) for name in _FACT_COLUMNS}
        statement = sqlite_insert(facts_table).values(row)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["enquiry_id"],
                set_={c: statement.excluded[c] for c in _FACT_COLUMNS if c != "enquiry_id"},
            )
        )
    for row in counts.tallies:
        statement = sqlite_insert(tallies).values(row)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=list(KEY),
                set_={
                    **{c: tallies.c[c] + statement.excluded[c] for c in SUMS},
                    "longest_wait": text(
                        "max(coalesce(figure_tallies.longest_wait, excluded.longest_wait),"
                        " coalesce(excluded.longest_wait, figure_tallies.longest_wait))"
                    ),
                },
            )
        )
    facts = facts_table.c
    for enquiry_id, agreement in sorted((counts.offers or {}).items()):
        await session.execute(
            update(facts_table)
            .where(
                facts.enquiry_id == enquiry_id,
                facts.answered_at.is_(None),
                facts.pending_agreement.is_distinct_from(agreement),
            )
            .values(pending_agreement=agreement)
        )
    await recount_longest(session, counts.recount)


async def recount_longest(session: AsyncSession, keys: Iterable[tuple[Any, ...]]) -> None:
    """Set each tally row's longest wait from the facts of the contacts now in it (after the facts are written).

    Only when a contact's wait left a row (answered after it was abandoned, so keyed by its handler now): the
    common intake, accept and complete paths never come here. Two statements a row, in key order. The group's
    row counted before the stripes (``UNSTRIPED``), if there is one, is set in the same update from the whole
    group: the contact that left may have been counted there.
    """
    facts, tallies = table_of(ContactFact).c, table_of(FigureTally)
    for key in sorted(set(keys)):
        tenant, slot, service, channel, handler, agreement, stripe = key
        longest: float | None = None  # of the row's stripe
        group: float | None = None  # of every stripe (for the unstriped row)
        for enquiry_id, queued_at, answered_at, abandoned_at in await session.execute(
            select(facts.enquiry_id, facts.queued_at, facts.answered_at, facts.abandoned_at).where(
                facts.tenant_slug == tenant,
                facts.queued_at >= slot,
                facts.queued_at < slot + SLOT,
                facts.service_code == service,
                facts.channel == channel,
                func.coalesce(facts.handler_slug, "") == handler,
                func.coalesce(facts.agreement_id, "") == agreement,
                func.coalesce(facts.answered_at, facts.abandoned_at).is_not(None),
            )
        ):
            # as ``contribution`` reads a contact's wait
            wait = (_utc(answered_at or abandoned_at) - _utc(queued_at)).total_seconds()
            group = wait if group is None else max(group, wait)
            if stripe_of(enquiry_id) == stripe:
                longest = wait if longest is None else max(longest, wait)
        row = tallies.c
        await session.execute(
            update(tallies)
            .where(*[row[name] == value for name, value in zip(KEY[:-1], key[:-1], strict=True)])
            .where(row.stripe.in_((stripe, UNSTRIPED)))
            # cast: a CASE of two NULLs is text to PostgreSQL
            .values(longest_wait=cast(case((row.stripe == UNSTRIPED, group), else_=longest), Float))
        )


async def _write(session: AsyncSession, facts: Sequence[Fact], delta: _Delta) -> None:
    """Upsert the facts and add the delta to the tallies."""
    await write_counts(session, Counts(facts, delta.rows(), recount=sorted(delta.recount)))


# A catalogue version is never changed once written (tenants.models.CatalogueVersion): its thresholds are cached.
_VERSION_THRESHOLDS: dict[tuple[str, int], dict[str, int]] = {}
_ENQUIRIES = (
    select(
        Enquiry.id,
        Enquiry.tenant_slug,
        Enquiry.service_code,
        Enquiry.channel,
        Enquiry.catalogue_version,
        Service.sl_threshold_seconds,
    )
    .join(Service, Service.id == Enquiry.service_id)
    .where(Enquiry.id.in_(bindparam("ids", expanding=True)))
)


async def _version_thresholds(session: AsyncSession, tenant: str, version: int) -> dict[str, int] | None:
    """Answer-within seconds per service of a catalogue version (read once per process), None if not visible."""
    cached = _VERSION_THRESHOLDS.get((tenant, version))
    if cached is not None:
        return cached
    definition = await session.scalar(
        select(CatalogueVersion.definition).where(
            CatalogueVersion.tenant_slug == tenant, CatalogueVersion.version == version
        )
    )
    if definition is None:
        return None  # not visible here (or not there): the service's own threshold, uncached
    table = {
        str(s.get("code")): int((s.get("service_level") or {}).get("answer_within_seconds") or 20)
        for s in definition.get("services", [])
    }
    _VERSION_THRESHOLDS[(tenant, version)] = table
    return table


IDS_PER_STATEMENT = 10_000


async def thresholds(session: AsyncSession, enquiry_ids: Iterable[int]) -> dict[int, tuple[Any, ...]]:
    """(owner, service, channel, threshold) per enquiry, the threshold of the catalogue version it was routed
    under (the service's current one only when it records none)."""
    ids = sorted(set(enquiry_ids))
    rows: list[Any] = []
    # In chunks: a bound list is a parameter per id, and asyncpg takes at most 32,767 (a rebuild's day of a
    # partnership's contacts is more: bench/figures.py's 10⁶ month has 33,334 a day).
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        chunk = ids[start : start + IDS_PER_STATEMENT]
        rows += (await session.execute(_ENQUIRIES, {"ids": chunk})).all()
    tables = {
        (tenant, version): await _version_thresholds(session, tenant, version)
        for tenant, version in {
            (r.tenant_slug, r.catalogue_version) for r in rows if r.catalogue_version is not None
        }
    }
    out = {}
    for r in rows:
        threshold = (tables.get((r.tenant_slug, r.catalogue_version)) or {}).get(
            r.service_code, r.sl_threshold_seconds
        )
        out[r.id] = (r.tenant_slug, r.service_code, r.channel, threshold)
    return out


class RefLike(Protocol):
    """What intake knows of a new enquiry (``routing.events.EnquiryRef``): enough to count it without a read."""

    @property
    def owner(self) -> str: ...
    @property
    def service_code(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def catalogue_version(self) -> int | None: ...
    @property
    def service_threshold(self) -> int | None: ...


async def _new_contacts(
    session: AsyncSession, enquiry_ids: set[int], refs: dict[int, RefLike]
) -> dict[int, tuple[Any, ...]]:
    """(owner, service, channel, threshold) of contacts queued in this batch: from what the caller carries when it
    carries the service's threshold (the version's own, read once per process), else read back."""
    out: dict[int, tuple[Any, ...]] = {}
    unknown = set()
    for enquiry_id in enquiry_ids:
        ref = refs.get(enquiry_id)
        if ref is None or ref.service_threshold is None:
            unknown.add(enquiry_id)
            continue
        threshold = ref.service_threshold
        if ref.catalogue_version is not None:
            table = await _version_thresholds(session, ref.owner, ref.catalogue_version)
            threshold = (table or {}).get(ref.service_code, threshold)
        out[enquiry_id] = (ref.owner, ref.service_code, ref.channel, threshold)
    if unknown:
        out.update(await thresholds(session, unknown))
    return out


async def fold_events(
    session: AsyncSession,
    events: Sequence[EventLike],
    enquiry_ids: Sequence[int],
    refs: dict[int, RefLike] | None = None,
) -> Counts:
    """Fold a batch of events (``enquiry_ids[i]`` is event i's enquiry) into the changes of facts and tallies.

    Locks the facts it reads (``FOR UPDATE``) until the transaction ends; write the result in it (``write_counts``
    or ``counts_statement``). ``refs``: what the caller knows of the enquiries queued in this batch.
    """
    counted = [(e, i) for e, i in zip(events, enquiry_ids, strict=True) if e.event in COUNTED_EVENTS]
    if not counted:
        return Counts()
    new_ids = {i for e, i in counted if e.event == EventName.QUEUED}
    offers: dict[int, str | None] = {}
    if on_postgresql(session):
        moved = {i for e, i in counted if e.event != EventName.OFFERED}
        offers = {i: (e.data or {}).get("agreement") for e, i in counted if i not in moved}  # the last wins
    # A contact's queued event is written once (intake deduplicates by message id; a transfer makes a new enquiry):
    # a contact queued in this batch has no facts yet, so only the others' are read (one statement fewer on intake).
    known = await _facts(session, {i for _, i in counted} - new_ids - offers.keys())
    before = dict(known)
    fresh = await _new_contacts(session, new_ids - known.keys(), refs or {})
    # queued here and nothing more yet: no Fact made (intake's common case)
    new: dict[int, tuple[Any, ...]] = {}
    for event, enquiry_id in counted:
        fact = known.get(enquiry_id)
        if fact is None:
            row = new.pop(enquiry_id, None)
            if row is not None:
                known[enquiry_id] = apply_event(Fact(*row), event)
            elif event.event == EventName.QUEUED and enquiry_id in fresh:
                new[enquiry_id] = (enquiry_id, *fresh[enquiry_id], event.at)
            # else: not queued (yet), or only offered here (``offers``): nothing to fold in Python
            continue
        known[enquiry_id] = apply_event(fact, event)
    delta = _Delta()
    for row in new.values():
        delta.queued(row[0], row[1], slot_of(row[5]), row[2], row[3])
    changed = []
    for enquiry_id, fact in known.items():
        old = before.get(enquiry_id)
        if old != fact:
            delta.move(old, fact)
            changed.append(fact)
    return Counts(changed, delta.rows(), list(new.values()), offers or None, sorted(delta.recount))


async def count_events(
    session: AsyncSession, events: Sequence[EventLike], enquiry_ids: Sequence[int]
) -> None:
    """Fold a batch of just-recorded events (``enquiry_ids[i]`` is event i's enquiry) into facts and tallies."""
    await write_counts(session, await fold_events(session, events, enquiry_ids))


async def _facts(session: AsyncSession, enquiry_ids: Iterable[int]) -> dict[int, Fact]:
    ids = sorted(set(enquiry_ids))
    if not ids:
        return {}
    query = _FACTS_LOCKED if on_postgresql(session) else _FACTS
    return {row.enquiry_id: Fact(*row) for row in await session.execute(query, {"ids": ids})}


_FACTS = select(*[table_of(ContactFact).c[f.name] for f in fields(Fact)]).where(
    table_of(ContactFact).c.enquiry_id.in_(bindparam("ids", expanding=True))
)
_FACTS_LOCKED = _FACTS.with_for_update()  # two transactions moving one contact: the second waits


async def count_wrap(session: AsyncSession, *, agent_id: str, began: datetime, ended: datetime) -> None:
    """An agent left wrap-up: the after-call work belongs to the contact they completed as it began."""
    table = table_of(ContactFact)
    query = select(*[table.c[f.name] for f in fields(Fact)]).where(
        table.c.completed_by == agent_id,
        table.c.completed_at >= began - timedelta(seconds=1),
        table.c.completed_at <= began + timedelta(seconds=1),
    )
    rows = [Fact(*row) for row in await session.execute(query)]
    delta = _Delta()
    changed = []
    for fact in rows:
        new = replace(fact, wrap_seconds=(ended - began).total_seconds())
        if new != fact:
            delta.move(fact, new)
            changed.append(new)
    await _write(session, changed, delta)


async def rebuild(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime, agent_time: bool = True
) -> int:
    """Recount an owner's contacts first queued in [start, end) from the event log; returns how many.

    ``start`` and ``end`` are rounded out to whole slots. Run it after loading events by other means, or to
    check the kept tallies against the log (docs/figures.md).
    """
    start, end = slot_of(start), slot_of(end - timedelta(microseconds=1)) + SLOT
    events_table = table_of(EnquiryEvent)
    queued = (
        select(events_table.c.enquiry_id)
        .where(
            events_table.c.tenant_slug == tenant,
            events_table.c.event == EventName.QUEUED,
            events_table.c.at >= start,
            events_table.c.at < end,
        )
        .scalar_subquery()
    )
    facts_table, tallies = table_of(ContactFact), table_of(FigureTally)
    await session.execute(
        delete(facts_table).where(
            facts_table.c.tenant_slug == tenant,
            facts_table.c.queued_at >= start,
            facts_table.c.queued_at < end,
        )
    )
    await session.execute(
        delete(tallies).where(tallies.c.tenant_slug == tenant, tallies.c.slot >= start, tallies.c.slot < end)
    )
    rows = (
        await session.execute(
            select(
                events_table.c.enquiry_id,
                events_table.c.event,
                events_table.c.at,
                events_table.c.agent_id,
                events_table.c.handler_slug,
                events_table.c.data,
            )
            .where(events_table.c.enquiry_id.in_(queued), events_table.c.event.in_(COUNTED_EVENTS))
            .order_by(events_table.c.id)
        )
    ).all()
    info = await thresholds(session, {r.enquiry_id for r in rows})
    facts: dict[int, Fact] = {}
    for r in rows:
        event = _Event(r.event, r.at, r.agent_id, r.handler_slug, r.data or {})
        fact = facts.get(r.enquiry_id)
        if fact is None:
            if r.event != EventName.QUEUED or r.enquiry_id not in info:
                continue
            owner, service, channel, threshold = info[r.enquiry_id]
            facts[r.enquiry_id] = Fact(r.enquiry_id, owner, service, channel, threshold, r.at)
        else:
            facts[r.enquiry_id] = apply_event(fact, event)
    if agent_time:
        await rebuild_agent_time(session, tenant=tenant, start=start, end=end)
    await rebuild_callbacks(session, tenant=tenant, start=start, end=end)
    wraps = await _wraps(session, [f for f in facts.values() if f.completed_at and f.completed_by])
    delta = _Delta()
    out = []
    for fact in facts.values():
        fact = replace(fact, wrap_seconds=wraps.get(fact.enquiry_id, 0.0))
        delta.move(None, fact)
        out.append(fact)
    await _write(session, out, delta)
    return len(out)


async def _wraps(session: AsyncSession, completed: list[Fact]) -> dict[int, float]:
    """Each completion's wrap-up, read within a day of the last completion (a longer one is cut there), so a
    recount reads a bounded stretch of the log, not everything after it."""
    return await wrap_seconds(
        session,
        [
            (f.enquiry_id, f.completed_by, f.completed_at)
            for f in completed
            if f.completed_by and f.completed_at
        ],
        horizon=WRAP_HORIZON,
    )


async def wrap_seconds(
    session: AsyncSession,
    completions: Sequence[tuple[int, str, datetime]],
    *,
    horizon: timedelta | None,
) -> dict[int, float]:
    """Each completion's (enquiry, agent, when) wrap-up: begun within a second of it, ended at the agent's next
    change of status; read up to ``horizon`` after the last completion (None: to the end of the log)."""
    if not completions:
        return {}
    agents = {agent for _, agent, _ in completions}
    since = min(at for _, _, at in completions) - timedelta(seconds=1)
    query = select(AgentEvent.agent_id, AgentEvent.status, AgentEvent.previous, AgentEvent.at).where(
        AgentEvent.agent_id.in_(agents), AgentEvent.at >= since
    )
    if horizon is not None:
        query = query.where(AgentEvent.at < max(at for _, _, at in completions) + horizon)
    rows = (await session.execute(query.order_by(AgentEvent.agent_id, AgentEvent.at, AgentEvent.id))).all()
    starts: dict[str, list[datetime]] = defaultdict(list)
    ends: dict[str, list[datetime]] = defaultdict(list)
    for row in rows:
        if row.status == "wrap_up":
            starts[row.agent_id].append(row.at)
        elif row.previous == "wrap_up":
            ends[row.agent_id].append(row.at)
    out = {}
    for enquiry_id, agent, at in completions:
        begun = [s for s in starts.get(agent, []) if abs((s - at).total_seconds()) <= 1]
        if not begun:
            continue
        finished = [e for e in ends.get(agent, []) if e >= begun[0]]
        if finished:
            out[enquiry_id] = (finished[0] - begun[0]).total_seconds()
    return out


# Occupancy's classes of agent time (figures/definitions.py): handling, available; other statuses count in neither.
HANDLING_STATUSES = frozenset({"busy", "wrap_up"})
AVAILABLE_STATUS = "available"
_AGENT_COLUMNS = {
    "agent_id": "text",
    "tenant_slug": "text",
    "slot": "timestamptz",
    "handling_seconds": "double precision",
    "available_seconds": "double precision",
}
_ADD_AGENT_TIME = unnest_insert(
    "agent_tallies",
    _AGENT_COLUMNS,
    on_conflict="(agent_id, slot) DO UPDATE SET "
    "handling_seconds = agent_tallies.handling_seconds + excluded.handling_seconds, "
    "available_seconds = agent_tallies.available_seconds + excluded.available_seconds",
)


def spell_rows(
    agent_id: str, tenant: str, status: str, begin: datetime, end: datetime
) -> list[dict[str, Any]]:
    """A status spell [begin, end) cut at slot boundaries, as agent-tally rows (none for uncounted statuses)."""
    if status not in HANDLING_STATUSES and status != AVAILABLE_STATUS:
        return []
    rows = []
    cursor = begin
    while cursor < end:
        slot = slot_of(cursor)
        until = min(end, slot + SLOT)
        seconds = (until - cursor).total_seconds()
        handling = status in HANDLING_STATUSES
        rows.append(
            {
                "agent_id": agent_id,
                "tenant_slug": tenant,
                "slot": slot,
                "handling_seconds": seconds if handling else 0.0,
                "available_seconds": 0.0 if handling else seconds,
            }
        )
        cursor = until
    return rows


async def _add_agent_time(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    summed: dict[tuple[str, datetime], dict[str, Any]] = {}
    for row in rows:
        cell = summed.setdefault(
            (row["agent_id"], row["slot"]), {**row, "handling_seconds": 0.0, "available_seconds": 0.0}
        )
        cell["handling_seconds"] += row["handling_seconds"]
        cell["available_seconds"] += row["available_seconds"]
    ordered = [summed[k] for k in sorted(summed)]
    if on_postgresql(session):
        await session.execute(_ADD_AGENT_TIME, as_arrays(ordered, _AGENT_COLUMNS))
        return
    table = table_of(AgentTally)
    for row in ordered:
        statement = sqlite_insert(table).values(row)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["agent_id", "slot"],
                set_={
                    c: table.c[c] + statement.excluded[c] for c in ("handling_seconds", "available_seconds")
                },
            )
        )


async def count_spell(
    session: AsyncSession, *, agent_id: str, tenant: str, status: str, since: datetime, until: datetime
) -> None:
    """An agent's spell in ``status`` closed: its time joins the agent's slots (in the status change's transaction)."""
    await _add_agent_time(session, spell_rows(agent_id, tenant, status, since, until))


async def agent_time(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime, now: datetime
) -> tuple[float, float]:
    """(handling, available) seconds of a partner's agents in [start, end): closed spells from the tallies, each
    open spell up to the earlier of now and ``end`` (time that has not happened is not counted)."""
    t = table_of(AgentTally).c
    handling, available = (
        await session.execute(
            select(
                func.coalesce(func.sum(t.handling_seconds), 0.0),
                func.coalesce(func.sum(t.available_seconds), 0.0),
            ).where(t.tenant_slug == tenant, t.slot >= start, t.slot < end)
        )
    ).one()
    agents = table_of(Agent).c
    limit = min(now, end)
    for status, since in await session.execute(
        select(agents.status, agents.status_since).where(
            agents.tenant_slug == tenant,
            agents.status.in_([*HANDLING_STATUSES, AVAILABLE_STATUS]),
            agents.status_since < limit,
        )
    ):
        seconds = max(0.0, (limit - max(since, start)).total_seconds())
        if status in HANDLING_STATUSES:
            handling += seconds
        else:
            available += seconds
    return float(handling), float(available)


async def rebuild_agent_time(session: AsyncSession, *, tenant: str, start: datetime, end: datetime) -> None:
    """Recount a partner's agents' closed spells in [start, end) (whole slots) from the agent_events log."""
    start, end = slot_of(start), slot_of(end - timedelta(microseconds=1)) + SLOT
    t = table_of(AgentTally).c
    await session.execute(
        delete(table_of(AgentTally)).where(t.tenant_slug == tenant, t.slot >= start, t.slot < end)
    )
    rows = await session.stream(
        select(AgentEvent.agent_id, AgentEvent.status, AgentEvent.at)
        .where(AgentEvent.tenant_slug == tenant)  # a spell begun before may close after: all of them
        .order_by(AgentEvent.agent_id, AgentEvent.at, AgentEvent.id)
        .execution_options(yield_per=20_000)
    )
    summed: dict[tuple[str, datetime], dict[str, Any]] = {}
    current: dict[str, tuple[str, datetime]] = {}
    async for row in rows:
        if row.agent_id in current:
            status, since = current[row.agent_id]
            begin, finish = max(since, start), min(row.at, end)
            for part in spell_rows(row.agent_id, tenant, status, begin, finish) if finish > begin else []:
                cell = summed.setdefault(
                    (row.agent_id, part["slot"]), {**part, "handling_seconds": 0.0, "available_seconds": 0.0}
                )
                cell["handling_seconds"] += part["handling_seconds"]
                cell["available_seconds"] += part["available_seconds"]
        current[row.agent_id] = (row.status, row.at)
    await _add_agent_time(
        session, list(summed.values())
    )  # each last spell is still open: read up to now, not tallied


# -- The same upkeep as rows, for a caller that writes them in a statement of its own (the agent desk on
# PostgreSQL, routing/dispatch/desk_queries.py): what ``count_events`` and ``count_spell`` would write, exactly.

FACT_FIELDS = tuple(f.name for f in fields(Fact))
UPKEEP_QUERIES = (
    unnest_cte(
        "upkeep_facts",
        "contact_facts",
        _FACT_COLUMNS,
        prefix="cf_",
        on_conflict="(enquiry_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in _FACT_COLUMNS if c != "enquiry_id"),
    ),
    unnest_cte(
        "upkeep_tallies",
        "figure_tallies",
        _TALLY_COLUMNS,
        prefix="ft_",
        on_conflict=f"({', '.join(KEY)}) DO UPDATE SET "
        + ", ".join(f"{c} = figure_tallies.{c} + excluded.{c}" for c in SUMS)
        + ", longest_wait = GREATEST(figure_tallies.longest_wait, excluded.longest_wait)",
    ),
    unnest_cte(
        "upkeep_agent_time",
        "agent_tallies",
        _AGENT_COLUMNS,
        prefix="at_",
        on_conflict="(agent_id, slot) DO UPDATE SET "
        "handling_seconds = agent_tallies.handling_seconds + excluded.handling_seconds, "
        "available_seconds = agent_tallies.available_seconds + excluded.available_seconds",
    ),
)


def upkeep(
    known: Mapping[int, Fact],
    events: Sequence[EventLike],
    enquiry_ids: Sequence[int],
    spells: Sequence[dict[str, Any]] = (),
) -> tuple[dict[str, list[Any]], list[tuple[Any, ...]]]:
    """``UPKEEP_QUERIES``' parameters: ``events`` folded into the ``known`` facts (read locked by the caller; a
    contact without one is not counted, as in ``count_events``) and the closed ``spells`` (``spell_rows``); and
    the tally keys a contact's wait left, for ``recount_longest`` after the statement (none on the common path).
    No queued event: a new contact's threshold is read by ``count_events`` only."""
    before = dict(known)
    after = dict(known)
    for event, enquiry_id in zip(events, enquiry_ids, strict=True):
        if event.event not in COUNTED_EVENTS:
            continue
        if event.event == EventName.QUEUED:
            raise ValueError("a queued event is counted by count_events (it reads the contact's threshold)")
        fact = after.get(enquiry_id)
        if fact is not None:
            after[enquiry_id] = apply_event(fact, event)
    delta = _Delta()
    fact_rows = []
    for enquiry_id, fact in after.items():
        if before[enquiry_id] != fact:
            delta.move(before[enquiry_id], fact)
            fact_rows.append({f: getattr(fact, f) for f in FACT_FIELDS})
    fact_rows.sort(key=lambda r: r["enquiry_id"])
    summed: dict[tuple[str, datetime], dict[str, Any]] = {}  # as _add_agent_time sums them
    for row in spells:
        cell = summed.setdefault(
            (row["agent_id"], row["slot"]), {**row, "handling_seconds": 0.0, "available_seconds": 0.0}
        )
        cell["handling_seconds"] += row["handling_seconds"]
        cell["available_seconds"] += row["available_seconds"]
    return {
        **as_arrays(fact_rows, _FACT_COLUMNS, prefix="cf_"),
        **as_arrays(delta.rows(), _TALLY_COLUMNS, prefix="ft_"),
        **as_arrays([summed[k] for k in sorted(summed)], _AGENT_COLUMNS, prefix="at_"),
    }, sorted(delta.recount)


# -- callbacks: each step counted in the slot it happened in -------------------------------------------------

CALLBACK_SUMS = (
    "requested",
    "attempted",
    "answered",
    "missed",
    "retried",
    "given_up",
    "completed",
    "reached_wait_seconds",
)
CALLBACK_KEY = ("tenant_slug", "slot", "service_code")
NOT_REACHED = "callback_not_reached"  # the outcome of a callback whose every attempt failed
_CALLBACK_COLUMNS = {
    "tenant_slug": "text",
    "slot": "timestamptz",
    "service_code": "text",
    **{name: ("double precision" if name == "reached_wait_seconds" else "integer") for name in CALLBACK_SUMS},
}
_ADD_CALLBACKS = unnest_insert(
    "callback_tallies",
    _CALLBACK_COLUMNS,
    on_conflict=f"({', '.join(CALLBACK_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = callback_tallies.{c} + excluded.{c}" for c in CALLBACK_SUMS),
)


class CallbackEventLike(EventLike, Protocol):
    @property
    def enquiry(self) -> Any: ...  # ``routing.events.EnquiryRef``: owner, service_code, channel


def callback_counts(event: str, channel: str, data: dict[str, Any]) -> dict[str, float]:
    """What one event adds to its slot's callback counts (docs/figures.md, "Callbacks"); {} for most events.

    Requested: a callback asked for (a caller taking the offer of one, or a contact sent as a callback). Each
    attempt: rung; reached (with the time since the contact first queued), or missed, and then put back for a
    retry or given up. Completed: a callback completed after its caller was reached (``data["callback"]``).
    """
    if event == EventName.QUEUED:
        return {"requested": 1} if channel == "callback" else {}
    if event == EventName.CALLBACK_ACCEPTED:
        return {"requested": 1}
    if event == EventName.CALLBACK_ATTEMPTED:
        if data.get("result") == "reached":
            return {
                "attempted": 1,
                "answered": 1,
                "reached_wait_seconds": float(data.get("since_queued_seconds") or 0.0),
            }
        return {
            "attempted": 1,
            "missed": 1,
            "retried": int(bool(data.get("retry_at"))),
            "given_up": int(bool(data.get("given_up"))),
        }
    if event == EventName.COMPLETED and data.get("callback") and data.get("outcome") != NOT_REACHED:
        return {"completed": 1}
    return {}


async def count_callbacks(session: AsyncSession, events: Sequence[CallbackEventLike]) -> None:
    """Fold a batch's callback steps into ``callback_tallies`` (same transaction as the events, rows in key order)."""
    sums: dict[tuple[str, datetime, str], dict[str, float]] = {}
    for e in events:
        counts = callback_counts(e.event, e.enquiry.channel, e.data)
        if not counts:
            continue
        row = sums.setdefault((e.enquiry.owner, slot_of(e.at), e.enquiry.service_code), {})
        for name, value in counts.items():
            row[name] = row.get(name, 0) + value
    if not sums:
        return
    rows: list[dict[str, Any]] = [
        {
            "tenant_slug": key[0],
            "slot": key[1],
            "service_code": key[2],
            **{
                name: (float if name == "reached_wait_seconds" else int)(row.get(name, 0))
                for name in CALLBACK_SUMS
            },
        }
        for key, row in sorted(sums.items())
    ]
    if on_postgresql(session):
        await session.execute(_ADD_CALLBACKS, as_arrays(rows, _CALLBACK_COLUMNS))
        return
    table = table_of(CallbackTally)
    for row in rows:
        statement = sqlite_insert(table).values(row)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=list(CALLBACK_KEY),
                set_={c: table.c[c] + statement.excluded[c] for c in CALLBACK_SUMS},
            )
        )


@dataclass(frozen=True)
class _Ref:
    owner: str
    service_code: str
    channel: str


@dataclass(frozen=True)
class _CallbackStep:
    event: str
    at: datetime
    data: dict[str, Any]
    enquiry: _Ref
    agent_id: str | None = None
    handler: str | None = None


async def rebuild_callbacks(session: AsyncSession, *, tenant: str, start: datetime, end: datetime) -> None:
    """Recount an owner's callback steps in [start, end) (whole slots) from the event log."""
    table = table_of(CallbackTally)
    await session.execute(
        delete(table).where(table.c.tenant_slug == tenant, table.c.slot >= start, table.c.slot < end)
    )
    rows = await session.execute(
        select(
            EnquiryEvent.event,
            EnquiryEvent.at,
            EnquiryEvent.data,
            Enquiry.service_code,
            Enquiry.channel,
            select(func.min(EnquiryEvent.at))
            .where(EnquiryEvent.enquiry_id == Enquiry.id, EnquiryEvent.event == EventName.QUEUED)
            .correlate(Enquiry)
            .scalar_subquery(),
        )
        .join(Enquiry, Enquiry.id == EnquiryEvent.enquiry_id)
        .where(
            EnquiryEvent.tenant_slug == tenant,
            EnquiryEvent.at >= start,
            EnquiryEvent.at < end,
            EnquiryEvent.event.in_(
                (
                    EventName.QUEUED,
                    EventName.CALLBACK_ACCEPTED,
                    EventName.CALLBACK_ATTEMPTED,
                    EventName.COMPLETED,
                )
            ),
        )
        .order_by(EnquiryEvent.id)
    )
    steps = []
    for event, at, data, service_code, channel, queued_at in rows:
        data = dict(data or {})
        if event == EventName.CALLBACK_ATTEMPTED and "since_queued_seconds" not in data and queued_at:
            # attempts recorded before the wait was written on them: from the contact's first queued event
            data["since_queued_seconds"] = (_utc(at) - _utc(queued_at)).total_seconds()
        steps.append(_CallbackStep(event, at, data, _Ref(tenant, service_code, channel)))
    await count_callbacks(session, steps)


def _utc(moment: datetime | str) -> datetime:
    """Aggregates lose the column type on SQLite (a string comes back); PostgreSQL gives an aware datetime."""
    value = moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
