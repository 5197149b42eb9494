"""Partner definitions as written in YAML: validated before anything is stored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceLevel(Strict):
    answer_within_seconds: int = Field(default=20, gt=0, le=3600)
    target: float = Field(default=0.8, gt=0, le=1)


class AdapterSpec(Strict):
    """The back-office adapter a service's cases go to; ``config`` is checked by the adapter itself."""

    name: str = Field(min_length=1, max_length=63)
    config: dict[str, Any] = Field(default_factory=dict)


class ServiceDefinition(Strict):
    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    lgsl: int | None = Field(default=None, gt=0)
    skills: list[str] = Field(default_factory=list)
    priority: int = Field(default=5, ge=0, le=9)
    service_level: ServiceLevel = Field(default_factory=ServiceLevel)
    required_fields: list[str] = Field(default_factory=list)
    adapter: AdapterSpec | None = None


class AgentDefinition(Strict):
    id: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    skills: list[str] = Field(default_factory=list)


class TenantInfo(Strict):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="partner", pattern=r"^(partner|pool)$")
    timezone: str = "Europe/London"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class PartnerDefinition(Strict):
    """One partner file: the tenant, its catalogue and its agents."""

    tenant: TenantInfo
    services: list[ServiceDefinition] = Field(default_factory=list)
    agents: list[AgentDefinition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_codes(self) -> PartnerDefinition:
        for label, keys in (
            ("service code", [s.code for s in self.services]),
            ("agent id", [a.id for a in self.agents]),
        ):
            seen: set[str] = set()
            for key in keys:
                if key in seen:
                    raise ValueError(f"duplicate {label} {key!r}")
                seen.add(key)
        return self
