"""A what-if scenario (YAML): period, partners' services, arrivals, handle times, patience, rotas, agreements.

Every error names the file and the line, because the committee's analysts edit these files by hand.
Agreements use the schema of ``tenants/agreements/terms.py`` unchanged, so a signed agreement can be pasted in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tenants.agreements.terms import AgreementDefinition, check_agreements
from tenants.problems import problem as problem_of
from tenants.problems import where
from tenants.schemas import SLUG_PATTERN

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _every_day() -> list[Day]:
    return ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ScenarioInvalid(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _hhmm(value: Any) -> Any:
    if isinstance(value, int):  # YAML 1.1 reads an unquoted 18:00 as a sexagesimal number
        return time(value // 60 % 24, value % 60)
    if isinstance(value, str) and value in ("24:00", "24:00:00"):
        return time(23, 59, 59, 999999)
    if isinstance(value, str) and len(value) == 4 and value[1] == ":":
        return "0" + value
    return value


class Distribution(_Strict):
    """A duration drawn per contact: exponential (mean), lognormal (mean and sigma of the log) or fixed."""

    distribution: Literal["exponential", "lognormal", "fixed"] = "exponential"
    mean_seconds: float = Field(gt=0)
    sigma: float = Field(default=0.5, gt=0)  # lognormal only


class ServiceSpec(_Strict):
    """A service as the simulator needs it (when not read from the partners' definition files)."""

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    skills: list[str] = Field(default_factory=list)
    priority: int = Field(default=5, ge=0, le=9)
    answer_within_seconds: int = Field(default=20, gt=0)
    target: float = Field(default=0.8, gt=0, le=1)
    callbacks: bool = False
    # Which idle agent takes the work (docs/routing.md, "Proficiency"): the longest idle, or the best-skilled.
    agent_choice: Literal["longest_idle", "best_skilled"] = "longest_idle"


class PartnerSpec(_Strict):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = ""  # what people call it in the report (default: the slug)
    services: list[ServiceSpec] = Field(default_factory=list)


class Arrivals(_Strict):
    """Poisson arrivals for one partner's service and channel: a mean per interval, or one per interval in turn."""

    partner: str
    service: str
    channel: Literal["phone", "web", "email", "face_to_face", "callback"] = "phone"
    per_interval: float | list[float]
    from_: time = Field(default=time(0), alias="from")
    to: time = Field(default=time(23, 59, 59, 999999))
    days: list[Day] = Field(default_factory=_every_day)
    handle_time: Distribution | None = None  # default: the scenario's handle_time
    patience: Distribution | None = None  # default: the scenario's patience

    _times = field_validator("from_", "to", mode="before")(classmethod(lambda cls, v: _hhmm(v)))

    @field_validator("per_interval")
    @classmethod
    def _not_negative(cls, value: float | list[float]) -> float | list[float]:
        rates = value if isinstance(value, list) else [value]
        if not rates:
            raise ValueError("per_interval is an empty list")
        if any(r < 0 for r in rates):
            raise ValueError("an arrival rate cannot be negative")
        return value


class RotaShift(_Strict):
    """``agents`` agents of a partner with these skills, on shift from..to on the given days."""

    partner: str
    agents: int = Field(gt=0)
    skills: list[str] = Field(default_factory=list)
    from_: time = Field(default=time(0), alias="from")
    to: time = Field(default=time(23, 59, 59, 999999))
    days: list[Day] = Field(default_factory=_every_day)
    # Proficiency: these agents' level (1 learning … 5 expert) per skill; an unrated skill counts as 3, as live.
    proficiency: dict[str, int] = Field(default_factory=dict)
    # Their handle time against the drawn one (0.8: a fifth quicker), for what a level is worth in minutes.
    handle_factor: float = Field(default=1.0, gt=0, le=10)

    _times = field_validator("from_", "to", mode="before")(classmethod(lambda cls, v: _hhmm(v)))

    @field_validator("proficiency")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        if any(not 1 <= level <= 5 for level in value.values()):
            raise ValueError("a proficiency level is 1 (learning) to 5 (expert)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> RotaShift:
        if self.to <= self.from_:
            raise ValueError("a shift must end after it starts (split a night shift in two)")
        return self


class Blending(_Strict):
    """Blended work as the live state does it: live contacts offered to agents holding web forms and emails."""

    deferrable_at_once: int = Field(default=3, ge=1, le=20)  # web forms and emails an agent holds at once
    partners: dict[str, int] = Field(default_factory=dict)  # a partner's own limit (its ``blending`` setting)


class Period(_Strict):
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("give the period's start and end with a zone (…Z or +01:00)")
        if self.end <= self.start:
            raise ValueError("the period must end after it starts")
        return self


class ReplaySpec(_Strict):
    """Arrivals (and their recorded handle times and patience) from the hub's own events of a past period."""

    start: datetime
    end: datetime
    partners: list[str] | None = None  # None: every partner of the scenario


class ScenarioFile(_Strict):
    name: str = ""
    seed: int = 1
    period: Period | None = None  # required unless replaying
    interval_minutes: int = Field(default=30, gt=0, le=1440)
    timezone: str = "Europe/London"  # rota and arrival times are local times
    partners_from: str | None = None  # partner definition files (relative to the scenario file)
    partners: list[PartnerSpec] = Field(default_factory=list)
    arrivals: list[Arrivals] = Field(default_factory=list)
    replay: ReplaySpec | None = None
    handle_time: Distribution = Field(default_factory=lambda: Distribution(mean_seconds=240))
    patience: Distribution | None = None  # None: callers never hang up
    rotas: list[RotaShift] = Field(min_length=1)
    agreements: list[AgreementDefinition] = Field(default_factory=list)
    # None: each agent takes one contact at a time, whatever its channel (the model before blending; kept as
    # the default so earlier scenarios' figures stand). Given: the live rule (docs/routing.md, "Blended work").
    blending: Blending | None = None
    # What if a service chose its agents otherwise: "partner/service" -> longest_idle | best_skilled.
    agent_choice: dict[str, Literal["longest_idle", "best_skilled"]] = Field(default_factory=dict)
    snapshot_seconds: float = Field(default=300.0, gt=0)  # rolling figures re-read (live buckets are 5 min)
    gate_seconds: float = Field(default=15.0, gt=0)  # how often lenders' gates are looked at (the tick)

    @model_validator(mode="after")
    def _source(self) -> ScenarioFile:
        if self.period is None and self.replay is None:
            raise ValueError("give a `period:` (start and end), or `replay:` a past period")
        if not self.arrivals and self.replay is None:
            raise ValueError("no arrivals: give `arrivals:` or `replay:`")
        return self


@dataclass(frozen=True)
class Service:
    tenant: str
    code: str
    skills: frozenset[str]
    priority: int
    threshold_seconds: int
    target: float
    callbacks: bool
    callback_after_seconds: int | None
    expected_handle_seconds: float
    agent_choice: str = "longest_idle"


@dataclass(frozen=True)
class Scenario:
    file: str
    spec: ScenarioFile
    services: dict[str, Service]  # "tenant/code"
    tenants: frozenset[str]
    # slug -> the partner's name, for what a person reads (the definitions', the catalogue's or `partners[].name`)
    partner_names: dict[str, str] = field(default_factory=dict)

    @property
    def start(self) -> datetime:
        if self.spec.replay is not None:
            return self.spec.replay.start
        assert self.spec.period is not None
        return self.spec.period.start

    @property
    def end(self) -> datetime:
        if self.spec.replay is not None:
            return self.spec.replay.end
        assert self.spec.period is not None
        return self.spec.period.end


# -- YAML with line numbers --------------------------------------------------------------------------------


def _compose(text: str, file: str) -> tuple[Any, dict[tuple[int | str, ...], int]]:
    """The document and, for every path inside it, the line it starts on (1-based)."""
    loader: yaml.SafeLoader | None = None
    try:
        # Inside the try: the loader checks the characters of the whole text as it is made.
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise ScenarioInvalid([f"{file}: the file is empty"])
        lines: dict[tuple[int | str, ...], int] = {}

        def walk(n: yaml.Node, path: tuple[int | str, ...]) -> None:
            lines[path] = n.start_mark.line + 1
            if isinstance(n, yaml.MappingNode):
                for k, v in n.value:
                    key = loader.construct_object(k)
                    lines[(*path, key)] = k.start_mark.line + 1
                    walk(v, (*path, key))
                    lines[(*path, key)] = k.start_mark.line + 1
            elif isinstance(n, yaml.SequenceNode):
                for i, item in enumerate(n.value):
                    walk(item, (*path, i))

        walk(node, ())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise ScenarioInvalid([f"{file}{line}: not valid YAML: {exc.problem}"]) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise ScenarioInvalid([f"{file}: not valid YAML: {exc}"]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


def _line(lines: dict[tuple[int | str, ...], int], loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest part of ``loc`` present in the file (pydantic adds union branch names)."""
    path = tuple(p for p in loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _where(
    file: str,
    lines: dict[tuple[int | str, ...], int],
    loc: tuple[int | str, ...],
    raw: object = None,
    place_at: tuple[int | str, ...] | None = None,
) -> str:
    """``whatif.yaml, line 6 (arrivals, item 1 (partner town))``: the file, the line of ``loc``, and the place
    (``place_at``, default ``loc``) as the definitions' loader says it (items counted from 1, named by their
    code: tenants.problems)."""
    place = where(raw, loc if place_at is None else place_at)
    line = _line(lines, loc)
    return f"{file}, line {line}" + (f" ({place})" if place else "") if line else file


# -- loading -----------------------------------------------------------------------------------------------


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioInvalid([f"{path}: cannot read: {exc.strerror}"]) from None
    return parse_scenario(text, str(path), base=path.parent)


def parse_scenario(
    text: str,
    file: str = "<scenario>",
    *,
    base: Path | None = None,
    known: dict[str, Service] | None = None,
    known_names: dict[str, str] | None = None,
) -> Scenario:
    """``known``: the hub's own catalogue, for scenarios sent over the web, which may not read server files;
    ``known_names``: its partners' names."""
    data, lines = _compose(text, file)
    if not isinstance(data, dict):
        raise ScenarioInvalid([f"{file}, line 1: expected a mapping (period:, arrivals:, rotas: …)"])
    try:
        spec = ScenarioFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
            _, _, said = problem_of({**e, "loc": loc}, data)  # "unknown key 'colour'", not pydantic's words
            # An unknown key is placed at the mapping that has it, on the key's own line.
            at = loc[:-1] if e.get("type") == "extra_forbidden" and loc else loc
            problems.append(f"{_where(file, lines, loc, data, place_at=at)}: {said}")
        raise ScenarioInvalid(problems) from None
    if known is not None and spec.partners_from:
        here = _where(file, lines, ("partners_from",), data)
        raise ScenarioInvalid([f"{here}: not here: the hub's own partners are used"])
    services = dict(known or {})
    names = dict(known_names or {})
    found, found_names = _services(spec, file, lines, base, data)
    services.update(found)
    names.update(found_names)
    problems = _check_names(spec, services, file, lines, data)
    if problems:
        raise ScenarioInvalid(problems)
    for key, choice in spec.agent_choice.items():
        services[key] = replace(services[key], agent_choice=choice)
    return Scenario(file, spec, services, frozenset(s.tenant for s in services.values()), names)


_UNION_TAGS = {"float", "list[float]", "literal['all']", "list[str]"}


def _services(
    spec: ScenarioFile, file: str, lines: dict[tuple[int | str, ...], int], base: Path | None, raw: object
) -> tuple[dict[str, Service], dict[str, str]]:
    """The services the scenario defines or reads, and the names of their partners."""
    services: dict[str, Service] = {}
    names: dict[str, str] = {}
    if spec.partners_from:
        from tenants.loader import DefinitionsInvalid, load_definitions

        folder = (base or Path(".")) / spec.partners_from
        try:
            definitions = load_definitions(folder)
        except DefinitionsInvalid as exc:
            here = _where(file, lines, ("partners_from",), raw)
            raise ScenarioInvalid([f"{here}: {e}" for e in exc.errors]) from None
        for d in definitions:
            names[d.tenant.slug] = d.tenant.name
            # A pool (the hub) has no catalogue but is still a partner that can lend agents.
            services.setdefault(f"{d.tenant.slug}/", _pool(d.tenant.slug))
            for s in d.services:
                services[f"{d.tenant.slug}/{s.code}"] = Service(
                    d.tenant.slug,
                    s.code,
                    frozenset(s.skills),
                    s.priority,
                    s.service_level.answer_within_seconds,
                    s.service_level.target,
                    s.routing.callbacks,
                    s.routing.callback_after_seconds,
                    float(s.routing.expected_handle_seconds),
                    s.routing.agent_choice,
                )
    for p in spec.partners:
        if p.name:
            names[p.slug] = p.name
        services.setdefault(f"{p.slug}/", _pool(p.slug))
        for spec_s in p.services:
            services[f"{p.slug}/{spec_s.code}"] = Service(
                p.slug,
                spec_s.code,
                frozenset(spec_s.skills),
                spec_s.priority,
                spec_s.answer_within_seconds,
                spec_s.target,
                spec_s.callbacks,
                None,
                spec.handle_time.mean_seconds,
                spec_s.agent_choice,
            )
    return services, names


def _pool(slug: str) -> Service:
    """A marker that the partner exists (key ``slug/``); never a queue."""
    return Service(slug, "", frozenset(), 5, 20, 0.8, False, None, 240.0)


def real_services(services: dict[str, Service]) -> dict[str, Service]:
    return {k: s for k, s in services.items() if s.code}


def _check_names(
    spec: ScenarioFile,
    services: dict[str, Service],
    file: str,
    lines: dict[tuple[int | str, ...], int],
    raw: object,
) -> list[str]:
    partners = {s.tenant for s in services.values()}
    problems: list[str] = []
    if not partners:
        problems.append(f"{_where(file, lines, (), raw)}: no partners: give `partners_from:` or `partners:`")
    for i, a in enumerate(spec.arrivals):
        if a.partner not in partners:
            problems.append(
                f"{_where(file, lines, ('arrivals', i, 'partner'), raw)}: unknown partner {a.partner!r}"
            )
        elif f"{a.partner}/{a.service}" not in services or not a.service:
            problems.append(
                f"{_where(file, lines, ('arrivals', i, 'service'), raw)}: {a.partner!r} has no service {a.service!r}"
            )
    for slug in spec.blending.partners if spec.blending else ():
        if slug not in partners:
            problems.append(
                f"{_where(file, lines, ('blending', 'partners', slug), raw)}: unknown partner {slug!r}"
            )
    for key in spec.agent_choice:
        if key not in services or not services[key].code:
            problems.append(
                f"{_where(file, lines, ('agent_choice', key), raw)}: no service {key!r} (partner/service)"
            )
    for i, r in enumerate(spec.rotas):
        if r.partner not in partners:
            problems.append(
                f"{_where(file, lines, ('rotas', i, 'partner'), raw)}: unknown partner {r.partner!r}"
            )
    catalogue = {t: {s.code for s in services.values() if s.tenant == t and s.code} for t in partners}
    for problem in check_agreements(spec.agreements, catalogue):
        loc: tuple[int | str, ...] = ("agreements",)
        head = problem.path.split(".", 1)
        if head[0].startswith("agreements["):
            loc = ("agreements", int(head[0][len("agreements[") : -1]))
            if len(head) > 1:
                loc = (*loc, head[1])
        problems.append(f"{_where(file, lines, loc, raw)}: {problem.message}")
    if spec.replay and spec.replay.partners:
        for i, slug in enumerate(spec.replay.partners):
            if slug not in partners:
                problems.append(
                    f"{_where(file, lines, ('replay', 'partners', i), raw)}: unknown partner {slug!r}"
                )
    return problems


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
