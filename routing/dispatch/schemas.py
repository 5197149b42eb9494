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
    wrap_up: bool = Field(
        default=False,
        description="true: the agent goes into wrap-up (as in the console) and is offered nothing until they "
        "set their status to available; false: offered the next at once",
    )


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enquiry_id: int = Field(gt=0, le=MAX_ROW_ID)
    to_tenant: str = Field(min_length=1, max_length=63)
    to_service: str = Field(min_length=1, max_length=63)
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
    callback: bool = Field(default=False, description="a callback: the agent rings the caller back")
    callback_number: str | None = Field(default=None, description="the number to ring (callbacks)")
    callback_reason: str | None = Field(default=None, description="what the caller wanted (callbacks)")
    callback_attempts: int = Field(default=0, description="attempts already made (callbacks)")


class OfferEnvelope(BaseModel):
    offer: OfferOut | None


class Done(BaseModel):
    ok: bool = True
    enquiry_id: int | None = None


class CallbackAttemptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enquiry_id: int = Field(gt=0, le=MAX_ROW_ID)
    result: Literal["reached", "no_answer", "busy", "wrong_number"]
    notes: str | None = Field(default=None, max_length=4000)


class CallbackAttemptOut(BaseModel):
    enquiry_id: int
    attempt: int
    result: str
    next_step: Literal["talk", "retry", "given_up"] = Field(
        description="talk: carry on and complete as usual; retry: back in its queue at retry_at; "
        "given_up: completed as callback_not_reached"
    )
    retry_at: datetime | None


class CallbackItemOut(BaseModel):
    enquiry_id: int
    reference: str
    service_code: str
    number: str | None
    reason: str
    attempts: int
    state: Literal["queued", "waiting_retry", "offered", "answered"]
    queued_at: datetime | None
    retry_at: datetime | None
    agent_id: str | None


class CallbackWorklistOut(BaseModel):
    items: list[CallbackItemOut]


class ProficiencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    levels: dict[str, int | None] = Field(
        description="skill -> 1 (learning) to 5 (expert), or null to clear; only skills the agent holds",
        max_length=50,
    )


class ProficiencyOut(BaseModel):
    agent_id: str
    tenant: str
    levels: dict[str, int | None]
