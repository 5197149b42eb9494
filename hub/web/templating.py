"""Jinja2 templates and the filters they share."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

# Pages show personal data: no framing, no inline script, nothing cached, no referrer sent elsewhere.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
LONDON = ZoneInfo("Europe/London")

STATUS_LABELS = {
    "available": "Available",
    "busy": "Busy",  # with what: BUSY_LABELS, when the contact in hand is known
    "wrap_up": "Wrap-up",
    "break": "On a break",
    "unavailable": "Not ready",
    "offline": "Offline",
}
# Busy, in words that fit what is in hand: an agent working on a web form is not "on a call" (a supervisor
# reading that beside a call offered to the same agent took blending for a bug).
BUSY_LABELS = {
    "phone": "On a call",
    "callback": "On a callback",
    "face_to_face": "With a visitor",
    "web": "On a web form",
    "email": "On an email",
}
CHANNEL_LABELS = {
    "phone": "Phone call",
    "web": "Web form",
    "email": "Email",
    "face_to_face": "Visit",
    "callback": "Callback",
}
STATE_LABELS = {
    "queued": "waiting",
    "offered": "being offered",
    "answered": "in hand",
    "completed": "completed",
    "abandoned": "abandoned",
}
# a shared past contact's agreed fields (tenants/agreements/sharing.py, SHARED_FIELDS), as column headings
SHARED_FIELD_LABELS = {
    "reference": "Reference",
    "service": "Service",
    "channel": "Channel",
    "date": "Date",
    "status": "Where it is",
    "outcome": "Outcome",
    "text": "What they said",
}
ROLE_LABELS = {
    "agent": "Agent",
    "supervisor": "Supervisor",
    "committee": "Committee member",
    "admin": "Administrator",
}
OUTCOME_LABELS = {
    "resolved": "Resolved at first contact",
    "passed_to_back_office": "Passed to back office",
    "callback_booked": "Callback booked",
    "transferred": "Transferred",
    "no_action": "No action needed",
}

# Messages shown after a redirect, chosen by code so nothing a visitor types is ever echoed back.
NOTICES = {
    "signed_out": "You have signed out.",
    "sign_in": "Sign in to carry on.",
    "session_expired": "Your session has expired or was ended. Sign in again to carry on.",
    "stale_offer": "That offer is no longer yours: it expired, was withdrawn or went to someone else. "
    "Nothing was changed.",
    "not_yours": "That enquiry is not in your hands. Nothing was changed.",
    "not_answered": "Accept the enquiry before completing it.",
    "offer_pending": "Accept or reject the offer first.",
    "busy": "Complete the enquiry in hand before changing your status.",
    "bad_outcome": "Choose an outcome from the list.",
    "bad_status": "That is not a status you can choose.",
    "unknown_target": "There is no such service to transfer to.",
    "same_queue": "The enquiry is already for that service.",
    "no_agreement": "No agreement lets that partner take this enquiry. Nothing was changed.",
    "bad_skills": "Skills are short words of letters, digits and '-'.",
    "completed": "Completed. You are in wrap-up until you press Ready for the next.",
    "transferred": "Transferred: the caller is waiting in the new queue.",
    "rejected": "Offer rejected: it went back to the queue at its place. You are now Not ready.",
    "skills_saved": "Skills saved; assignment was re-run for the agent.",
    "levels_saved": "Proficiency saved: services that prefer the best-skilled use the new levels at once.",
    "skill_not_held": "The agent does not hold that skill: add it first. Nothing was changed.",
    "bad_level": "A level is 1 (learning) to 5 (expert). Nothing was changed.",
    "no_such_enquiry": "There is no enquiry with that reference for this partner.",
}
GOOD_NOTICES = {"signed_out", "completed", "transferred", "skills_saved", "levels_saved", "rejected"}


def local_time(value: datetime | None, fmt: str = "%H:%M:%S", zone: ZoneInfo = LONDON) -> str:
    return value.astimezone(zone).strftime(fmt) if value else ""


def local_datetime(value: datetime | None, zone: ZoneInfo = LONDON) -> str:
    return local_time(value, "%d %b %Y %H:%M", zone)


# In a template the time is the reader's partner's (``reader_zone`` in the page's context, set by page_context).
@pass_context
def _local_time_filter(context: Context, value: datetime | None, fmt: str = "%H:%M:%S") -> str:
    return local_time(value, fmt, context.get("reader_zone") or LONDON)


@pass_context
def _local_datetime_filter(context: Context, value: datetime | None) -> str:
    return local_datetime(value, context.get("reader_zone") or LONDON)


def duration(value: float | timedelta | None) -> str:
    if value is None:
        return "–"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    seconds = max(seconds, 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def status_label(status: str, channel: str | None = None) -> str:
    """An agent's status in words; busy says with what, given the channel of the contact in hand."""
    if status == "busy" and channel in BUSY_LABELS:
        return BUSY_LABELS[channel]
    return STATUS_LABELS.get(status, status)


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=PAGE_HEADERS)


templates.env.filters.update(
    local_time=_local_time_filter,
    local_datetime=_local_datetime_filter,
    duration=duration,
    percent=percent,
    status_label=status_label,
    role_label=lambda s: ROLE_LABELS.get(s, s),
    outcome_label=lambda s: OUTCOME_LABELS.get(s, s or ""),
)
templates.env.globals.update(
    NOTICES=NOTICES,
    GOOD_NOTICES=GOOD_NOTICES,
    CHANNEL_LABELS=CHANNEL_LABELS,
    STATE_LABELS=STATE_LABELS,
    SHARED_FIELD_LABELS=SHARED_FIELD_LABELS,
)
