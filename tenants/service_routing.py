"""A service's routing options (the ``routing:`` block of a catalogue entry); defaults keep today's behaviour."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ServiceRouting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    callbacks: bool = False  # may callers be offered a callback (keeping their place) instead of waiting?
    callback_after_seconds: int | None = Field(default=None, gt=0)  # predicted wait past this (default: SL T)
    expected_handle_seconds: int = Field(default=240, gt=0)  # AHT to assume until handled contacts show it
    # A callback rung but not answered goes back to its queue after this, up to this many attempts in all.
    callback_retry_minutes: int = Field(default=15, ge=1, le=24 * 60)
    callback_max_attempts: int = Field(default=3, ge=1, le=10)
    # Which idle agent gets the work: the longest idle, or the best-skilled (proficiency 1–5) then longest idle.
    agent_choice: Literal["longest_idle", "best_skilled"] = "longest_idle"


def routing_of(definition: dict[str, Any] | None) -> ServiceRouting:
    """The options stored with a service (its definition as loaded), or the defaults."""
    raw = (definition or {}).get("routing")
    return ServiceRouting.model_validate(raw) if raw else ServiceRouting()
