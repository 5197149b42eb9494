"""The words the event log and the enquiries table are written in: one enum each, so a misspelling is an error.

Both are ``StrEnum``s: a member is its string (``EnquiryState.QUEUED == "queued"``), so rows, event bodies and
the partner contract carry the same plain strings as before.
"""

from __future__ import annotations

from enum import StrEnum


class EnquiryState(StrEnum):
    """Where an enquiry is in its life (``enquiries.state``)."""

    QUEUED = "queued"  # waiting in its owner's queue (and any rings open to lenders)
    OFFERED = "offered"  # reserved for one agent until the offer expires
    ANSWERED = "answered"  # in an agent's hands
    COMPLETED = "completed"
    ABANDONED = "abandoned"  # withdrawn (the caller hung up, the partner cancelled) while waiting


class EventName(StrEnum):
    """The events of an enquiry's life, as written to ``enquiry_events`` and published as ``<owner>.<event>``."""

    RECEIVED = "enquiry.received"
    QUEUED = "enquiry.queued"
    OFFERED = "enquiry.offered"
    OVERFLOWED = "enquiry.overflowed"
    OFFER_REJECTED = "enquiry.offer_rejected"
    OFFER_TIMED_OUT = "enquiry.offer_timed_out"
    OFFER_WITHDRAWN = "enquiry.offer_withdrawn"
    ANSWERED = "enquiry.answered"
    COMPLETED = "enquiry.completed"
    TRANSFERRED = "enquiry.transferred"
    ABANDONED = "enquiry.abandoned"
    REJECTED = "enquiry.rejected"
    CALLBACK_OFFERED = "enquiry.callback_offered"
    CALLBACK_ACCEPTED = "enquiry.callback_accepted"
    VOICEMAIL = "enquiry.voicemail"
    SURVEY_INVITED = "enquiry.survey_invited"
    CASE_UPDATED = "enquiry.case_updated"
    PARKED = "enquiry.parked"  # a deferrable item in hand waits while its agent takes a live contact
    RESUMED = "enquiry.resumed"  # a parked item taken up again: the live contact it waited behind ended
    CALLBACK_ATTEMPTED = "enquiry.callback_attempted"  # an agent rang; data: attempt, result, retry_at
    CALLBACK_RETRY_DUE = "enquiry.callback_retry_due"  # a missed callback back in its queue at its old place
    TOLD_NEXT_OPENING = "enquiry.told_next_opening"  # a visitor out of hours, told when the desk opens
    REPLANNED = "enquiry.replanned"  # its rings worked out again after the agreements changed
