"""The compiled modules are loaded only while the build's stamp matches their sources (plumbing/compiled.py)."""

from __future__ import annotations

import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from plumbing import compiled


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package ``fakepkg`` with a module beside an "extension" that cannot load (garbage bytes)."""
    package = tmp_path / "fakepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "hot.py").write_text("WHERE = 'source'\n")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    (package / f"hot{suffix}").write_bytes(b"not a shared object")
    monkeypatch.setattr(compiled, "ROOT", tmp_path)
    monkeypatch.setattr(compiled, "MODULES", ("fakepkg.hot",))
    monkeypatch.setattr(compiled, "STAMP", tmp_path / "build" / "stamp")
    monkeypatch.setattr(compiled, "_guarded", False)
    monkeypatch.delenv(compiled.PURE_ENV, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    finders = list(sys.meta_path)
    yield tmp_path
    sys.meta_path[:] = finders
    for name in ("fakepkg.hot", "fakepkg"):
        sys.modules.pop(name, None)


def _stamp(root: Path) -> None:
    (root / "build").mkdir(exist_ok=True)
    (root / "build" / "stamp").write_text(compiled.sources_hash() + "\n")


def test_without_a_stamp_the_extension_is_stale_and_the_source_loads(tree: Path) -> None:
    assert compiled.status() == "stale"
    compiled.guard()
    import fakepkg.hot

    assert fakepkg.hot.WHERE == "source"


def test_an_edit_after_the_build_makes_it_stale(tree: Path) -> None:
    _stamp(tree)
    assert compiled.status() == "compiled"
    (tree / "fakepkg" / "hot.py").write_text("WHERE = 'edited source'\n")
    assert compiled.status() == "stale"
    compiled.guard()
    import fakepkg.hot

    assert fakepkg.hot.WHERE == "edited source"


def test_a_fresh_build_is_what_python_imports(tree: Path) -> None:
    # Fresh: the guard stands aside and Python's own finder picks the extension (here garbage, so it fails to load:
    # proof that it, not the source, was chosen).
    _stamp(tree)
    compiled.guard()
    with pytest.raises(ImportError):
        import fakepkg.hot  # noqa: F401


def test_pure_python_asked_for_loads_the_source_even_when_fresh(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stamp(tree)
    monkeypatch.setenv(compiled.PURE_ENV, "1")
    assert compiled.status() == "pure"
    compiled.guard()
    import fakepkg.hot

    assert fakepkg.hot.WHERE == "source"


def test_nothing_built_is_pure_and_the_guard_adds_no_finder(tree: Path) -> None:
    for path in (tree / "fakepkg").glob("hot.*"):
        if path.suffix != ".py":
            path.unlink()
    before = len(sys.meta_path)
    assert compiled.status() == "pure"
    compiled.guard()
    assert len(sys.meta_path) == before


def test_a_failed_build_leaves_pure_python(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # mypyc refuses a type error before compiling anything; the build says so and removes what was there.
    (tree / "fakepkg" / "hot.py").write_text("WHERE: int = 'source'\n")
    assert compiled.build() is False
    assert compiled.status() == "pure" and not compiled.STAMP.exists()
    err = capsys.readouterr().err
    assert "compiling the simulator's hot modules" in err
    assert "the simulator runs as pure Python" in err


def test_the_group_is_the_one_pyproject_declares(tmp_path: Path) -> None:
    declared = tmp_path / "pyproject.toml"
    declared.write_text('[tool.hub.compiled]\nmodules = ["fakepkg.hot", "fakepkg.cold"]\n')
    assert compiled.declared_modules(declared) == ("fakepkg.hot", "fakepkg.cold")
    # The repository's own: what the bench and the install compile.
    assert compiled.declared_modules(compiled.ROOT / "pyproject.toml") == compiled.MODULES
    assert compiled.MODULES, "pyproject.toml declares the simulator's group"


def test_no_declaration_compiles_nothing(tmp_path: Path) -> None:
    assert compiled.declared_modules(tmp_path / "missing.toml") == ()
    bare = tmp_path / "pyproject.toml"
    bare.write_text('[project]\nname = "x"\n')
    assert compiled.declared_modules(bare) == ()
    bad = tmp_path / "bad.toml"
    bad.write_text('[tool.hub.compiled]\nmodules = "routing.policy.decide"\n')
    with pytest.raises(ValueError, match="list of dotted module names"):
        compiled.declared_modules(bad)


def test_an_empty_group_builds_nothing(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "MODULES", ())
    assert compiled.build() is False
    assert not compiled.STAMP.exists()


def test_the_bottom_floor_names_no_domain_module() -> None:
    # plumbing/ is the bottom floor (docs/architecture.md): the group's names live in pyproject.toml, not here.
    text = (compiled.ROOT / "plumbing" / "compiled.py").read_text()
    for package in ("tenants", "routing", "figures", "backoffice", "whatif", "adapters", "hub"):
        assert f'"{package}.' not in text and f"'{package}." not in text
