"""Satisfaction: invite a sample of completed contacts to rate; sample more while abandonment is high."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from figures.definitions import definitions, version_at
from figures.models import SurveyInvite
from plumbing.db.base import UTCDateTime, table_of
from routing.models import EnquiryEvent, FigureTally
from routing.states import EventName
from routing.tallies import SHORT_ABANDON_COLUMNS, SLOT, slot_of

RATINGS = ("good", "average", "poor")


@dataclass(frozen=True)
class SamplingPolicy:
    base_rate: float = 0.1
    raised_rate: float = 0.3
    abandonment_threshold: float = 0.1  # over this, in the last hour, the raised rate applies
    window: timedelta = timedelta(hours=1)

    def rate(self, recent_abandonment: float | None) -> float:
        if recent_abandonment is not None and recent_abandonment > self.abandonment_threshold:
            return self.raised_rate
        return self.base_rate


def sampled(reference: str, rate: float) -> bool:
    """Deterministic per contact, so a redelivered completion never draws twice."""
    digest = int(hashlib.sha256(reference.encode()).hexdigest()[:8], 16)
    return digest % 10_000 < rate * 10_000


def covering_slots(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The 15-minute slots [first, last) that overlap [start, end): from the slot holding ``start`` to the one
    holding the instant before ``end``."""
    return slot_of(start), slot_of(end - timedelta(microseconds=1)) + SLOT


async def abandonment_rate(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime
) -> float | None:
    """Long abandons ÷ contacts of an owner first queued in the slots overlapping [start, end) (``covering_slots``),
    under the definitions in force at the first slot's start: the figures' abandonment rate of those slots.

    The sampler asks for it inside an agent's completion, once a minute per partner, so it reads the slots'
    ``figure_tallies`` rows (a few per service, channel and stripe, however many contacts there were) and the event
    log only for a slot whose rows have not counted the version's short abandons (NULL: kept before its column,
    until ``hub figures rebuild``), as the other tally readers do. Grouping the hour's events per contact took
    34–56 ms at a county's volume, inside the completion's transaction (docs/figures.md).
    """
    first, last = covering_slots(start, end)
    limit = definitions(version_at(first)).short_abandon_seconds
    column = SHORT_ABANDON_COLUMNS.get(limit)
    if column is None:  # a version whose limit the tallies do not count (a test guards against it): the log
        offered, long_abandoned = await _logged(session, tenant=tenant, start=first, end=last, short=limit)
        return long_abandoned / offered if offered else None
    t = FigureTally.__table__.c
    rows = await session.execute(
        select(
            t.slot,
            func.coalesce(func.sum(t.offered), 0),
            func.coalesce(func.sum(t.abandoned), 0),
            func.coalesce(func.sum(t[column]), 0),
            func.count() - func.count(t[column]),  # rows that have not counted the column
        )
        .where(t.tenant_slug == tenant, t.slot >= first, t.slot < last)
        .group_by(t.slot)
        .order_by(t.slot)
    )
    offered = long_abandoned = 0
    uncounted: list[tuple[datetime, datetime]] = []
    for slot, slot_offered, abandoned, short, not_counted in rows:
        if not_counted:
            if uncounted and uncounted[-1][1] == slot:  # next to the last one: one read of the log for both
                uncounted[-1] = (uncounted[-1][0], slot + SLOT)
            else:
                uncounted.append((slot, slot + SLOT))
            continue
        offered += int(slot_offered)
        long_abandoned += int(abandoned) - int(short)
    for slots_start, slots_end in uncounted:
        logged_offered, logged_long = await _logged(
            session, tenant=tenant, start=slots_start, end=slots_end, short=limit
        )
        offered += logged_offered
        long_abandoned += logged_long
    return long_abandoned / offered if offered else None


async def _logged(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime, short: float
) -> tuple[int, int]:
    """(contacts, long abandons) of an owner's contacts first queued in [start, end), from the event log: one row
    per contact (its first queued, answered and abandoned), as the tallies count them (``contribution``)."""
    events = table_of(EnquiryEvent)
    in_period = (
        select(events.c.enquiry_id)
        .where(
            events.c.tenant_slug == tenant,
            events.c.event == EventName.QUEUED,
            events.c.at >= start,
            events.c.at < end,
        )
        .scalar_subquery()
    )

    def first(event: str) -> Any:
        return type_coerce(func.min(case((events.c.event == event, events.c.at))), UTCDateTime)

    contacts = [
        (queued, answered, abandoned)
        for queued, answered, abandoned in (
            await session.execute(
                select(first(EventName.QUEUED), first(EventName.ANSWERED), first(EventName.ABANDONED))
                .where(
                    events.c.enquiry_id.in_(in_period),
                    events.c.event.in_((EventName.QUEUED, EventName.ANSWERED, EventName.ABANDONED)),
                )
                .group_by(events.c.enquiry_id)
            )
        ).all()
        if queued >= start  # queued again in the range, first before it: an earlier slot's contact
    ]
    long_abandoned = sum(
        1
        for queued, answered, abandoned in contacts
        if answered is None and abandoned is not None and (abandoned - queued).total_seconds() >= short
    )
    return len(contacts), long_abandoned


class SatisfactionSampler:
    """Caches each partner's recent abandonment for a minute: one query per partner per minute, not per call.

    Recent: ``abandonment_rate`` of the 15-minute slots overlapping the policy's window before now, so the last
    hour reads the contacts first queued from the start of the slot holding now − 1 h up to now: 60 to 75 minutes.
    """

    def __init__(self, policy: SamplingPolicy | None = None) -> None:
        self.policy = policy or SamplingPolicy()
        self._recent: dict[str, tuple[float, float | None]] = {}

    async def current_rate(self, session: AsyncSession, tenant: str, now: datetime) -> float:
        cached = self._recent.get(tenant)
        if cached is None or time.monotonic() - cached[0] > 60:
            rate = await abandonment_rate(session, tenant=tenant, start=now - self.policy.window, end=now)
            cached = (time.monotonic(), rate)
            self._recent[tenant] = cached
        return self.policy.rate(cached[1])

    async def maybe_invite(
        self, session: AsyncSession, *, enquiry_id: int, tenant: str, reference: str, now: datetime
    ) -> SurveyInvite | None:
        rate = await self.current_rate(session, tenant, now)
        if not sampled(reference, rate):
            return None
        existing = await session.scalar(select(SurveyInvite).where(SurveyInvite.enquiry_id == enquiry_id))
        if existing is not None:
            return existing
        invite = SurveyInvite(
            enquiry_id=enquiry_id,
            tenant_slug=tenant,
            token=secrets.token_urlsafe(24),
            sample_rate=rate,
            invited_at=now,
        )
        session.add(invite)
        await session.flush()
        return invite


class SurveyError(ValueError):
    pass


async def record_rating(session: AsyncSession, *, token: str, rating: str, now: datetime) -> SurveyInvite:
    if rating not in RATINGS:
        raise SurveyError(f"rating must be one of {', '.join(RATINGS)}")
    invite = await session.scalar(select(SurveyInvite).where(SurveyInvite.token == token).with_for_update())
    if invite is None:
        raise SurveyError("unknown survey link")
    if invite.rating is not None:
        raise SurveyError("this survey has already been answered")
    invite.rating, invite.responded_at = rating, now
    await session.flush()
    return invite


@dataclass(frozen=True)
class SatisfactionFigures:
    invited: int
    responses: int
    good: int
    average: int
    poor: int

    @property
    def net_score(self) -> float | None:
        """(good − poor) ÷ responses, from −1 to 1."""
        return (self.good - self.poor) / self.responses if self.responses else None


async def satisfaction_figures(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime
) -> SatisfactionFigures:
    rows: dict[str | None, int] = dict(
        (
            await session.execute(
                select(SurveyInvite.rating, func.count())
                .where(
                    SurveyInvite.tenant_slug == tenant,
                    SurveyInvite.invited_at >= start,
                    SurveyInvite.invited_at < end,
                )
                .group_by(SurveyInvite.rating)
            )
        )
        .tuples()
        .all()
    )
    good, average, poor = (int(rows.get(r, 0)) for r in RATINGS)
    return SatisfactionFigures(sum(int(v) for v in rows.values()), good + average + poor, good, average, poor)
