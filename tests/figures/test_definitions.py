"""The committee's definitions on hand-computed timelines (docs/design.md, "Figures")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from figures.definitions import Timeline, compute

T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def contact(
    i: int, *, answered_after: float | None = None, abandoned_after: float | None = None, threshold: int = 20
) -> Timeline:
    return Timeline(
        enquiry_id=i,
        queued_at=T0,
        answered_at=T0 + timedelta(seconds=answered_after) if answered_after is not None else None,
        abandoned_at=T0 + timedelta(seconds=abandoned_after) if abandoned_after is not None else None,
        threshold_seconds=threshold,
    )


def test_service_level_counts_long_abandons_but_not_short_ones() -> None:
    timelines = [
        contact(1, answered_after=5),  # within 20 s
        contact(2, answered_after=20),  # exactly at the threshold: within
        contact(3, answered_after=45),  # late
        contact(4, abandoned_after=3),  # short abandon: out of SL and of the abandonment rate
        contact(5, abandoned_after=60),  # counts against SL
        contact(6),  # still waiting: offered only
    ]
    figures = compute(timelines)
    assert figures.offered == 6
    assert figures.answered == 3
    assert figures.answered_within_threshold == 2
    assert figures.abandoned == 2
    assert figures.short_abandoned == 1
    assert figures.service_level == pytest.approx(2 / 4)  # 2 within ÷ (3 answered + 1 long abandon)
    assert figures.abandonment_rate == pytest.approx(1 / 6)
    assert figures.asa_seconds == pytest.approx((5 + 20 + 45) / 3)


def test_each_service_uses_its_own_threshold() -> None:
    figures = compute(
        [contact(1, answered_after=25, threshold=30), contact(2, answered_after=25, threshold=20)]
    )
    assert figures.answered_within_threshold == 1
    assert figures.service_level == pytest.approx(0.5)


def test_no_contacts_gives_no_ratios_rather_than_a_made_up_number() -> None:
    figures = compute([])
    assert figures.offered == 0
    assert figures.service_level is None and figures.asa_seconds is None and figures.abandonment_rate is None


def test_an_answered_contact_that_later_hangs_up_is_answered() -> None:
    figures = compute([contact(1, answered_after=4, abandoned_after=100)])
    assert figures.answered == 1 and figures.abandoned == 0
