"""What a run shows: the committee pack's per-partner figures, computed by the pack's own definitions.

The figures are ``figures.definitions``' ``compute``, ``occupancy`` and ``overflow_matrix``, so a projected
service level means exactly what the published one means. ``compute`` and ``overflow_matrix`` are counted in one
pass over the simulated contacts (``figures_of``), equal to the last bit to the pack's functions over the same
contacts as ``Timeline``s (``timelines``), which a test checks.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from figures.definitions import (
    AgentSpan,
    Figures,
    OverflowCell,
    Timeline,
    compute,
    definitions,
    occupancy,
    version_at,
)
from routing.live.base import DEFERRABLE_CHANNELS
from tenants.agreements.terms import DAYS
from whatif.engine import Contact, Outcome
from whatif.scenario import Scenario, real_services

# The figures a comparison shows, in order: (key, label, kind); kind picks the format.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("offered", "Offered", "count"),
    ("answered", "Answered", "count"),
    ("service_level", "Service level", "percent"),
    ("live_service_level", "Service level, live callers", "percent"),
    ("live_asa_seconds", "ASA, live callers", "seconds"),
    ("abandonment_rate", "Abandonment rate", "percent"),
    ("asa_seconds", "ASA", "seconds"),
    ("aht_seconds", "AHT", "seconds"),
    ("occupancy", "Occupancy", "percent"),
    ("longest_wait_seconds", "Longest wait", "seconds"),
    ("overflow_given", "Overflow given", "count"),
    ("overflow_received", "Overflow received", "count"),
)


@dataclass(frozen=True)
class PartnerResult:
    partner: str
    figures: Figures
    occupancy: float | None
    target: float | None  # the lowest service-level target of its services (None: a pool with no services)
    overflow_given: int
    overflow_received: int
    # Phone, face to face and callbacks alone: what blending is for (web forms and emails wait behind them).
    live: Figures | None = None

    def value(self, key: str) -> Any:
        if key.startswith("live_"):
            return None if self.live is None else getattr(self.live, key.removeprefix("live_"))
        if key == "occupancy":
            return self.occupancy
        if key == "overflow_given":
            return self.overflow_given
        if key == "overflow_received":
            return self.overflow_received
        return getattr(self.figures, key)


@dataclass(frozen=True)
class Report:
    name: str
    seed: int
    start: datetime
    end: datetime
    contacts: int
    events: int
    seconds: float
    partners: dict[str, PartnerResult]
    overflow: list[OverflowCell]
    total: Figures
    cost: Cost = field(default_factory=lambda: Cost((), 0.0, 0, 0.0))
    partner_names: dict[str, str] = field(default_factory=dict)

    def name_of(self, slug: str) -> str:
        """The partner's name where a person reads (its slug only when the scenario gives no name)."""
        return self.partner_names.get(slug, slug)

    model: tuple[str, ...] = ()  # how this run modelled blending and proficiency, in words

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "contacts": self.contacts,
            "events": self.events,
            "run_seconds": round(self.seconds, 3),
            "total": asdict(self.total),
            "partners": {
                slug: {
                    **asdict(p.figures),
                    "occupancy": p.occupancy,
                    "target": p.target,
                    "overflow_given": p.overflow_given,
                    "overflow_received": p.overflow_received,
                    "live": None if p.live is None else asdict(p.live),
                }
                for slug, p in self.partners.items()
            },
            "partner_names": dict(self.partner_names),
            "overflow": [asdict(c) for c in self.overflow],
            "cost": asdict(self.cost),
            "model": list(self.model),
        }


@dataclass(frozen=True)
class CostLine:
    """Overflow under one agreement in a run: the lender charges the borrower its unit rate per contact."""

    agreement: str  # its id ("" when no agreement joins the pair)
    lender: str
    borrower: str
    handled: int
    unit_rate: float
    amount: float
    agreement_name: str = ""  # what people call it; for a person to read


@dataclass(frozen=True)
class Cost:
    """What a scenario costs: overflow at the agreed unit rates, and the staff hours its rotas put on shift."""

    lines: tuple[CostLine, ...]
    overflow_amount: float
    overflow_contacts: int
    staff_hours: float


def staff_hours(scenario: Scenario) -> float:
    """Agent hours on shift within the period, day by day on the scenario's local clock (as the engine plans)."""
    spec = scenario.spec
    zone = ZoneInfo(spec.timezone)
    start, end = scenario.start, scenario.end
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    total = 0.0
    while day <= last:
        for shift in spec.rotas:
            if DAYS[day.weekday()] not in shift.days:
                continue
            on = max(start, datetime.combine(day, shift.from_, zone))
            off = min(end, datetime.combine(day, shift.to, zone))
            if off > on:
                total += shift.agents * (off - on).total_seconds() / 3600
        day += timedelta(days=1)
    return round(total, 1)


def cost_of(scenario: Scenario, cells: list[OverflowCell]) -> Cost:
    """Overflow × the agreed unit rate of the agreement between handler (lender) and owner (borrower).

    The simulator records who answered, not under which agreement; when two agreements join the same pair,
    the first in the scenario prices the work (said on the page).
    """
    names = scenario.partner_names
    rates: dict[tuple[str, str], tuple[str, float, str]] = {}
    for a in scenario.spec.agreements:
        # An agreement without a name reads as who helps whom.
        called = a.name or f"{names.get(a.lender, a.lender)} helping {names.get(a.borrower, a.borrower)}"
        rates.setdefault((a.lender, a.borrower), (a.id, a.unit_rate, called))
    lines = []
    for c in cells:
        agreement, rate, called = rates.get((c.handler, c.owner), ("", 0.0, "no agreement"))
        lines.append(
            CostLine(agreement, c.handler, c.owner, c.handled, rate, round(c.handled * rate, 2), called)
        )
    return Cost(
        tuple(lines),
        round(sum(line.amount for line in lines), 2),
        sum(line.handled for line in lines),
        staff_hours(scenario),
    )


def timelines(outcome: Outcome) -> list[Timeline]:
    """Each simulated contact as the committee pack's timeline (handler: the partner whose agent took it)."""
    services = outcome.scenario.services
    start = outcome.start
    ms = timedelta(milliseconds=1)
    thresholds: dict[tuple[str, str], int] = {}
    out: list[Timeline] = []
    append = out.append
    for c in outcome.contacts:
        threshold = thresholds.get((c.owner, c.service))
        if threshold is None:
            threshold = thresholds[(c.owner, c.service)] = services[
                f"{c.owner}/{c.service}"
            ].threshold_seconds
        completed = c.completed_ms
        append(
            Timeline(  # positionally (a million of them): the fields in Timeline's order, up to ``callback``
                c.id,  # enquiry_id
                start + c.arrival_ms * ms,  # queued_at
                None if c.answered_ms is None else start + c.answered_ms * ms,  # answered_at
                None if c.abandoned_ms is None else start + c.abandoned_ms * ms,  # abandoned_at
                threshold,  # threshold_seconds
                c.owner,  # owner
                c.handler,  # handler
                c.service,  # service_code
                c.channel,  # channel
                None if completed is None else start + completed * ms,  # completed_at
                "resolved" if completed is not None else None,  # outcome
                0.0,  # wrap_seconds
                False,  # transferred
                c.callback,  # callback
            )
        )
    return out


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None  # as figures.definitions' own


class _Tally:
    """A group of contacts as ``compute`` counts them, kept in one pass (see ``figures_of``)."""

    __slots__ = (
        "abandoned",
        "answered",
        "callbacks",
        "handles",
        "long_abandoned",
        "longest",
        "offered",
        "waits",
    )

    def __init__(self) -> None:
        self.offered = self.answered = self.abandoned = self.long_abandoned = self.callbacks = 0
        self.waits: list[float] = []  # the answered contacts' waits, in the contacts' order
        self.handles: list[float] = []  # the handled ones' handle times, in order
        self.longest: float | None = None

    def add(self, c: Contact, wait: float | None, short_seconds: float) -> None:
        self.offered += 1
        self.callbacks += c.callback
        if wait is None:
            return
        if self.longest is None or wait > self.longest:
            self.longest = wait
        if c.answered_ms is not None:
            self.answered += 1
            self.waits.append(wait)
            if c.completed_ms is not None:
                # ``Timeline.handle_seconds``: completed - answered, plus wrap_seconds (0.0 here).
                self.handles.append((c.completed_ms - c.answered_ms) / 1000 + 0.0)
        else:
            self.abandoned += 1
            if not wait < short_seconds:
                self.long_abandoned += 1

    def figures(self, within: int, version: str) -> Figures:
        handled = len(self.handles)
        return Figures(
            offered=self.offered,
            answered=self.answered,
            answered_within_threshold=within,
            abandoned=self.abandoned,
            short_abandoned=self.abandoned - self.long_abandoned,
            service_level=_ratio(within, self.answered + self.long_abandoned),
            abandonment_rate=_ratio(self.long_abandoned, self.offered),
            asa_seconds=_ratio(sum(self.waits), self.answered),
            handled=handled,
            aht_seconds=_ratio(sum(self.handles), handled),
            first_contact_resolution=_ratio(handled, handled),  # every completed contact is "resolved"
            longest_wait_seconds=self.longest,
            callbacks=self.callbacks,
            definitions_version=version,
        )


def figures_of(
    outcome: Outcome, contacts: Sequence[Contact] | None = None
) -> tuple[dict[str, Figures], Figures, list[OverflowCell]]:
    """``compute`` per owner and over all, and ``overflow_matrix``, of ``timelines(outcome)``, without building a
    Timeline per contact (most of the figures' time at a million). The same figures to the last bit: the same
    counts, and the same floats (a wait or handle time in whole milliseconds, as ``Timeline`` works it out from
    the datetimes) summed by ``sum`` in the same order. ``compute`` stays the definition: a test holds them equal.
    ``contacts``: a subset of the outcome's (the live callers), in their order."""
    rules = definitions(version_at(outcome.start.astimezone(ZoneInfo(outcome.scenario.spec.timezone))))
    short = rules.short_abandon_seconds
    thresholds: dict[tuple[str, str], int] = {}
    services = outcome.scenario.services
    tallies: dict[str, _Tally] = {}
    within: dict[str, int] = defaultdict(int)
    total = _Tally()
    cells: dict[tuple[str, str], list[int]] = {}
    for c in outcome.contacts if contacts is None else contacts:
        tally = tallies.get(c.owner)
        if tally is None:
            tally = tallies[c.owner] = _Tally()
        # ``Timeline.wait_seconds``: to the answer, or else to hanging up.
        end = c.answered_ms if c.answered_ms is not None else c.abandoned_ms
        wait = None if end is None else (end - c.arrival_ms) / 1000
        tally.add(c, wait, short)
        total.add(c, wait, short)
        if c.answered_ms is not None:
            threshold = thresholds.get((c.owner, c.service))
            if threshold is None:
                threshold = thresholds[(c.owner, c.service)] = services[
                    f"{c.owner}/{c.service}"
                ].threshold_seconds
            ok = wait is not None and wait <= threshold
            within[c.owner] += ok
            if c.handler is not None and c.handler != c.owner:
                cell = cells.setdefault((c.owner, c.handler), [0, 0])
                cell[0] += 1
                cell[1] += ok
    by_owner = {owner: t.figures(within[owner], rules.version) for owner, t in tallies.items()}
    everyone = total.figures(sum(within.values()), rules.version)
    return by_owner, everyone, [OverflowCell(o, h, n, w) for (o, h), (n, w) in sorted(cells.items())]


def build_report(outcome: Outcome, *, seed: int) -> Report:
    scenario = outcome.scenario
    by_owner, total, cells = figures_of(outcome)
    live_contacts = [c for c in outcome.contacts if c.channel not in DEFERRABLE_CHANNELS]
    live_by_owner = (
        by_owner if len(live_contacts) == len(outcome.contacts) else figures_of(outcome, live_contacts)[0]
    )
    targets: dict[str, float] = {}
    for s in real_services(scenario.services).values():
        targets[s.tenant] = min(targets.get(s.tenant, 1.0), s.target)
    partners: dict[str, PartnerResult] = {}
    # Partners with neither contacts nor agents in the run (e.g. left in the definitions folder) are left out.
    involved = {c.owner for c in outcome.contacts} | set(outcome.agent_time)
    for slug in sorted(involved):
        busy, shift = outcome.agent_time.get(slug, (0, 0))
        # Agent time as the pack's spans: handling, and the rest of the shift available.
        span_start = outcome.start
        spans = [
            AgentSpan("*", slug, "busy", span_start, span_start + timedelta(milliseconds=busy)),
            AgentSpan(
                "*", slug, "available", span_start, span_start + timedelta(milliseconds=max(0, shift - busy))
            ),
        ]
        partners[slug] = PartnerResult(
            partner=slug,
            # live callers apart (None: none); the same figures when every contact is live (no second pass)
            live=live_by_owner.get(slug),
            figures=by_owner[slug] if slug in by_owner else compute([]),
            occupancy=occupancy(spans) if shift else None,
            target=targets.get(slug),
            overflow_given=sum(c.handled for c in cells if c.owner == slug),
            overflow_received=sum(c.handled for c in cells if c.handler == slug),
        )
    return Report(
        name=scenario.spec.name or scenario.file,
        seed=seed,
        start=scenario.start,
        end=scenario.end,
        contacts=len(outcome.contacts),
        events=outcome.events,
        seconds=outcome.seconds,
        partners=partners,
        overflow=cells,
        total=total,
        cost=cost_of(scenario, cells),
        partner_names={
            slug: scenario.partner_names[slug] for slug in partners if slug in scenario.partner_names
        },
        model=model_words(scenario),
    )


def model_words(scenario: Scenario) -> tuple[str, ...]:
    """How the run modelled blended work and proficiency (docs/simulator.md), for the page and the CLI."""
    spec = scenario.spec
    if spec.blending is None:
        blending = (
            "Blending off: each agent takes one contact at a time, so a caller waits while an agent finishes "
            "a web form or an email."
        )
    else:
        own = ", ".join(f"{p} {n}" for p, n in sorted(spec.blending.partners.items()))
        blending = (
            f"Blending on, as live: an agent holding up to {spec.blending.deferrable_at_once} web forms or "
            "emails at once" + (f" ({own})" if own else "") + " is still offered a call, visit or callback, "
            "and the forms wait, parked, until it ends."
        )
    best = sorted(k for k, s in real_services(scenario.services).items() if s.agent_choice == "best_skilled")
    rated = [r for r in spec.rotas if r.proficiency or r.handle_factor != 1.0]
    if best:
        proficiency = (
            f"Proficiency: {', '.join(best)} offer{'s' if len(best) == 1 else ''} work to the best-skilled idle "
            "agent (weakest level among the skills needed; unrated 3), then the longest idle"
        )
    else:
        proficiency = "Proficiency: every service offers work to the agent idle longest"
    if rated:
        proficiency += "; " + "; ".join(
            f"{r.agents} {r.partner} agent{'s' if r.agents != 1 else ''} at "
            + (", ".join(f"{k} {v}" for k, v in sorted(r.proficiency.items())) or "unrated skills")
            + (f", handling in ×{r.handle_factor:g} the time" if r.handle_factor != 1.0 else "")
            for r in rated
        )
    return blending, proficiency + "."


def fmt(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "percent":
        return f"{value * 100:.1f} %"
    if kind == "seconds":
        return f"{value:.1f} s"
    return f"{value:,}"


def partner_name(reports: list[Report], slug: str) -> str:
    return next((r.partner_names[slug] for r in reports if slug in r.partner_names), slug)


def _by_name(reports: list[Report], slugs: set[str]) -> list[str]:
    return sorted(slugs, key=lambda slug: (partner_name(reports, slug).lower(), slug))


def comparison_rows(reports: list[Report]) -> list[tuple[str, str, str, list[str]]]:
    """(partner's slug, its name, figure, one cell per report) for every partner any report knows, by name."""
    rows = []
    for partner in _by_name(reports, {p for r in reports for p in r.partners}):
        name = partner_name(reports, partner)
        for key, label, kind in ROWS:
            cells = []
            for r in reports:
                p = r.partners.get(partner)
                cells.append(fmt(p.value(key), kind) if p else "–")
            rows.append((partner, name, label, cells))
    return rows


def rich_table(reports: list[Report]) -> Any:
    from rich.table import Table

    table = Table(title="Projected figures per partner (committee definitions)")
    table.add_column("Partner")
    table.add_column("Figure")
    for r in reports:
        table.add_column(r.name, justify="right")
    if len(reports) == 2:
        table.add_column("Change", justify="right")
    last = None
    for partner, name, label, cells in comparison_rows(reports):
        change = []
        if len(reports) == 2:
            change = [_change(reports, partner, label)]
        table.add_row(name if partner != last else "", label, *cells, *change, end_section=False)
        last = partner
    return table


def _change(reports: list[Report], partner: str, label: str) -> str:
    key, kind = next((k, kind) for k, lab, kind in ROWS if lab == label)
    a, b = (r.partners.get(partner) for r in reports)
    if a is None or b is None:
        return ""
    va, vb = a.value(key), b.value(key)
    if va is None or vb is None:
        return ""
    delta = vb - va
    if kind == "percent":
        return f"{delta * 100:+.1f} pt"
    if kind == "seconds":
        return f"{delta:+.1f} s"
    return f"{delta:+,}"


def chart_png(reports: list[Report]) -> bytes:
    """Service level per partner, one bar per scenario, with each partner's target marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    partners = _by_name(reports, {p for r in reports for p in r.partners if r.partners[p].figures.offered})
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(partners) + 2), 3.6), dpi=100)
    width = 0.8 / max(1, len(reports))
    for i, r in enumerate(reports):
        values = [
            (r.partners[p].figures.service_level or 0.0) * 100 if p in r.partners else 0.0 for p in partners
        ]
        xs = [x + i * width - 0.4 + width / 2 for x in range(len(partners))]
        bars = ax.bar(xs, values, width, label=r.name)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    for x, p in enumerate(partners):
        target = next((r.partners[p].target for r in reports if p in r.partners), None)
        if target is not None:
            ax.hlines(target * 100, x - 0.45, x + 0.45, colors="black", linestyles="dashed", linewidth=1)
    ax.set_xticks(range(len(partners)), [partner_name(reports, p) for p in partners])
    ax.set_ylabel("Service level (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Projected service level (dashed: target)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


@dataclass(frozen=True)
class Decision:
    """What the committee weighs: each scenario's service level beside what it costs, and B's change from A."""

    name: str
    service_level: float | None
    overflow_contacts: int
    overflow_amount: float
    staff_hours: float


def decisions(reports: list[Report]) -> list[Decision]:
    return [
        Decision(
            r.name,
            r.total.service_level,
            r.cost.overflow_contacts,
            r.cost.overflow_amount,
            r.cost.staff_hours,
        )
        for r in reports
    ]


def decision_change(reports: list[Report]) -> dict[str, str] | None:
    """B against A: the service-level gain in points, the extra overflow cost and staff hours (None: one run)."""
    if len(reports) != 2:
        return None
    a, b = decisions(reports)
    gain = (
        None
        if a.service_level is None or b.service_level is None
        else (b.service_level - a.service_level) * 100
    )
    extra = b.overflow_amount - a.overflow_amount
    hours = b.staff_hours - a.staff_hours
    return {
        "service_level": "–" if gain is None else f"{gain:+.1f} pt",
        "overflow_amount": f"{'+' if extra >= 0 else '−'}£{abs(extra):,.2f}",
        "overflow_contacts": f"{b.overflow_contacts - a.overflow_contacts:+,}",
        "staff_hours": f"{hours:+,.1f} h",
    }


_SERIES = ("#1d5fbf", "#e07b00")  # scenario A, scenario B


def chart_svg(reports: list[Report]) -> Markup:
    """The service-level chart as inline SVG: presentation attributes only (no style, no script, no data: URL),
    so the pages' strict Content-Security-Policy lets it show; every number is text a screen reader reads."""
    partners = _by_name(reports, {p for r in reports for p in r.partners if r.partners[p].figures.offered})
    width, height, left, top, bottom = 760, 320, 56, 34, 58
    plot_w, plot_h = width - left - 16, height - top - bottom
    group = plot_w / max(1, len(partners))
    bar = min(70.0, group * 0.8 / max(1, len(reports)))

    def y(percent: float) -> float:
        return top + plot_h * (1 - percent / 100)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" font-family="system-ui, sans-serif" font-size="12">',
        "<title>Projected service level per partner, each scenario, with each partner's target</title>",
    ]
    for tick in (0, 20, 40, 60, 80, 100):
        parts.append(
            f'<line x1="{left}" x2="{width - 16}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#d9dee6"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#5f6b7a">{tick} %</text>'
        )
    for i, r in enumerate(reports):
        lx = left + i * 220
        parts.append(
            f'<rect x="{lx}" y="8" width="12" height="12" fill="{_SERIES[i % 2]}"/>'
            f'<text x="{lx + 18}" y="18">{escape(r.name)}</text>'
        )
    parts.append(
        f'<line x1="{left + len(reports) * 220}" x2="{left + len(reports) * 220 + 24}" y1="14" y2="14" '
        'stroke="#111" stroke-width="2" stroke-dasharray="5 3"/>'
        f'<text x="{left + len(reports) * 220 + 30}" y="18">target</text>'
    )
    for g, partner in enumerate(partners):
        x0 = left + g * group + (group - bar * len(reports)) / 2
        for i, r in enumerate(reports):
            result = r.partners.get(partner)
            level = (result.figures.service_level or 0.0) * 100 if result else 0.0
            x = x0 + i * bar
            parts.append(
                f'<rect class="bar" data-partner="{escape(partner)}" data-scenario="{i}" x="{x:.1f}" '
                f'y="{y(level):.1f}" width="{bar - 4:.1f}" height="{y(0) - y(level):.1f}" fill="{_SERIES[i % 2]}">'
                f"<title>{escape(r.name)}, {escape(partner_name(reports, partner))}: {level:.1f} %</title></rect>"
                f'<text x="{x + (bar - 4) / 2:.1f}" y="{y(level) - 4:.1f}" text-anchor="middle">{level:.1f}</text>'
            )
        target = next((r.partners[partner].target for r in reports if partner in r.partners), None)
        if target is not None:
            parts.append(
                f'<line x1="{x0 - 4:.1f}" x2="{x0 + bar * len(reports):.1f}" y1="{y(target * 100):.1f}" '
                f'y2="{y(target * 100):.1f}" stroke="#111" stroke-width="2" stroke-dasharray="5 3"/>'
            )
        parts.append(
            f'<text x="{left + g * group + group / 2:.1f}" y="{height - bottom + 20}" text-anchor="middle">'
            f"{escape(partner_name(reports, partner))}</text>"
        )
    parts.append(
        f'<line x1="{left}" x2="{width - 16}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#5f6b7a"/>'
        f'<text x="{left}" y="{height - 8}" fill="#5f6b7a">Projected service level (%); dashed: the partner\'s '
        "lowest service target</text></svg>"
    )
    return Markup("".join(parts))
