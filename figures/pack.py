"""The committee's monthly paper: a cover, one summary page across the partners and the hub's pool (each figure
against each service's own target, with the change from last month and the same month last year), a page per
partner and for the pool, and a page on how to read it; as PDF, HTML or CSV (docs/committee.md).

``gather`` reads the figures (``figures.periods.period_figures``: a published month exactly as published); the
renderers are pure and CPU-bound, so the web pages call them off the event loop.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from matplotlib.figure import Figure
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from figures.definitions import DefinitionSet, definitions, figure_name, history, version_for
from figures.periods import (
    PERIOD,
    PeriodError,
    PeriodFigures,
    catalogue_at,
    catalogue_history,
    month_bounds,
    period_figures,
)
from tenants.agreements.service import agreements_as_of
from tenants.models import Service, Tenant

FORMATS = ("pdf", "html", "csv")
MEDIA_TYPES = {"pdf": "application/pdf", "html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8"}
CHART_NAMES = ("services", "trend", "volumes", "channels")
TREND_MONTHS = 13  # this month and the twelve before: the same month last year is the first
AMBER_POINTS = 0.05  # within 5 percentage points below target is "near"
CHANNEL_COLOURS = {
    "phone": "#1f77b4",
    "web": "#2ca02c",
    "email": "#ff7f0e",
    "face_to_face": "#9467bd",
    "callback": "#8c564b",
}
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class Rag(StrEnum):
    """A figure against its target; the word is printed beside the colour, so the paper reads in grey too."""

    MET = "met"
    NEAR = "near"
    MISSED = "missed"
    NONE = "no contacts"


RAG_COLOURS = {Rag.MET: "#2e7d32", Rag.NEAR: "#f9a825", Rag.MISSED: "#c62828", Rag.NONE: "#9e9e9e"}
RAG_FILLS = {Rag.MET: "#dcefdc", Rag.NEAR: "#fff1c2", Rag.MISSED: "#f8d7d7", Rag.NONE: "#eeeeee"}
RAG_LEGEND = (
    (Rag.MET, "green", "at or above the service's own target"),
    (Rag.NEAR, "amber", "below the target by less than 5 percentage points"),
    (Rag.MISSED, "red", "5 percentage points or more below the target"),
    (Rag.NONE, "grey", "nothing answered or abandoned after the short-abandon time: no service level"),
)


def rag(value: float | None, target: float | None) -> Rag:
    if value is None or target is None:
        return Rag.NONE
    if value >= target - 1e-9:
        return Rag.MET
    if value >= target - AMBER_POINTS - 1e-9:
        return Rag.NEAR
    return Rag.MISSED


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} s"


def points(now: float | None, before: float | None) -> str:
    """The change of a rate in percentage points (``–`` when either month has none)."""
    if now is None or before is None:
        return "–"
    return f"{(now - before) * 100:+.1f} pt"


def change(now: int | float, before: int | float | None) -> str:
    """The change of a count in per cent (``–`` when the earlier month had none)."""
    if not before:
        return "–"
    return f"{(now - before) / before * 100:+.0f} %"


def money(value: float) -> str:
    return f"£{value:,.2f}"


def signed_money(value: float) -> str:
    """A net amount: +£4.20 owed to the partner, −£4.20 owed by it."""
    return f"{'−' if value < 0 else '+'}£{abs(value):,.2f}"


def month_name(period: str) -> str:
    return f"{MONTH_NAMES[int(period[5:]) - 1]} {period[:4]}"


def months_back(period: str, count: int) -> list[str]:
    """``count`` months ending with ``period``, oldest first."""
    year, month = int(period[:4]), int(period[5:])
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


@dataclass(frozen=True)
class ServiceTarget:
    code: str
    name: str
    threshold_seconds: int
    target: float


@dataclass(frozen=True)
class Section:
    """One partner's (or the pool's) month, its twelve months before, and its services' own targets."""

    slug: str
    name: str
    kind: str  # partner | pool
    trend: list[PeriodFigures]  # TREND_MONTHS months, oldest first; the last is the paper's month
    services: dict[str, ServiceTarget]  # as the catalogue stood at the end of the paper's month
    # each trend month's services as the catalogue stood at that month's end (a later change re-judges none)
    services_in: dict[str, dict[str, ServiceTarget]] = field(default_factory=dict)

    @property
    def now(self) -> PeriodFigures:
        return self.trend[-1]

    @property
    def last_month(self) -> PeriodFigures | None:
        return self.trend[-2] if len(self.trend) >= 2 else None

    @property
    def last_year(self) -> PeriodFigures | None:
        return self.trend[0] if len(self.trend) == TREND_MONTHS else None

    def target(self, p: PeriodFigures | None = None) -> float | None:
        """The partner's overall target: its services' own targets weighted by the month's offered contacts."""
        month = p or self.now
        services = self.services_in.get(month.period, self.services)
        rows = [r for r in month.by_service if r["service_code"] in services and r["offered"]]
        offered = sum(r["offered"] for r in rows)
        if not offered:
            return None
        return sum(services[r["service_code"]].target * r["offered"] for r in rows) / offered

    def service_name(self, code: str) -> str:
        s = self.services.get(code)
        return s.name if s else code


@dataclass(frozen=True)
class Paper:
    period: str
    generated_at: datetime
    scope: str  # who the paper covers, in words
    sections: list[Section]
    names: dict[str, str] = field(default_factory=dict)  # every tenant's slug to its name
    agreement_names: dict[str, str] = field(default_factory=dict)  # agreement id to what people call it

    @property
    def definitions(self) -> DefinitionSet:
        """The version in force for the month (a section published earlier may keep an older one)."""
        return definitions(version_for(self.period))

    @property
    def history(self) -> list[DefinitionSet]:
        return history()

    def name(self, slug: str) -> str:
        return self.names.get(slug, slug)

    def agreement(self, agreement_id: str) -> str:
        """The agreement's name where a person reads (its id when it has none)."""
        return self.agreement_names.get(agreement_id) or agreement_id


async def gather(
    session: AsyncSession,
    *,
    tenants: Sequence[str],
    period: str,
    now: datetime,
    scope: str | None = None,
    months: int = TREND_MONTHS,
) -> Paper:
    """Each tenant's (by slug) month with the months before it (partners by name, then the pool); ``months=1``
    for a chart that needs the month alone."""
    if not PERIOD.match(period):
        raise PeriodError(f"period must look like 2026-10, not {period!r}")
    found = (await session.scalars(select(Tenant).where(Tenant.slug.in_(list(tenants))))).all()
    ordered = sorted(found, key=lambda t: (t.kind != "partner", t.name))
    wanted = months_back(period, months)
    names = dict((await session.execute(select(Tenant.slug, Tenant.name))).tuples().all())
    # Agreements by the names they had when the month ended (on the latest clock among the paper's partners).
    ends = [month_bounds(period, ZoneInfo(t.timezone or "Europe/London"))[1] for t in ordered]
    as_it_was = await agreements_as_of(
        session, max(ends) if ends else month_bounds(period, ZoneInfo("UTC"))[1]
    )
    agreement_names = {agreement_id: a.name for agreement_id, a in as_it_was.items() if a.name}
    sections = []
    for tenant in ordered:
        rows = (
            await session.execute(
                select(Service.code, Service.name, Service.sl_threshold_seconds, Service.sl_target).where(
                    Service.tenant_slug == tenant.slug
                )
            )
        ).all()
        current = {r.code: ServiceTarget(r.code, r.name, r.sl_threshold_seconds, r.sl_target) for r in rows}
        catalogues = await catalogue_history(session, tenant=tenant.slug)
        zone = ZoneInfo(tenant.timezone or "Europe/London")
        services_in = {
            m: _targets(catalogue_at(catalogues, month_bounds(m, zone)[1]), current) for m in wanted
        }
        trend = [await period_figures(session, tenant=tenant.slug, period=m) for m in wanted]
        sections.append(
            Section(tenant.slug, tenant.name, tenant.kind, trend, services_in[period], services_in)
        )
    if scope is None:
        scope = (
            ordered[0].name
            if len(ordered) == 1
            else "All partners and the hub's shared pool"
            if any(t.kind == "pool" for t in ordered)
            else "All partners"
        )
    return Paper(
        period=period,
        generated_at=now,
        scope=scope,
        sections=sections,
        names=names,
        agreement_names=agreement_names,
    )


def _targets(document: dict[str, Any] | None, current: dict[str, ServiceTarget]) -> dict[str, ServiceTarget]:
    """Each service's name, threshold and target as a catalogue version gave them (none stored: the current)."""
    if document is None:
        return current
    out = {}
    for s in document.get("services") or []:
        level = s.get("service_level") or {}
        out[str(s["code"])] = ServiceTarget(
            str(s["code"]),
            str(s.get("name") or s["code"]),
            int(level.get("answer_within_seconds") or 20),
            float(level.get("target") or 0.8),
        )
    return out


# -- the summary, as rows every format shares ----------------------------------------------------------------


@dataclass(frozen=True)
class SummaryRow:
    section: Section
    offered: int
    offered_vs_month: str
    offered_vs_year: str
    service_level: float | None
    target: float | None
    rag: Rag
    sl_vs_month: str
    sl_vs_year: str
    abandonment_rate: float | None
    asa_seconds: float | None
    occupancy: float | None
    overflow_given: int
    overflow_received: int
    net_recharge: float
    satisfaction: float | None


def _given(p: PeriodFigures) -> int:
    return sum(int(c["handled"]) for c in p.overflow)


def _received(p: PeriodFigures) -> int:
    return sum(int(c["handled"]) for c in p.overflow_received)


def summary_rows(paper: Paper) -> list[SummaryRow]:
    out = []
    for s in paper.sections:
        empty: dict[str, Any] = {"offered": 0, "service_level": None}
        now = s.now.totals
        month = s.last_month.totals if s.last_month else empty
        year = s.last_year.totals if s.last_year else empty
        target = s.target()
        out.append(
            SummaryRow(
                section=s,
                offered=now["offered"],
                offered_vs_month=change(now["offered"], month["offered"]),
                offered_vs_year=change(now["offered"], year["offered"]),
                service_level=now["service_level"],
                target=target,
                rag=rag(now["service_level"], target),
                sl_vs_month=points(now["service_level"], month["service_level"]),
                sl_vs_year=points(now["service_level"], year["service_level"]),
                abandonment_rate=now["abandonment_rate"],
                asa_seconds=now["asa_seconds"],
                occupancy=s.now.occupancy,
                overflow_given=_given(s.now),
                overflow_received=_received(s.now),
                net_recharge=float((s.now.recharge or {}).get("net", 0.0)),
                satisfaction=s.now.satisfaction.get("net_score"),
            )
        )
    return out


@dataclass(frozen=True)
class ServiceRow:
    section: Section
    code: str
    name: str
    threshold_seconds: int | None
    target: float | None
    offered: int
    service_level: float | None
    rag: Rag
    sl_vs_month: str
    sl_vs_year: str
    abandonment_rate: float | None
    asa_seconds: float | None
    figures: dict[str, Any]


def _row(p: PeriodFigures | None, code: str) -> dict[str, Any] | None:
    return None if p is None else next((r for r in p.by_service if r["service_code"] == code), None)


def service_rows(section: Section) -> list[ServiceRow]:
    """Each service with contacts this month, against its own target."""
    out = []
    for r in section.now.by_service:
        code = r["service_code"]
        terms = section.services.get(code)
        month, year = _row(section.last_month, code), _row(section.last_year, code)
        out.append(
            ServiceRow(
                section=section,
                code=code,
                name=section.service_name(code),
                threshold_seconds=terms.threshold_seconds if terms else None,
                target=terms.target if terms else None,
                offered=r["offered"],
                service_level=r["service_level"],
                rag=rag(r["service_level"], terms.target if terms else None),
                sl_vs_month=points(r["service_level"], month["service_level"] if month else None),
                sl_vs_year=points(r["service_level"], year["service_level"] if year else None),
                abandonment_rate=r["abandonment_rate"],
                asa_seconds=r["asa_seconds"],
                figures=r,
            )
        )
    return out


def tiles(p: PeriodFigures) -> list[tuple[str, str]]:
    t = p.totals
    sat = p.satisfaction
    return [
        ("Offered", f"{t['offered']:,}"),
        ("Answered", f"{t['answered']:,}"),
        ("Service level", percent(t["service_level"])),
        ("Abandoned", f"{t['abandoned']:,} ({t['short_abandoned']} short)"),
        ("Abandonment rate", percent(t["abandonment_rate"])),
        ("ASA", seconds(t["asa_seconds"])),
        ("AHT", seconds(t["aht_seconds"])),
        ("First-contact resolution", percent(t["first_contact_resolution"])),
        ("Occupancy", percent(p.occupancy)),
        ("Longest wait", seconds(t["longest_wait_seconds"])),
        ("Callbacks / transfers", f"{t['callbacks']} / {t['transfers']}"),
        ("Avoidable contacts", f"{t['avoidable']}"),
        ("Overflow given / received", f"{_given(p)} / {_received(p)}"),
        (
            "Satisfaction (net)",
            "–" if sat["net_score"] is None else f"{sat['net_score']:+.2f} ({sat['responses']} replies)",
        ),
    ]


# -- charts ---------------------------------------------------------------------------------------------------


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _figure(height: float) -> tuple[Figure, Any]:
    # The object API, never pyplot: charts render in worker threads, and pyplot's state is global.
    fig = Figure(figsize=(10.5, height))
    return fig, fig.subplots()


def chart(section: Section, name: str) -> bytes:
    """One of CHART_NAMES for one section, as PNG, labels horizontal and the full width of a page."""
    if name == "services":
        return _services_chart(section)
    if name == "trend":
        return _trend_chart(section)
    if name == "volumes":
        return _volumes_chart(section.now)
    if name == "channels":
        return _channels_chart(section.now)
    raise ValueError(f"chart must be one of {', '.join(CHART_NAMES)}")


def charts(section: Section) -> dict[str, bytes]:
    return {name: chart(section, name) for name in CHART_NAMES}


def _services_chart(section: Section) -> bytes:
    rows = service_rows(section)
    fig, ax = _figure(max(1.6, 0.42 * len(rows) + 1.0))
    if not rows:
        ax.text(0.5, 0.5, "No contacts of its own this month", ha="center", va="center", fontsize=11)
        ax.set_axis_off()
        return _png(fig)
    labels = [r.name for r in rows][::-1]
    values = [(r.service_level or 0.0) * 100 for r in rows][::-1]
    ordered = rows[::-1]
    ys = list(range(len(rows)))
    ax.barh(
        ys,
        values,
        color=[RAG_FILLS[r.rag] for r in ordered],
        edgecolor=[RAG_COLOURS[r.rag] for r in ordered],
    )
    for y, r in zip(ys, ordered, strict=True):
        if r.target is not None:
            ax.vlines(r.target * 100, y - 0.42, y + 0.42, colors="#111111", linewidth=2)
        label = f"{percent(r.service_level)} {r.rag.value}"
        if r.target is not None:
            label += f" (target {r.target * 100:.0f} % in {r.threshold_seconds} s)"
        ax.text(1, y, label, va="center", fontsize=8.5)
    ax.set_yticks(ys, labels, fontsize=9)
    ax.set_xlim(0, 105)
    ax.set_xlabel("Service level (%); black mark: the service's own target")
    ax.set_title("Service level per service against its own target", loc="left", fontsize=11)
    return _png(fig)


def _trend_chart(section: Section) -> bytes:
    fig, ax = _figure(3.0)
    months = [p.period for p in section.trend]
    labels = [f"{MONTH_NAMES[int(m[5:]) - 1][:3]}\n{m[:4]}" for m in months]
    xs = list(range(len(months)))
    offered = [p.totals["offered"] for p in section.trend]
    received = [_received(p) for p in section.trend]
    ax.bar([x - 0.2 for x in xs], offered, 0.4, color="#9ecae1", label="offered (own contacts)")
    ax.bar([x + 0.2 for x in xs], received, 0.4, color="#bcbddc", label="overflow received")
    ax.set_ylabel("contacts")
    ax.set_xticks(xs, labels, fontsize=8)
    right = ax.twinx()
    levels = [float("nan") if (v := p.totals["service_level"]) is None else v * 100 for p in section.trend]
    right.plot(xs, levels, color="#08519c", marker="o", label="service level")
    targets = [section.target(p) for p in section.trend]
    right.plot(
        xs,
        [float("nan") if t is None else t * 100 for t in targets],
        color="#111111",
        linestyle="--",
        linewidth=1,
        marker="_",
        markersize=14,
        label="target (its services' own, by volume)",
    )
    right.set_ylim(0, 105)
    right.set_ylabel("service level (%)")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=7.5, ncol=4)
    ax.set_title("Thirteen months: contacts and service level", loc="left", fontsize=11)
    ax.set_ylim(0, max([*offered, *received, 1]) * 1.35)
    return _png(fig)


def _days(p: PeriodFigures) -> tuple[list[str], list[dict[str, Any]]]:
    """Every day of the month (days without contacts as zeros), labelled by its number."""
    year, month = int(p.period[:4]), int(p.period[5:])
    count = (date(year + month // 12, month % 12 + 1, 1) - date(year, month, 1)).days
    by_date = {d["date"]: d for d in p.daily}
    empty = {"offered": 0, "answered": 0, "abandoned": 0, "channels": {}}
    days = [by_date.get(f"{p.period}-{day:02d}", empty) for day in range(1, count + 1)]
    return [str(day) for day in range(1, count + 1)], days


def _volumes_chart(p: PeriodFigures) -> bytes:
    fig, ax = _figure(2.6)
    days, daily = _days(p)
    answered = [d["answered"] for d in daily]
    ax.bar(days, answered, label="answered", color="#2ca02c")
    ax.bar(days, [d["abandoned"] for d in daily], bottom=answered, label="abandoned", color="#d62728")
    ax.plot(days, [d["offered"] for d in daily], color="#333333", marker=".", label="offered")
    ax.set_title(f"Contacts per day, {month_name(p.period)}", loc="left", fontsize=11)
    if p.daily:
        ax.legend(loc="upper left", fontsize=7.5, ncol=3)
    else:
        ax.text(0.5, 0.5, "No contacts this month", ha="center", va="center", transform=ax.transAxes)
    ax.tick_params(axis="x", labelsize=8)
    return _png(fig)


def _channels_chart(p: PeriodFigures) -> bytes:
    fig, ax = _figure(2.6)
    days, daily = _days(p)
    bottom = [0] * len(daily)
    for channel, colour in CHANNEL_COLOURS.items():
        values = [d["channels"].get(channel, 0) for d in daily]
        if any(values):
            ax.bar(days, values, bottom=bottom, label=channel.replace("_", " "), color=colour)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title("Channel mix per day (channel shift)", loc="left", fontsize=11)
    if any(bottom):
        ax.legend(loc="upper left", fontsize=7.5, ncol=5)
    else:
        ax.text(0.5, 0.5, "No contacts this month", ha="center", va="center", transform=ax.transAxes)
    ax.tick_params(axis="x", labelsize=8)
    return _png(fig)


# -- HTML -----------------------------------------------------------------------------------------------------

_env = Environment(loader=PackageLoader("figures", "templates"), autoescape=select_autoescape())
_env.filters["percent"] = percent
_env.filters["seconds"] = seconds
_env.filters["money"] = money
_env.filters["signed_money"] = signed_money
_env.globals["month_name"] = month_name
_env.globals["figure_name"] = figure_name
_env.globals["services_of"] = lambda s: service_rows(s)


def fragment(name: str, paper: Paper, section: Section | None = None) -> Markup:
    """A part of the paper (``summary``, ``partner_tables``, ``how_to_read``) for the dashboard to show as is."""
    context: dict[str, Any] = {"paper": paper, "legend": RAG_LEGEND, "summary": summary_rows(paper)}
    if section is not None:
        context |= {"s": section, "p": section.now}
    return Markup(_env.get_template(f"_{name}.html").render(context))


def render_html(paper: Paper) -> str:
    """The paper as one self-contained HTML file (charts inline: it is a download, not one of the hub's pages)."""
    import base64

    return _env.get_template("pack.html").render(
        paper=paper,
        summary=summary_rows(paper),
        legend=RAG_LEGEND,
        fills=RAG_FILLS,
        sections=[
            {
                "s": s,
                "tiles": tiles(s.now),
                "services": service_rows(s),
                "charts": {k: base64.b64encode(v).decode() for k, v in charts(s).items()},
            }
            for s in paper.sections
        ],
    )


# -- CSV ------------------------------------------------------------------------------------------------------

FIGURE_COLUMNS = (
    "offered",
    "answered",
    "answered_within_threshold",
    "abandoned",
    "short_abandoned",
    "service_level",
    "abandonment_rate",
    "asa_seconds",
    "handled",
    "aht_seconds",
    "first_contact_resolution",
    "longest_wait_seconds",
    "callbacks",
    "transfers",
    "avoidable",
)
# The callbacks family's columns (figures.callbacks.CallbackFigures.as_dict), named apart from the contacts'.
CALLBACK_FIELDS = (
    "requested",
    "attempted",
    "answered",
    "missed",
    "retried",
    "given_up",
    "completed",
    "time_to_callback_seconds",
)
CALLBACK_COLUMNS = tuple(f"callbacks_{name}" for name in CALLBACK_FIELDS)
CSV_COLUMNS = (
    "family",
    "partner",
    "partner_name",
    "period",
    "definitions_version",
    "service_code",
    "channel",
    *FIGURE_COLUMNS,
    "target",
    "rag",
    "occupancy",
    "owner",
    "handler",
    "agreement",
    "lender",
    "borrower",
    "unit_rate",
    "amount",
    "owes",
    "owed",
    "net",
    "invited",
    "responses",
    "good",
    "average",
    "poor",
    "net_score",
    *CALLBACK_COLUMNS,
)
CSV_FAMILIES = (
    "service",
    "channel",
    "occupancy",
    "overflow_given",
    "overflow_received",
    "ledger",
    "recharge",
    "satisfaction",
    "callbacks",
)


def csv_rows(paper: Paper) -> Iterable[dict[str, Any]]:
    """Every figure family, one row each; ``service`` rows start with the partner's total (service ``*``)."""
    for s in paper.sections:
        p = s.now
        common = {
            "partner": s.slug,
            "partner_name": s.name,
            "period": p.period,
            "definitions_version": p.definitions_version,
        }
        target = s.target()
        yield {
            "family": "service",
            **common,
            "service_code": "*",
            **p.totals,
            "target": target,
            "rag": rag(p.totals["service_level"], target).value,
        }
        for row in service_rows(s):
            yield {
                "family": "service",
                **common,
                **row.figures,
                "target": row.target,
                "rag": row.rag.value,
            }
        for channel in p.by_channel:
            yield {"family": "channel", **common, **channel}
        yield {"family": "occupancy", **common, "occupancy": p.occupancy}
        for cell in p.overflow:
            yield {"family": "overflow_given", **common, **cell}
        for cell in p.overflow_received:
            yield {"family": "overflow_received", **common, **cell}
        for line in p.ledger:
            yield {"family": "ledger", **common, **line, "handled": line["handled"]}
        yield {"family": "recharge", **common, **(p.recharge or {"owes": 0.0, "owed": 0.0, "net": 0.0})}
        yield {"family": "satisfaction", **common, **p.satisfaction}
        for c in p.callbacks:  # the partner's total first (service "*"), then each service
            yield {
                "family": "callbacks",
                **common,
                "service_code": c["service_code"],
                **{f"callbacks_{name}": c.get(name) for name in CALLBACK_FIELDS},
            }


def render_csv(paper: Paper) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in csv_rows(paper):
        writer.writerow(row)
    return buffer.getvalue()


# -- PDF ------------------------------------------------------------------------------------------------------


def render_pdf(paper: Paper) -> bytes:
    """A4 landscape: the cover, the summary, a page or two per partner and the pool, how to read it."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import (
        Image,
        KeepTogether,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["Normal"], fontSize=8, leading=10)
    cover_title = ParagraphStyle("cover", parent=styles["Title"], fontSize=28, leading=34, spaceAfter=12)
    width = landscape(A4)[0] - 36 * mm
    story: list[Any] = []

    def grid(
        rows: list[list[Any]], widths: list[float] | None = None, extra: list[Any] | None = None
    ) -> Table:
        table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                    ("FONTSIZE", (0, 0), (-1, -1), 8),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                    ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
                    *(extra or []),
                ]
            )
        )
        return table

    def picture(png: bytes, max_height: float, across: float = width) -> Image:
        """A chart as wide as ``across`` allows without growing taller than ``max_height``."""
        w, h = ImageReader(io.BytesIO(png)).getSize()
        scale = min(across / w, max_height / h)
        return Image(io.BytesIO(png), width=w * scale, height=h * scale)

    def rag_cell(value: float | None, verdict: Rag) -> str:
        return f"{percent(value)} {verdict.value}" if verdict is not Rag.NONE else "– no contacts"

    # Cover.
    story.append(Spacer(1, 30 * mm))
    story.append(Paragraph("Joint Committee for the Shared Contact Centre", styles["Heading2"]))
    story.append(Paragraph(f"Monthly performance paper: {month_name(paper.period)}", cover_title))
    story.append(Paragraph(paper.scope, styles["Heading3"]))
    story.append(Spacer(1, 8 * mm))
    in_force = paper.definitions
    published = [s.name for s in paper.sections if s.now.published_at]
    status = (
        f"Published figures for {', '.join(published)}; others may still change."
        if published
        else "Not yet published: the figures may still change until the month is published."
    )
    for line in (
        f"Prepared {paper.generated_at:%d %B %Y} by the shared contact-centre hub.",
        f"Figure definitions: version {in_force.version}, in force from {month_name(in_force.applies_from)}.",
        status,
        "Contents: summary across the partners and the pool; a page for each; how to read this paper.",
    ):
        story.append(Paragraph(line, styles["Normal"]))
    story.append(Spacer(1, 6 * mm))
    story.append(
        grid(
            [["Covered", "Kind", "Definitions", "Status"]]
            + [
                [
                    s.name,
                    "shared pool" if s.kind == "pool" else "partner",
                    s.now.definitions_version,
                    f"published {s.now.published_at[:10]}" if s.now.published_at else "not yet published",
                ]
                for s in paper.sections
            ],
            extra=[("ALIGN", (0, 0), (-1, -1), "LEFT")],
        )
    )
    story.append(PageBreak())

    # Summary.
    story.append(
        Paragraph(f"Summary across the partners and the pool: {month_name(paper.period)}", styles["Heading1"])
    )
    story.append(
        Paragraph(
            "Each service level is judged against the service's own target; a partner's against its services' "
            "targets weighted by their contacts. Changes are from last month and from the same month last year. "
            + " ".join(f"<b>{v.value}</b> ({colour}): {text}." for v, colour, text in RAG_LEGEND),
            small,
        )
    )
    story.append(Spacer(1, 3 * mm))
    rows = summary_rows(paper)
    header = [
        "Partner",
        "Offered",
        "Offered vs last month",
        "Offered vs last year",
        "Service level",
        "Target",
        "Service level vs last month",
        "Service level vs last year",
        "Abandoned",
        "ASA",
        "Occupancy",
        "Overflow given",
        "Overflow received",
        "Net recharge (£)",
        "Satisfaction",
    ]
    body = [
        [
            r.section.name,
            f"{r.offered:,}",
            r.offered_vs_month,
            r.offered_vs_year,
            rag_cell(r.service_level, r.rag),
            percent(r.target),
            r.sl_vs_month,
            r.sl_vs_year,
            percent(r.abandonment_rate),
            seconds(r.asa_seconds),
            percent(r.occupancy),
            f"{r.overflow_given:,}",
            f"{r.overflow_received:,}",
            signed_money(r.net_recharge),
            "–" if r.satisfaction is None else f"{r.satisfaction:+.2f}",
        ]
        for r in rows
    ]
    fills = [
        ("BACKGROUND", (4, i + 1), (4, i + 1), colors.HexColor(RAG_FILLS[r.rag])) for i, r in enumerate(rows)
    ]
    first = [Paragraph(str(c), small) for c in header]
    story.append(grid([first, *body], extra=fills))
    story.append(Spacer(1, 4 * mm))
    story.append(Paragraph("Each service against its own target", styles["Heading3"]))
    services = [r for s in paper.sections for r in service_rows(s)]
    body = [
        [
            r.section.name,
            r.name,
            "–" if r.target is None else f"{r.target * 100:.0f} % in {r.threshold_seconds} s",
            f"{r.offered:,}",
            rag_cell(r.service_level, r.rag),
            r.sl_vs_month,
            r.sl_vs_year,
            percent(r.abandonment_rate),
            seconds(r.asa_seconds),
        ]
        for r in services
    ]
    fills = [
        ("BACKGROUND", (4, i + 1), (4, i + 1), colors.HexColor(RAG_FILLS[r.rag]))
        for i, r in enumerate(services)
    ]
    story.append(
        grid(
            [
                [
                    "Partner",
                    "Service",
                    "Target",
                    "Offered",
                    "Service level",
                    "vs last month",
                    "vs last year",
                    "Abandoned",
                    "ASA",
                ],
                *body,
            ]
            if body
            else [["No contacts this month."]],
            extra=fills,
        )
    )

    # A page (or two) per partner and the pool.
    for s in paper.sections:
        p = s.now
        story.append(PageBreak())
        story.append(Paragraph(f"{s.name}: {month_name(p.period)}", styles["Heading1"]))
        state = f"published {p.published_at[:10]}" if p.published_at else "not yet published (may change)"
        story.append(
            Paragraph(
                f"{'The hub’s shared pool of agents' if s.kind == 'pool' else 'Partner'}; definitions version "
                f"{p.definitions_version}; {state}.",
                small,
            )
        )
        cells = [f"{label}: <b>{value}</b>" for label, value in tiles(p)]
        tile_rows = [
            [Paragraph(c, small) for c in cells[i : i + 5]] + [""] * (5 - len(cells[i : i + 5]))
            for i in range(0, len(cells), 5)
        ]
        story.append(Table(tile_rows, colWidths=[width / 5] * 5))
        story.append(picture(chart(s, "services"), 52 * mm))
        story.append(picture(chart(s, "trend"), 68 * mm))
        half = width / 2 - 2 * mm
        story.append(
            Table(
                [
                    [
                        picture(chart(s, "volumes"), 48 * mm, half),
                        picture(chart(s, "channels"), 48 * mm, half),
                    ]
                ],
                colWidths=[width / 2, width / 2],
            )
        )
        rows_s = service_rows(s)
        if rows_s:
            story.append(Paragraph("By service", styles["Heading3"]))
            story.append(
                grid(
                    [
                        [
                            "Service",
                            "Target",
                            "Offered",
                            "Answered",
                            "Service level",
                            "Abandoned",
                            "ASA",
                            "AHT",
                            "FCR",
                        ],
                        *[
                            [
                                r.name,
                                "–"
                                if r.target is None
                                else f"{r.target * 100:.0f} % in {r.threshold_seconds} s",
                                f"{r.offered:,}",
                                f"{r.figures['answered']:,}",
                                rag_cell(r.service_level, r.rag),
                                f"{r.figures['abandoned']:,}",
                                seconds(r.asa_seconds),
                                seconds(r.figures["aht_seconds"]),
                                percent(r.figures["first_contact_resolution"]),
                            ]
                            for r in rows_s
                        ],
                    ],
                    extra=[
                        ("BACKGROUND", (4, i + 1), (4, i + 1), colors.HexColor(RAG_FILLS[r.rag]))
                        for i, r in enumerate(rows_s)
                    ],
                )
            )
        if p.by_department:
            story.append(Paragraph("By department", styles["Heading3"]))
            story.append(
                grid(
                    [
                        ["Department", "Offered", "Answered", "Service level", "Abandoned", "Avoidable"],
                        *[
                            [
                                r["department"],
                                f"{r['offered']:,}",
                                f"{r['answered']:,}",
                                percent(r["service_level"]),
                                f"{r['abandoned']:,}",
                                f"{r['avoidable']:,}",
                            ]
                            for r in p.by_department
                        ],
                    ]
                )
            )
        if p.callbacks:
            story.append(Paragraph("Callbacks", styles["Heading3"]))
            story.append(
                grid(
                    [
                        [
                            "Service",
                            "Requested",
                            "Rung",
                            "Reached",
                            "Missed",
                            "Retried",
                            "Given up",
                            "Completed",
                            "Time to callback",
                        ],
                        *[
                            [
                                "All services"
                                if c["service_code"] == "*"
                                else s.service_name(c["service_code"]),
                                *(f"{c[name]:,}" for name in CALLBACK_FIELDS[:-1]),
                                seconds(c["time_to_callback_seconds"]),
                            ]
                            for c in p.callbacks
                        ],
                    ]
                )
            )
        story.append(Paragraph("Overflow given (its contacts answered by others)", styles["Heading3"]))
        story.append(
            grid(
                [
                    ["Answered by", "Handled", "Within target"],
                    *[
                        [paper.name(c["handler"]), c["handled"], c["answered_within_threshold"]]
                        for c in p.overflow
                    ],
                ]
            )
            if p.overflow
            else Paragraph("None.", small)
        )
        story.append(
            Paragraph("Overflow received (others' contacts its agents answered)", styles["Heading3"])
        )
        story.append(
            grid(
                [
                    ["Owner", "Handled", "Within target"],
                    *[
                        [paper.name(c["owner"]), c["handled"], c["answered_within_threshold"]]
                        for c in p.overflow_received
                    ],
                ]
            )
            if p.overflow_received
            else Paragraph("None.", small)
        )
        ledger_block: list[Any] = [
            Paragraph(
                "Ledger and net recharge (the lender charges the borrower per contact)", styles["Heading3"]
            )
        ]
        if p.ledger:
            ledger_block.append(
                grid(
                    [
                        ["Agreement", "Lender", "Borrower", "Handled", "Rate", "Amount"],
                        *[
                            [
                                paper.agreement(line["agreement"]),
                                paper.name(line["lender"]),
                                paper.name(line["borrower"]),
                                line["handled"],
                                money(line["unit_rate"]),
                                money(line["amount"]),
                            ]
                            for line in p.ledger
                        ],
                    ]
                )
            )
        else:
            ledger_block.append(Paragraph("No work under an agreement this month.", small))
        recharge = p.recharge or {"owes": 0.0, "owed": 0.0, "net": 0.0}
        ledger_block.append(
            Paragraph(
                f"Owes {money(recharge['owes'])}, is owed {money(recharge['owed'])}: "
                f"net recharge <b>{signed_money(recharge['net'])}</b>.",
                small,
            )
        )
        story.append(KeepTogether(ledger_block))
        sat = p.satisfaction
        story.append(
            KeepTogether(
                [
                    Paragraph("Satisfaction", styles["Heading3"]),
                    Paragraph(
                        f"{sat['invited']} invited, {sat['responses']} replied: {sat['good']} good, {sat['average']} "
                        f"average, {sat['poor']} poor; net score "
                        + ("–" if sat["net_score"] is None else f"{sat['net_score']:+.2f}")
                        + " (good − poor ÷ replies, from −1 to +1).",
                        small,
                    ),
                ]
            )
        )

    # How to read it.
    story.append(PageBreak())
    story.append(Paragraph("How to read this paper", styles["Heading1"]))
    for text in (
        "Every figure counts against the partner that owns the contact, whichever partner’s agent answered it. "
        "Contacts another partner or the hub’s pool answered are the owner’s <b>overflow given</b> and the "
        "answerer’s <b>overflow received</b>; under an agreement the lender charges the borrower the agreed "
        "unit rate for each, shown in the ledger, and the <b>net recharge</b> is what a partner is owed less "
        "what it owes.",
        "Service level is judged against each service’s own target (its share answered within its own "
        "threshold). A partner’s overall target is its services’ targets weighted by this month’s contacts.",
        " ".join(f"<b>{v.value}</b> ({colour}): {text}." for v, colour, text in RAG_LEGEND),
        "“vs last month” and “vs last year” are the change from the month before and from the same month a "
        "year earlier: per cent for counts, percentage points (pt) for rates; – when either month had none.",
        "A month once published is never recomputed: it keeps the definitions it was published with.",
    ):
        story.append(Paragraph(text, styles["Normal"]))
        story.append(Spacer(1, 2 * mm))
    story.append(
        Paragraph(
            f"Definitions in force for {month_name(paper.period)}: version {in_force.version}",
            styles["Heading3"],
        )
    )
    for name, text in in_force.description.items():
        story.append(Paragraph(f"<b>{figure_name(name)}</b>: {text}", small))
    story.append(Paragraph("Definitions history", styles["Heading3"]))
    story.append(
        grid(
            [
                ["Version", "From", "What changed"],
                *[
                    [d.version, month_name(d.applies_from), Paragraph(" ".join(d.changes), small)]
                    for d in paper.history
                ],
            ],
            widths=[25 * mm, 35 * mm, width - 60 * mm],
            extra=[("ALIGN", (0, 0), (-1, -1), "LEFT")],
        )
    )
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        title=f"Joint Committee paper {month_name(paper.period)}",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
    ).build(story)
    return buffer.getvalue()


def render(paper: Paper, fmt: str) -> bytes:
    if fmt == "pdf":
        return render_pdf(paper)
    if fmt == "html":
        return render_html(paper).encode()
    if fmt == "csv":
        return render_csv(paper).encode()
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")
