"""Definition files' problems as an operator reads them: where (one-based, the item's own code), what, no
library jargon (docs/operations.md, "Loading partners")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

_TYPE_TAGS = {"str", "int", "float", "bool", "date", "list", "dict", "none"}
_NAMING_KEYS = ("code", "id", "slug", "key")  # what an item of a list is known by, in this order


def where(raw: object, location: Sequence[int | str]) -> str:
    """``services, item 2 (code missed-bin), lgsl``: keys as written, list items counted from 1 and named."""
    parts: list[str] = []
    node: Any = raw
    for part in location:
        if isinstance(part, str) and (part in _TYPE_TAGS or "[" in part):
            continue  # pydantic's name for the branch of a union it tried; noise to a person
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            named = next((k for k in _NAMING_KEYS if isinstance(item, Mapping) and item.get(k)), None)
            parts.append(f"item {part + 1}" + (f" ({named} {item[named]})" if named and item else ""))
            node = item
        else:
            if parts and not parts[-1].startswith("item "):
                parts[-1] += f".{part}"
            else:
                parts.append(part)
            node = node.get(part) if isinstance(node, Mapping) else None
    return ", ".join(parts)


def dotted(location: Sequence[int | str]) -> str:
    """``services[1].lgsl``: the path as a program reads it (the admin API's ``path``), counted from 0."""
    out = ""
    for part in location:
        if isinstance(part, str) and (part in _TYPE_TAGS or "[" in part):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problem(error: Mapping[str, Any], raw: object) -> tuple[str, str, str]:
    """(path for a program, where for a person, what) for one pydantic error; an unknown key is said as such,
    and placed at the mapping that has it."""
    location = tuple(error["loc"])
    if error.get("type") == "extra_forbidden" and location:
        message = f"unknown key {location[-1]!r}: check its spelling, or remove it"
        return dotted(location), where(raw, location[:-1]), message
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return dotted(location), where(raw, location), message


def yaml_problem(exc: Exception) -> str:
    """PyYAML's error without its ``<unicode string>``: the line and column, and what it found."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        said = " ".join(p for p in (exc.context, exc.problem) if p)
        return f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {said}"
    return f"not valid YAML: {exc}"
