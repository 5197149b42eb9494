"""What-if scenarios simulated in worker processes, so a month's run neither holds the web process's GIL (the
agents' requests on the same process come first) nor waits for the other scenario (A and B run at once).

The pool is started on the first run and kept: at most ``WORKERS`` processes, started with "spawn" (never a
fork of the running async server: its threads, connections and event loop would be copied half-way through),
each lowering its own priority (``NICE``) before its first run. What crosses to a worker is plain data: the
scenario (frozen dataclasses and pydantic models), the recorded arrivals as tuples (the engine's ``Contact`` may
be a compiled class), and back comes ``Ran``: the report, or the problem document that stopped it.

Progress goes the other way through shared memory: a slot per scenario in flight, four integers each (contacts
so far, simulated ms so far, a stop flag the server sets, the worker's pid). The worker writes it from the
engine's ``progress`` callback; the server reads it whenever it publishes. A stop flag set makes the callback
raise, so a cancelled job or a closing server frees its worker within a few milliseconds of simulation.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import structlog

from plumbing.problems import Problem
from whatif.engine import Contact
from whatif.report import Report
from whatif.scenario import Scenario, ScenarioInvalid

log = structlog.get_logger(__name__)

WORKERS = 2  # the machine serving agents has few cores; a job's two scenarios take both
NICE = 10  # added to each worker's niceness: the agents' requests (the server's own threads) come first
CLOSE_SECONDS = 10.0  # how long ``close`` waits for the workers to stop (each stops within ms once told)

# Scenarios in flight at once: two jobs of two scenarios, and a few stopped ones whose workers have not yet
# noticed (a slot is free again only once its worker has returned).
SLOTS = 8

CONTACTS, SIMULATED_MS, STOP, PID = range(4)  # a slot's fields
FIELDS = 4

# id, owner, service, channel, arrival ms, handle ms, patience ms: what ``Contact`` is built from
Arrival = tuple[int, str, str, str, int, int, float]


@dataclass(frozen=True)
class Ran:
    """One scenario's outcome as a worker returns it: plain data that pickles whatever the engine is built as."""

    report: Report | None
    problem: dict[str, Any] | None  # the problem document when the run raised (``problem_of``)
    trace: str | None  # the worker's traceback for the server's log, when the error was not the scenario's
    contacts: int  # as the engine counted them at its end (its last progress call)
    pid: int
    niceness: int
    compiled: bool  # whether the worker ran the compiled engine (plumbing.compiled)
    started: float  # wall clock (time.time()) at the run's start and end in the worker
    finished: float


class Stopped(Exception):
    """Raised inside a worker's run when the server set its slot's stop flag."""


def as_plain(arrivals: Sequence[Contact] | None) -> list[Arrival] | None:
    """The recorded arrivals as tuples: cheaper to pickle than objects, and the same whether compiled or not."""
    if arrivals is None:
        return None
    return [(c.id, c.owner, c.service, c.channel, c.arrival_ms, c.handle_ms, c.patience_ms) for c in arrivals]


def problem_of(exc: Exception) -> dict[str, Any]:
    """The problem document (RFC 9457 members, as ``plumbing.problems`` writes them) a failed job reports."""
    if isinstance(exc, ScenarioInvalid):
        detail = exc.problems[0] if exc.problems else "the scenario was refused"
        return problem_document(422, "scenario_invalid", detail, problems=exc.problems)
    if isinstance(exc, Problem):
        return problem_document(exc.status, exc.code, exc.detail, **exc.extensions)
    if isinstance(exc, ValueError):
        return problem_document(422, "scenario_invalid", str(exc), problems=[str(exc)])
    return problem_document(500, "whatif_failed", "the run stopped with an error; it is in the server's log")


def problem_document(status: int, code: str, detail: str, **extensions: Any) -> dict[str, Any]:
    return {
        "type": f"urn:hub:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extensions,
    }


# -- in the worker -----------------------------------------------------------------------------------------

_slots: Any = None  # the shared array handed to the initializer


def _start_worker(slots: Any, nice: int) -> None:
    """Each worker once: keep the slots, step back behind the server, and import the engine before any run."""
    global _slots
    _slots = slots
    os.nice(nice)
    # A server killed outright (SIGKILL, out of memory) runs no ``close``, and a worker waiting for its next run
    # would wait for ever (it holds both ends of the pool's queue): it leaves when its parent is gone.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_leave_with, args=(parent.sentinel,), daemon=True).start()
    import whatif.run  # noqa: F401  (the first run should not pay for the imports; the compiled guard runs here)


def _leave_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)  # no clean-up to run: the run's state is the dead server's, and nothing here is durable


def _ready() -> None:
    """Nothing: submitted to start a worker ahead of its first run."""


def _run_in_worker(
    slot: int, scenario: Scenario, seed: int | None, arrivals: list[Arrival] | None, progress_every: int
) -> Ran:
    from whatif import engine
    from whatif.run import collector_paused, simulate

    slots = _slots
    base = slot * FIELDS
    slots[base + PID] = os.getpid()
    last = [0]

    def progress(contacts: int, simulated_ms: int) -> None:
        slots[base + CONTACTS] = contacts
        slots[base + SIMULATED_MS] = simulated_ms
        last[0] = contacts
        if slots[base + STOP]:
            raise Stopped

    started = time.time()
    report: Report | None = None
    problem: dict[str, Any] | None = None
    trace: str | None = None
    try:
        contacts = None if arrivals is None else [engine.Contact(*a) for a in arrivals]
        # A process of its own: pausing the cycle collector is safe here, and a sixth quicker (whatif.run).
        with collector_paused():
            report = simulate(
                scenario, seed=seed, arrivals=contacts, progress=progress, progress_every=progress_every
            )
    except Stopped:
        problem = {"code": "whatif_stopped"}
    except (
        Exception
    ) as exc:  # the error goes back as data: not every exception pickles (``Problem`` does not)
        problem = problem_of(exc)
        if problem["status"] >= 500:
            trace = traceback.format_exc()
    return Ran(
        report=report,
        problem=problem,
        trace=trace,
        contacts=last[0],
        pid=os.getpid(),
        niceness=os.nice(0),
        compiled=not engine.__file__.endswith(".py") if engine.__file__ else False,
        started=started,
        finished=time.time(),
    )


# -- in the server -----------------------------------------------------------------------------------------


class WorkerLost(Exception):
    """The worker process running a scenario stopped (killed, out of memory) before it answered."""


@dataclass
class Running:
    """A scenario handed to a worker: its slot's progress while it runs, and its outcome."""

    pool: SimulationPool
    slot: int
    future: asyncio.Future[Ran]

    def progress(self) -> tuple[int, int]:
        """(contacts so far, simulated ms so far), as the worker last wrote them."""
        base = self.slot * FIELDS
        return int(self.pool.slots[base + CONTACTS]), int(self.pool.slots[base + SIMULATED_MS])

    def pid(self) -> int:
        """The worker's pid once it has started this scenario (0 while it waits for one)."""
        return int(self.pool.slots[self.slot * FIELDS + PID])

    def stop(self) -> None:
        """Tell the worker to stop this scenario at its next progress call (its outcome is then dropped)."""
        self.pool.slots[self.slot * FIELDS + STOP] = 1

    async def outcome(self) -> Ran:
        """The worker's answer; ``WorkerLost`` when the process died under it."""
        try:
            return await self.future
        except BrokenProcessPool as exc:
            raise WorkerLost(str(exc)) from exc


class SimulationPool:
    """The worker processes and their progress slots; one per server process, started on its first run."""

    def __init__(self, *, workers: int = WORKERS, slots: int = SLOTS, nice: int = NICE) -> None:
        self.workers = workers
        self.nice = nice
        context = multiprocessing.get_context("spawn")
        self._context = context
        # Unlocked: each slot has one writer (its worker), and a torn read between two fields is harmless.
        self.slots: Any = context.RawArray("q", slots * FIELDS)
        self._free = set(range(slots))
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=self._context,
                initializer=_start_worker,
                initargs=(self.slots, self.nice),
            )
        return self._executor

    def start(
        self,
        scenario: Scenario,
        *,
        seed: int | None,
        arrivals: list[Arrival] | None,
        progress_every: int,
    ) -> Running:
        """Hand the scenario to a worker (it waits for a free one); the caller must await ``outcome()``."""
        if not self._free:
            raise RuntimeError("no progress slot free: more scenarios in flight than the pool was sized for")
        slot = min(self._free)
        self._free.discard(slot)
        base = slot * FIELDS
        for field in range(FIELDS):
            self.slots[base + field] = 0
        executor = self._pool()
        try:
            done: Future[Ran] = executor.submit(
                _run_in_worker, slot, scenario, seed, arrivals, progress_every
            )
        except BrokenProcessPool:
            # A worker died since the last run: the executor is finished; start a new one for this run.
            self._forget(executor)
            executor = self._pool()
            done = executor.submit(_run_in_worker, slot, scenario, seed, arrivals, progress_every)
        loop = asyncio.get_running_loop()

        def release(f: Future[Ran]) -> None:
            # On the executor's thread, once the worker has returned (or the run was dropped before it began):
            # only then is the slot no one's, so a worker still finishing never writes into another run's.
            with contextlib.suppress(RuntimeError):  # the server's loop has closed: no run will follow
                loop.call_soon_threadsafe(self._release, slot, executor, f)

        done.add_done_callback(release)
        future = asyncio.wrap_future(done, loop=loop)
        return Running(self, slot, future)

    def warm(self) -> None:
        """Start the workers now, without waiting for them (the page does when a member opens it: a spawned
        worker takes a second or two to import the simulator, better spent while the member edits)."""
        if self._executor is not None:
            return  # started already (idle, or busy with runs: nothing to gain from queueing more)
        executor = self._pool()
        with contextlib.suppress(BrokenProcessPool):
            for _ in range(self.workers):
                executor.submit(_ready)

    def pids(self) -> list[int]:
        """The worker processes running a scenario now (for the log, and the tests that kill one)."""
        in_use = set(range(len(self.slots) // FIELDS)) - self._free
        return sorted({int(self.slots[s * FIELDS + PID]) for s in in_use} - {0})

    def _release(self, slot: int, executor: ProcessPoolExecutor, done: Future[Ran]) -> None:
        self._free.add(slot)
        if not done.cancelled() and isinstance(done.exception(), BrokenProcessPool):
            self._forget(executor)  # a worker died: the next run starts new ones

    def _forget(self, executor: ProcessPoolExecutor) -> None:
        if self._executor is executor:
            self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        """Stop every run (the stop flags) and the workers, waiting at most ``CLOSE_SECONDS``."""
        for slot in range(len(self.slots) // FIELDS):
            self.slots[slot * FIELDS + STOP] = 1
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            await asyncio.wait_for(
                asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True), CLOSE_SECONDS
            )
        except TimeoutError:
            log.warning("whatif.workers_not_stopped", seconds=CLOSE_SECONDS)
