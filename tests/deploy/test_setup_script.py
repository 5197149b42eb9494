"""scripts/_env.sh, which `./scripts/demo` and `./scripts/test` both source: one install shared by the two
commands, its progress shown from the first line, and a reinstall only when pyproject.toml changes.

pip is stood in for by a fake `.venv/bin/python` that prints the lines pip prints (and records its calls), so the
test runs in a second without the network."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/../calls.log"
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  echo "Collecting fastapi"
  echo "  Downloading fastapi-1.0-py3-none-any.whl (90 kB)"
  echo "Requirement already satisfied: anyio"
  echo "Installing collected packages: fastapi"
  echo "Successfully installed fastapi-1.0"
fi
"""


def _checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "_env.sh", tmp_path / "scripts" / "_env.sh")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return tmp_path


def _source(root: Path, want: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f'source scripts/_env.sh {want} && echo "ready: $(command -v python)"'],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _pip_installs(root: Path) -> list[str]:
    log = root / ".venv" / "calls.log"
    calls = log.read_text().splitlines() if log.exists() else []
    return [c for c in calls if c.startswith("-m pip install") and "--upgrade" not in c]


def test_one_install_serves_both_commands_with_progress_from_the_first_line(tmp_path: Path) -> None:
    root = _checkout(tmp_path)

    first = _source(root, "test")
    assert first.returncode == 0, first.stderr
    said = first.stderr.splitlines()
    # The first thing said is what is happening and how long it takes; then pip's own lines, indented.
    assert said[0].startswith("setting up .venv for ./scripts/test (first run, or pyproject.toml changed")
    assert "  installing the hub with the test tools and what it needs:" in said
    assert "  Collecting fastapi" in said and "  installed." in said
    assert "Requirement already satisfied" not in first.stderr  # pip's noise is left out
    assert said[-1] == "  .venv is ready"
    assert first.stdout.strip() == f"ready: {root}/.venv/bin/python"
    assert _pip_installs(root) == ["-m pip install --progress-bar off -e .[test]"]

    # The demo after the tests: the test install is a superset, so nothing is installed, nothing said.
    demo = _source(root, "base")
    assert (demo.returncode, demo.stderr) == (0, "")
    again = _source(root, "test")
    assert (again.returncode, again.stderr) == (0, "")
    assert len(_pip_installs(root)) == 1

    # A changed pyproject.toml installs again, once, and the old install's stamps go.
    with (root / "pyproject.toml").open("a") as f:
        f.write("\n# changed\n")
    changed = _source(root, "base")
    assert changed.stderr.startswith("setting up .venv for ./scripts/demo")
    assert _pip_installs(root)[-1] == "-m pip install --progress-bar off -e ."
    stamps = sorted(p.name for p in (root / ".venv").glob(".installed-*"))
    assert len(stamps) == 1 and stamps[0].endswith("-base"), stamps
    assert _source(root, "base").stderr == ""


def test_an_old_python_is_refused_in_a_sentence(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    old = tmp_path / "python3.9"
    old.write_text('#!/usr/bin/env bash\n[ "$1" = --version ] && echo "Python 3.9.18"; exit 1\n')
    old.chmod(0o755)
    done = subprocess.run(
        ["bash", "-c", "source scripts/_env.sh base"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(old)},
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "Python 3.11 or newer is needed (found: Python 3.9.18)"
