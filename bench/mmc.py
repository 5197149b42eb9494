"""A bare SimPy M/M/c: the yardstick the what-if simulator is measured beside (issue 23).

    python -m bench.mmc [--contacts 1000000] [--json]

Poisson arrivals, exponential handling, c agents, first come first served and, optionally, callers who hang up
after an exponential patience. It routes nothing: one queue, one pool, no partners, no agreements, no figures.
By default it has the size of `bench/simulate.py`'s scenario lumped into one queue: 9 streams of 25 calls a
half hour (0.125 a second), 240 s handling, 300 s patience, 24 + 24 + 6 + 4 = 58 agents. Times the run (wall
clock and CPU, imports left out), so `python -m bench` can print the simulator's time beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass
from typing import Any

import simpy

ARRIVAL_RATE = 9 * 25 / 1800  # calls a second: 9 streams of 25 a half hour
SERVERS = 24 + 24 + 6 + 4  # the scenario's rotas
MEAN_HANDLE_SECONDS = 240.0
MEAN_PATIENCE_SECONDS = 300.0


@dataclass(frozen=True)
class MmcRun:
    contacts: int
    answered: int
    abandoned: int
    mean_wait_seconds: float  # of those answered
    waited_share: float  # share of those answered who waited at all
    wall_seconds: float
    cpu_seconds: float


def run(
    contacts: int,
    *,
    servers: int = SERVERS,
    arrival_rate: float = ARRIVAL_RATE,
    mean_handle_seconds: float = MEAN_HANDLE_SECONDS,
    mean_patience_seconds: float | None = MEAN_PATIENCE_SECONDS,
    seed: int = 11,
) -> MmcRun:
    """Run ``contacts`` callers through c agents; ``mean_patience_seconds`` None: nobody hangs up."""
    env = simpy.Environment()
    agents = simpy.Resource(env, capacity=servers)
    rng = random.Random(seed)
    totals = {"answered": 0, "abandoned": 0, "waited": 0}
    wait_sum = 0.0

    def caller() -> Generator[Any, Any, None]:
        nonlocal wait_sum
        arrived = env.now
        with agents.request() as request:
            if mean_patience_seconds is None:
                yield request
            else:
                hung_up = env.timeout(rng.expovariate(1 / mean_patience_seconds))
                if request not in (yield request | hung_up):
                    totals["abandoned"] += 1
                    return  # leaving the `with` withdraws the request from the queue
            waited = env.now - arrived
            totals["answered"] += 1
            totals["waited"] += waited > 0
            wait_sum += waited
            yield env.timeout(rng.expovariate(1 / mean_handle_seconds))

    def arrivals() -> Generator[Any, Any, None]:
        for _ in range(contacts):
            yield env.timeout(rng.expovariate(arrival_rate))
            env.process(caller())

    began, cpu_began = time.perf_counter(), time.process_time()
    env.process(arrivals())
    env.run()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    answered = totals["answered"]
    return MmcRun(
        contacts=contacts,
        answered=answered,
        abandoned=totals["abandoned"],
        mean_wait_seconds=wait_sum / answered if answered else 0.0,
        waited_share=totals["waited"] / answered if answered else 0.0,
        wall_seconds=wall,
        cpu_seconds=cpu,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--servers", type=int, default=SERVERS)
    parser.add_argument("--no-abandonment", action="store_true", help="nobody hangs up")
    parser.add_argument("--json", action="store_true", help="print one JSON line of the results")
    args = parser.parse_args()
    result = run(
        args.contacts,
        servers=args.servers,
        mean_patience_seconds=None if args.no_abandonment else MEAN_PATIENCE_SECONDS,
    )
    if args.json:
        print(json.dumps({**asdict(result), "load_average": os.getloadavg()[0]}), flush=True)
    else:
        print(
            f"{result.contacts:,} contacts through {args.servers} agents: {result.wall_seconds:.1f} s "
            f"(CPU {result.cpu_seconds:.1f} s, load average {os.getloadavg()[0]:.2f}); "
            f"{result.answered:,} answered, {result.abandoned:,} abandoned, "
            f"mean wait {result.mean_wait_seconds:.1f} s"
        )


if __name__ == "__main__":
    main()
