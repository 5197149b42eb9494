"""One status and one expected date per enquiry: the single decision every reader shows.

Open311 (``requests``, ``requests/{id}``, ``servicerequestupdates``), ``/track`` (page and JSON) and the console all
call :func:`case_states`; none decides a status of its own. The back office's last applied update wins (updates
apply in the order of their own time, ``backoffice.updates``); before any, the status is the contact centre's own
progress. The expected date is the back office's if it gave one, else the resolution target of the catalogue
version the enquiry was routed under; a closed case expects nothing. See docs/status.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backoffice.models import Case
from routing.case_status import FINAL_STATUSES, STATUS_LABELS
from routing.models import Enquiry
from routing.states import EnquiryState
from tenants.hours import END_OF_WORKING_DAY, resolution_due
from tenants.models import CatalogueVersion
from tenants.schemas import opening_hours_from_document

# Before a back office reports, the status comes from the contact centre's own progress.
HUB_STATUS_LABELS = {
    "waiting": "Waiting for an adviser",
    "with_adviser": "With an adviser",
    "withdrawn": "Withdrawn",
    "passed_to_back_office": "Passed to the service team",
    "callback_booked": "Callback booked",
    "transferred": "Transferred",
    "resolved": "Resolved",
    "closed": "Closed",
}
# The hub's own statuses after which nothing more is to happen (a back office's: routing.case_status).
HUB_FINAL_STATUSES = ("withdrawn", "resolved", "closed")
_OUTCOME_STATUS = {
    "resolved": "resolved",
    "passed_to_back_office": "passed_to_back_office",
    "callback_booked": "callback_booked",
    "transferred": "transferred",
    "no_action": "closed",
}


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status) or HUB_STATUS_LABELS.get(status) or status.replace("_", " ").capitalize()


@dataclass(frozen=True)
class CaseState:
    """What anyone is told about one enquiry now."""

    status: str  # a back office's (routing.case_status.STATUSES) or, before one reports, the hub's own
    label: str
    is_open: bool
    expected_at: datetime | None  # UTC; a back office's date counts to the close of that working day
    expected_date: date | None  # the same moment as a date in the partner's own zone
    by_back_office: bool  # the status came from a back office's update


def hub_status(enquiry: Enquiry) -> str:
    """The contact centre's own progress, before a back office says anything."""
    if enquiry.state in ("queued", "offered"):
        return "waiting"
    if enquiry.state == EnquiryState.ANSWERED:
        return "with_adviser"
    if enquiry.state == EnquiryState.ABANDONED:
        return "withdrawn"
    return _OUTCOME_STATUS.get(enquiry.outcome or "", "closed")


_documents: dict[tuple[str, int], dict[str, Any]] = {}


async def version_documents(
    session: AsyncSession, keys: set[tuple[str, int]]
) -> dict[tuple[str, int], dict[str, Any]]:
    """Catalogue versions never change once written, so each is read from the database once per process."""
    missing = [k for k in keys if k not in _documents]
    if missing:
        rows = await session.execute(
            select(CatalogueVersion.tenant_slug, CatalogueVersion.version, CatalogueVersion.definition).where(
                CatalogueVersion.tenant_slug.in_({t for t, _ in missing}),
                CatalogueVersion.version.in_({v for _, v in missing}),
            )
        )
        if len(_documents) > 2000:
            _documents.clear()
        for slug, version, document in rows.all():
            _documents[(slug, version)] = document
    return {k: _documents[k] for k in keys if k in _documents}


def decide_state(enquiry: Enquiry, case: Case | None, document: dict[str, Any] | None) -> CaseState:
    """The one decision: status, whether it is open, and when it is expected (pure)."""
    reported = case is not None and case.status is not None
    status = case.status if reported and case is not None and case.status else hub_status(enquiry)
    is_open = status not in (FINAL_STATUSES if reported else HUB_FINAL_STATUSES)
    expected_at: datetime | None = None
    hours = opening_hours_from_document(document or {}, enquiry.service_code)
    if not is_open:
        pass
    elif case is not None and case.expected_date is not None:
        expected_at = datetime.combine(case.expected_date, END_OF_WORKING_DAY, tzinfo=hours.zone)
    elif document is not None:
        days = next(
            (
                s.get("resolution_working_days")
                for s in document.get("services") or []
                if s.get("code") == enquiry.service_code
            ),
            None,
        )
        if days is not None:
            expected_at = resolution_due(hours, enquiry.received_at, int(days))
    return CaseState(
        status=status,
        label=status_label(status),
        is_open=is_open,
        expected_at=expected_at,
        expected_date=expected_at.astimezone(hours.zone).date() if expected_at is not None else None,
        by_back_office=reported,
    )


async def case_states(session: AsyncSession, enquiries: Sequence[Enquiry]) -> dict[int, CaseState]:
    """The status truth of each enquiry, keyed by its id: what Open311, /track and the console all show."""
    if not enquiries:
        return {}
    cases = {
        c.enquiry_id: c
        for c in await session.scalars(select(Case).where(Case.enquiry_id.in_([e.id for e in enquiries])))
    }
    documents = await version_documents(
        session, {(e.tenant_slug, e.catalogue_version) for e in enquiries if e.catalogue_version is not None}
    )
    return {
        e.id: decide_state(
            e,
            cases.get(e.id),
            documents.get((e.tenant_slug, e.catalogue_version)) if e.catalogue_version is not None else None,
        )
        for e in enquiries
    }
