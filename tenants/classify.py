"""Match an enquiry's free text to a catalogue service by its keywords and synonyms: pure and deterministic.

The same text against the same catalogue always gives the same service and the same matched terms, so a
supervisor can see why an enquiry went where it went, and a test can pin it down.

How it decides:

- Text and terms are normalised alike: lower case, ``&`` → ``and``, apostrophes dropped, anything else that is
  not a letter or digit splits words, and plurals are folded (``bins`` → ``bin``, ``lorries`` → ``lorry``).
  Verb endings are left alone on purpose: folding ``parking`` into ``park`` would send a question about a
  parking permit to the parks team.
- A term of several words matches those words in sequence, or the same words written as one (``fly tipping``
  matches ``flytipping``, ``street light`` matches ``streetlight``).
- A service scores the number of words of the text its terms cover (overlapping terms count once), so a
  longer, more specific phrase outweighs a stray word. Ties go to the service with more distinct matched
  terms, then to the higher priority (when the text is as much about fly-tipping as about a bulky
  collection, the more urgent service should hear it), then to the one listed first in the catalogue.
- Two terms of one service that read the same once normalised (``pothole``, ``potholes``) count once.
- Nothing matched → the fallback (``general``) service, marked as a fallback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

_SPLIT = re.compile(r"[^0-9a-z]+")


class ServiceTerms(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def keywords(self) -> Sequence[str]: ...

    @property
    def synonyms(self) -> Sequence[str]: ...

    @property
    def priority(self) -> int: ...


@dataclass(frozen=True)
class Terms:
    """A plain ``ServiceTerms`` for tests and callers without a catalogue at hand."""

    code: str
    keywords: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    priority: int = 5


@dataclass(frozen=True)
class Classification:
    service_code: str
    matched: tuple[str, ...]  # the catalogue's terms, as written there, in the order they occur in the text
    score: int
    fallback: bool  # nothing matched: the general enquiries service was chosen

    def as_data(self) -> dict[str, Any]:
        """The record kept with the enquiry (in its ``enquiry.received`` event)."""
        return {
            "service_code": self.service_code,
            "matched_terms": list(self.matched),
            "score": self.score,
            "fallback": self.fallback,
        }


def _fold(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@lru_cache(maxsize=4096)
def normalise(text: str) -> tuple[str, ...]:
    """The words of ``text`` as the classifier compares them."""
    lowered = text.lower().replace("&", " and ").replace("'", "").replace("\u2019", "")
    return tuple(_fold(w) for w in _SPLIT.split(lowered) if w)


def _occurrences(words: tuple[str, ...], term: tuple[str, ...]) -> list[range]:
    """Where ``term`` occurs in ``words``: as a run of words, or (several words) written as one."""
    found: list[range] = []
    n = len(term)
    for i in range(len(words) - n + 1):
        if words[i : i + n] == term:
            found.append(range(i, i + n))
    if n > 1:
        joined = "".join(term)
        found.extend(range(i, i + 1) for i, w in enumerate(words) if w == joined or w == _fold(joined))
    return found


def classify(
    text: str, services: Sequence[ServiceTerms], *, fallback_code: str = "general"
) -> Classification | None:
    """The best service for ``text``; the fallback when nothing matches; ``None`` if there is no fallback."""
    words = normalise(text)
    best: tuple[int, int, int, int] | None = None
    best_result: Classification | None = None
    for order, service in enumerate(services):
        covered: set[int] = set()
        hits: list[tuple[int, str]] = []
        seen: set[tuple[str, ...]] = set()
        for term in (*service.keywords, *service.synonyms):
            term_words = normalise(term)
            if not term_words or term_words in seen:
                continue
            places = _occurrences(words, term_words)
            if places:
                seen.add(term_words)
                hits.append((min(p.start for p in places), term))
                for place in places:
                    covered.update(place)
        if not covered:
            continue
        rank = (len(covered), len(hits), service.priority, -order)
        if best is None or rank > best:
            best = rank
            matched = tuple(term for _, term in sorted(hits))
            best_result = Classification(service.code, matched, len(covered), fallback=False)
    if best_result is not None:
        return best_result
    if any(s.code == fallback_code for s in services):
        return Classification(fallback_code, (), 0, fallback=True)
    return None
