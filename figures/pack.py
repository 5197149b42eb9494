"""The committee pack: per-partner pages with charts, tables and the definitions used, as PDF, HTML or CSV."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display here or on servers

import matplotlib.pyplot as plt
from jinja2 import Environment, PackageLoader, select_autoescape

from figures.definitions import definitions
from figures.periods import PeriodFigures

FORMATS = ("pdf", "html", "csv")
MEDIA_TYPES = {"pdf": "application/pdf", "html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8"}
CHANNEL_COLOURS = {
    "phone": "#1f77b4",
    "web": "#2ca02c",
    "email": "#ff7f0e",
    "face_to_face": "#9467bd",
    "callback": "#8c564b",
}

_env = Environment(loader=PackageLoader("figures", "templates"), autoescape=select_autoescape())


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} s"


_env.filters["percent"] = percent
_env.filters["seconds"] = seconds


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
        (
            "Satisfaction (net)",
            "–" if sat["net_score"] is None else f"{sat['net_score']:+.2f} ({sat['responses']} replies)",
        ),
    ]


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def charts(p: PeriodFigures) -> dict[str, bytes]:
    """Daily volumes, daily service level against target, and the channel mix (channel shift)."""
    days = [d["date"][5:] for d in p.daily]
    out: dict[str, bytes] = {}

    fig, ax = plt.subplots(figsize=(7.5, 2.6))
    ax.bar(days, [d["answered"] for d in p.daily], label="answered", color="#2ca02c")
    ax.bar(
        days,
        [d["abandoned"] for d in p.daily],
        bottom=[d["answered"] for d in p.daily],
        label="abandoned",
        color="#d62728",
    )
    ax.plot(days, [d["offered"] for d in p.daily], color="#333333", marker=".", label="offered")
    ax.set_title("Contacts per day")
    ax.legend(loc="upper left", fontsize=7)
    ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    out["volumes"] = _png(fig)

    fig, ax = plt.subplots(figsize=(7.5, 2.4))
    levels = [
        float("nan") if d["service_level"] is None else float(d["service_level"]) * 100 for d in p.daily
    ]
    ax.plot(days, levels, marker="o", color="#1f77b4")
    ax.axhline(80, color="#999999", linestyle="--", linewidth=1, label="80 % target")
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title("Service level per day")
    ax.legend(loc="lower left", fontsize=7)
    ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    out["service_level"] = _png(fig)

    fig, ax = plt.subplots(figsize=(7.5, 2.4))
    bottom = [0] * len(p.daily)
    for channel, colour in CHANNEL_COLOURS.items():
        values = [d["channels"].get(channel, 0) for d in p.daily]
        if any(values):
            ax.bar(days, values, bottom=bottom, label=channel, color=colour)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title("Channel mix per day")
    if any(bottom):
        ax.legend(loc="upper left", fontsize=7, ncol=5)
    ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    out["channels"] = _png(fig)
    return out


def render_html(pages: Sequence[PeriodFigures]) -> str:
    template = _env.get_template("pack.html")
    return template.render(
        pages=[
            {
                "p": p,
                "tiles": tiles(p),
                "charts": {k: base64.b64encode(v).decode() for k, v in charts(p).items()},
                "definitions": definitions(p.definitions_version),
            }
            for p in pages
        ]
    )


CSV_COLUMNS = (
    "partner",
    "period",
    "definitions_version",
    "service_code",
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


def render_csv(pages: Sequence[PeriodFigures]) -> str:
    """One row per partner and service, plus a total row (service_code ``*``) per partner."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for p in pages:
        common = {"partner": p.tenant, "period": p.period, "definitions_version": p.definitions_version}
        writer.writerow({**common, "service_code": "*", **p.totals})
        for row in p.by_service:
            writer.writerow({**common, **row})
    return buffer.getvalue()


def render_pdf(pages: Sequence[PeriodFigures]) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    story: list[Any] = []
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
            ("FONTSIZE", (0, 0), (-1, -1), 7.5),
        ]
    )
    for index, p in enumerate(pages):
        if index:
            story.append(PageBreak())
        story.append(Paragraph(f"{p.tenant} — {p.period}", styles["Title"]))
        published = (
            f"published {p.published_at[:10]}" if p.published_at else "not yet published (figures may change)"
        )
        story.append(
            Paragraph(f"Definitions version {p.definitions_version}; {published}.", styles["Normal"])
        )
        story.append(Spacer(1, 4 * mm))
        tile_rows = tiles(p)
        story.append(Table([[k, v] for k, v in tile_rows], colWidths=[60 * mm, 60 * mm], style=grid))
        for png in charts(p).values():
            story.append(Spacer(1, 3 * mm))
            story.append(Image(io.BytesIO(png), width=170 * mm, height=52 * mm))
        story.append(PageBreak())
        story.append(Paragraph("By department", styles["Heading2"]))
        departments = [
            [
                r["department"],
                r["offered"],
                r["answered"],
                percent(r["service_level"]),
                r["abandoned"],
                r["avoidable"],
            ]
            for r in p.by_department
        ]
        story.append(
            Table(
                [["department", "offered", "answered", "SL", "abandoned", "avoidable"], *departments],
                style=grid,
            )
        )
        story.append(Paragraph("By service", styles["Heading2"]))
        header = ["service", "offered", "answered", "SL", "abandoned", "ASA", "AHT", "FCR"]
        rows = [
            [
                r["service_code"],
                r["offered"],
                r["answered"],
                percent(r["service_level"]),
                r["abandoned"],
                seconds(r["asa_seconds"]),
                seconds(r["aht_seconds"]),
                percent(r["first_contact_resolution"]),
            ]
            for r in p.by_service
        ]
        story.append(Table([header, *rows], style=grid))
        story.append(Paragraph("Overflow (handled by another partner)", styles["Heading2"]))
        overflow = [
            [c["owner"], c["handler"], c["handled"], c["answered_within_threshold"]] for c in p.overflow
        ]
        story.append(
            Table([["owner", "handler", "handled", "within target"], *overflow], style=grid)
            if overflow
            else Paragraph("None.", styles["Normal"])
        )
        story.append(
            Paragraph(
                "Overflow ledger (the lender charges the borrower per contact handled)", styles["Heading2"]
            )
        )
        ledger_rows = [
            [
                line["agreement"],
                line["lender"],
                line["borrower"],
                line["handled"],
                f"£{line['unit_rate']:.2f}",
                f"£{line['amount']:,.2f}",
            ]
            for line in p.ledger
        ]
        story.append(
            Table(
                [["agreement", "lender", "borrower", "handled", "rate", "amount"], *ledger_rows], style=grid
            )
            if ledger_rows
            else Paragraph("No work under an agreement in this period.", styles["Normal"])
        )
        recharge = p.recharge or {"owes": 0.0, "owed": 0.0, "net": 0.0}
        story.append(
            Paragraph(
                f"Recharge statement: owes £{recharge['owes']:,.2f}, is owed £{recharge['owed']:,.2f}, net £{recharge['net']:+,.2f}.",
                styles["Normal"],
            )
        )
        story.append(Paragraph(f"Definitions used ({p.definitions_version})", styles["Heading2"]))
        for name, text in definitions(p.definitions_version).description.items():
            story.append(Paragraph(f"<b>{name}</b>: {text}", styles["Normal"]))
    if not pages:
        story.append(Paragraph("No partners in this pack.", styles["Normal"]))
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer, pagesize=A4, title="Committee pack", leftMargin=18 * mm, rightMargin=18 * mm
    ).build(story)
    return buffer.getvalue()


def render(pages: Sequence[PeriodFigures], fmt: str) -> bytes:
    if fmt == "pdf":
        return render_pdf(pages)
    if fmt == "html":
        return render_html(pages).encode()
    if fmt == "csv":
        return render_csv(pages).encode()
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")
