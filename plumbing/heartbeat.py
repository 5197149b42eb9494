"""Liveness for processes without an HTTP port (``hub worker``, ``hub adapters run``): a heartbeat file.

The process's event loop rewrites the file every few seconds; ``hub alive --max-age N`` (the probe of
deploy/compose.yaml and deploy/k8s/) fails when the file is older than N seconds: a loop blocked or a process
wedged stops the beat, and the orchestrator restarts it. See docs/operations.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path


def beat_once(path: Path) -> None:
    """Write the time, atomically (a probe never reads half a file)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(f"{time.time():.3f}\n")
    partial.replace(path)


async def beat(path: Path, every_seconds: float = 5.0) -> None:
    """Beat until cancelled; a failed write is tried again at the next beat (the probe judges the age)."""
    while True:
        with contextlib.suppress(OSError):
            beat_once(path)
        await asyncio.sleep(every_seconds)


def age_seconds(path: Path) -> float | None:
    """Seconds since the last beat, or None when there has been none."""
    try:
        return max(0.0, time.time() - float(path.read_text().strip()))
    except (OSError, ValueError):
        return None
