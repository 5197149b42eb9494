"""The simulator's speed-ups change nothing: a small run's fingerprint is the one the code before them gave, both
compiled (when ``python -m plumbing.compiled build`` has run) and as pure Python."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.simulate import fingerprint

ROOT = Path(__file__).resolve().parents[2]
# sha256 over every contact's times, handler and flags, every decision's as_dict(), every gate's agreement, queue,
# openness and reasons, and the report's figures, for the bench's scenario cut to 20,000 contacts (20,114 drawn);
# taken at 1a89bf7, before issue 23's speed-ups.
BEFORE = ("5e4553392067884fe7e6e381d7dea9587535385a9a982dd7e2c6f86c9fe18c4e", 20114)


def test_twenty_thousand_contacts_hash_as_before_the_speed_ups() -> None:
    assert fingerprint(20_000) == BEFORE


def test_the_pure_python_path_hashes_the_same() -> None:
    script = (
        "import whatif.engine, routing.live.memory, sys\n"
        "from bench.simulate import fingerprint\n"
        "assert whatif.engine.__file__.endswith('.py') and routing.live.memory.__file__.endswith('.py')\n"
        "print(*fingerprint(20_000))\n"
    )
    env = {**os.environ, "WHATIF_PURE_PYTHON": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    digest, contacts = done.stdout.split()
    assert (digest, int(contacts)) == BEFORE
