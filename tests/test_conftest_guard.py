"""The suite's own guard (tests/conftest.py): a ``hub`` process left running by a test is seen."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import _hub_children


def test_a_hub_worker_child_is_seen_and_other_children_are_not() -> None:
    # Stand-ins that only sleep, named as ``python -m hub.cli worker`` and as any other child would be.
    worker = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "-m", "hub.cli", "worker"]
    )
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "other"])
    try:
        children = _hub_children()
        assert worker.pid in children and "hub.cli worker" in children[worker.pid]
        assert other.pid not in children
    finally:
        for process in (worker, other):
            process.kill()
            process.wait()
    assert worker.pid not in _hub_children()
