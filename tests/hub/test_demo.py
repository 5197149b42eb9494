"""`hub demo` on a bare machine: no service URLs, enquiries flowing within 30 s."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_demo_runs_embedded_and_enquiries_flow(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | {"COLUMNS": "200"}
    port = _free_port()
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "demo", "--seconds", "25", "--rate", "2", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert f"http://127.0.0.1:{port}/docs" in out
    assert re.search(r"agent chorley-ann:\s+hub_", out)
    final = out.strip().splitlines()[-1]
    assert final.startswith("demo stopped:"), final
    counts = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", final)}
    assert counts["completed"] >= 1, final
    assert counts["offered"] + counts["talking"] + counts["completed"] >= 5, final
    assert (tmp_path / ".hub" / "demo" / "hub.sqlite3").exists()
