"""What-if runs as jobs: one request starts a run, any API process reads how far it has got (the scenario,
the simulated time reached, the contacts so far) and then its result or the problem that stopped it.

The run belongs to the process that started it: it reads the replayed arrivals, hands each scenario to a worker
process of its own (whatif/workers.py: A and B at the same time, off this process's GIL) and publishes their
progress. Its state is written to a store every process reads (Redis in production, so two API processes behind one address
serve the same job; a dictionary for the single-process embedded hub). A job not heard from for
``STALE_SECONDS`` reads as failed: the process running it stopped; a worker that dies fails its job at once.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.problems import Problem
from tenants.access import Who
from tenants.catalogue import Catalogue
from whatif.report import Report
from whatif.scenario import ScenarioInvalid
from whatif.service import prepare, reports_of, start_in_pool
from whatif.workers import Running, SimulationPool, WorkerLost, problem_document, problem_of

log = structlog.get_logger(__name__)

KEEP_SECONDS = 3600  # a finished job's result stays readable this long
STALE_SECONDS = (
    30.0  # a running job writes at least every PUBLISH_SECONDS; this long silent, its process stopped
)
PUBLISH_SECONDS = 0.2  # how often a running job's progress is written (a few round trips a second at most)
PROGRESS_EVENTS = (
    1 << 12
)  # the engine reports every this many events: a call per few milliseconds of simulation
MAX_RUNNING = 2  # per process: the simulation takes a core, and the machine serving agents has few

Finish = Callable[[list[Report]], dict[str, Any]]


class JobStore(Protocol):
    async def put(self, job_id: str, state: dict[str, Any]) -> None: ...

    async def get(self, job_id: str) -> dict[str, Any] | None: ...


class MemoryJobStore:
    """The embedded hub's store: one process, so a dictionary (finished jobs expire as in Redis)."""

    def __init__(self) -> None:
        self._jobs: dict[str, tuple[float, dict[str, Any]]] = {}

    async def put(self, job_id: str, state: dict[str, Any]) -> None:
        now = time.monotonic()
        self._jobs = {k: v for k, v in self._jobs.items() if v[0] > now}
        self._jobs[job_id] = (now + KEEP_SECONDS, json.loads(json.dumps(state)))

    async def get(self, job_id: str) -> dict[str, Any] | None:
        held = self._jobs.get(job_id)
        return None if held is None or held[0] <= time.monotonic() else held[1]


class RedisJobStore:
    """Each job one JSON string under ``<prefix>whatif:job:<id>``, expiring ``KEEP_SECONDS`` after its last write."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}whatif:job:"

    async def put(self, job_id: str, state: dict[str, Any]) -> None:
        await self.redis.set(self.prefix + job_id, json.dumps(state), ex=KEEP_SECONDS)

    async def get(self, job_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.prefix + job_id)
        return None if raw is None else dict(json.loads(raw))


def owner_of(who: Who) -> str:
    """Whose job it is: the scope that narrowed its replay (tenants.access), so no one reads a wider result."""
    return f"{who.role}:{who.tenant or '*'}"


class WhatIfJobs:
    """Starts runs in this process and reads any process's from the store."""

    def __init__(
        self, store: JobStore, *, max_running: int = MAX_RUNNING, pool: SimulationPool | None = None
    ) -> None:
        self.store = store
        self.max_running = max_running
        # The worker processes the scenarios run in (none start until the first run).
        self.pool = pool or SimulationPool()
        self._tasks: set[asyncio.Task[None]] = set()
        self._starting = 0  # started, their first state being written: counted against ``max_running`` too

    async def start(
        self,
        texts: list[str],
        *,
        catalogue: Catalogue,
        sessionmaker: async_sessionmaker[AsyncSession],
        seed: int | None,
        who: Who,
        finish: Finish,
        keep: dict[str, Any] | None = None,
    ) -> str:
        """Check the scenarios (a refusal raises before any job exists), then start the run; returns its id.

        ``finish`` turns the reports into what the job keeps as its result; ``keep`` is stored beside it (the
        page keeps the scenarios' text to show them again).
        """
        scenarios = prepare(texts, catalogue=catalogue, who=who)
        running = len(self._tasks) + self._starting
        if running >= self.max_running:
            raise Problem(
                429,
                "whatif_busy",
                f"{running} what-ifs are running on this server; try again when one has finished",
                headers={"Retry-After": "5"},
            )
        job_id = secrets.token_urlsafe(16)
        periods = [
            {"name": s.spec.name or s.file, "start": s.start.isoformat(), "ms": _ms(s.end - s.start)}
            for s in scenarios
        ]
        state: dict[str, Any] = {
            "id": job_id,
            "status": "running",
            "owner": owner_of(who),
            "keep": keep or {},
            "scenarios": periods,
            "scenario": 0,
            "contacts": 0,
            "simulated_ms": 0,
            "percent": 0.0,
            "heard_at": time.time(),
        }
        self._starting += 1
        try:
            await self.store.put(job_id, state)
        finally:
            self._starting -= 1
        task = asyncio.create_task(self._run(state, scenarios, sessionmaker, seed, finish))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job_id

    async def read(self, job_id: str, who: Who) -> dict[str, Any] | None:
        """The job's state, or None when there is none or it is another scope's."""
        state = await self.store.get(job_id)
        if state is None or state.get("owner") != owner_of(who):
            return None
        if state["status"] == "running" and time.time() - float(state["heard_at"]) > STALE_SECONDS:
            state = {
                **state,
                "status": "failed",
                "problem": _lost(worker=False),
            }
        return state

    async def close(self) -> None:
        """Stop the runs (each worker stops at its next progress call) and the worker processes."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pool.close()

    async def _run(
        self,
        state: dict[str, Any],
        scenarios: list[Any],
        sessionmaker: async_sessionmaker[AsyncSession],
        seed: int | None,
        finish: Finish,
    ) -> None:
        job_id = state["id"]
        running: list[Running] = []
        try:
            # The arrivals are read here (the database is the server's); each scenario starts in a worker as
            # soon as its are read, so A and B run at the same time, each in a process of its own.
            running = await start_in_pool(
                self.pool, scenarios, sessionmaker=sessionmaker, seed=seed, progress_every=PROGRESS_EVENTS
            )
            outcomes = asyncio.gather(*(r.outcome() for r in running))
            published: list[tuple[int, int]] = []
            while not outcomes.done():
                await asyncio.wait({outcomes}, timeout=PUBLISH_SECONDS)
                if outcomes.done():
                    break
                now = [r.progress() for r in running]
                if now != published or time.time() - state["heard_at"] > STALE_SECONDS / 3:
                    published = now
                    await self.store.put(job_id, _advanced(state, now))
            ran = outcomes.result()
            reports = reports_of(ran)
            await self.store.put(
                job_id,
                {**state, **_final(state, ran[-1].contacts), "status": "done", "result": finish(reports)},
            )
        except WorkerLost:
            log.error("whatif.worker_lost", job=job_id)
            await self.store.put(job_id, {**state, "status": "failed", "problem": _lost(worker=True)})
        except Exception as exc:  # every failure is the job's answer, not the server's
            if not isinstance(exc, (ScenarioInvalid, Problem, ValueError)):
                log.exception("whatif.job_failed", job=job_id)
            await self.store.put(job_id, {**state, "status": "failed", "problem": problem_of(exc)})
        finally:
            for r in running:
                r.stop()  # cancelled, or one scenario failed: the others stop too (a no-op for those done)


def _lost(*, worker: bool) -> dict[str, Any]:
    """``whatif_lost``: the server, or the worker process, running the job stopped before it finished."""
    which = "the worker process running this what-if" if worker else "the server running this what-if"
    return problem_document(500, "whatif_lost", f"{which} stopped before it finished; start it again")


def _ms(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)


def _advanced(state: dict[str, Any], now: list[tuple[int, int]]) -> dict[str, Any]:
    """The state with the progress ``now`` (contacts, simulated ms for each scenario, as far as each has got).

    ``percent`` is the mean of the scenarios' shares of their simulated periods; ``scenario``, ``contacts`` and
    ``simulated_ms`` are the furthest behind's (the first of them on a tie), so the page's line says what the
    member is still waiting for.
    """
    periods = state["scenarios"]
    shares = []
    for i, period in enumerate(periods):
        total = max(1, period["ms"])
        shares.append(min(now[i][1], total) / total if i < len(now) else 0.0)
    behind = shares.index(min(shares))
    contacts, simulated_ms = now[behind] if behind < len(now) else (0, 0)
    state.update(
        scenario=behind,
        contacts=contacts,
        simulated_ms=simulated_ms,
        percent=round(100.0 * sum(shares) / len(periods), 1),
        heard_at=time.time(),
    )
    return state


def _final(state: dict[str, Any], contacts: int) -> dict[str, Any]:
    last = len(state["scenarios"]) - 1
    return {
        "scenario": last,
        "contacts": contacts,  # the last scenario's, as the engine counted them at its end
        "simulated_ms": state["scenarios"][last]["ms"],
        "percent": 100.0,
        "heard_at": time.time(),
    }
