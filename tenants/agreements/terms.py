"""Overflow agreements between partners (docs/design.md, "Words" and "Routing and overflow"): the YAML/API schema and the checks done before storing.

A file of agreements has the top-level key ``agreements:``. Every condition given must hold for an agreement
to apply; two agreements for the same lender, borrower, service and channel may not overlap in time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import time
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tenants.hours import known_zone
from tenants.loader import is_agreements_document
from tenants.problems import problem, yaml_problem
from tenants.schemas import SLUG_PATTERN

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CHANNELS = ("phone", "web", "email", "face_to_face", "callback")
ACTIONS = ("widen", "offer_callback", "voicemail")
CUSTOMER_FIELDS = ("name", "phone", "email", "uprn", "address")
WEEK_MINUTES = 7 * 24 * 60


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class HoursDefinition(_Strict):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    from_: time = Field(alias="from")
    to: time

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _hhmm(cls, value: Any) -> Any:
        if isinstance(value, int):  # YAML reads an unquoted 18:00 as a sexagesimal number
            return time(value // 60 % 24, value % 60)
        if isinstance(value, str) and len(value) == 4 and value[1] == ":":
            return "0" + value  # 9:00 as people write it
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> HoursDefinition:
        if self.from_ == self.to:
            raise ValueError("`from` and `to` are the same time: the window would be empty")
        return self

    def week_minutes(self) -> list[tuple[int, int]]:
        """The window as [start, end) minute ranges of the week (Monday 00:00 = 0)."""
        start = self.from_.hour * 60 + self.from_.minute
        end = self.to.hour * 60 + self.to.minute
        ranges = []
        for day in self.days:
            base = DAYS.index(day) * 1440
            if start < end:
                ranges.append((base + start, base + end))
            else:  # past midnight: into the next day (Sunday night wraps to Monday morning)
                ranges.append((base + start, base + 1440))
                ranges.append(((base + 1440) % WEEK_MINUTES, (base + 1440) % WEEK_MINUTES + end))
        return ranges


class ConditionsDefinition(_Strict):
    out_of_borrower_hours: bool = False
    queue_length_at_least: int | None = Field(default=None, ge=1)
    predicted_wait_at_least_seconds: float | None = Field(default=None, ge=0)
    waited_at_least_seconds: float | None = Field(default=None, ge=0)
    borrower_service_level_at_risk: bool = False


class CapsDefinition(_Strict):
    per_hour: int | None = Field(default=None, ge=0)
    concurrent: int | None = Field(default=None, ge=0)


def _widen() -> list[Literal["widen", "offer_callback", "voicemail"]]:
    return ["widen"]


class AgreementDefinition(_Strict):
    """One signed arrangement: who lends to whom, for what, when, on which conditions, within which caps."""

    id: str = Field(pattern=SLUG_PATTERN)
    name: str | None = Field(default=None, max_length=200)  # what people call it ("the evening agreement")
    lender: str = Field(pattern=SLUG_PATTERN)
    borrower: str = Field(pattern=SLUG_PATTERN)
    services: list[str] | Literal["all"] = "all"
    channels: list[Literal["phone", "web", "email", "face_to_face", "callback"]] | Literal["all"] = "all"
    hours: list[HoursDefinition] = Field(default_factory=list)
    timezone: Annotated[str, AfterValidator(known_zone)] = "Europe/London"
    conditions: ConditionsDefinition = Field(default_factory=ConditionsDefinition)
    actions: list[Literal["widen", "offer_callback", "voicemail"]] = Field(default_factory=_widen)
    caps: CapsDefinition = Field(default_factory=CapsDefinition)
    lender_protection: float | None = Field(default=None, ge=0, le=1)
    unit_rate: float = Field(default=0.0, ge=0)
    visible_fields: list[Literal["name", "phone", "email", "uprn", "address"]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _coherent(self) -> AgreementDefinition:
        if not self.actions:
            raise ValueError("`actions` needs at least one of widen, offer_callback, voicemail")
        if len(set(self.actions)) != len(self.actions):
            raise ValueError("an action is listed twice")
        if {"offer_callback", "voicemail"} <= set(self.actions):
            raise ValueError("offer_callback and voicemail contradict each other: choose one")
        if "widen" in self.actions and self.lender == self.borrower:
            raise ValueError("a partner cannot lend to itself (lender and borrower are the same)")
        if isinstance(self.services, list) and not self.services:
            raise ValueError("`services` is empty: list service codes or write `all`")
        if isinstance(self.channels, list) and not self.channels:
            raise ValueError("`channels` is empty: list channels or write `all`")
        return self

    def service_set(self) -> set[str] | None:
        return None if self.services == "all" else set(self.services)

    def channel_set(self) -> set[str]:
        return set(CHANNELS) if self.channels == "all" else set(self.channels)

    def week_minutes(self) -> list[tuple[int, int]]:
        if not self.hours:
            return [(0, WEEK_MINUTES)]
        return [r for h in self.hours for r in h.week_minutes()]


class AgreementsFile(_Strict):
    agreements: list[AgreementDefinition] = Field(default_factory=list)
    # data-sharing agreements: read and checked by tenants.agreements.sharing
    data_sharing: list[Any] = Field(default_factory=list)


@dataclass(frozen=True)
class AgreementProblem:
    path: str  # for a program: agreements[1].caps.per_hour
    message: str
    where: str = ""  # for a person: agreements, item 2 (id hub-evenings-chorley), caps.per_hour


def check_agreements(
    agreements: Iterable[AgreementDefinition],
    catalogue: Mapping[str, set[str]],
    labels: list[str] | None = None,
) -> list[AgreementProblem]:
    """What is wrong with a set of agreements, given every partner and its service codes.

    Unknown partners or services, duplicate ids, and two agreements that would both decide for the same
    lender, borrower, service and channel at the same time (overlapping, so contradictory) are refused.
    """
    problems: list[AgreementProblem] = []
    items = list(agreements)
    names = [labels[i] if labels and i < len(labels) else f"agreements[{i}]" for i in range(len(items))]
    seen: dict[str, int] = {}
    for i, a in enumerate(items):
        where = names[i]
        if a.id in seen:
            problems.append(AgreementProblem(f"{where}.id", f"agreement id {a.id!r} is used twice"))
        seen[a.id] = i
        for role in ("lender", "borrower"):
            slug = getattr(a, role)
            if slug not in catalogue:
                problems.append(AgreementProblem(f"{where}.{role}", f"unknown partner {slug!r}"))
        if a.borrower in catalogue and a.services != "all":
            for code in a.services:
                if code not in catalogue[a.borrower]:
                    problems.append(
                        AgreementProblem(f"{where}.services", f"{a.borrower!r} has no service {code!r}")
                    )
    for i, a in enumerate(items):
        for j in range(i + 1, len(items)):
            b = items[j]
            if (a.lender, a.borrower) != (b.lender, b.borrower):
                continue
            services_a, services_b = a.service_set(), b.service_set()
            shared_services = services_a is None or services_b is None or bool(services_a & services_b)
            if not shared_services or not (a.channel_set() & b.channel_set()):
                continue
            if _overlap(a.week_minutes(), b.week_minutes()):
                problems.append(
                    AgreementProblem(
                        names[i],
                        f"{a.id!r} overlaps {b.id!r} ({a.lender} → {a.borrower}, same service, channel and "
                        "hours): one agreement must decide, so split the hours or the services",
                    )
                )
    return problems


def _overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)


def parse_agreements(text: str, file: str) -> tuple[list[AgreementDefinition], list[AgreementProblem]]:
    """Parse one agreements file; problems carry the path inside the file (``agreements[1].caps.per_hour``)."""
    try:
        raw = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        return [], [AgreementProblem("", yaml_problem(exc))]
    if not is_agreements_document(raw):
        return [], [AgreementProblem("", "expected a mapping with `agreements:` at the top")]
    try:
        return list(AgreementsFile.model_validate(raw).agreements), []
    except ValidationError as exc:
        found = [problem(dict(e), raw) for e in exc.errors()]
        return [], [AgreementProblem(path, message, where) for path, where, message in found]
