"""Read partner definitions from YAML files, reporting the file, the path inside it and what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from tenants.problems import problem, yaml_problem
from tenants.schemas import PartnerDefinition


@dataclass(frozen=True)
class DefinitionError:
    file: str
    path: str  # for a program: services[1].lgsl
    message: str
    where: str = ""  # for a person: services, item 2 (code missed-bin), lgsl

    def __str__(self) -> str:
        at = self.where or self.path
        where = f"{self.file}: {at}" if at else self.file
        return f"{where}: {self.message}"


class DefinitionsInvalid(Exception):
    def __init__(self, errors: list[DefinitionError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


def is_agreements_document(raw: object) -> bool:
    """A YAML document whose top-level key is ``agreements`` or ``data_sharing`` (partner files start with
    ``tenant``)."""
    return isinstance(raw, dict) and ("agreements" in raw or "data_sharing" in raw)


def is_agreements_text(text: str) -> bool:
    try:
        return is_agreements_document(yaml.safe_load(text))
    except (yaml.YAMLError, ValueError):  # PyYAML raises a bare ValueError for 2026-02-30
        return False


def definition_files(path: Path) -> list[Path]:
    """A file, or every ``*.yaml``/``*.yml`` in a folder, in name order."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())
    return [path]


def parse_definition(text: str, file: str) -> PartnerDefinition:
    try:
        raw = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        # PyYAML raises a bare ValueError for a date that does not exist (2026-02-30).
        raise DefinitionsInvalid([DefinitionError(file, "", yaml_problem(exc))]) from exc
    return validate_definition(raw, file)


def validate_definition(raw: object, file: str) -> PartnerDefinition:
    """Validate an already-parsed definition (YAML or the admin API's JSON), naming ``file`` in errors."""
    if not isinstance(raw, dict):
        raise DefinitionsInvalid([DefinitionError(file, "", "expected a mapping with `tenant:` at the top")])
    try:
        return PartnerDefinition.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            path, where, message = problem(dict(e), raw)
            errors.append(DefinitionError(file, path, message, where))
        raise DefinitionsInvalid(errors) from exc


def load_definitions(path: Path) -> list[PartnerDefinition]:
    """Parse and validate every file first, so that an error anywhere loads nothing."""
    files = definition_files(path)
    if not files or not all(f.exists() for f in files):
        raise DefinitionsInvalid([DefinitionError(str(path), "", "no such file or no YAML files in folder")])
    definitions: list[PartnerDefinition] = []
    errors: list[DefinitionError] = []
    for file in files:
        text = file.read_text(encoding="utf-8")
        if is_agreements_text(text):
            continue  # overflow agreements: tenants.agreements.loader reads those
        try:
            definitions.append(parse_definition(text, str(file)))
        except DefinitionsInvalid as exc:
            errors.extend(exc.errors)
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(DefinitionError(str(file), "", f"cannot be read: {exc}"))
    slugs = [d.tenant.slug for d in definitions]
    for slug in {s for s in slugs if slugs.count(s) > 1}:
        errors.append(DefinitionError(str(path), "tenant.slug", f"tenant {slug!r} is defined twice"))
    agent_ids = [a.id for d in definitions for a in d.agents]
    for agent_id in {a for a in agent_ids if agent_ids.count(a) > 1}:
        errors.append(DefinitionError(str(path), "agents", f"agent id {agent_id!r} is used by two partners"))
    if errors:
        raise DefinitionsInvalid(errors)
    return definitions
