"""The simulator's hot modules compiled with mypyc, used only while they match their sources (docs/simulator.md).

    python -m plumbing.compiled build [--if-stale]   # compile (scripts/_env.sh runs it; optional)
    python -m plumbing.compiled status               # compiled and fresh, stale, or pure Python
    python -m plumbing.compiled clean                # remove the compiled files

The modules are plain typed Python; mypyc turns them into C extensions beside the sources (``*.so``, ignored by
git). Python would import an extension before its ``.py`` whatever the source says now, so ``guard()`` (called by
the packages that hold them, before any of them is imported) puts a finder first that loads every one of them
from source unless the stamp written by the build holds the sha256 of their sources as they are now: an edit
without a rebuild runs the edit. ``WHATIF_PURE_PYTHON=1`` loads them from source regardless (the tests run both).
They are compiled as one group (each calls the others directly), so they are used all together or not at all.
The group is declared in pyproject.toml (``[tool.hub.compiled] modules``): this bottom floor names no domain module.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"


def declared_modules(pyproject: Path = PYPROJECT) -> tuple[str, ...]:
    """The compiled group as pyproject.toml's ``[tool.hub.compiled] modules`` names it.

    The list lives with the project, not here: this module is the bottom floor and must not name the domains'
    modules. No file or no table (an install without the repository's pyproject.toml): nothing is compiled.
    """
    try:
        with pyproject.open("rb") as file:
            table = tomllib.load(file)
    except OSError:
        return ()
    modules = table.get("tool", {}).get("hub", {}).get("compiled", {}).get("modules", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) and m for m in modules):
        raise ValueError(f"{pyproject}: [tool.hub.compiled] modules must be a list of dotted module names")
    return tuple(modules)


MODULES = declared_modules()
STAMP = ROOT / "build" / "mypyc-sources.sha256"
PURE_ENV = "WHATIF_PURE_PYTHON"


def _source(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def sources_hash() -> str:
    digest = hashlib.sha256()
    for module in MODULES:
        digest.update(module.encode() + b"\0" + _source(module).read_bytes())
    return digest.hexdigest()


def _extensions() -> list[Path]:
    found: list[Path] = []
    for module in MODULES:
        source = _source(module)
        found += [p for p in source.parent.glob(source.stem + ".*") if p.suffix in (".so", ".pyd")]
    return found


def _fresh() -> bool:
    try:
        return STAMP.read_text().strip() == sources_hash()
    except OSError:
        return False


def status() -> str:
    """'compiled', 'stale' (compiled files older than the sources: not used), 'pure' (none, or WHATIF_PURE_PYTHON)."""
    if not _extensions():
        return "pure"
    if os.environ.get(PURE_ENV):
        return "pure"
    return "compiled" if _fresh() else "stale"


class _FromSource(importlib.abc.MetaPathFinder):
    """Finds the given modules as their ``.py`` files, so a stale (or unwanted) extension is never loaded."""

    def __init__(self, sources: dict[str, Path]) -> None:
        self.sources = sources

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(fullname)
        return None if source is None else importlib.util.spec_from_file_location(fullname, source)


_guarded = False


def guard() -> None:
    """Load the compiled modules only when they are fresh and wanted (idempotent; cheap when none are built)."""
    global _guarded
    if _guarded:
        return
    _guarded = True
    if not _extensions():
        return
    if status() != "compiled":
        sys.meta_path.insert(0, _FromSource({m: _source(m) for m in MODULES}))
    elif str(ROOT) not in sys.path:
        # The group's shared runtime (``<hash>__mypyc``) is built at the repository's root, which is on the path
        # for ``python -m`` and pytest but not for the installed ``hub`` command: without it every compiled module
        # fails to import in ``hub serve``, ``hub worker``, ``hub simulate``.
        sys.path.append(str(ROOT))


def clean() -> None:
    for path in _extensions():
        path.unlink()
    for group in ROOT.glob("*__mypyc.*"):
        group.unlink()
    STAMP.unlink(missing_ok=True)


def build(*, if_stale: bool = False) -> bool:
    """Compile ``MODULES``; progress on stderr. On any failure the extensions go and pure Python stays."""
    if if_stale and _extensions() and _fresh():
        return True  # quietly: scripts/_env.sh asks before every command
    if not MODULES:
        if not if_stale:
            print("  no compiled group is declared ([tool.hub.compiled] in pyproject.toml)", file=sys.stderr)
        return False
    try:
        import mypyc  # noqa: F401  (installed with mypy, among the test tools)
    except ImportError:
        if not if_stale:
            print("  mypyc is not installed: the simulator runs as pure Python", file=sys.stderr)
        return False
    clean()
    print(
        f"  compiling the simulator's hot modules with mypyc (a minute or three, once per change of them): {', '.join(MODULES)}",
        file=sys.stderr,
    )
    files = [str(_source(m).relative_to(ROOT)) for m in MODULES]
    hashed = sources_hash()  # before: an edit during the build must leave the result stale
    process = subprocess.Popen(
        [sys.executable, "-m", "mypyc", *files],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    tail: list[str] = []
    for line in process.stdout:
        tail = [*tail[-20:], line.rstrip()]
        if line.startswith("building '") or " error" in line.lower():
            print("    " + line.rstrip(), file=sys.stderr, flush=True)
    if process.wait() != 0 or len(_extensions()) != len(MODULES):
        clean()
        print("  mypyc failed (last lines below): the simulator runs as pure Python", file=sys.stderr)
        for line in tail:
            print("    " + line, file=sys.stderr)
        return False
    STAMP.parent.mkdir(exist_ok=True)
    STAMP.write_text(hashed + "\n")
    print("  compiled", file=sys.stderr)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "status"
    if command == "build":
        build(if_stale="--if-stale" in args)
        return 0  # optional: a failed build leaves pure Python, which works
    if command == "clean":
        clean()
        return 0
    print(status())
    return 0


if __name__ == "__main__":
    sys.exit(main())
