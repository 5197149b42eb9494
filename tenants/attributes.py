"""Check an enquiry's attributes against its service's definition (Open311 datatypes): pure, no I/O.

One checker for every way in, so an AMQP message and an Open311 POST are held to the same rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from tenants.schemas import AttributeDefinition

MAX_STRING = 1000
MAX_TEXT = 4000


@dataclass(frozen=True)
class AttributeProblem:
    code: str  # the attribute's code
    kind: Literal["missing", "invalid"]
    reason: str  # e.g. "'purple' is not one of grey, blue, brown"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        return (
            int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
        )
    return None


def _datetime(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        try:
            date.fromisoformat(text)
        except ValueError:
            return None
    return text


def check_value(attribute: AttributeDefinition, value: Any) -> tuple[Any, str | None]:
    """The value as stored (numbers as numbers, a multivaluelist as a list), or why it is not acceptable."""
    keys = [v.key for v in attribute.values]
    kind = attribute.datatype
    if kind in ("string", "text"):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return value, "must be text"
        text = str(value)
        limit = MAX_TEXT if kind == "text" else MAX_STRING
        if len(text) > limit:
            return value, f"is longer than {limit} characters"
        return text, None
    if kind == "number":
        number = _number(value)
        return (number, None) if number is not None else (value, f"{value!r} is not a number")
    if kind == "datetime":
        stamp = _datetime(value)
        return (
            (stamp, None) if stamp is not None else (value, f"{value!r} is not an ISO 8601 date or date-time")
        )
    if kind == "singlevaluelist":
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        key = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
        if key not in keys:
            return value, f"{value!r} is not one of {', '.join(keys)}"
        return key, None
    # multivaluelist: a list of keys, or one key on its own
    items = value if isinstance(value, list) else [value]
    chosen: list[str] = []
    for item in items:
        key = str(item) if isinstance(item, str | int) and not isinstance(item, bool) else None
        if key not in keys:
            return value, f"{item!r} is not one of {', '.join(keys)}"
        if key not in chosen:
            chosen.append(key)
    return chosen, None


def check_attributes(
    definitions: Sequence[AttributeDefinition], given: Mapping[str, Any], *, enforce_required: bool = True
) -> tuple[dict[str, Any], AttributeProblem | None]:
    """The known attributes normalised, and the first problem (in definition order), if any.

    Attributes the service does not define are left out of the result (the caller decides whether to keep
    them); information-only attributes (``variable: false``) are never read.
    """
    cleaned: dict[str, Any] = {}
    for attribute in definitions:
        if not attribute.variable:
            continue
        value = given.get(attribute.code)
        if _blank(value):
            if attribute.required and enforce_required:
                return cleaned, AttributeProblem(
                    attribute.code, "missing", f"is required ({attribute.description})"
                )
            continue
        stored, problem = check_value(attribute, value)
        if problem is not None:
            return cleaned, AttributeProblem(attribute.code, "invalid", problem)
        cleaned[attribute.code] = stored
    return cleaned, None


@dataclass(frozen=True)
class Answer:
    """One answer as a person reads it: the service's own question and the value in words."""

    code: str
    label: str
    value: str | list[str]  # a list for a multi-value answer, shown as a list


def describe_answers(definitions: Sequence[Mapping[str, Any]], answers: Mapping[str, Any]) -> list[Answer]:
    """Label each answer with its question (``description``) and put its value in words: the names of list
    choices, yes/no, dates as dates. In the definition's order; answers it does not define come last."""
    by_code = {str(d.get("code")): d for d in definitions if isinstance(d, Mapping) and d.get("code")}
    order = [c for c in by_code if c in answers] + [c for c in answers if c not in by_code]
    out = []
    for code in order:
        value = answers[code]
        if _blank(value):
            continue
        definition = by_code.get(code, {})
        label = str(definition.get("description") or code.replace("_", " ").capitalize())
        out.append(Answer(code, label, _in_words(value, definition)))
    return out


def _in_words(value: Any, definition: Mapping[str, Any]) -> str | list[str]:
    choices = {
        str(v.get("key")): str(v.get("name"))
        for v in definition.get("values") or []
        if isinstance(v, Mapping)
    }
    if isinstance(value, list):
        return [choices.get(str(v), _scalar_in_words(v)) for v in value]
    if str(value) in choices:
        return choices[str(value)]
    looks_like_date = isinstance(value, str) and len(value) >= 10 and value[4:5] == "-"
    if isinstance(value, str) and (definition.get("datatype") == "datetime" or looks_like_date):
        moment = _datetime(value)
        if moment is not None:
            parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
            if (parsed.hour, parsed.minute, parsed.second) == (0, 0, 0):
                return f"{parsed.day} {parsed:%B %Y}"
            return f"{parsed.day} {parsed:%B %Y, %H:%M}"
    return _scalar_in_words(value)


def _scalar_in_words(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return "Yes" if value.lower() == "true" else "No"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
