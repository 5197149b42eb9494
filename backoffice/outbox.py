"""The back-office delivery outbox: write a row with the change, claim due rows, record what happened.

Rows are claimed in a short transaction (``FOR UPDATE SKIP LOCKED``) that pushes ``next_attempt_at`` forward by a
lease and commits; the delivery itself runs with no transaction open, and its outcome is written in another short
one. A worker that dies mid-delivery leaves the row to be claimed again when the lease runs out, so back offices
dedupe on the idempotency key. Only the oldest pending row of an enquiry can be claimed, which keeps each
enquiry's deliveries in order; a parked row stops blocking the ones after it.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from adapters.base import Delivery, DeliveryResult
from backoffice.models import DELIVERED, PARKED, PENDING, BackofficeDelivery, Case
from plumbing.db.session import unit_of_work
from plumbing.problems import Problem
from routing.models import Enquiry
from tenants.models import Service

CASE_CREATED = "case.created"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, and how many tries before a row is parked for a person to look at."""

    max_attempts: int = 8
    base_seconds: float = 2.0
    cap_seconds: float = 900.0
    lease_seconds: float = 120.0  # longer than any adapter's timeout, so a live delivery is never taken twice
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones: half to all of the exponential step."""
        step = min(self.cap_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        return step * (0.5 + self.rng.random() / 2)


@dataclass(frozen=True)
class Claimed:
    delivery: Delivery
    service_id: int
    claim_token: str


class RedriveError(Problem):
    """A redrive refused (no such delivery, or not parked)."""


async def enqueue_delivery(
    session: AsyncSession, *, enquiry: Enquiry, kind: str, payload: dict[str, Any], now: datetime
) -> BackofficeDelivery:
    """Add a delivery to the caller's transaction: it exists exactly when the change it carries commits."""
    row = BackofficeDelivery(
        enquiry_id=enquiry.id,
        tenant_slug=enquiry.tenant_slug,
        service_id=enquiry.service_id,
        service_code=enquiry.service_code,
        kind=kind,
        idempotency_key=f"{enquiry.reference}:{kind}:{secrets.token_hex(6)}",
        payload=payload,
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def enqueue_case(
    session: AsyncSession,
    *,
    enquiry: Enquiry,
    at: datetime,
    notes: str | None = None,
    handler: str | None = None,
) -> BackofficeDelivery:
    """An enquiry passed to the back office: open its case and queue the case for the service's adapter."""
    service = await session.get(Service, enquiry.service_id)
    assert service is not None  # enquiries reference their service by foreign key
    payload = {
        "reference": enquiry.reference,
        "tenant": enquiry.tenant_slug,
        "service_code": enquiry.service_code,
        "service_name": service.name,
        "lgsl": service.lgsl_code,
        "channel": enquiry.channel,
        "received_at": enquiry.received_at.isoformat(),
        "passed_at": at.isoformat(),
        "text": enquiry.text,
        "notes": notes,
        "customer": enquiry.customer,
        "attributes": enquiry.attributes,
        "handler": handler,
    }
    case = await session.get(Case, enquiry.id)
    if case is None:
        session.add(Case(enquiry_id=enquiry.id, tenant_slug=enquiry.tenant_slug, passed_at=at, updated_at=at))
    else:
        case.passed_at, case.updated_at = at, at
    return await enqueue_delivery(session, enquiry=enquiry, kind=CASE_CREATED, payload=payload, now=at)


async def claim_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    limit: int,
    lease_seconds: float,
    tenants: Sequence[str] | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due rows, each the oldest pending one of its enquiry, for ``lease_seconds``."""
    row = BackofficeDelivery
    earlier = aliased(BackofficeDelivery)
    waiting_behind = exists().where(
        earlier.enquiry_id == row.enquiry_id, earlier.id < row.id, earlier.status == PENDING
    )
    query = select(row).where(row.status == PENDING, row.next_attempt_at <= now, ~waiting_behind)
    if tenants is not None:
        query = query.where(row.tenant_slug.in_(list(tenants)))
    async with unit_of_work(sessionmaker) as session:
        rows = (
            await session.scalars(
                query.order_by(row.next_attempt_at, row.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=row)
            )
        ).all()
        references = dict(
            (
                await session.execute(
                    select(Enquiry.id, Enquiry.reference).where(Enquiry.id.in_([r.enquiry_id for r in rows]))
                )
            )
            .tuples()
            .all()
        )
        claimed = []
        for r in rows:
            token = secrets.token_hex(8)
            r.attempts += 1
            r.claim_token = token
            r.next_attempt_at = now + timedelta(seconds=lease_seconds)
            claimed.append(
                Claimed(
                    Delivery(
                        id=r.id,
                        idempotency_key=r.idempotency_key,
                        kind=r.kind,
                        reference=references[r.enquiry_id],
                        tenant=r.tenant_slug,
                        service_code=r.service_code,
                        payload=r.payload,
                        attempt=r.attempts,
                        created_at=r.created_at,
                    ),
                    r.service_id,
                    token,
                )
            )
        return claimed


async def record_delivered(
    sessionmaker: async_sessionmaker[AsyncSession],
    claimed: Claimed,
    result: DeliveryResult,
    *,
    adapter: str,
    now: datetime,
) -> bool:
    """Mark the row delivered (and remember the back office's own id); False if the claim was lost meanwhile."""
    async with unit_of_work(sessionmaker) as session:
        row = await _still_claimed(session, claimed)
        if row is None:
            return False
        row.status, row.delivered_at, row.claim_token, row.adapter = DELIVERED, now, None, adapter
        if result.external_ref:
            row.external_ref = result.external_ref
            case = await session.get(Case, row.enquiry_id, with_for_update=True)
            if case is not None and case.external_ref is None:
                case.external_ref = result.external_ref
        return True


async def record_failed(
    sessionmaker: async_sessionmaker[AsyncSession],
    claimed: Claimed,
    error: str,
    *,
    adapter: str,
    permanent: bool,
    policy: RetryPolicy,
    now: datetime,
) -> str | None:
    """Schedule the next try, or park the row; returns the new status (None if the claim was lost)."""
    async with unit_of_work(sessionmaker) as session:
        row = await _still_claimed(session, claimed)
        if row is None:
            return None
        row.last_error, row.claim_token, row.adapter = error[:2000], None, adapter
        if permanent or row.attempts >= policy.max_attempts:
            row.status, row.parked_at = PARKED, now
        else:
            row.next_attempt_at = now + timedelta(seconds=policy.delay(row.attempts))
        return row.status


async def _still_claimed(session: AsyncSession, claimed: Claimed) -> BackofficeDelivery | None:
    row = await session.get(BackofficeDelivery, claimed.delivery.id, with_for_update=True)
    if row is None or row.status != PENDING or row.claim_token != claimed.claim_token:
        return None
    return row


async def redrive(
    session: AsyncSession, *, delivery_id: int, now: datetime, tenant: str | None = None
) -> BackofficeDelivery:
    """Put a parked row back in the queue with a fresh set of tries (its last error stays until it succeeds)."""
    row = await session.get(BackofficeDelivery, delivery_id, with_for_update=True)
    if row is None or (tenant is not None and row.tenant_slug != tenant):
        raise RedriveError(404, "unknown_delivery", f"no back-office delivery {delivery_id}")
    if row.status != PARKED:
        raise RedriveError(409, "not_parked", f"delivery {delivery_id} is {row.status}, not parked")
    row.status, row.attempts, row.next_attempt_at, row.parked_at = PENDING, 0, now, None
    row.redriven += 1
    await session.flush()
    return row


async def list_deliveries(
    session: AsyncSession, *, tenant: str | None, statuses: Sequence[str] = (PARKED,), limit: int = 200
) -> list[tuple[BackofficeDelivery, str]]:
    """Rows in the given states with their enquiry's reference, oldest first."""
    query = (
        select(BackofficeDelivery, Enquiry.reference)
        .join(Enquiry, Enquiry.id == BackofficeDelivery.enquiry_id)
        .where(BackofficeDelivery.status.in_(list(statuses)))
        .order_by(BackofficeDelivery.id)
        .limit(limit)
    )
    if tenant is not None:
        query = query.where(BackofficeDelivery.tenant_slug == tenant)
    return [(row, reference) for row, reference in (await session.execute(query)).all()]
