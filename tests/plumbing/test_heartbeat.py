"""Liveness of the processes without a port: the worker's loop writes the heartbeat file; ``hub alive`` judges it."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from hub.runtime import Hub
from hub.worker import Worker
from plumbing.heartbeat import age_seconds, beat_once
from tests.conftest import eventually


def _alive(path: Path, max_age: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUB_HEARTBEAT_FILE": str(path)}
    hub = str(Path(sys.executable).parent / "hub")
    return subprocess.run(
        [hub, "alive", "--max-age", max_age], env=env, capture_output=True, text=True, timeout=60
    )


def test_hub_alive_passes_on_a_fresh_beat_and_fails_on_a_stale_or_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    assert _alive(path, "30").returncode == 1  # none yet
    beat_once(path)
    assert _alive(path, "30").returncode == 0
    path.write_text(f"{time.time() - 120:.3f}\n")  # a process that stopped beating two minutes ago
    failed = _alive(path, "30")
    assert failed.returncode == 1 and re.search(r"\(1[2-9]\d s ago\)", failed.stderr), failed.stderr


async def test_the_worker_beats_while_it_runs_and_stops_when_it_stops(hub: Hub, tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    hub.settings.heartbeat_file = path
    hub.settings.heartbeat_seconds = 0.2
    worker = Worker(hub)
    task = asyncio.create_task(worker.run())
    try:
        await eventually(lambda: (age := age_seconds(path)) is not None and age < 1, timeout=15)
        first = path.read_text()
        await eventually(lambda: path.read_text() != first, timeout=5)  # it keeps beating
    finally:
        worker.stop.set()
        await asyncio.wait_for(task, timeout=15)
    stopped = path.read_text()
    await asyncio.sleep(0.6)
    assert path.read_text() == stopped  # no beat from a stopped worker
