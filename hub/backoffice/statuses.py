"""The case statuses a back office reports, and the spellings of them we accept (ours and mySociety's)."""

from __future__ import annotations

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
