"""Benchmark: one million simulated contacts through the live policy and the in-memory live state.

    python bench/simulate.py [--contacts 1000000] [--runs 1] [--profile] [--no-check]

The scenario is the example partners (deploy/examples) with Chorley, South Ribble and the hub's pool, every
day round the clock, the evening and daytime overflow agreements in force, so every arrival goes through
``decide`` and the lenders' gates are ticked. Prints the wall time per run (median when several), the CPU time
and the machine's load average beside it (the machine is shared: wall time depends on what else runs) and, with
``--profile``, the top functions by own time (cProfile). Then it checks the fingerprint of 20,000 contacts (every
contact, decision, gate and figure) against the code before issue 23's speed-ups, and fails if it changed. It
says whether the simulator ran compiled (``python -m plumbing.compiled build``) or as pure Python
(``WHATIF_PURE_PYTHON=1``). Figures are recorded in docs/simulator.md.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plumbing import compiled  # noqa: E402
from whatif.engine import Engine  # noqa: E402
from whatif.report import build_report  # noqa: E402
from whatif.run import collector_paused  # noqa: E402
from whatif.scenario import parse_scenario  # noqa: E402

# Calls per half hour per stream; 9 streams at 25 → 225 per half hour, 10,800 a day.
SCENARIO = """
name: bench
seed: 11
period: {{start: 2026-01-05T00:00:00Z, end: {end}}}
partners_from: {examples}
handle_time: {{distribution: exponential, mean_seconds: 240}}
patience: {{distribution: exponential, mean_seconds: 300}}
arrivals:
  - {{partner: chorley, service: general, per_interval: 25}}
  - {{partner: chorley, service: missed-bin, per_interval: 25}}
  - {{partner: chorley, service: council-tax, per_interval: 25}}
  - {{partner: chorley, service: flytipping, per_interval: 25}}
  - {{partner: south-ribble, service: general, per_interval: 25}}
  - {{partner: south-ribble, service: missed-bin, per_interval: 25}}
  - {{partner: south-ribble, service: housing-benefit, per_interval: 25}}
  - {{partner: south-ribble, service: parking-permit, per_interval: 25}}
  - {{partner: lancashire, service: pothole, per_interval: 25}}
rotas:
  - {{partner: chorley, agents: 24, skills: [general, waste, revenues, environment]}}
  - {{partner: south-ribble, agents: 24, skills: [general, waste, benefits, parking, environment]}}
  - {{partner: lancashire, agents: 6, skills: [general, highways]}}
  - {{partner: hub, agents: 4, skills: [general, waste, revenues, benefits, highways, parking, environment]}}
agreements:
  - {{id: south-ribble-lends-chorley, lender: south-ribble, borrower: chorley, services: [general, missed-bin],
     conditions: {{waited_at_least_seconds: 60}}, caps: {{per_hour: 30, concurrent: 2}}, lender_protection: 0.8}}
  - {{id: hub-evenings-chorley, lender: hub, borrower: chorley, channels: [phone],
     hours: [{{days: [mon, tue, wed, thu, fri, sat, sun], from: "18:00", to: "22:00"}}], caps: {{concurrent: 2}}}}
  - {{id: hub-backs-up-lancashire, lender: hub, borrower: lancashire, conditions: {{waited_at_least_seconds: 10}},
     caps: {{per_hour: 120, concurrent: 2}}}}
"""


def scenario_for(contacts: int):  # type: ignore[no-untyped-def]
    from datetime import datetime, timedelta

    days = contacts / (9 * 25 * 48)
    end = datetime(2026, 1, 5, tzinfo=__import__("datetime").UTC) + timedelta(days=days)
    text = SCENARIO.format(end=end.isoformat(), examples=ROOT / "deploy" / "examples")
    return parse_scenario(text, "bench")


# ``fingerprint(20_000)`` of the code before issue 23's speed-ups (main at 1a89bf7): every change since must keep it.
FINGERPRINT_20K = ("5e4553392067884fe7e6e381d7dea9587535385a9a982dd7e2c6f86c9fe18c4e", 20114)


def fingerprint(contacts: int) -> tuple[str, int]:
    """A sha256 over everything a run does, and the number of contacts: every contact's times, handler and flags,
    every decision's ``as_dict()`` (read after ``decide`` returned), every gate's agreement, queue, openness and
    reasons, and the report's figures. A speed-up must leave it unchanged (docs/simulator.md)."""
    digest = hashlib.sha256()
    decisions = []
    gate_lists = []
    scenario = scenario_for(contacts)
    engine = Engine(scenario)
    decide, gates = engine.decide, engine.gates

    def traced_decide(*args):  # type: ignore[no-untyped-def]
        decision = decide(*args)
        decisions.append(decision)
        return decision

    def traced_gates(*args):  # type: ignore[no-untyped-def]
        found = gates(*args)
        gate_lists.append(found)
        return found

    engine.decide, engine.gates = traced_decide, traced_gates
    with collector_paused():
        outcome = engine.run()
        report = build_report(outcome, seed=scenario.spec.seed)
    for c in outcome.contacts:
        digest.update(
            repr(
                (
                    c.id,
                    c.owner,
                    c.service,
                    c.channel,
                    c.arrival_ms,
                    c.handle_ms,
                    c.patience_ms,
                    c.answered_ms,
                    c.abandoned_ms,
                    c.completed_ms,
                    c.handler,
                    c.callback,
                    c.voicemail,
                )
            ).encode()
        )
    for d in decisions:
        digest.update(repr(d.as_dict()).encode())
    for found in gate_lists:
        for g in found:
            digest.update(
                repr((g.agreement, g.borrower_queue, g.open, [r.as_dict() for r in g.reasons])).encode()
            )
    figures = report.as_dict()
    figures.pop("run_seconds")
    # What a report says in words (names, agreements' names, how blending was modelled) and the live callers' figures (the same
    # counts as the partner's when every contact is live) came after the hash was first taken: not hashed.
    for words in ("partner_names", "model"):
        figures.pop(words, None)
    for partner in figures["partners"].values():
        partner.pop("live", None)
    figures["cost"]["lines"] = tuple(
        {k: v for k, v in line.items() if k != "agreement_name"} for line in figures["cost"]["lines"]
    )
    digest.update(repr(figures).encode())
    return digest.hexdigest(), len(outcome.contacts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--json", action="store_true", help="one JSON line of the results on stdout, the rest on stderr"
    )
    parser.add_argument(
        "--no-check", action="store_true", help="skip the fingerprint check (20,000 contacts)"
    )
    args = parser.parse_args()
    stdout = sys.stdout
    if args.json:  # `python -m bench` reads that one line
        sys.stdout = sys.stderr
    scenario = scenario_for(args.contacts)
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"machine: {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; "
        f"simulator {compiled.status()} (python -m plumbing.compiled build)"
    )
    times: list[float] = []
    cpu_times: list[float] = []
    for i in range(args.runs):
        load_before = os.getloadavg()[0]
        began, cpu_began = time.perf_counter(), time.process_time()
        with collector_paused():  # as ``hub simulate`` runs it
            outcome = Engine(scenario).run()
            simulated, cpu_simulated = time.perf_counter() - began, time.process_time() - cpu_began
            report = build_report(outcome, seed=scenario.spec.seed)
        total, cpu_used = time.perf_counter() - began, time.process_time() - cpu_began
        times.append(total)
        cpu_times.append(cpu_used)
        sl = {p: r.figures.service_level for p, r in report.partners.items()}
        print(
            f"run {i + 1}: {len(outcome.contacts):,} contacts, {outcome.events:,} events: "
            f"simulation {simulated:.1f} s + figures {total - simulated:.1f} s = {total:.1f} s "
            f"({len(outcome.contacts) / total:,.0f} contacts/s; "
            f"CPU {cpu_simulated:.1f} + {cpu_used - cpu_simulated:.1f} = {cpu_used:.1f} s; "
            f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after); "
            f"SL {', '.join(f'{p} {v:.1%}' for p, v in sl.items() if v is not None)}"
        )
    print(f"median: {statistics.median(times):.1f} s for {args.contacts:,} contacts")
    if not args.no_check:
        found = fingerprint(20_000)
        same = found == FINGERPRINT_20K
        print(
            f"fingerprint of 20,000 contacts (every contact, decision, gate and figure): {found[0][:16]}… "
            f"{'unchanged' if same else 'CHANGED (was ' + FINGERPRINT_20K[0][:16] + '…)'}"
        )
        if not same:
            sys.exit(1)
    if args.json:
        result = {"contacts": len(outcome.contacts), "events": outcome.events, "runs": args.runs}
        result |= {"seconds": statistics.median(times), "simulation_seconds": simulated}
        result |= {"cpu_seconds": statistics.median(cpu_times), "compiled": compiled.status()}
        print(json.dumps(result | {"load_average": os.getloadavg()[0]}), file=stdout, flush=True)
    if args.profile:
        small = scenario_for(min(args.contacts, 50_000))
        profiler = cProfile.Profile()
        profiler.enable()
        build_report(Engine(small).run(), seed=1)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        print(out.getvalue())


if __name__ == "__main__":
    main()
