"""Status updates from back offices (AMQP, signed webhook, Open311): checked, logged, applied at most once.

Each update is identified by where it came from and its own id there (the AMQP message_id, the webhook's
update_id, Open311's update_id): a repeat is a ``duplicate`` and changes nothing. An update no newer than the one
last applied is ``out_of_order_update`` and refused, so a late message never winds a case back: updates apply in the
order of their own time (``at``). One dated later than now (beyond ``max_skew``, the clock skew tolerated:
``HUB_UPDATE_CLOCK_SKEW_SECONDS``) is ``future_dated_update`` and refused, so it cannot jump ahead of the updates
still to come. What the case then shows is decided once, in ``backoffice.status``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backoffice.models import Case, CaseUpdate
from routing.case_status import FINAL_STATUSES, STATUSES, StatusUpdate, UpdateOutcome
from routing.events import EnquiryRef, NewEvent, record_events
from routing.models import Enquiry
from routing.states import EventName

UNKNOWN_REFERENCE = "unknown_reference"
OUT_OF_ORDER = "out_of_order_update"
DUPLICATE = "duplicate_update"
FUTURE_DATED = "future_dated_update"
DEFAULT_MAX_SKEW = timedelta(seconds=120)
BAD_STATUS = "invalid_field"


async def _find_enquiry(session: AsyncSession, update: StatusUpdate) -> Enquiry | None:
    enquiry: Enquiry | None = None
    if update.reference:
        enquiry = await session.scalar(
            select(Enquiry).where(Enquiry.reference == update.reference.strip().upper()).with_for_update()
        )
    if enquiry is None and update.external_ref:
        enquiry_id = await session.scalar(
            select(Case.enquiry_id).where(
                Case.tenant_slug == update.tenant, Case.external_ref == update.external_ref
            )
        )
        if enquiry_id is not None:
            enquiry = await session.get(Enquiry, enquiry_id, with_for_update=True)
    # Another partner's enquiry is reported exactly like one that does not exist.
    if enquiry is None or enquiry.tenant_slug != update.tenant:
        return None
    if update.service_code is not None and enquiry.service_code != update.service_code:
        return None
    return enquiry


async def apply_update(
    session: AsyncSession, update: StatusUpdate, *, now: datetime, max_skew: timedelta = DEFAULT_MAX_SKEW
) -> UpdateOutcome:
    """Apply one update in the caller's transaction (the enquiry row is locked, so updates queue per enquiry)."""
    if update.status not in STATUSES:
        return UpdateOutcome("refused", BAD_STATUS, f"status must be one of {', '.join(STATUSES)}")
    if update.at > now + max_skew:
        return UpdateOutcome(
            "refused",
            FUTURE_DATED,
            f"update at {update.at.isoformat()} is in the future (now {now.isoformat()}, "
            f"{max_skew.total_seconds():.0f} s of clock skew allowed): send it when it has happened",
            update.reference,
        )
    enquiry = await _find_enquiry(session, update)
    if enquiry is None:
        named = update.reference or update.external_ref
        return UpdateOutcome("refused", UNKNOWN_REFERENCE, f"no enquiry {named!r} for {update.tenant!r}")
    seen = await session.scalar(
        select(CaseUpdate.id).where(
            CaseUpdate.tenant_slug == update.tenant,
            CaseUpdate.source == update.source,
            CaseUpdate.source_id == update.source_id,
        )
    )
    if seen is not None:
        return UpdateOutcome(
            "duplicate", DUPLICATE, f"update {update.source_id!r} was applied before", enquiry.reference
        )
    case = await session.get(Case, enquiry.id, with_for_update=True)
    if case is not None and case.status_at is not None and update.at <= case.status_at:
        return UpdateOutcome(
            "refused",
            OUT_OF_ORDER,
            f"update at {update.at.isoformat()} is not newer than the one applied at {case.status_at.isoformat()}",
            enquiry.reference,
        )
    if case is None:
        case = Case(enquiry_id=enquiry.id, tenant_slug=enquiry.tenant_slug)
        session.add(case)
    case.status, case.status_at, case.updated_at = update.status, update.at, now
    if update.expected_date is not None:
        case.expected_date = update.expected_date
    elif update.status in FINAL_STATUSES:
        case.expected_date = None
    session.add(
        CaseUpdate(
            enquiry_id=enquiry.id,
            tenant_slug=enquiry.tenant_slug,
            source=update.source,
            source_id=update.source_id,
            status=update.status,
            notes=update.notes,
            expected_date=update.expected_date,
            at=update.at,
            received_at=now,
        )
    )
    await session.flush()
    data: dict[str, object] = {"status": update.status, "source": update.source}
    if update.expected_date is not None:
        data["expected_date"] = update.expected_date.isoformat()
    await record_events(
        session, [NewEvent(EnquiryRef.of(enquiry), EventName.CASE_UPDATED, update.at, data=data)]
    )
    return UpdateOutcome("applied", reference=enquiry.reference)


async def apply_updates(
    session: AsyncSession,
    updates: list[StatusUpdate],
    *,
    now: datetime,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> list[UpdateOutcome]:
    """In the order of their own time, so two updates to one case in one batch are judged against each other."""
    ordered = sorted(range(len(updates)), key=lambda i: updates[i].at)
    outcomes: dict[int, UpdateOutcome] = {}
    for i in ordered:
        outcomes[i] = await apply_update(session, updates[i], now=now, max_skew=max_skew)
    return [outcomes[i] for i in range(len(updates))]


class StatusUpdates:
    """``apply_updates`` with the clock skew of the settings: what the shell hands intake."""

    def __init__(self, max_skew: timedelta) -> None:
        self.max_skew = max_skew

    async def __call__(
        self, session: AsyncSession, updates: list[StatusUpdate], *, now: datetime
    ) -> list[UpdateOutcome]:
        return await apply_updates(session, updates, now=now, max_skew=self.max_skew)
