"""Proactive prompts: rules, written as data, over what is held about the caller (pure functions).

A rule is a mapping with an ``id``, a ``say`` template and a ``when`` of conditions, all of which must hold:

- ``services``: the enquiry's service code is one of these;
- ``fact``: each key has this value in what the customer's contacts have told us (``attributes``; newest wins);
- ``text_any``: the enquiry's text mentions one of these words or phrases;
- ``repeat``: ``{"service": code, "at_least": n, "within_days": d}`` past contacts about ``service``;
- ``open_case``: true gives one prompt per open case (its ``reference``, ``service`` and ``date`` fill the
  template).

Services may add their own under ``prompts`` in their catalogue definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from routing.customers.service import PastContact

DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "id": "open-case",
        "when": {"open_case": True},
        "say": "Open case {reference} ({service}, {date}): check how it is going for them.",
    },
    {
        "id": "garden-waste-unpaid",
        "when": {"services": ["missed-bin", "garden-waste"], "fact": {"garden_waste_renewal": "unpaid"}},
        "say": "Their garden-waste renewal is unpaid: offer to take payment now so collections carry on.",
    },
    {
        "id": "repeat-missed-bin",
        "when": {
            "services": ["missed-bin"],
            "repeat": {"service": "missed-bin", "at_least": 2, "within_days": 90},
        },
        "say": "Bins missed repeatedly at this address: pass it to the waste team as a repeat failure.",
    },
    {
        "id": "moving-house",
        "when": {"text_any": ["moved house", "moving house", "new address", "moving out", "moved in"]},
        "say": "Moving house? Offer council tax, electoral register and bin changes in the same call.",
    },
    {
        "id": "council-tax-arrears",
        "when": {"fact": {"council_tax_arrears": True}},
        "say": "There are council tax arrears on record: mention the payment plan and the support fund.",
    },
)


def rules_for(definition: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The hub's own rules, then those the service's catalogue definition adds under ``prompts`` (rules only)."""
    rules = [*DEFAULT_RULES, *((definition or {}).get("prompts") or [])]
    return [rule for rule in rules if isinstance(rule, dict)]


@dataclass(frozen=True)
class Prompt:
    rule: str
    text: str


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def facts_from(history: Sequence[PastContact], current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the person's contacts have told us, oldest first so the newest value wins."""
    facts: dict[str, Any] = {}
    for contact in sorted(history, key=lambda c: c.received_at):
        facts.update(contact.attributes)
    facts.update(current or {})
    return facts


def proactive_prompts(
    rules: Iterable[Mapping[str, Any]],
    *,
    service_code: str,
    text: str | None,
    facts: Mapping[str, Any],
    history: Sequence[PastContact],
    now: datetime,
    service_names: Mapping[str, str] | None = None,
) -> list[Prompt]:
    names = service_names or {}
    lowered = (text or "").lower()
    prompts: list[Prompt] = []
    for rule in rules:
        when: Mapping[str, Any] = rule.get("when") or {}
        template = str(rule.get("say", ""))
        rule_id = str(rule.get("id", "rule"))
        if "services" in when and service_code not in when["services"]:
            continue
        if "fact" in when and any(facts.get(k) != v for k, v in dict(when["fact"]).items()):
            continue
        if "text_any" in when and not any(str(w).lower() in lowered for w in when["text_any"]):
            continue
        if "repeat" in when:
            spec = when["repeat"]
            since = now - timedelta(days=int(spec.get("within_days", 90)))
            count = sum(
                1 for c in history if c.service_code == spec.get("service") and c.received_at >= since
            )
            if count < int(spec.get("at_least", 2)):
                continue
        if when.get("open_case"):
            for contact in history:
                if contact.open:
                    values = _Blank(
                        reference=contact.reference,
                        service=contact.service_name or names.get(contact.service_code, contact.service_code),
                        date=contact.received_at.strftime("%d %b %Y"),
                    )
                    prompts.append(Prompt(rule_id, template.format_map(values)))
            continue
        prompts.append(Prompt(rule_id, template.format_map(_Blank())))
    return prompts
