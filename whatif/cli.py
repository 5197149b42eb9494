"""``hub simulate`` and ``hub erlang`` (registered in ``hub/cli.py``)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from routing.policy.erlang import ErlangC, agents_for, offered_load

if TYPE_CHECKING:
    from whatif.engine import Contact
    from whatif.scenario import Scenario


def simulate_command(
    scenario: Annotated[Path, typer.Argument(help="A scenario YAML file")],
    compare: Annotated[
        Path | None, typer.Option("--compare", help="A second scenario, shown side by side")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the scenario's `seed:`)")] = None,
    output: Annotated[
        Path | None, typer.Option(help="Folder for report JSON, the comparison table and chart")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON")] = False,
) -> None:
    """Simulate a period through the live routing policy; print each partner's projected figures."""
    import asyncio

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from whatif.report import Report, chart_png, rich_table
    from whatif.run import collector_paused, simulate
    from whatif.scenario import ScenarioInvalid, load_scenario

    console = Console(stderr=True)
    try:
        scenarios = [load_scenario(p) for p in [scenario, *([compare] if compare else [])]]
    except ScenarioInvalid as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from None

    reports: list[Report] = []
    for s in scenarios:
        arrivals = None
        if s.spec.replay is not None:
            arrivals = asyncio.run(_replayed(s, seed))
        total_ms = int((s.end - s.start).total_seconds() * 1000)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}% · {task.fields[contacts]:,} contacts"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=as_json or not console.is_terminal,
        ) as bar:
            task = bar.add_task(s.spec.name or str(s.file), total=total_ms, contacts=0)

            said = _said_by_quarter(
                s.spec.name or str(s.file), total_ms, piped=not as_json and not console.is_terminal
            )

            def advance(
                contacts: int, ms: int, task: TaskID = task, said: Callable[[int, int], None] = said
            ) -> None:
                bar.update(task, completed=ms, contacts=contacts)
                said(contacts, ms)

            with collector_paused():
                report = simulate(s, seed=seed, arrivals=arrivals, progress=advance)
        reports.append(report)

    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in reports], indent=2, default=str))
    else:
        out = Console()
        out.print(rich_table(reports))
        for r in reports:
            out.print(
                f"{r.name}: {r.contacts:,} contacts, {r.events:,} events in {r.seconds:.1f} s (seed {r.seed})",
                soft_wrap=True,  # a line is a line, piped or not: never folded at the console's width
            )
            for words in r.model:  # how blending and proficiency were modelled
                out.print(f"  {words}", highlight=False, soft_wrap=True)
            # What the change costs, as the committee's page shows it: by agreement and partner name.
            cost = r.cost
            out.print(
                f"  costs: {cost.overflow_contacts:,} contacts overflowed, £{cost.overflow_amount:,.2f} at the "
                f"agreed rates; {cost.staff_hours:,.1f} staff hours on the rotas",
                highlight=False,
                soft_wrap=True,
            )
            for line in cost.lines:
                out.print(
                    f"    {line.agreement_name}: {r.name_of(line.lender)} answered {line.handled:,} for "
                    f"{r.name_of(line.borrower)} at £{line.unit_rate:.2f} = £{line.amount:,.2f}",
                    highlight=False,
                    soft_wrap=True,
                )
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        for i, r in enumerate(reports):
            (output / f"report-{i + 1}.json").write_text(json.dumps(r.as_dict(), indent=2, default=str))
        (output / "comparison.png").write_bytes(chart_png(reports))
        with (output / "comparison.txt").open("w") as f:
            Console(file=f, width=140).print(rich_table(reports))
        typer.echo(f"wrote {output}/report-*.json, comparison.txt and comparison.png", err=True)


async def _replayed(scenario: Scenario, seed: int | None) -> list[Contact]:
    """The recorded period's contacts, from the database at HUB_DATABASE_URL."""
    from plumbing.db.session import create_engine, create_sessionmaker
    from plumbing.settings import get_settings
    from whatif.run import load_arrivals

    engine = create_engine(get_settings().effective_database_url)
    try:
        return await load_arrivals(scenario, create_sessionmaker(engine), seed=seed) or []
    finally:
        await engine.dispose()


def erlang_command(
    calls: Annotated[float, typer.Option("--calls", help="Calls offered in the interval")],
    interval_seconds: Annotated[float, typer.Option("--interval-seconds", help="Length of the interval")],
    aht_seconds: Annotated[float, typer.Option("--aht-seconds", help="Average handle time")],
    agents: Annotated[int | None, typer.Option("--agents", help="Agents on the phones")] = None,
    target_seconds: Annotated[float, typer.Option("--target-seconds", help="Answer within T s")] = 20.0,
    target_level: Annotated[
        float, typer.Option("--target-level", help="Service level to reach (0–1), without --agents")
    ] = 0.8,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as a JSON object")] = False,
) -> None:
    """Erlang C (docs/design.md, "Figures"): P(wait), SL(T), ASA and occupancy for N agents, or the fewest agents for a target."""
    problems = []
    if calls < 0:
        problems.append("--calls cannot be negative")
    if interval_seconds <= 0:
        problems.append("--interval-seconds must be more than 0")
    if aht_seconds <= 0:
        problems.append("--aht-seconds must be more than 0")
    if target_seconds < 0:
        problems.append("--target-seconds cannot be negative")
    if not 0 < target_level < 1:
        problems.append("--target-level must be between 0 and 1 (0.8 for 80 %)")
    if agents is not None and agents <= 0:
        problems.append("--agents must be at least 1")
    if problems:
        for p in problems:
            typer.echo(f"error: {p}", err=True)
        raise typer.Exit(2)
    rate = calls / interval_seconds
    load = offered_load(rate, aht_seconds)
    if agents is None:
        agents = agents_for(
            arrivals_per_second=rate,
            aht_seconds=aht_seconds,
            within_seconds=target_seconds,
            target=target_level,
        )
    elif load >= agents:
        typer.echo(
            f"error: the load is {load:.2f} erlangs, at or over {agents} agents: the queue grows without end "
            f"(at least {math.floor(load) + 1} agents are needed)",
            err=True,
        )
        raise typer.Exit(2)
    figures = ErlangC.of(
        agents=agents, arrivals_per_second=rate, aht_seconds=aht_seconds, within_seconds=target_seconds
    )
    result = {
        "agents": agents,
        "load_erlangs": figures.load,
        "p_wait": figures.p_wait,
        "service_level": figures.service_level,
        "asa_seconds": figures.asa_seconds,
        "occupancy": figures.load / agents,
        "target_seconds": target_seconds,
    }
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"agents          {agents}")
    typer.echo(f"load            {figures.load:.2f} erlangs")
    typer.echo(f"P(wait)         {figures.p_wait:.3f}")
    typer.echo(f"SL({target_seconds:g} s)       {figures.service_level * 100:.1f} %")
    typer.echo(f"ASA             {figures.asa_seconds:.1f} s")
    typer.echo(f"occupancy       {figures.load / agents * 100:.1f} %")


def _said_by_quarter(name: str, total_ms: int, *, piped: bool) -> Callable[[int, int], None]:
    """Off a terminal (piped, in a log): a plain line at each quarter of the period, not a redrawn bar."""
    last = [0]

    def say(contacts: int, ms: int) -> None:
        quarter = 4 * ms // max(total_ms, 1)
        if piped and quarter > last[0]:
            last[0] = quarter
            typer.echo(f"simulating {name}: {25 * quarter}% ({contacts:,} contacts)", err=True)

    return say
