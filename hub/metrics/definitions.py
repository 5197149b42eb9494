"""The committee's figure definitions (DESIGN §7), as pure functions over per-contact timelines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEFINITIONS_VERSION = "2026.1"
SHORT_ABANDON_SECONDS = 5.0


@dataclass(frozen=True)
class Timeline:
    """One queued contact: when it joined the queue and how its wait ended, if it has."""

    enquiry_id: int
    queued_at: datetime
    answered_at: datetime | None
    abandoned_at: datetime | None
    threshold_seconds: int

    @property
    def wait_seconds(self) -> float | None:
        end = self.answered_at or self.abandoned_at
        return (end - self.queued_at).total_seconds() if end else None


@dataclass(frozen=True)
class Figures:
    offered: int
    answered: int
    answered_within_threshold: int
    abandoned: int
    short_abandoned: int
    service_level: float | None
    abandonment_rate: float | None
    asa_seconds: float | None
    definitions_version: str = DEFINITIONS_VERSION


def compute(timelines: list[Timeline]) -> Figures:
    """offered, answered, abandoned (short apart), SL(T) = answered within T ÷ (answered + abandoned ≥ 5 s), ASA."""
    answered = [t for t in timelines if t.answered_at is not None]
    abandoned = [t for t in timelines if t.answered_at is None and t.abandoned_at is not None]
    short = [t for t in abandoned if (t.wait_seconds or 0.0) < SHORT_ABANDON_SECONDS]
    long_abandoned = len(abandoned) - len(short)
    within = sum(1 for t in answered if (t.wait_seconds or 0.0) <= t.threshold_seconds)
    denominator = len(answered) + long_abandoned
    waits = [t.wait_seconds or 0.0 for t in answered]
    return Figures(
        offered=len(timelines),
        answered=len(answered),
        answered_within_threshold=within,
        abandoned=len(abandoned),
        short_abandoned=len(short),
        service_level=within / denominator if denominator else None,
        abandonment_rate=long_abandoned / len(timelines) if timelines else None,
        asa_seconds=sum(waits) / len(waits) if waits else None,
    )
