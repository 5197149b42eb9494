"""Request and response bodies of the agent API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from plumbing.db.base import MAX_ROW_ID


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["available", "unavailable", "break", "offline"]


class OfferAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enquiry_id: int = Field(gt=0, le=MAX_ROW_ID)


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enquiry_id: int = Field(gt=0, le=MAX_ROW_ID)
    outcome: Literal["resolved", "passed_to_back_office", "transferred", "callback_booked", "no_action"]
    notes: str | None = Field(default=None, max_length=4000)
    tags: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_:-]{0,39}$")]] = Field(
        default_factory=list,
        max_length=10,
        description="e.g. `avoidable:chasing_progress` for an avoidable contact",
    )


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enquiry_id: int = Field(gt=0, le=MAX_ROW_ID)
    to: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,62}/[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        description="The target queue, `partner/service`; another partner's only under an agreement",
    )
    notes: str | None = Field(default=None, max_length=2000)


class TransferOut(BaseModel):
    from_enquiry: int
    to_enquiry: int
    to_reference: str
    to_queue: str


class AgentOut(BaseModel):
    id: str
    tenant: str
    name: str
    status: str
    status_since: datetime
    skills: list[str]
    current_enquiry_id: int | None


class OfferOut(BaseModel):
    enquiry_id: int
    reference: str
    owner: str
    service_code: str
    channel: str
    priority: int
    queued_at: datetime | None
    expires_at: datetime


class OfferEnvelope(BaseModel):
    offer: OfferOut | None


class Done(BaseModel):
    ok: bool = True
    enquiry_id: int | None = None
