"""Data-sharing agreements (docs/design.md, "A customer seen across partners"): the YAML/API schema and its checks.

A data-sharing agreement is a signed, dated document between two or more partners. While it is in force (from
``starts`` to ``ends``, both days included, in its time zone) an agent of a partner that ``sees`` it is shown the
contacts a partner that ``shares`` it had with the same customer, and of each only the agreed ``fields``. It sits in
an agreements file under the top-level key ``data_sharing:``, beside or instead of ``agreements:``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from tenants.agreements.terms import AgreementProblem
from tenants.hours import known_zone
from tenants.loader import is_agreements_document
from tenants.problems import problem, yaml_problem
from tenants.schemas import SLUG_PATTERN

# The closed list of what may cross about a past contact. ``text`` is the customer's own words: free text, so it
# crosses only where an agreement names it. A contact's attributes and the customer's details never cross.
SHARED_FIELDS = ("reference", "service", "channel", "date", "status", "outcome", "text")
SharedField = Literal["reference", "service", "channel", "date", "status", "outcome", "text"]

Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]


class DataSharingDefinition(BaseModel):
    """One signed data-sharing agreement: who shares with whom, which fields, why, and from when to when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=SLUG_PATTERN)
    name: str | None = Field(default=None, max_length=200)
    parties: list[Slug] = Field(min_length=2)
    # Who shares its contacts and who sees them; "all" is every party. One direction: name one each.
    shares: list[Slug] | Literal["all"] = "all"
    sees: list[Slug] | Literal["all"] = "all"
    fields: list[SharedField] = Field(min_length=1)
    purpose: str = Field(min_length=1, max_length=500)
    signed_on: date
    starts: date
    ends: date
    timezone: Annotated[str, AfterValidator(known_zone)] = "Europe/London"

    @model_validator(mode="after")
    def _coherent(self) -> DataSharingDefinition:
        if len(set(self.parties)) != len(self.parties):
            raise ValueError("a partner is listed twice in `parties`")
        for key in ("shares", "sees"):
            named = getattr(self, key)
            if named != "all":
                if not named:
                    raise ValueError(f"`{key}` is empty: list parties or write `all`")
                strangers = sorted(set(named) - set(self.parties))
                if strangers:
                    raise ValueError(f"`{key}` names {', '.join(strangers)}, not a party to the agreement")
        if len(set(self.fields)) != len(self.fields):
            raise ValueError("a field is listed twice in `fields`")
        if self.ends < self.starts:
            raise ValueError("`ends` is before `starts`")
        if not self.pairs():
            raise ValueError("nobody sees anybody's contacts: `shares` and `sees` are the same one partner")
        return self

    def sharers(self) -> list[str]:
        return list(self.parties) if self.shares == "all" else list(self.shares)

    def seers(self) -> list[str]:
        return list(self.parties) if self.sees == "all" else list(self.sees)

    def pairs(self) -> set[tuple[str, str]]:
        """(the partner whose contacts are shown, the partner whose agents see them)."""
        return {(a, b) for a in self.sharers() for b in self.seers() if a != b}

    def local_date(self, at: datetime) -> date:
        return at.astimezone(ZoneInfo(self.timezone)).date()

    def in_force(self, at: datetime) -> bool:
        """Whether ``at`` falls on a day from ``starts`` to ``ends`` (both included) where the agreement is kept."""
        return self.starts <= self.local_date(at) <= self.ends


class DataSharingFile(BaseModel):
    # ``agreements:`` beside it is read by tenants.agreements.terms, which also refuses unknown top-level keys.
    model_config = ConfigDict(extra="ignore")

    data_sharing: list[DataSharingDefinition] = Field(default_factory=list)


def check_data_sharing(
    agreements: Iterable[DataSharingDefinition], partners: set[str], labels: list[str] | None = None
) -> list[AgreementProblem]:
    """Unknown partners, duplicate ids, and two agreements that would both decide what one partner sees of
    another's contacts on the same day (one must decide, so the audit names one agreement)."""
    problems: list[AgreementProblem] = []
    items = list(agreements)
    names = [labels[i] if labels and i < len(labels) else f"data_sharing[{i}]" for i in range(len(items))]
    seen: set[str] = set()
    for where, a in zip(names, items, strict=True):
        if a.id in seen:
            problems.append(
                AgreementProblem(f"{where}.id", f"data-sharing agreement id {a.id!r} is used twice")
            )
        seen.add(a.id)
        for slug in a.parties:
            if slug not in partners:
                problems.append(AgreementProblem(f"{where}.parties", f"unknown partner {slug!r}"))
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            shared = sorted(a.pairs() & b.pairs())
            if shared and a.starts <= b.ends and b.starts <= a.ends:
                sharer, seer = shared[0]
                problems.append(
                    AgreementProblem(
                        names[i],
                        f"{a.id!r} overlaps {b.id!r} ({seer} sees {sharer}'s contacts in both, on the same "
                        "days): one agreement must decide, so end one before the other starts",
                    )
                )
    return problems


def parse_data_sharing(text: str) -> tuple[list[DataSharingDefinition], list[AgreementProblem]]:
    """The data-sharing agreements of one agreements file; problems carry the path (``data_sharing[0].fields[1]``)."""
    try:
        raw = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        return [], [AgreementProblem("", yaml_problem(exc))]
    if not is_agreements_document(raw):
        return [], [AgreementProblem("", "expected a mapping with `data_sharing:` at the top")]
    return validate_data_sharing(raw)


def validate_data_sharing(raw: Any) -> tuple[list[DataSharingDefinition], list[AgreementProblem]]:
    try:
        return list(DataSharingFile.model_validate(raw).data_sharing), []
    except ValidationError as exc:
        found = [problem(dict(e), raw) for e in exc.errors()]
        return [], [AgreementProblem(path, message, where) for path, where, message in found]
