"""The committee's figure definitions (docs/design.md, "Figures"), as pure functions over per-contact timelines.

Definitions are versioned: a published period keeps the version it was computed with, and a change
applies forward only. Add a new ``DefinitionSet`` to ``DEFINITIONS`` and point ``CURRENT_VERSION`` at it;
never edit one that has been used for a published period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class DefinitionSet:
    version: str
    short_abandon_seconds: float
    description: dict[str, str] = field(default_factory=dict)
    applies_from: str = "2026-01"  # the first month (YYYY-MM) whose figures use it, unless published earlier
    changes: tuple[str, ...] = ()  # what changed from the version before, in the committee's words


DEFINITIONS: dict[str, DefinitionSet] = {
    "2026.1": DefinitionSet(
        version="2026.1",
        short_abandon_seconds=5.0,
        description={
            "offered": "contacts that joined a queue in the interval (by the time they first queued)",
            "answered": "offered contacts an agent accepted",
            "abandoned": "offered contacts withdrawn while waiting; short abandons (under 5 s) are shown apart",
            "service_level": "answered within the service's threshold T ÷ (answered + abandoned after 5 s); T is 20 s unless the service sets it",
            "abandonment_rate": "abandoned (excluding short abandons) ÷ offered",
            "asa": "mean wait of answered contacts, from first queued to answered",
            "aht": "(talk + hold + wrap) ÷ handled; talk includes hold, wrap is the after-call time the agent records",
            "fcr": "contacts completed as resolved at first contact ÷ handled",
            "occupancy": "agent time handling (busy or wrap-up) ÷ (handling + available)",
            "longest_wait": "the longest wait of any offered contact that ended its wait in the interval",
            "overflow": "a contact counts against its owner partner; the partner whose agent handled it is shown beside",
        },
        changes=("The first definitions agreed by the joint committee.",),
    ),
}
# 2027.1 (docs/committee.md, "Definitions history"): callers who hang up within 10 s, not 5 s, are short abandons,
# because the partners' telephony now plays a 7-second welcome message and most who hang up during it
# dialled the wrong number. Everything else is as in 2026.1.
DEFINITIONS["2027.1"] = DefinitionSet(
    version="2027.1",
    short_abandon_seconds=10.0,
    description={
        **DEFINITIONS["2026.1"].description,
        "abandoned": "offered contacts withdrawn while waiting; short abandons (under 10 s) are shown apart",
        "service_level": "answered within the service's threshold T ÷ (answered + abandoned after 10 s); T is 20 s unless the service sets it",
    },
    applies_from="2027-01",
    changes=(
        "A short abandon is now a caller who hangs up within 10 s (was 5 s): the welcome message lasts 7 s, and "
        "callers who leave during it are not counted against the service level or the abandonment rate.",
    ),
)
# What a person reads for each figure's code (the definitions' keys stay codes: the API and the CSV use them).
FIGURE_NAMES = {
    "offered": "Offered",
    "answered": "Answered",
    "abandoned": "Abandoned",
    "service_level": "Service level",
    "abandonment_rate": "Abandonment rate",
    "asa": "Average speed of answer (ASA)",
    "aht": "Average handling time (AHT)",
    "fcr": "First-contact resolution (FCR)",
    "occupancy": "Occupancy",
    "longest_wait": "Longest wait",
    "overflow": "Overflow",
}


def figure_name(code: str) -> str:
    return FIGURE_NAMES.get(code) or code.replace("_", " ").capitalize()


# The version of figures worked out with no moment to place them (``compute`` over given timelines, without a
# version). Everything with a moment uses the version in force then (``version_at``, ``version_for``).
CURRENT_VERSION = "2026.1"


def definitions(version: str | None = None) -> DefinitionSet:
    return DEFINITIONS[version or CURRENT_VERSION]


def version_for(period: str) -> str:
    """The definitions in force for a month ``YYYY-MM``: the newest that applies from it or earlier (months before
    the first version, e.g. a trend's earliest, use the first)."""
    applying = [d for d in DEFINITIONS.values() if d.applies_from <= period] or history()[:1]
    return max(applying, key=lambda d: (d.applies_from, d.version)).version


def version_at(moment: datetime) -> str:
    """The definitions in force at ``moment``: its month's (``version_for``), on the clock it carries (a partner's
    figures pass their local time)."""
    return version_for(f"{moment.year:04d}-{moment.month:02d}")


def versions_between(start: datetime, end: datetime) -> set[str]:
    """The versions in force for any month of [start, end), on the clock the moments carry."""
    last = end - timedelta(microseconds=1) if end > start else start
    year, month = start.year, start.month
    found = set()
    while (year, month) <= (last.year, last.month):
        found.add(version_for(f"{year:04d}-{month:02d}"))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def history() -> list[DefinitionSet]:
    """Every version, oldest first, each with the month it applies from and what it changed."""
    return sorted(DEFINITIONS.values(), key=lambda d: (d.applies_from, d.version))


@dataclass(frozen=True)
class Timeline:
    """One queued contact: its owner, where its wait ended, and how it was handled."""

    enquiry_id: int
    queued_at: datetime
    answered_at: datetime | None
    abandoned_at: datetime | None
    threshold_seconds: int
    owner: str = ""
    handler: str | None = None
    service_code: str = ""
    channel: str = ""
    completed_at: datetime | None = None
    outcome: str | None = None
    wrap_seconds: float = 0.0
    transferred: bool = False
    callback: bool = False
    avoidable: bool = False
    agreement: str | None = None  # the overflow agreement it was answered under, if any

    @property
    def wait_seconds(self) -> float | None:
        end = self.answered_at or self.abandoned_at
        return (end - self.queued_at).total_seconds() if end else None

    @property
    def handle_seconds(self) -> float | None:
        if self.answered_at is None or self.completed_at is None:
            return None
        return (self.completed_at - self.answered_at).total_seconds() + self.wrap_seconds

    @property
    def answered_within_threshold(self) -> bool:
        return self.answered_at is not None and (self.wait_seconds or 0.0) <= self.threshold_seconds


@dataclass(frozen=True)
class Figures:
    offered: int
    answered: int
    answered_within_threshold: int
    abandoned: int
    short_abandoned: int
    service_level: float | None
    abandonment_rate: float | None
    asa_seconds: float | None
    handled: int = 0
    aht_seconds: float | None = None
    first_contact_resolution: float | None = None
    longest_wait_seconds: float | None = None
    callbacks: int = 0
    transfers: int = 0
    avoidable: int = 0
    definitions_version: str = CURRENT_VERSION


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def compute(timelines: Iterable[Timeline], version: str | None = None) -> Figures:
    """Every per-contact figure of docs/design.md, "Figures" for one group of contacts."""
    rules = definitions(version)
    contacts = list(timelines)
    answered = [t for t in contacts if t.answered_at is not None]
    abandoned = [t for t in contacts if t.answered_at is None and t.abandoned_at is not None]
    short = [t for t in abandoned if (t.wait_seconds or 0.0) < rules.short_abandon_seconds]
    long_abandoned = len(abandoned) - len(short)
    within = sum(1 for t in answered if t.answered_within_threshold)
    handled = [t for t in answered if t.handle_seconds is not None]
    waits = [w for t in contacts if (w := t.wait_seconds) is not None]
    return Figures(
        offered=len(contacts),
        answered=len(answered),
        answered_within_threshold=within,
        abandoned=len(abandoned),
        short_abandoned=len(short),
        service_level=_ratio(within, len(answered) + long_abandoned),
        abandonment_rate=_ratio(long_abandoned, len(contacts)),
        asa_seconds=_ratio(sum(t.wait_seconds or 0.0 for t in answered), len(answered)),
        handled=len(handled),
        aht_seconds=_ratio(sum(t.handle_seconds or 0.0 for t in handled), len(handled)),
        first_contact_resolution=_ratio(sum(1 for t in handled if t.outcome == "resolved"), len(handled)),
        longest_wait_seconds=max(waits) if waits else None,
        callbacks=sum(1 for t in contacts if t.callback),
        transfers=sum(1 for t in contacts if t.transferred),
        avoidable=sum(1 for t in contacts if t.avoidable),
        definitions_version=rules.version,
    )


@dataclass(frozen=True)
class AgentSpan:
    """A stretch of one agent's time in one status (from the agent_events log)."""

    agent_id: str
    tenant: str
    status: str
    start: datetime
    end: datetime


HANDLING_STATUSES = frozenset({"busy", "wrap_up"})


def occupancy(spans: Iterable[AgentSpan]) -> float | None:
    """Handling ÷ (handling + available), over agent time; breaks and offline time count in neither."""
    handling = available = 0.0
    for span in spans:
        seconds = (span.end - span.start).total_seconds()
        if span.status in HANDLING_STATUSES:
            handling += seconds
        elif span.status == "available":
            available += seconds
    return _ratio(handling, handling + available)


@dataclass(frozen=True)
class OverflowCell:
    owner: str
    handler: str
    handled: int
    answered_within_threshold: int


def overflow_matrix(timelines: Iterable[Timeline]) -> list[OverflowCell]:
    """Owner × handler for contacts answered by another partner's agent (given by owner, received by handler)."""
    cells: dict[tuple[str, str], list[int]] = {}
    for t in timelines:
        if t.answered_at is None or t.handler is None or t.handler == t.owner:
            continue
        cell = cells.setdefault((t.owner, t.handler), [0, 0])
        cell[0] += 1
        cell[1] += int(t.answered_within_threshold)
    return [OverflowCell(o, h, n, w) for (o, h), (n, w) in sorted(cells.items())]


@dataclass(frozen=True)
class AgreementTerms:
    lender: str
    borrower: str
    unit_rate: float


@dataclass(frozen=True)
class LedgerLine:
    """What one agreement's work came to in a period: the lender charges the borrower per contact handled."""

    agreement: str
    lender: str
    borrower: str
    handled: int
    answered_within_threshold: int
    unit_rate: float
    amount: float


def ledger(timelines: Iterable[Timeline], terms: dict[str, AgreementTerms]) -> list[LedgerLine]:
    """One line per agreement with work under it: contacts answered by the lender for the borrower × unit rate."""
    counts: dict[str, list[int]] = {}
    for t in timelines:
        if t.answered_at is None or t.agreement is None or t.agreement not in terms:
            continue
        cell = counts.setdefault(t.agreement, [0, 0])
        cell[0] += 1
        cell[1] += int(t.answered_within_threshold)
    lines = []
    for agreement, (handled, within) in sorted(counts.items()):
        term = terms[agreement]
        amount = round(handled * term.unit_rate, 2)
        lines.append(
            LedgerLine(agreement, term.lender, term.borrower, handled, within, term.unit_rate, amount)
        )
    return lines
