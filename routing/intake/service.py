"""Turn a batch of intake messages into enquiries, withdrawals and rejections in one transaction."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy import ColumnElement, Table, and_, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.bus.base import EVENTS_EXCHANGE, REJECTED_EXCHANGE, IncomingMessage
from plumbing.bus.models import OutboxMessage
from plumbing.db.base import table_of
from plumbing.db.bulk import as_arrays, on_postgresql, unnest_insert
from plumbing.db.session import unit_of_work
from routing.case_status import ApplyStatusUpdates, StatusUpdate
from routing.customers.service import link_customers
from routing.dispatch.service import Dispatcher, facts_of
from routing.events import EnquiryRef, NewEvent, record_events
from routing.intake.contract import (
    DEFAULT_LIMITS,
    CaseStatusUpdate,
    ErrorCode,
    IntakeLimits,
    NewEnquiry,
    Parsed,
    Rejection,
    Withdrawal,
    claimed_tenant,
    parse,
)
from routing.live.base import Offer, QueueEntry, to_ms
from routing.models import Enquiry, IntakeRejection
from routing.policy.model import EnquiryFacts
from routing.references import new_reference
from routing.states import EnquiryState, EventName
from tenants.catalogue import Catalogue

log = structlog.get_logger(__name__)

WAITING_STATES = ("queued", "offered")


@dataclass(frozen=True)
class Outcome:
    """What became of one message: ``accepted``, ``duplicate``, ``withdrawn``, ``updated`` or ``rejected``."""

    message_id: str | None
    status: str
    enquiry_id: int | None = None
    reference: str | None = None
    code: str | None = None  # the rejection's stable code
    detail: str | None = None


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    withdrawn: int = 0
    updated: int = 0  # back-office status updates applied (repeats count as duplicates)
    rejected: int = 0
    rejections: list[tuple[str | None, str]] = field(default_factory=list)  # (message_id, code)
    outcomes: list[Outcome] = field(default_factory=list)  # one per message, in the order given


def _received_data(enquiry: NewEnquiry) -> dict[str, object]:
    data: dict[str, object] = {"received_at": enquiry.received_at.isoformat()}
    if enquiry.catalogue_version is not None:
        data["catalogue_version"] = enquiry.catalogue_version
    if enquiry.classification is not None:
        data["classification"] = enquiry.classification.as_data()
    return data


def _insert_ignoring_duplicates(session: AsyncSession):  # type: ignore[no-untyped-def]
    return postgresql.insert if on_postgresql(session) else sqlite.insert


class IntakeProcessor:
    """The one intake path: AMQP deliveries, the embedded bus and the HTTP endpoints all come through here."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        apply_status_updates: ApplyStatusUpdates,
        short_abandon_seconds: Callable[[datetime], float],
        limits: IntakeLimits = DEFAULT_LIMITS,
    ) -> None:
        """``apply_status_updates``: the back office's (a floor above); ``short_abandon_seconds``: the figures'
        limit in force at a moment (the definitions change it from a month on)."""
        self.limits = limits
        self.dispatcher = dispatcher
        self.sessionmaker = dispatcher.sessionmaker
        self.apply_status_updates = apply_status_updates
        self.short_abandon_seconds = short_abandon_seconds

    async def _parse_all(self, messages: list[IncomingMessage]) -> list[Parsed]:
        catalogue = await self.dispatcher.catalogue.get()
        parsed = [parse(m, catalogue, self.limits) for m in messages]
        for i, (message, result) in enumerate(zip(messages, parsed, strict=True)):
            if isinstance(result, Rejection) and result.code in (
                ErrorCode.UNKNOWN_TENANT,
                ErrorCode.UNKNOWN_SERVICE,
            ):
                # A partner or service added since the catalogue was read: look again before refusing.
                fresh: Catalogue = await self.dispatcher.catalogue.get_fresh_if_missing(
                    claimed_tenant(message.routing_key) or "", None
                )
                parsed[i] = parse(message, fresh, self.limits)
        return parsed

    async def process(self, messages: list[IncomingMessage]) -> BatchResult:
        """Commit the effect of every message (the caller acks after this returns), then place the new work."""
        parsed = await self._parse_all(messages)
        now = self.dispatcher.clock()
        result = BatchResult()
        to_place: list[QueueEntry] = []
        freed: list[Offer] = []
        async with unit_of_work(self.sessionmaker) as session:
            new = [p for p in parsed if isinstance(p, NewEnquiry)]
            inserted = await self._insert_enquiries(session, new)
            result.accepted = len(inserted)
            result.duplicates = len(new) - len(inserted)
            # The routing policy decides where each goes (rings, callback, voicemail); its decision and
            # reasons travel on `enquiry.queued`, in this same commit.
            routed, follow_ups = await self.dispatcher.route_new(
                session, [(ref, enquiry.priority) for ref, enquiry in inserted], now
            )
            decisions = {r.entry.enquiry_id: r.decision.as_dict() for r in routed}
            events = [
                event
                for ref, enquiry in inserted
                for event in (
                    NewEvent(ref, EventName.RECEIVED, now, data=_received_data(enquiry)),
                    NewEvent(ref, EventName.QUEUED, now, data={"routing": decisions.get(ref.id, {})}),
                )
            ]
            await record_events(session, events + follow_ups)

            withdrawals = [(m, p) for m, p in zip(messages, parsed, strict=True) if isinstance(p, Withdrawal)]
            abandoned_ids, unknown, long_abandons = await self._apply_withdrawals(
                session, [w for _, w in withdrawals], now
            )
            result.withdrawn = len(abandoned_ids)
            rejections = [(m, p) for m, p in zip(messages, parsed, strict=True) if isinstance(p, Rejection)]
            rejections += [
                (
                    m,
                    Rejection(
                        ErrorCode.UNKNOWN_ENQUIRY,
                        f"no enquiry with message_id {w.enquiry_message_id!r} from {w.tenant!r}",
                    ),
                )
                for m, w in withdrawals
                if (w.tenant, w.enquiry_message_id) in unknown
            ]
            refused_updates = await self._apply_updates(session, messages, parsed, result, now)
            rejections += refused_updates
            catalogue = await self.dispatcher.catalogue.get()
            await self._record_rejections(session, rejections, catalogue)
            result.rejected = len(rejections)
            result.rejections = [(m.message_id, r.code) for m, r in rejections]
            result.outcomes = await self._outcomes(
                session, messages, parsed, inserted, unknown, {id(m): r for m, r in refused_updates}
            )

            # Abandoned already, or a visitor told the next opening (nobody to wait for): not placed.
            routed = [
                r
                for r in routed
                if r.entry.enquiry_id not in abandoned_ids and r.decision.action != "next_opening"
            ]
            to_place = [r.entry for r in routed]
            rechecks = {r.entry.enquiry_id: r.recheck_at for r in routed if r.recheck_at is not None}
            repeats_waiting = await self._repeats_still_waiting(session, new, inserted, abandoned_ids)
        # Committed: now the live state. A crash here loses nothing: nothing is acked yet, so the messages
        # come again, and their enquiries, repeats now, are placed again below (placing is idempotent).
        for fact in repeats_waiting:
            if (entry := await self.dispatcher.router.rings_for(fact, now, catalogue)) is not None:
                to_place.append(entry)
        for taken in await self.dispatcher.live.withdraw_many(sorted(abandoned_ids)):
            if not isinstance(taken, bool):
                freed.append(taken)
        for queue, count in Counter(long_abandons).items():
            await self.dispatcher.live.record_stats(queue, to_ms(now), {"abandoned": count})
        await self.dispatcher.place(to_place, rechecks)
        await self.dispatcher.ready_again([offer.agent_id for offer in freed])
        if result.rejected:
            log.info(
                "intake.rejected", count=result.rejected, codes=sorted({c for _, c in result.rejections})
            )
        return result

    async def refuse(self, messages: list[IncomingMessage], rejection: Rejection) -> None:
        """Refuse messages outright, in a transaction of their own: for one that passed every check and still
        failed its batch (the worker's last resort), so that it is refused once with a code, not redelivered."""
        catalogue = await self.dispatcher.catalogue.get()
        async with unit_of_work(self.sessionmaker) as session:
            await self._record_rejections(session, [(m, rejection) for m in messages], catalogue)
        log.warning("intake.refused_unprocessable", count=len(messages), code=rejection.code)

    async def _repeats_still_waiting(
        self,
        session: AsyncSession,
        new: list[NewEnquiry],
        inserted: list[tuple[EnquiryRef, NewEnquiry]],
        abandoned_ids: set[int],
    ) -> list[EnquiryFacts]:
        """Enquiries of repeated messages that still wait: a redelivery after a crash between commit and placing.

        Costs a read only when a batch holds repeats (rare: redeliveries and partners' retries).
        """
        first_time = {(ref.owner, ref.message_id) for ref, _ in inserted}
        repeats = {(p.tenant, p.message_id) for p in new} - first_time
        if not repeats:
            return []
        waiting = await session.scalars(
            select(Enquiry).where(
                _by_message(table_of(Enquiry), repeats), Enquiry.state == EnquiryState.QUEUED
            )
        )
        return [
            facts_of(e)
            for e in waiting
            if e.id not in abandoned_ids and (e.tenant_slug, e.message_id) in repeats
        ]

    async def _outcomes(
        self,
        session: AsyncSession,
        messages: list[IncomingMessage],
        parsed: list[Parsed],
        inserted: list[tuple[EnquiryRef, NewEnquiry]],
        unknown: set[tuple[str, str]],
        refused_updates: dict[int, Rejection],
    ) -> list[Outcome]:
        """Per-message results, for callers that answer someone (the Open311 POST) rather than ack."""
        refs = {(ref.owner, ref.message_id): ref for ref, _ in inserted}
        repeats = [
            (p.tenant, p.message_id)
            for p in parsed
            if isinstance(p, NewEnquiry) and (p.tenant, p.message_id) not in refs
        ]
        earlier: dict[tuple[str, str], tuple[int, str]] = {}
        if repeats:
            rows = await session.execute(
                select(Enquiry.tenant_slug, Enquiry.message_id, Enquiry.id, Enquiry.reference).where(
                    _by_message(table_of(Enquiry), repeats)
                )
            )
            earlier = {(t, m): (i, r) for t, m, i, r in rows.all()}
        out: list[Outcome] = []
        first_seen: set[tuple[str, str]] = set()
        for message, item in zip(messages, parsed, strict=True):
            if isinstance(item, NewEnquiry):
                key = (item.tenant, item.message_id)
                ref = refs.get(key)
                if ref is not None and key not in first_seen:
                    first_seen.add(key)
                    out.append(Outcome(item.message_id, "accepted", ref.id, ref.reference))
                else:
                    enquiry_id, reference = (ref.id, ref.reference) if ref else earlier.get(key, (None, None))
                    out.append(Outcome(item.message_id, "duplicate", enquiry_id, reference))
            elif isinstance(item, Withdrawal):
                if (item.tenant, item.enquiry_message_id) in unknown:
                    out.append(Outcome(message.message_id, "rejected", code=ErrorCode.UNKNOWN_ENQUIRY))
                else:
                    out.append(Outcome(message.message_id, "withdrawn"))
            elif isinstance(item, CaseStatusUpdate):
                refused = refused_updates.get(id(message))
                out.append(
                    Outcome(message.message_id, "rejected", code=refused.code, detail=refused.detail)
                    if refused
                    else Outcome(message.message_id, "updated")
                )
            else:
                out.append(Outcome(message.message_id, "rejected", code=item.code, detail=item.detail))
        return out

    async def _insert_enquiries(
        self, session: AsyncSession, new: list[NewEnquiry]
    ) -> list[tuple[EnquiryRef, NewEnquiry]]:
        unique: dict[tuple[str, str], NewEnquiry] = {}
        for item in new:
            unique.setdefault((item.tenant, item.message_id), item)
        if not unique:
            return []
        now = self.dispatcher.clock()
        # One select and at most one insert for the whole batch, whatever its size.
        customers = [item.body.customer.model_dump(exclude_none=True) for item in unique.values()]
        customer_ids = await link_customers(
            session,
            [(item.tenant, customer) for item, customer in zip(unique.values(), customers, strict=True)],
        )
        rows = [
            {
                "reference": new_reference(item.tenant),
                "tenant_slug": item.tenant,
                "message_id": item.message_id,
                "channel": item.channel,
                "service_id": item.service.id,
                "service_code": item.service.code,
                "priority": item.priority,
                "received_at": item.received_at,
                "created_at": now,
                "queued_at": now,
                "state": "queued",
                "text": item.body.text,
                "customer": customer,
                "attributes": item.body.attributes,
                "call": item.body.call.model_dump(exclude_none=True) if item.body.call else None,
                "correlation_id": item.correlation_id,
                "catalogue_version": item.catalogue_version,
                "location": item.body.location.model_dump(exclude_none=True) if item.body.location else None,
                "media_url": item.body.media_url,
                "customer_id": customer_id,
            }
            for item, customer, customer_id in zip(unique.values(), customers, customer_ids, strict=True)
        ]
        if on_postgresql(session):
            inserted = (
                await session.execute(_INSERT_NEW_ENQUIRIES, as_arrays(rows, _NEW_ENQUIRY_COLUMNS))
            ).all()
        else:  # the embedded SQLite: the dialect's own insert (never cached, but no one measures a demo)
            table = table_of(Enquiry)
            statement = (
                sqlite.insert(table)
                .on_conflict_do_nothing(index_elements=["tenant_slug", "message_id"])
                .returning(table.c.id, table.c.tenant_slug, table.c.message_id, table.c.reference)
            )
            inserted = (await session.execute(statement, rows)).all()
        out = []
        for enquiry_id, tenant, message_id, reference in inserted:
            item = unique[(tenant, message_id)]
            ref = EnquiryRef(
                enquiry_id,
                reference,
                tenant,
                message_id,
                item.service.code,
                item.channel,
                item.catalogue_version,
                item.service.sl_threshold_seconds,
            )
            out.append((ref, item))
        return out

    async def _apply_withdrawals(
        self, session: AsyncSession, withdrawals: list[Withdrawal], now: object
    ) -> tuple[set[int], set[tuple[str, str]], list[str]]:
        """Abandon what is still waiting; report the withdrawals that name no enquiry at all.

        Also returns the service queue of each abandon past the short-abandon limit (for the rolling figures).
        """
        if not withdrawals:
            return set(), set(), []
        keys = {(w.tenant, w.enquiry_message_id) for w in withdrawals}
        enquiries = table_of(Enquiry)
        # Plain rows, not ORM objects: a withdrawal needs a few columns, and one UPDATE abandons them all.
        found = {
            (row.tenant_slug, row.message_id): row
            for row in await session.execute(
                select(
                    *EnquiryRef.columns(),
                    enquiries.c.state,
                    enquiries.c.follow_up,
                    enquiries.c.queued_at,
                    enquiries.c.created_at,
                    enquiries.c.agent_id,
                )
                .where(_by_message(enquiries, keys))
                .order_by(enquiries.c.id)
                .with_for_update()
            )
            if (row.tenant_slug, row.message_id) in keys
        }
        abandoned: set[int] = set()
        events = []
        long_abandons: list[str] = []
        for w in withdrawals:
            enquiry = found.get((w.tenant, w.enquiry_message_id))
            if enquiry is None or enquiry.state not in WAITING_STATES or enquiry.id in abandoned:
                continue  # unknown (reported), or already answered, completed or abandoned: nothing to do
            if enquiry.follow_up is not None and w.reason == "caller_hung_up":
                continue  # a callback or a voicemail: the caller was meant to hang up; it keeps its place
            waited = (w.at - (enquiry.queued_at or enquiry.created_at)).total_seconds()
            if waited >= self.short_abandon_seconds(w.at):
                long_abandons.append(f"{enquiry.tenant_slug}/{enquiry.service_code}")
            abandoned.add(enquiry.id)
            events.append(
                NewEvent(
                    EnquiryRef.of(enquiry),
                    EventName.ABANDONED,
                    w.at,
                    agent_id=enquiry.agent_id,
                    data={"reason": w.reason, "waited_seconds": round(max(waited, 0.0), 3)},
                )
            )
        if abandoned:
            await session.execute(
                update(enquiries)
                .where(enquiries.c.id.in_(sorted(abandoned)))
                .values(state=EnquiryState.ABANDONED, agent_id=None, handler_slug=None)
            )
        await record_events(session, events)
        return abandoned, keys - set(found), long_abandons

    async def _apply_updates(
        self,
        session: AsyncSession,
        messages: list[IncomingMessage],
        parsed: list[Parsed],
        result: BatchResult,
        now: datetime,
    ) -> list[tuple[IncomingMessage, Rejection]]:
        """Apply back-office status updates; a redelivered one is absorbed, a stale one is refused."""
        updates = [(m, p) for m, p in zip(messages, parsed, strict=True) if isinstance(p, CaseStatusUpdate)]
        if not updates:
            return []
        outcomes = await self.apply_status_updates(
            session,
            [
                StatusUpdate(
                    tenant=u.tenant,
                    source="amqp",
                    source_id=u.message_id,
                    status=u.status,
                    at=u.at,
                    reference=u.reference,
                    notes=u.notes,
                    expected_date=u.expected_date,
                )
                for _, u in updates
            ],
            now=now,
        )
        result.updated += sum(o.result == "applied" for o in outcomes)
        result.duplicates += sum(o.result == "duplicate" for o in outcomes)
        return [
            (m, Rejection(o.code or ErrorCode.INVALID_FIELD, o.detail or ""))
            for (m, _), o in zip(updates, outcomes, strict=True)
            if o.refused
        ]

    async def _record_rejections(
        self, session: AsyncSession, rejections: list[tuple[IncomingMessage, Rejection]], catalogue: Catalogue
    ) -> None:
        """Keep each distinct rejected message once and queue it for the rejected queue (``_rejection_key``)."""
        if not rejections:
            return
        rows: dict[str, dict[str, object]] = {}
        for message, rejection in rejections:
            claimed = claimed_tenant(message.routing_key)
            dedupe = _rejection_key(message)
            rows.setdefault(
                dedupe,
                {
                    "dedupe_key": dedupe,
                    "routing_key": _storable(message.routing_key, 255),
                    "message_id": _storable(message.message_id or "", 200) or None,
                    "claimed_tenant": _storable(claimed or "", 63) or None,
                    "code": rejection.code,
                    "detail": _storable(rejection.detail, 10_000),
                    "at": self.dispatcher.clock(),
                    "_message": message,
                },
            )
        dialect_insert = _insert_ignoring_duplicates(session)
        inserted = (
            await session.execute(
                dialect_insert(IntakeRejection)
                .values([{k: v for k, v in r.items() if k != "_message"} for r in rows.values()])
                .on_conflict_do_nothing(index_elements=["dedupe_key"])
                .returning(IntakeRejection.id, IntakeRejection.dedupe_key)
            )
        ).all()
        outbox = []
        for rejection_id, dedupe in inserted:
            row = rows[dedupe]
            original: IncomingMessage = row["_message"]  # type: ignore[assignment]
            owner = row["claimed_tenant"] if row["claimed_tenant"] in catalogue.tenants else "unknown"
            # Whatever a partner put in the properties is made storable (no NUL, within the column sizes).
            message_id = row["message_id"] or f"rej-{rejection_id}"
            outbox.append(
                {
                    "exchange": REJECTED_EXCHANGE,
                    "routing_key": row["routing_key"],
                    "message_id": message_id,
                    "message_type": _storable(original.type or "", 64) or "unknown",
                    "content_type": _storable(original.content_type or "", 100) or "application/octet-stream",
                    "headers": {
                        "x-hub-error": row["code"],
                        "x-hub-error-detail": row["detail"],
                        "x-hub-routing-key": row["routing_key"],
                        "x-hub-rejection-id": rejection_id,
                        **_truncated(original.body, self.limits.max_message_bytes),
                    },
                    # An oversized body goes back cut to the limit: a partner's 5 MB must not become 5 MB in
                    # the outbox for every delivery (x-hub-body-bytes tells its real size).
                    "body": original.body[: self.limits.max_message_bytes],
                }
            )
            event = {
                "event": EventName.REJECTED,
                "at": row["at"].isoformat(),  # type: ignore[attr-defined]
                "owner": owner,
                "message_id": row["message_id"],
                "code": row["code"],
                "detail": row["detail"],
                "routing_key": row["routing_key"],
            }
            outbox.append(
                {
                    "exchange": EVENTS_EXCHANGE,
                    "routing_key": f"{owner}.enquiry.rejected",
                    "message_id": f"rej-{rejection_id}",
                    "message_type": EventName.REJECTED,
                    "content_type": "application/json",
                    "headers": {},
                    "body": json.dumps(event, separators=(",", ":")).encode(),
                }
            )
        if outbox:
            await session.execute(insert(OutboxMessage), outbox)


# New enquiries on PostgreSQL: one cached statement whatever the batch (see plumbing.db.bulk).
_NEW_ENQUIRY_COLUMNS = {
    "reference": "text",
    "tenant_slug": "text",
    "message_id": "text",
    "channel": "text",
    "service_id": "bigint",
    "service_code": "text",
    "priority": "integer",
    "received_at": "timestamptz",
    "created_at": "timestamptz",
    "queued_at": "timestamptz",
    "state": "text",
    "text": "text",
    "customer": "jsonb",
    "attributes": "jsonb",
    "call": "jsonb",
    "correlation_id": "text",
    "catalogue_version": "integer",
    "location": "jsonb",
    "media_url": "text",
    "customer_id": "bigint",
}
_INSERT_NEW_ENQUIRIES = unnest_insert(
    "enquiries",
    _NEW_ENQUIRY_COLUMNS,
    on_conflict="(tenant_slug, message_id) DO NOTHING",
    returning="id, tenant_slug, message_id, reference",
)


def _by_message(enquiries: Table, keys: Iterable[tuple[str, str]]) -> ColumnElement[bool]:
    """Enquiries by (tenant, message_id), as two IN lists: PostgreSQL then seeks its unique index on both.

    A row-value ``(tenant_slug, message_id) IN (...)`` is planned as a scan of every enquiry of the tenant, filtered:
    a cost that grew with the table. Two lists may also match a stray pair across tenants; callers drop those.
    """
    pairs = list(keys)
    return and_(
        enquiries.c.tenant_slug.in_(sorted({tenant for tenant, _ in pairs})),
        enquiries.c.message_id.in_(sorted({message_id for _, message_id in pairs})),
    )


def _storable(value: str, limit: int) -> str:
    """A partner's string as PostgreSQL can keep it: no NUL (U+0000), UTF-8, at most ``limit`` characters."""
    if not value.isascii():
        value = value.encode("utf-8", errors="replace").decode("utf-8")  # a lone surrogate becomes "?"
    return value.replace("\x00", "\ufffd")[:limit]


def _truncated(body: bytes, limit: int) -> dict[str, int]:
    return {"x-hub-body-bytes": len(body)} if len(body) > limit else {}


def _rejection_key(message: IncomingMessage) -> str:
    """What makes a rejected message the same one again (a redelivery): deduplication is for accepted enquiries.

    With a ``message_id``: the id together with the routing key, the type, the content type and the body, so
    that two different bad messages under one id are both refused and reach the rejected queue. Without one
    there is nothing to tell a redelivery from a second identical message, and two identical bodies are both
    refused: each delivery is its own rejection (a redelivery after a crash between commit and ack may then be
    refused twice; nothing is lost).
    """
    if not message.message_id:
        return f"delivery-{uuid.uuid4().hex}"
    parts = (message.routing_key, message.message_id, message.type or "", message.content_type or "")
    digest = hashlib.sha256("\0".join(parts).encode("utf-8", errors="surrogatepass"))
    digest.update(b"\0" + hashlib.sha256(message.body).digest())
    return digest.hexdigest()
