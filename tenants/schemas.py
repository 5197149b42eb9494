"""Partner definitions as written in YAML (or sent to the admin API): validated before anything is stored."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from tenants.hours import (
    ENGLAND_AND_WALES,
    ChannelHours,
    Closure,
    HoursError,
    OpeningHours,
    known_zone,
    parse_window,
)
from tenants.lgsl import lgsl_entry
from tenants.service_routing import ServiceRouting

SLUG_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
# Open311 sends attributes as ``attribute[<code>]`` form fields, so a code is one word.
ATTRIBUTE_CODE_PATTERN = r"^[A-Za-z0-9_]{1,63}$"
ADAPTER_PATTERN = r"^[a-z][a-z0-9_.-]{0,62}$"
GENERAL_SERVICE_CODE = "general"
DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
LIST_DATATYPES = ("singlevaluelist", "multivaluelist")
CUSTOMER_FIELDS = ("name", "phone", "email", "uprn", "address")
ChannelName = Literal["phone", "web", "email", "face_to_face", "callback"]
CustomerField = Literal["name", "phone", "email", "uprn", "address"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceLevel(Strict):
    answer_within_seconds: int = Field(default=20, gt=0, le=3600)
    target: float = Field(default=0.8, gt=0, le=1)


ChannelHoursSpec = str | dict[str, str | list[str]]


class HoursDefinition(Strict):
    """Opening hours per channel: ``always``, ``closed``, or days to time ranges (``mon-fri: "08:45-17:00"``).

    A channel not listed follows ``default``; with no ``default`` it is closed. ``bank_holiday:`` gives the
    hours on a bank holiday (closed unless given).
    """

    default: ChannelHoursSpec | None = None
    phone: ChannelHoursSpec | None = None
    web: ChannelHoursSpec | None = None
    email: ChannelHoursSpec | None = None
    face_to_face: ChannelHoursSpec | None = None
    callback: ChannelHoursSpec | None = None

    @field_validator("*")
    @classmethod
    def _understood(cls, value: ChannelHoursSpec | None) -> ChannelHoursSpec | None:
        if value is not None:
            try:
                ChannelHours.from_spec(value)
            except HoursError as exc:
                raise ValueError(str(exc)) from exc
        return value

    def channel_hours(self) -> tuple[dict[str, ChannelHours], ChannelHours | None]:
        channels = {
            name: ChannelHours.from_spec(spec)
            for name in ("phone", "web", "email", "face_to_face", "callback")
            if (spec := getattr(self, name)) is not None
        }
        return channels, ChannelHours.from_spec(self.default) if self.default is not None else None


class ClosureDefinition(Strict):
    """A day the partner is shut beyond its weekly hours; ``closed_from``/``closed_until`` make it part of a day."""

    date: date
    reason: str = Field(default="", max_length=200)
    closed_from: str | None = Field(default=None, pattern=r"^\d{1,2}:\d{2}$")
    closed_until: str | None = Field(default=None, pattern=r"^\d{1,2}:\d{2}$")
    channels: list[ChannelName] | None = None

    @model_validator(mode="after")
    def _sensible(self) -> ClosureDefinition:
        try:
            self.minutes()
        except HoursError as exc:
            raise ValueError(f"closure {self.date}: {exc}") from exc
        return self

    def minutes(self) -> tuple[int, int]:
        start, end = self.closed_from or "00:00", self.closed_until or "24:00"
        return parse_window(f"{start}-{end}")

    def closure(self) -> Closure:
        start, end = self.minutes()
        return Closure(
            day=self.date,
            start=start,
            end=end,
            channels=frozenset(self.channels) if self.channels is not None else None,
            reason=self.reason,
        )


class AttributeValue(Strict):
    key: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)

    @field_validator("key", mode="before")
    @classmethod
    def _key_as_string(cls, value: Any) -> Any:
        # Open311 codes are strings; YAML turns `key: 1` into a number.
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class AttributeDefinition(Strict):
    """One question a service asks (an Open311 attribute)."""

    code: str = Field(pattern=ATTRIBUTE_CODE_PATTERN)
    description: str = Field(min_length=1, max_length=500)
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"] = "string"
    required: bool = False
    variable: bool = True  # false: information shown to the citizen, nothing to answer
    datatype_description: str = Field(default="", max_length=200)
    values: list[AttributeValue] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> AttributeDefinition:
        if self.datatype in LIST_DATATYPES and not self.values:
            raise ValueError(f"a {self.datatype} needs values (key and name for each choice)")
        if self.datatype not in LIST_DATATYPES and self.values:
            raise ValueError(f"values are only for singlevaluelist and multivaluelist, not {self.datatype}")
        keys = [v.key for v in self.values]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate value keys in {keys!r}")
        if self.required and not self.variable:
            raise ValueError("an attribute that is not variable (information only) cannot be required")
        return self


class AdapterSpec(Strict):
    """The back-office adapter a service's cases go to: a plugin name (``webhook``, ``open311``, ``email``,
    ``csv_drop``) and its ``config``, checked by the adapter itself; ``system`` names the back office for people."""

    name: str = Field(min_length=1, max_length=63, pattern=ADAPTER_PATTERN)
    config: dict[str, Any] = Field(default_factory=dict)
    system: str = Field(default="", max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data


class ServiceDefinition(Strict):
    """One entry of a partner's catalogue."""

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    group: str = Field(default="", max_length=100)
    lgsl: int | None = Field(default=None, gt=0)
    description: str = Field(default="", max_length=2000)
    keywords: list[str] = Field(default_factory=list)
    synonyms: list[str] = Field(default_factory=list)
    attributes: list[AttributeDefinition] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    priority: int = Field(default=5, ge=0, le=9)
    service_level: ServiceLevel = Field(default_factory=ServiceLevel)
    resolution_working_days: int | None = Field(default=None, ge=0, le=365)
    adapter: AdapterSpec | None = None
    shared_customer_fields: list[CustomerField] = Field(default_factory=list)
    open311: bool = True
    service_notice: str = Field(default="", max_length=500)
    opening_hours: HoursDefinition | None = None

    @model_validator(mode="before")
    @classmethod
    def _required_fields_are_attributes(cls, data: Any) -> Any:
        """The spine's ``required_fields: [x]`` is shorthand for a required string attribute ``x``."""
        if not isinstance(data, dict) or "required_fields" not in data:
            return data
        data = dict(data)
        names = data.pop("required_fields") or []
        if not isinstance(names, list):
            raise ValueError("required_fields must be a list of attribute codes")
        attributes = list(data.get("attributes") or [])
        known = {a.get("code") if isinstance(a, dict) else getattr(a, "code", None) for a in attributes}
        for name in names:
            if name not in known:
                attributes.append({"code": name, "description": str(name), "required": True})
        data["attributes"] = attributes
        return data

    @field_validator("lgsl")
    @classmethod
    def _known_lgsl(cls, value: int | None) -> int | None:
        if value is not None and lgsl_entry(value) is None:
            raise ValueError(f"LGSL code {value} is not in the Local Government Service List")
        return value

    @field_validator("keywords", "synonyms")
    @classmethod
    def _terms(cls, value: list[str]) -> list[str]:
        for term in value:
            if not term.strip() or len(term) > 100:
                raise ValueError(f"term {term!r} must be 1 to 100 characters")
        return value

    @model_validator(mode="after")
    def _complete(self) -> ServiceDefinition:
        if self.lgsl is None and self.code != GENERAL_SERVICE_CODE:
            raise ValueError(f"service {self.code!r} needs an lgsl code (only 'general' may go without)")
        codes = [a.code for a in self.attributes]
        if len(set(codes)) != len(codes):
            raise ValueError(f"duplicate attribute code in {codes!r}")
        return self

    @property
    def required_fields(self) -> list[str]:
        return [a.code for a in self.attributes if a.required]

    routing: ServiceRouting = Field(default_factory=ServiceRouting)


class Blending(Strict):
    """A partner's limits for blended work (docs/routing.md, "Blended work").

    Live contacts (phone, face to face, callbacks due) are one at a time and never wait behind deferrable ones
    (web forms, emails): an agent holding deferrable work is still offered a live contact, which they take
    while the deferrable items wait, parked. ``deferrable_at_once`` is how many deferrable items an agent may
    hold at once.
    """

    deferrable_at_once: int = Field(default=3, ge=1, le=20)


class AgentDefinition(Strict):
    id: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    skills: list[str] = Field(default_factory=list)


class TenantInfo(Strict):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="partner", pattern=r"^(partner|pool)$")
    timezone: Annotated[str, AfterValidator(known_zone)] = "Europe/London"
    contact: str = Field(default="", max_length=300)  # shown in Open311 discovery
    website: str = Field(default="", max_length=300)

    @property
    def jurisdiction_id(self) -> str:
        """The Open311 jurisdiction id is the slug, so a partner has one name everywhere."""
        return self.slug


class PartnerDefinition(Strict):
    """One partner file: the tenant, its hours, its catalogue and its agents."""

    tenant: TenantInfo
    opening_hours: HoursDefinition = Field(default_factory=HoursDefinition)
    bank_holidays: Literal["england-and-wales", "none"] = "england-and-wales"
    closures: list[ClosureDefinition] = Field(default_factory=list)
    services: list[ServiceDefinition] = Field(default_factory=list)
    agents: list[AgentDefinition] = Field(default_factory=list)
    blending: Blending | None = None  # None: the hub's defaults

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
        if (
            self.tenant.kind == "partner"
            and self.services
            and not any(s.code == GENERAL_SERVICE_CODE for s in self.services)
        ):
            raise ValueError(
                "a partner needs a 'general' service: enquiries that match no other service go there"
            )
        return self

    def hours(self, override: HoursDefinition | None = None) -> OpeningHours:
        """The partner's opening hours, or a service's own (``override``) with the partner's closures."""
        channels, default = (override or self.opening_hours).channel_hours()
        return OpeningHours(
            timezone=self.tenant.timezone,
            channels=channels,
            default=default,
            bank_holidays=ENGLAND_AND_WALES if self.bank_holidays == ENGLAND_AND_WALES else None,
            closures=tuple(c.closure() for c in self.closures),
        )

    def catalogue_document(self) -> dict[str, Any]:
        """What a catalogue version records: everything but the agents (who are not part of a catalogue)."""
        document = self.model_dump(mode="json", exclude={"agents"})
        if document.get("blending") is None:
            document.pop(
                "blending", None
            )  # unset: the document (and its digest) as before the option existed
        return document

    def catalogue_digest(self) -> str:
        canonical = json.dumps(self.catalogue_document(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def opening_hours_from_settings(
    timezone: str, settings: dict[str, Any], *, override: HoursDefinition | None = None
) -> OpeningHours:
    """A stored partner's hours (``tenants.settings``, written from a validated definition)."""
    hours = override or HoursDefinition.model_validate(settings.get("opening_hours") or {})
    channels, default = hours.channel_hours()
    closures = tuple(ClosureDefinition.model_validate(c).closure() for c in settings.get("closures") or [])
    bank = settings.get("bank_holidays", ENGLAND_AND_WALES)
    return OpeningHours(
        timezone=timezone,
        channels=channels,
        default=default,
        bank_holidays=ENGLAND_AND_WALES if bank == ENGLAND_AND_WALES else None,
        closures=closures,
    )


def opening_hours_from_document(document: dict[str, Any], service_code: str | None = None) -> OpeningHours:
    """The hours recorded in a catalogue version (``PartnerDefinition.catalogue_document``)."""
    override = None
    for service in document.get("services") or []:
        if service.get("code") == service_code and service.get("opening_hours"):
            override = HoursDefinition.model_validate(service["opening_hours"])
    return opening_hours_from_settings(
        document.get("tenant", {}).get("timezone", "Europe/London"), document, override=override
    )
