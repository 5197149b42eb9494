"""Read agreement files (top-level key ``agreements:`` and/or ``data_sharing:``) from a file or a folder, with clear
errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from tenants.agreements.sharing import DataSharingDefinition, parse_data_sharing
from tenants.agreements.terms import AgreementDefinition, AgreementProblem, parse_agreements
from tenants.loader import DefinitionError, DefinitionsInvalid, definition_files, is_agreements_text

Definition = TypeVar("Definition")


def _load(
    path: Path, key: str, parse: Callable[[str, str], tuple[Sequence[Definition], Sequence[AgreementProblem]]]
) -> tuple[list[Definition], list[str]]:
    """Every definition ``parse`` finds under ``key`` in the agreement files under ``path``, each with a label."""
    found: list[Definition] = []
    labels: list[str] = []
    errors: list[DefinitionError] = []
    for file in definition_files(path):
        if not file.exists():
            continue
        text = file.read_text(encoding="utf-8")
        if not is_agreements_text(text):
            continue
        parsed, problems = parse(text, str(file))
        errors += [DefinitionError(str(file), p.path, p.message, p.where) for p in problems]
        found += parsed
        labels += [f"{file}: {key}[{i}]" for i in range(len(parsed))]
    if errors:
        raise DefinitionsInvalid(errors)
    return found, labels


def load_agreement_files(path: Path) -> tuple[list[AgreementDefinition], list[str]]:
    """Every agreement in the agreement files under ``path``, and a label for each (file and index)."""
    return _load(path, "agreements", parse_agreements)


def load_data_sharing_files(path: Path) -> tuple[list[DataSharingDefinition], list[str]]:
    """Every data-sharing agreement (``data_sharing:``) in the agreement files under ``path``, each with a label."""
    return _load(path, "data_sharing", lambda text, _file: parse_data_sharing(text))
