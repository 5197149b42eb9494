"""An agreement's hours worked out in whole seconds of the local wall clock (``_windows_at``,
``next_window_start``) give what the zoned ``datetime`` gives, across clock changes and odd offsets."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.policy.model import Agreement, Conditions, Window

# The module, not the function the package also calls ``decide``.
policy = importlib.import_module("routing.policy.decide")

EVENINGS = (Window(frozenset(range(7)), time(18, 0), time(22, 0)),)
NIGHTS = (
    Window(frozenset({0, 4}), time(22, 30), time(6, 15)),
    Window(frozenset({2}), time(1, 0), time(2, 30)),
)
ZONES = ("Europe/London", "Asia/Kathmandu", "Australia/Lord_Howe", "America/St_Johns", "UTC")


def agreement(windows: tuple[Window, ...], zone: str) -> Agreement:
    return Agreement(
        id="a",
        lender="hub",
        borrower="chorley",
        services=None,
        channels=None,
        windows=windows,
        timezone=zone,
        conditions=Conditions(),
        actions=frozenset({"widen"}),
        max_per_hour=None,
        max_concurrent=None,
        lender_protection=None,
        unit_rate=0.0,
        visible_fields=(),
    )


def reference_next_start(a: Agreement, moment: datetime) -> datetime | None:
    """The code before the whole-seconds path: a zoned datetime and the day's window starts compared to it."""
    inside, local, _label = policy._windows_at_exactly(a.windows, a.timezone, moment.timestamp())
    if inside:
        return moment
    starts = [s for s in policy._window_starts(a.windows, a.timezone, local.date()) if s > local]
    return min(starts).astimezone(moment.tzinfo) if starts else None


def test_a_known_evening() -> None:
    # Monday 5 January 2026, 18:00:00 in London (GMT): the window opens; a millisecond before, it is shut.
    opening = datetime(2026, 1, 5, 18, 0, tzinfo=UTC).timestamp()
    assert policy._windows_at(EVENINGS, "Europe/London", opening) == (True, "Mon 18:00")
    assert policy._windows_at(EVENINGS, "Europe/London", opening - 0.001) == (False, "Mon 17:59")
    # Summer time (BST, UTC+1): 17:00 UTC is 18:00 local.
    assert policy._windows_at(
        EVENINGS, "Europe/London", datetime(2026, 7, 6, 17, tzinfo=UTC).timestamp()
    ) == (
        True,
        "Mon 18:00",
    )
    # Sunday 29 March 2026, the clocks go forward at 01:00 UTC: 17:30 UTC is 18:30 BST, inside.
    moment = datetime(2026, 3, 29, 16, 59, 59, tzinfo=UTC)
    assert policy.next_window_start(agreement(EVENINGS, "Europe/London"), moment) == datetime(
        2026, 3, 29, 17, tzinfo=UTC
    )


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.sampled_from((EVENINGS, NIGHTS)),
    # 2026 with its clock changes; near every whole second, minute and hour more often than chance would.
    st.integers(min_value=1767225600, max_value=1798761600),
    st.sampled_from((0, 0, 1, 999, 999_999, 500_000)),
    st.sampled_from((0, 1, 59, 60, 3599, 3600)),
    st.booleans(),
)
def test_whole_seconds_give_what_a_zoned_datetime_gives(
    zone: str, windows: tuple[Window, ...], second: int, micro: int, nudge: int, utc: bool
) -> None:
    moment = datetime.fromtimestamp(second - second % 3600 + nudge, UTC) + timedelta(microseconds=micro)
    if not utc:
        moment = moment.astimezone(ZoneInfo("Europe/London"))
    stamp = moment.timestamp()
    inside, _local, label = policy._windows_at_exactly(windows, zone, stamp)
    assert policy._windows_at(windows, zone, stamp) == (inside, label)
    a = agreement(windows, zone)
    found, expected = policy.next_window_start(a, moment), reference_next_start(a, moment)
    assert found == expected
    assert (found.isoformat() if found else None) == (expected.isoformat() if expected else None)
