"""What a run shows: the committee pack's per-partner figures, computed by the pack's own definitions.

Simulated contacts become ``figures.definitions.Timeline``s and go through ``compute``, ``occupancy`` and
``overflow_matrix`` unchanged, so a projected service level means exactly what the published one means.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from figures.definitions import (
    AgentSpan,
    Figures,
    OverflowCell,
    Timeline,
    compute,
    occupancy,
    overflow_matrix,
)
from whatif.engine import Outcome
from whatif.scenario import real_services

# The figures a comparison shows, in order: (key, label, kind); kind picks the format.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("offered", "Offered", "count"),
    ("answered", "Answered", "count"),
    ("service_level", "Service level", "percent"),
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

    def value(self, key: str) -> Any:
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
                }
                for slug, p in self.partners.items()
            },
            "overflow": [asdict(c) for c in self.overflow],
        }


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


def build_report(outcome: Outcome, *, seed: int) -> Report:
    scenario = outcome.scenario
    lines = timelines(outcome)
    by_owner: dict[str, list[Timeline]] = defaultdict(list)
    for t in lines:
        by_owner[t.owner].append(t)
    cells = overflow_matrix(lines)
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
            figures=compute(by_owner.get(slug, [])),
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
        total=compute(lines),
    )


def fmt(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "percent":
        return f"{value * 100:.1f} %"
    if kind == "seconds":
        return f"{value:.1f} s"
    return f"{value:,}"


def comparison_rows(reports: list[Report]) -> list[tuple[str, str, list[str]]]:
    """(partner, figure, one cell per report) for every partner any report knows."""
    partners = sorted({p for r in reports for p in r.partners})
    rows = []
    for partner in partners:
        for key, label, kind in ROWS:
            cells = []
            for r in reports:
                p = r.partners.get(partner)
                cells.append(fmt(p.value(key), kind) if p else "–")
            rows.append((partner, label, cells))
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
    for partner, label, cells in comparison_rows(reports):
        change = []
        if len(reports) == 2:
            change = [_change(reports, partner, label)]
        table.add_row(partner if partner != last else "", label, *cells, *change, end_section=False)
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

    partners = sorted({p for r in reports for p in r.partners if r.partners[p].figures.offered})
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
    ax.set_xticks(range(len(partners)), partners)
    ax.set_ylabel("Service level (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Projected service level (dashed: target)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
