"""The case statuses a back office reports, the spellings of them we accept (ours and mySociety's), and an update.

The back office (a floor above) applies updates; intake, which parses them from AMQP, is handed that function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

STATUSES = ("received", "in_progress", "scheduled", "resolved", "closed")
STATUS_LABELS = {
    "received": "Received by the service team",
    "in_progress": "In progress",
    "scheduled": "Scheduled",
    "resolved": "Resolved",
    "closed": "Closed",
}
FINAL_STATUSES = ("resolved", "closed")
# mySociety's Open311 statuses, for back offices that speak FixMyStreet's dialect.
OPEN311_STATUSES = {
    "open": "received",
    "for_triage": "received",
    "reopen": "received",
    "investigating": "in_progress",
    "in_progress": "in_progress",
    "internal_referral": "in_progress",
    "planned": "scheduled",
    "action_scheduled": "scheduled",
    "fixed": "resolved",
    "closed": "closed",
    "duplicate": "closed",
    "not_councils_responsibility": "closed",
    "no_further_action": "closed",
}


def normalise_status(value: str) -> str | None:
    """``in progress``, ``In-Progress`` and ``in_progress`` are one status; None if it is none of ours."""
    key = value.strip().lower().replace(" ", "_").replace("-", "_")
    if key in STATUSES:
        return key
    return OPEN311_STATUSES.get(key)


@dataclass(frozen=True)
class StatusUpdate:
    tenant: str  # who sent it: only that partner's enquiries can be updated
    source: str  # "amqp", "webhook" or "open311"
    source_id: str
    status: str  # one of STATUSES
    at: datetime
    reference: str | None = None
    external_ref: str | None = None  # the back office's own id (Open311 service_request_id)
    notes: str | None = None
    expected_date: date | None = None
    service_code: str | None = None  # when the sender is vouched for one service only (its webhook secret)


@dataclass(frozen=True)
class UpdateOutcome:
    result: str  # "applied", "duplicate" or "refused"
    code: str | None = None
    detail: str | None = None
    reference: str | None = None

    @property
    def refused(self) -> bool:
        return self.result == "refused"


class ApplyStatusUpdates(Protocol):
    """Applies status updates in the order given, in the caller's transaction (``backoffice.updates``)."""

    async def __call__(
        self, session: AsyncSession, updates: list[StatusUpdate], *, now: datetime
    ) -> list[UpdateOutcome]: ...
