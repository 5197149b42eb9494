"""Opening hours and working days: bank holidays, closures, time zones (pure; no services needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tenants.hours import (
    ChannelHours,
    HoursError,
    OpeningHours,
    add_working_days,
    bank_holidays_in,
    is_open,
    is_working_day,
    next_closing,
    next_opening,
    parse_days,
    parse_windows,
    resolution_due,
)
from tests.helpers_examples import example_definition


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def chorley() -> OpeningHours:
    return example_definition("chorley", "chorley-hours").hours()


def test_england_and_wales_bank_holidays_come_from_the_library() -> None:
    days = bank_holidays_in(2026)
    assert date(2026, 12, 25) in days and date(2026, 12, 28) in days  # Boxing Day falls on a Saturday
    assert date(2026, 5, 4) in days and date(2026, 8, 31) in days
    assert date(2026, 3, 17) not in days  # St Patrick's Day is Northern Ireland's, not ours


@pytest.mark.parametrize(
    ("moment", "channel", "expected"),
    [
        (utc(2026, 11, 23, 9, 0), "phone", True),  # Monday 09:00 GMT
        (utc(2026, 11, 23, 8, 44), "phone", False),  # a minute before opening
        (utc(2026, 11, 23, 17, 0), "phone", False),  # closing time is closed
        (utc(2026, 11, 27, 16, 45), "phone", False),  # Friday closes at half past four
        (utc(2026, 11, 28, 11, 0), "phone", False),  # Saturday
        (utc(2026, 11, 28, 11, 0), "web", True),  # web is always open
        (utc(2026, 6, 1, 7, 40), "phone", False),  # 08:40 BST
        (utc(2026, 6, 1, 7, 46), "phone", True),  # 08:46 BST
        (utc(2026, 6, 1, 16, 30), "phone", False),  # 17:30 BST
        (utc(2026, 5, 4, 10, 0), "phone", False),  # Early May bank holiday
        (utc(2026, 5, 4, 10, 0), "email", True),
        (utc(2026, 12, 24, 12, 0), "phone", True),  # Christmas Eve morning
        (utc(2026, 12, 24, 12, 30), "phone", False),  # closed from half past twelve
        (utc(2026, 12, 29, 10, 0), "phone", False),  # Christmas shutdown
        (utc(2026, 12, 29, 10, 0), "web", True),  # closures do not stop round-the-clock channels
        (utc(2026, 11, 23, 12, 0), "face_to_face", True),
        (utc(2026, 11, 23, 16, 30), "face_to_face", False),
        (utc(2026, 11, 23, 12, 0), "callback", True),
    ],
)
def test_is_open(chorley: OpeningHours, moment: datetime, channel: str, expected: bool) -> None:
    assert is_open(chorley, channel, moment) is expected


def test_the_bst_boundary_moves_the_utc_opening_time(chorley: OpeningHours) -> None:
    # 08:45 local is 07:45 UTC in summer and 08:45 UTC in winter.
    assert next_opening(chorley, "phone", utc(2026, 6, 1, 6, 0)) == utc(2026, 6, 1, 7, 45)
    assert next_opening(chorley, "phone", utc(2026, 12, 1, 6, 0)) == utc(2026, 12, 1, 8, 45)


def test_next_opening_skips_weekends_bank_holidays_and_closures(chorley: OpeningHours) -> None:
    # Friday evening → Monday morning.
    assert next_opening(chorley, "phone", utc(2026, 11, 27, 18, 0)) == utc(2026, 11, 30, 8, 45)
    # Christmas Eve afternoon: Christmas, Boxing Day (observed Monday 28th), the 29th–31st shutdown,
    # New Year's Day and a weekend all pass before Monday 4 January.
    assert next_opening(chorley, "phone", utc(2026, 12, 24, 13, 0)) == utc(2027, 1, 4, 8, 45)
    # Already open: the moment itself.
    moment = utc(2026, 11, 23, 10, 0)
    assert next_opening(chorley, "phone", moment) == moment


def test_next_closing(chorley: OpeningHours) -> None:
    assert next_closing(chorley, "phone", utc(2026, 11, 23, 10, 0)) == utc(2026, 11, 23, 17, 0)
    assert next_closing(chorley, "phone", utc(2026, 12, 24, 10, 0)) == utc(2026, 12, 24, 12, 30)
    assert next_closing(chorley, "web", utc(2026, 11, 23, 10, 0)) is None
    closed = utc(2026, 11, 28, 10, 0)
    assert next_closing(chorley, "phone", closed) == closed


def test_a_channel_that_never_opens(chorley: OpeningHours) -> None:
    hours = OpeningHours(channels={"face_to_face": ChannelHours()})
    assert next_opening(hours, "face_to_face", utc(2026, 11, 23, 10, 0)) is None
    assert is_open(hours, "phone", utc(2026, 11, 23, 10, 0)) is False  # not listed, no default: closed


def test_bank_holiday_hours_when_a_channel_gives_them() -> None:
    hours = OpeningHours(
        channels={"phone": ChannelHours.from_spec({"mon-fri": "08:00-18:00", "bank_holiday": "10:00-14:00"})}
    )
    assert is_open(hours, "phone", utc(2026, 8, 31, 8, 0)) is False  # 09:00 BST on a bank holiday
    assert is_open(hours, "phone", utc(2026, 8, 31, 10, 0)) is True  # 11:00 BST
    without = OpeningHours(channels=hours.channels, bank_holidays=None)
    assert is_open(without, "phone", utc(2026, 8, 31, 8, 0)) is True


def test_naive_datetimes_are_refused(chorley: OpeningHours) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(chorley, "phone", datetime(2026, 11, 23, 10, 0))


def test_working_days(chorley: OpeningHours) -> None:
    assert is_working_day(chorley, date(2026, 11, 23))
    assert not is_working_day(chorley, date(2026, 11, 28))  # Saturday
    assert not is_working_day(chorley, date(2026, 12, 28))  # Boxing Day observed
    assert not is_working_day(chorley, date(2026, 12, 29))  # whole-day closure
    assert is_working_day(chorley, date(2026, 12, 24))  # half-day closure: still a working day
    assert add_working_days(chorley, date(2026, 11, 27), 1) == date(2026, 11, 30)
    assert add_working_days(chorley, date(2026, 11, 28), 0) == date(2026, 11, 30)


def test_expected_date_across_a_bank_holiday(chorley: OpeningHours) -> None:
    # Friday 1 May 2026, 2 working days: Monday 4 May is a bank holiday → Tuesday 5, Wednesday 6; 17:00 BST.
    assert resolution_due(chorley, utc(2026, 5, 1, 10, 0), 2) == utc(2026, 5, 6, 16, 0)
    # Christmas Eve, 3 working days: past Christmas, Boxing Day observed, the shutdown and New Year's Day.
    assert resolution_due(chorley, utc(2026, 12, 24, 9, 0), 3) == utc(2027, 1, 6, 17, 0)
    # Received late on a Sunday in local time (but Monday 00:30 BST): the local day counts.
    assert resolution_due(chorley, utc(2026, 6, 7, 23, 30), 1) == utc(2026, 6, 9, 16, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9-5", "not a time range"),
        ("17:00-09:00", "ends before it starts"),
        ("25:00-26:00", "does not exist"),
    ],
)
def test_bad_time_ranges(text: str, message: str) -> None:
    with pytest.raises(HoursError, match=message):
        parse_windows(text)


def test_overlapping_ranges_and_day_names() -> None:
    with pytest.raises(HoursError, match="overlap"):
        parse_windows(["09:00-12:00", "11:00-13:00"])
    assert parse_days("mon-wed,fri") == ("mon", "tue", "wed", "fri")
    assert parse_days("weekend") == ("sat", "sun")
    with pytest.raises(HoursError, match="unknown day"):
        parse_days("mondays")
    with pytest.raises(HoursError, match="given twice"):
        ChannelHours.from_spec({"mon-fri": "09:00-17:00", "fri": "09:00-16:00"})
