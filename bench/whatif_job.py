"""Benchmark: a month's what-if as the web page runs it, two scenarios, in a thread then in worker processes.

    python bench/whatif_job.py [--contacts 300000] [--rounds 1]

Scenario A is bench/simulate.py's partnership for as many days as give ``--contacts`` (300,000: about 28 days),
B the same with one more agent on each rota. Each round runs the pair three ways, as ``whatif.service.
run_prepared`` does with the job's progress every 4,096 events: ``thread`` (one after the other in a thread of
this process, as the job did before issue 23's worker processes), ``cold`` (a new pool of worker processes,
spawned for the run, as the first run after the server starts) and ``warm`` (a pool already started, as once the
page was opened). Meanwhile a coroutine on this process's event loop sleeps 10 ms again and again and records how
late it wakes: what a request to the same process waits for the loop (and the GIL). Prints the wall time, the CPU time (this process's
and, for a cold pool, its workers' from their start to their end; not for the warm pool, still running), the
loop's lateness (median and worst) and the load average before and after each run; figures are recorded in
docs/simulator.md and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.simulate import SCENARIO  # noqa: E402
from plumbing import compiled  # noqa: E402
from whatif.scenario import Scenario, parse_scenario  # noqa: E402
from whatif.service import run_prepared  # noqa: E402
from whatif.workers import SimulationPool  # noqa: E402

PROGRESS_EVENTS = 1 << 12  # as whatif/jobs.py asks


def pair(contacts: int) -> list[Scenario]:
    from datetime import UTC, datetime, timedelta

    days = contacts / (9 * 25 * 48)
    end = datetime(2026, 1, 5, tzinfo=UTC) + timedelta(days=days)
    text = SCENARIO.format(end=end.isoformat(), examples=ROOT / "deploy" / "examples")
    more = text.replace("agents: 24,", "agents: 25,").replace("agents: 6,", "agents: 7,")
    more = more.replace("agents: 4,", "agents: 5,")
    assert more != text
    return [parse_scenario(text, "scenario A"), parse_scenario(more, "scenario B")]


async def one(scenarios: list[Scenario], pool: SimulationPool | None) -> dict[str, Any]:
    late: list[float] = []
    done = False

    async def probe() -> None:
        while not done:
            began = time.perf_counter()
            await asyncio.sleep(0.01)
            late.append(time.perf_counter() - began - 0.01)

    load = os.getloadavg()[0]
    watcher = asyncio.create_task(probe())
    began = time.perf_counter()
    reports = await run_prepared(
        scenarios,
        # No replay in these scenarios: nothing is read from a database.
        sessionmaker=None,  # type: ignore[arg-type]
        seed=11,
        progress=(lambda i, c, ms: None) if pool is None else None,
        progress_every=PROGRESS_EVENTS,
        pool=pool,
    )
    wall = time.perf_counter() - began
    done = True
    await watcher
    return {
        "wall": wall,
        "contacts": [r.contacts for r in reports],
        "late_median_ms": statistics.median(late) * 1000,
        "late_max_ms": max(late) * 1000,
        "load": (load, os.getloadavg()[0]),
    }


def _cpu() -> tuple[float, float]:
    """CPU seconds (user and system) of this process, and of its children that have ended."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=None,
        help="added to the workers' niceness (the server's is 10); 0 to compare with the thread on a machine whose "
        "other work runs niced too, where +10 would measure the others' share rather than the pool",
    )
    args = parser.parse_args()
    scenarios = pair(args.contacts)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"simulator {compiled.status()}, this process's niceness {os.nice(0)}, the workers' "
        f"+{args.worker_nice if args.worker_nice is not None else 10}"
    )
    nice = {} if args.worker_nice is None else {"nice": args.worker_nice}
    warm = SimulationPool(**nice)
    warm.warm()
    await asyncio.sleep(5)  # its workers have imported the simulator
    try:
        for r in range(args.rounds):
            for how in ("thread", "cold", "warm"):
                cold = SimulationPool(**nice) if how == "cold" else None
                pool = {"thread": None, "cold": cold, "warm": warm}[how]
                before = _cpu()
                try:
                    got = await one(scenarios, pool)
                finally:
                    if cold is not None:
                        await (
                            cold.close()
                        )  # its workers end: their CPU time is counted as this process's children's
                spent = [after - then for after, then in zip(_cpu(), before, strict=True)]
                # The warm pool's workers are still alive: their CPU time is not counted yet.
                cpu = f"{spent[0] + spent[1]:.1f} s" if how != "warm" else "–"
                print(
                    f"round {r + 1} {how:6}: {got['wall']:6.2f} s wall, CPU {cpu}, contacts {got['contacts']}, "
                    f"loop late median {got['late_median_ms']:.1f} ms, worst {got['late_max_ms']:.1f} ms, "
                    f"load {got['load'][0]:.2f} → {got['load'][1]:.2f}",
                    flush=True,
                )
    finally:
        await warm.close()


if __name__ == "__main__":
    asyncio.run(main())
