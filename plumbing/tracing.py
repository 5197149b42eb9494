"""Where a slow request's time went: each step's wall time, logged for the requests over a threshold.

The HTTP app opens a ``Steps`` per request (``hub.api.app.RequestContext``); code on the way marks the end of each
step it takes (``mark("locked")``). A request slower than ``HUB_TRACE_SLOW_MS`` is logged as ``request.slow``
with every step's milliseconds, the process's CPU time over the request (near the wall time: the event loop was
busy, with this request or others; far below it: waiting on the database or Redis), the garbage collector's
pauses in that time and the requests in flight when it began. Marks cost a ``perf_counter`` call each.
"""

from __future__ import annotations

import gc
import time
from contextvars import ContextVar
from typing import Any

import structlog

log = structlog.get_logger(__name__)

_current: ContextVar[Steps | None] = ContextVar("hub_request_steps", default=None)


class _Collector:
    """The garbage collector's pauses so far (milliseconds, and full collections), from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.paused_ms = 0.0
        self.full = 0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.paused_ms += (time.perf_counter() - self._began) * 1000
            self.full += info.get("generation") == 2


_COLLECTOR = _Collector()
_in_flight = 0


def watch_collector() -> None:
    """Count the collector's pauses (once per process; a slow request's line reports those in its time)."""
    if _COLLECTOR not in gc.callbacks:
        gc.callbacks.append(_COLLECTOR)


class Steps:
    """One request's steps: ``mark(name)`` ends the step named, timed from the previous mark."""

    __slots__ = ("began", "cpu", "gc_full", "gc_ms", "in_flight", "last", "marks")

    def __init__(self) -> None:
        self.began = self.last = time.perf_counter()
        self.marks: list[tuple[str, float]] = []
        self.cpu = time.process_time()
        self.gc_ms, self.gc_full = _COLLECTOR.paused_ms, _COLLECTOR.full
        self.in_flight = _in_flight

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.marks.append((name, (now - self.last) * 1000))
        self.last = now

    def report(self, slow_ms: float, **context: Any) -> float:
        """Log the steps if the request took ``slow_ms`` or more; returns its milliseconds."""
        self.mark("respond")
        total = (self.last - self.began) * 1000
        if slow_ms and total >= slow_ms:
            log.warning(
                "request.slow",
                ms=round(total, 1),
                steps=" | ".join(f"{name} {ms:.1f}" for name, ms in self.marks),
                cpu_ms=round((time.process_time() - self.cpu) * 1000, 1),
                gc_ms=round(_COLLECTOR.paused_ms - self.gc_ms, 1),
                gc_full=_COLLECTOR.full - self.gc_full,
                in_flight=self.in_flight,
                **context,
            )
        return total


def begin() -> Steps:
    """Open this context's steps (one per request)."""
    global _in_flight
    _in_flight += 1
    steps = Steps()
    _current.set(steps)
    return steps


def end(steps: Steps, slow_ms: float, **context: Any) -> None:
    global _in_flight
    _in_flight -= 1
    steps.report(slow_ms, **context)
    _current.set(None)


def mark(name: str) -> None:
    """End the current request's step ``name`` (nothing outside a traced request)."""
    steps = _current.get()
    if steps is not None:
        steps.mark(name)
