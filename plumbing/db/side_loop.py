"""A second event loop, in a thread of its own with connections of its own, for heavy read-only work; and a
process for pure CPU work (charts, PDF).

Figures, charts and packs can take hundreds of milliseconds of Python; on the main loop that time is taken from
every agent's request on the same process. Work handed to ``SideLoop.run`` runs there instead: the main loop only
awaits its result (docs/figures.md). The caller's partner scope (plumbing.db.scope) goes with the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from plumbing.db.scope import current_scope, set_scope
from plumbing.db.session import create_engine, create_sessionmaker

T = TypeVar("T")
RENDER_NICENESS = (
    10  # added to the render process's niceness: the agents' process and the database come first
)
Work = Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]


class SideLoop:
    """Started on first use; ``close`` stops it. Its engine keeps a small pool: this is for a few heavy readers."""

    def __init__(self, url: str, *, pool_size: int = 2, name: str = "side-loop") -> None:
        self._url, self._pool_size, self._name = url, pool_size, name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._lock = threading.Lock()
        self._processes: ProcessPoolExecutor | None = None

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is not None:
                return self._loop
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                pool = (
                    {}
                    if self._url.startswith("sqlite")
                    else {"pool_size": self._pool_size, "max_overflow": 0}
                )
                self._engine = create_engine(self._url, pool_pre_ping=True, **pool)
                self._sessionmaker = create_sessionmaker(self._engine)
                ready.set()
                loop.run_forever()

            self._thread = threading.Thread(target=serve, name=self._name, daemon=True)
            self._thread.start()
            ready.wait()
            self._loop = loop
            return loop

    async def run(self, work: Work[T]) -> T:
        """``await work(sessionmaker)`` on the side loop, under the caller's partner scope."""
        loop = self._start()
        scope = current_scope()

        async def scoped() -> T:
            set_scope(scope or None)  # this task's own context: nothing leaks to the next piece of work
            assert self._sessionmaker is not None
            return await work(self._sessionmaker)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(scoped(), loop))

    async def compute(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a separate process: pure CPU work (charts, PDF) that would otherwise hold this
        process's interpreter lock, and with it every request on it, for its whole length. Arguments and result
        are pickled; the process is started on first use and reused."""
        with self._lock:
            if self._processes is None:
                # spawned, not forked: this process runs threads and event loops a fork would copy half-way.
                # Niced: on a machine of few cores a render (a second of matplotlib) otherwise takes the core an
                # agent's request is ready to run on; traced, the agents' loop steps waited 3-8 ms for a CPU with
                # under 1 ms of work each while a pack rendered (docs/figures.md).
                self._processes = ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_lower_priority,
                    initargs=(RENDER_NICENESS,),
                )
            processes = self._processes
        return await asyncio.get_running_loop().run_in_executor(processes, function, *args)

    async def close(self) -> None:
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)
            self._processes = None
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._engine is not None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._engine.dispose(), loop))
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, 10)
        loop.close()
        self._loop = self._thread = None


def _lower_priority(increment: int) -> None:
    """In the render process, before any work: yield the CPU to the processes that serve requests."""
    with contextlib.suppress(OSError):  # not allowed here (some sandboxes): render at the same priority
        os.nice(increment)
