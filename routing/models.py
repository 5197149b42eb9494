"""Enquiries, their append-only event log and intake rejections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from plumbing.db.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


class Enquiry(Base):
    """One contact. ``tenant_slug`` is the owner; the current state is kept beside the event log."""

    __tablename__ = "enquiries"
    __table_args__ = (
        UniqueConstraint("tenant_slug", "message_id"),  # the idempotency key of contract v1
        Index("ix_enquiries_state", "state"),
        # The lost-offer check reads only offers long expired: the index holds just the rows on offer.
        Index(
            "ix_enquiries_offered_until",
            "offered_until",
            postgresql_where=text("state = 'offered'"),
            sqlite_where=text("state = 'offered'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    tenant_slug: Mapped[str] = mapped_column(ForeignKey("tenants.slug"))
    message_id: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    service_code: Mapped[str] = mapped_column(String(63))
    priority: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"), nullable=True)
    handler_slug: Mapped[str | None] = mapped_column(String(63), nullable=True)
    offered_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # the offer's expiry
    # The agreement a lender's agent holds it under (None: the owner's own agent), and what the caller was
    # given instead of waiting on the line ("callback" or "voicemail": it keeps its place, a hang-up is fine).
    agreement_id: Mapped[str | None] = mapped_column(String(63), nullable=True)
    follow_up: Mapped[str | None] = mapped_column(String(16), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    customer: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    call: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, nullable=True)
    correlation_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    catalogue_version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # routed under this
    location: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, nullable=True)  # where the problem is
    media_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    # The owner's record of the person (routing/customers), matched at intake; NULL when anonymous.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True, index=True)
    # Callbacks (docs/routing.md, "Callbacks"): the number asked for (None: the call's or the customer's), the
    # attempts made, and, after a missed attempt, when it goes back into its queue (None: not waiting to retry).
    callback_number: Mapped[str | None] = mapped_column(String(40), nullable=True)
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class EnquiryEvent(Base):
    """Append-only: one row per state change; the figures are derived from these rows."""

    __tablename__ = "enquiry_events"
    __table_args__ = (
        Index("ix_enquiry_events_enquiry", "enquiry_id"),
        Index("ix_enquiry_events_tenant_at", "tenant_slug", "at"),
        Index("ix_enquiry_events_handler_at", "handler_slug", "at"),  # overflow received, per handler
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    enquiry_id: Mapped[int] = mapped_column(ForeignKey("enquiries.id"))
    tenant_slug: Mapped[str] = mapped_column(String(63))
    event: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    agent_id: Mapped[str | None] = mapped_column(String(63), nullable=True)
    handler_slug: Mapped[str | None] = mapped_column(String(63), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)


class IntakeRejection(Base):
    """A message that could not be accepted; kept so every message_id ends as an enquiry or a rejection."""

    __tablename__ = "intake_rejections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    routing_key: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_tenant: Mapped[str | None] = mapped_column(String(63), nullable=True)
    code: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactFact(Base):
    """One queued contact as its events so far describe it: the tallies' memory of what it already counts as.

    Kept in the same transaction as the events (routing/tallies.py), so a contact's contribution to the interval
    tallies can be moved exactly when a later event changes it.
    """

    __tablename__ = "contact_facts"
    __table_args__ = (
        Index("ix_contact_facts_completed_by", "completed_by", "completed_at"),
        Index("ix_contact_facts_tenant_queued", "tenant_slug", "queued_at"),
    )

    enquiry_id: Mapped[int] = mapped_column(ForeignKey("enquiries.id"), primary_key=True)
    tenant_slug: Mapped[str] = mapped_column(String(63))
    service_code: Mapped[str] = mapped_column(String(63))
    channel: Mapped[str] = mapped_column(String(16))
    threshold_seconds: Mapped[int] = mapped_column(Integer)  # of the catalogue version it was routed under
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(63), nullable=True)
    handler_slug: Mapped[str | None] = mapped_column(String(63), nullable=True)
    agreement_id: Mapped[str | None] = mapped_column(String(63), nullable=True)
    pending_agreement: Mapped[str | None] = mapped_column(
        String(63), nullable=True
    )  # last offer's, unanswered
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    wrap_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    transferred: Mapped[bool] = mapped_column(Boolean, default=False)
    callback: Mapped[bool] = mapped_column(Boolean, default=False)
    avoidable: Mapped[bool] = mapped_column(Boolean, default=False)


class FigureTally(Base):
    """Counts and sums of the contacts first queued in one 15-minute slot, per owner × service × channel, and per
    the partner and agreement that answered them ('' when none): every committee figure is a sum of these.

    Each group is kept in up to ``routing.tallies.STRIPES`` rows (``stripe``: the contact's enquiry id modulo
    that), so concurrent writers of one partner's slot rarely wait on one row lock; readers sum the stripes. Rows
    counted before the stripes are stripe -1 (``routing.tallies.UNSTRIPED``)."""

    __tablename__ = "figure_tallies"
    __table_args__ = (
        UniqueConstraint(
            "tenant_slug", "slot", "service_code", "channel", "handler_slug", "agreement_id", "stripe"
        ),
        Index("ix_figure_tallies_handler_slot", "handler_slug", "slot"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_slug: Mapped[str] = mapped_column(String(63))
    slot: Mapped[datetime] = mapped_column(UTCDateTime)
    service_code: Mapped[str] = mapped_column(String(63))
    channel: Mapped[str] = mapped_column(String(16))
    handler_slug: Mapped[str] = mapped_column(String(63), default="")
    agreement_id: Mapped[str] = mapped_column(String(63), default="")
    stripe: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    offered: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    answered_within: Mapped[int] = mapped_column(Integer, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    short_abandoned: Mapped[int] = mapped_column(Integer, default=0)
    answered_wait: Mapped[float] = mapped_column(Float, default=0.0)
    handled: Mapped[int] = mapped_column(Integer, default=0)
    handle_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    callbacks: Mapped[int] = mapped_column(Integer, default=0)
    transfers: Mapped[int] = mapped_column(Integer, default=0)
    avoidable: Mapped[int] = mapped_column(Integer, default=0)
    longest_wait: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Abandoned within 10 s (definitions 2027.1; ``short_abandoned`` is within 5 s). NULL: counted before this
    # column (migration 0020) and not known from the row; ``hub figures rebuild`` counts it.
    short_abandoned_10s: Mapped[int | None] = mapped_column(Integer, nullable=True, default=0)


class CallbackTally(Base):
    """Callbacks of one owner's service, counted by the 15-minute slot each step happened in (as events land):
    requested, rung (attempts), reached, missed, put back for a retry, given up, completed, time to reach."""

    __tablename__ = "callback_tallies"
    __table_args__ = (UniqueConstraint("tenant_slug", "slot", "service_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_slug: Mapped[str] = mapped_column(String(63))
    slot: Mapped[datetime] = mapped_column(UTCDateTime)
    service_code: Mapped[str] = mapped_column(String(63))
    requested: Mapped[int] = mapped_column(Integer, default=0)
    attempted: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    missed: Mapped[int] = mapped_column(Integer, default=0)
    retried: Mapped[int] = mapped_column(Integer, default=0)
    given_up: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    reached_wait_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # queued → reached, summed


class AgentTally(Base):
    """One agent's handling and available seconds in one 15-minute slot, counted as each status spell closes."""

    __tablename__ = "agent_tallies"
    __table_args__ = (
        UniqueConstraint("agent_id", "slot"),
        Index("ix_agent_tallies_tenant_slot", "tenant_slug", "slot"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(String(63))
    tenant_slug: Mapped[str] = mapped_column(String(63))
    slot: Mapped[datetime] = mapped_column(UTCDateTime)
    handling_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    available_seconds: Mapped[float] = mapped_column(Float, default=0.0)
