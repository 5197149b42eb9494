"""`hub demo` on a bare machine: no service URLs, enquiries flowing within 30 s, and a newcomer signs in
with the printed credentials and takes a live call in the console while it runs; the committee member runs the
page's what-if (in the demo's worker processes) meanwhile."""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sign_in(web: httpx.Client, username: str, password: str) -> str:
    r = web.post("/sign-in", data={"username": username, "password": password})
    assert r.status_code == 303, r.text
    page = web.get(r.headers["location"])
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def _take_a_call(base: str, header: str) -> None:
    """What the printed instructions promise: sign in as chorley-ann, go available, accept, wrap up."""
    passwords = dict(
        re.findall(r"^\s+(chorley-ann|chorley-supervisor|committee)\s+(\S+)\s+\w+: ", header, re.MULTILINE)
    )
    assert set(passwords) == {"chorley-ann", "chorley-supervisor", "committee"}, header
    token = re.search(r"agent chorley-ann:\s+(hub_\S+)", header)
    assert token, header
    with httpx.Client(base_url=base, timeout=10) as web, httpx.Client(base_url=base, timeout=10) as api:
        csrf = _sign_in(web, "chorley-ann", passwords["chorley-ann"])
        assert web.post("/console/status", data={"status": "available", "csrf": csrf}).status_code == 303
        api.headers["Authorization"] = f"Bearer {token.group(1)}"
        deadline = time.monotonic() + 20
        taken = None
        while taken is None and time.monotonic() < deadline:
            offer = api.get("/api/v1/agents/me/offer").json()["offer"]
            if offer is not None:
                r = web.post("/console/offer/accept", data={"enquiry_id": offer["enquiry_id"], "csrf": csrf})
                taken = offer["enquiry_id"] if "notice=" not in r.headers["location"] else None
            time.sleep(0.3)
        assert taken is not None, "chorley-ann was offered no call within 20 s"
        page = web.get("/console").text
        assert f'data-enquiry="{taken}"' in page and "Customer" in page and "Script" in page
        r = web.post("/console/complete", data={"enquiry_id": taken, "outcome": "resolved", "csrf": csrf})
        assert r.headers["location"] == "/console?notice=completed"

        with httpx.Client(base_url=base, timeout=10) as supervisor:
            _sign_in(supervisor, "chorley-supervisor", passwords["chorley-supervisor"])
            floor = supervisor.get("/supervisor")
            assert (
                floor.status_code == 200 and "Chorley Council" in floor.text and 'id="waiting"' in floor.text
            )


def _run_the_whatif(base: str, header: str) -> None:
    """The committee's page as it opens (the last day replayed, and one more agent on each rota), run as a job
    in worker processes spawned by the one demo process, to its projection."""
    password = re.search(r"^\s+committee\s+(\S+)\s+\w+: ", header, re.MULTILINE)
    assert password, header
    with httpx.Client(base_url=base, timeout=10) as web:
        _sign_in(web, "committee", password.group(1))
        page = web.get("/committee/whatif").text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        a, b = (re.search(rf'<textarea name="{n}"[^>]*>(.*?)</textarea>', page, re.DOTALL) for n in "ab")
        assert csrf and a and b, page[:500]
        form = {"a": html.unescape(a.group(1)), "b": html.unescape(b.group(1)), "seed": "1"}
        started = web.post("/committee/whatif", data=form | {"csrf": csrf.group(1)})
        assert started.status_code == 303, started.text[:500]
        job = started.headers["location"]
        deadline = time.monotonic() + 60
        state = {"status": "running"}
        while state["status"] == "running" and time.monotonic() < deadline:
            state = web.get(f"{job}/progress").json()
            time.sleep(0.2)
        assert state["status"] == "done", state
        # The projection's summary: each scenario's run, by its name in the page's starting point.
        projection = html.unescape(web.get(job).text)
        assert re.search(r"one more agent on each rota: [\d,]+ contacts simulated in", projection), projection


def test_the_demo_runs_embedded_and_a_newcomer_takes_a_call(tmp_path: Path) -> None:
    # No COLUMNS: piped output must not wrap at rich's default 80 columns (an api_key split in two).
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_") and k != "COLUMNS"} | {
        "PYTHONUNBUFFERED": "1",
    }
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "demo", "--seconds", "25", "--rate", "2", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        header = ""
        for line in process.stdout:
            header += line
            if line.startswith("Ctrl-C to stop."):
                break
        _take_a_call(f"http://127.0.0.1:{port}", header)
        _run_the_whatif(f"http://127.0.0.1:{port}", header)
        rest, errors = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors[-2000:]
    out = header + rest
    assert f"http://127.0.0.1:{port}/docs" in out
    assert f"Sign in at http://127.0.0.1:{port}/" in out
    open311 = [line for line in out.splitlines() if line.startswith("Open311: ")]
    assert len(open311) == 1 and re.search(r"\(api_key: [\w-]{20,}\)$", open311[0]), open311
    final = out.strip().splitlines()[-1]
    assert final.startswith("demo stopped:"), final
    counts = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", final)}
    assert counts["completed"] >= 1, final
    assert counts["offered"] + counts["talking"] + counts["completed"] >= 5, final
    assert (tmp_path / ".hub" / "demo" / "hub.sqlite3").exists()
