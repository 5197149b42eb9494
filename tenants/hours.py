"""Opening hours, closures, bank holidays and working days: pure functions, no I/O.

A partner's hours are kept per channel (``phone``, ``web``, ``email``, ``face_to_face``, ``callback``) in its own
time zone. Everything here takes and returns timezone-aware datetimes; naive ones are refused, because a
wall-clock time without a zone is exactly the bug that moves a bank holiday by an hour twice a year.

Public entry points (the routing policy and the Open311 status use these):

- ``is_open(hours, channel, moment) -> bool``
- ``next_opening(hours, channel, moment) -> datetime | None`` (``moment`` itself when already open)
- ``next_closing(hours, channel, moment) -> datetime | None`` (``None`` when open round the clock)
- ``is_working_day(hours, day) -> bool`` and ``resolution_due(hours, received_at, working_days) -> datetime``
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def known_zone(value: str) -> str:
    """``value`` if it names an IANA time zone (``Europe/London``), else a ValueError saying so."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


CHANNELS = ("phone", "web", "email", "face_to_face", "callback")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BANK_HOLIDAY_KEY = "bank_holiday"
DAY_GROUPS = {"weekdays": DAY_NAMES[:5], "weekend": DAY_NAMES[5:], "daily": DAY_NAMES}
ENGLAND_AND_WALES = "england-and-wales"
# When a resolution target in working days falls due: the close of that working day, local time.
END_OF_WORKING_DAY = time(17, 0)
# How far next_opening looks ahead before concluding that a channel never opens.
_SEARCH_DAYS = 400

Window = tuple[int, int]  # minutes since local midnight, [start, end), end may be 1440

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class HoursError(ValueError):
    """A time range or day name that cannot be understood; the message says which and why."""


def parse_window(text: str) -> Window:
    """``"08:45-17:00"`` → ``(525, 1020)``; ``24:00`` is allowed as an end, overnight ranges are not."""
    match = _RANGE.match(text)
    if match is None:
        raise HoursError(f"{text!r} is not a time range like '08:45-17:00'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise HoursError(f"{text!r} has a time that does not exist")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise HoursError(f"{text!r} ends before it starts (split an overnight range at midnight)")
    return start, end


def parse_windows(value: str | Iterable[str]) -> tuple[Window, ...]:
    """One range, several, or ``"closed"``; overlapping ranges are refused rather than merged silently."""
    if isinstance(value, str):
        if value.strip().lower() == "closed":
            return ()
        items: list[str] = [value]
    else:
        items = list(value)
    windows = sorted(parse_window(item) for item in items)
    for (_s1, e1), (s2, _e2) in pairwise(windows):
        if s2 < e1:
            raise HoursError(f"time ranges {items!r} overlap")
    return tuple(windows)


def parse_days(key: str) -> tuple[str, ...]:
    """``"mon"``, ``"mon-fri"``, ``"sat,sun"``, ``"weekdays"``, ``"weekend"``, ``"daily"`` or ``"bank_holiday"``."""
    key = key.strip().lower()
    if key == BANK_HOLIDAY_KEY:
        return (BANK_HOLIDAY_KEY,)
    out: list[str] = []
    for part in key.split(","):
        part = part.strip()
        if part in DAY_GROUPS:
            out.extend(DAY_GROUPS[part])
        elif "-" in part:
            first, _, last = part.partition("-")
            if first not in DAY_NAMES or last not in DAY_NAMES:
                raise HoursError(f"unknown day range {part!r} (use mon..sun, e.g. 'mon-fri')")
            i, j = DAY_NAMES.index(first), DAY_NAMES.index(last)
            if j < i:
                raise HoursError(f"day range {part!r} runs backwards")
            out.extend(DAY_NAMES[i : j + 1])
        elif part in DAY_NAMES:
            out.append(part)
        else:
            raise HoursError(
                f"unknown day {part!r} (use mon..sun, ranges like 'mon-fri', weekdays, weekend, daily "
                "or bank_holiday)"
            )
    return tuple(out)


@dataclass(frozen=True)
class ChannelHours:
    """A channel's weekly pattern (Monday first), plus what applies on a bank holiday (closed by default)."""

    always: bool = False
    week: tuple[tuple[Window, ...], ...] = ((),) * 7
    bank_holiday: tuple[Window, ...] = ()

    @classmethod
    def from_spec(cls, spec: str | Mapping[str, str | list[str]]) -> ChannelHours:
        """``"always"``, ``"closed"``, or a mapping of day keys to ranges; a day named twice is an error."""
        if isinstance(spec, str):
            word = spec.strip().lower()
            if word == "always":
                return cls(always=True)
            if word == "closed":
                return cls()
            raise HoursError(f"{spec!r}: use 'always', 'closed' or a mapping of days to time ranges")
        days: dict[str, tuple[Window, ...]] = {}
        for key, value in spec.items():
            windows = parse_windows(value)
            for day in parse_days(key):
                if day in days:
                    raise HoursError(f"{day!r} is given twice (in {key!r})")
                days[day] = windows
        return cls(
            week=tuple(days.get(d, ()) for d in DAY_NAMES), bank_holiday=days.get(BANK_HOLIDAY_KEY, ())
        )


@dataclass(frozen=True)
class Closure:
    """A day (or part of one) the partner is shut beyond its weekly hours, e.g. the Christmas shutdown."""

    day: date
    start: int = 0  # minutes since midnight
    end: int = 1440
    channels: frozenset[str] | None = None  # None: every channel that is not open round the clock
    reason: str = ""

    @property
    def whole_day(self) -> bool:
        return self.start == 0 and self.end == 1440


@dataclass(frozen=True)
class OpeningHours:
    """Everything ``is_open`` and the working-day arithmetic need about one partner (or one service)."""

    timezone: str = "Europe/London"
    channels: Mapping[str, ChannelHours] = field(default_factory=dict)
    default: ChannelHours | None = None  # for a channel not listed; None means closed
    bank_holidays: str | None = ENGLAND_AND_WALES
    closures: tuple[Closure, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def for_channel(self, channel: str) -> ChannelHours:
        return self.channels.get(channel) or self.default or ChannelHours()

    def is_bank_holiday(self, day: date) -> bool:
        return self.bank_holidays == ENGLAND_AND_WALES and day in _england_and_wales(day.year)

    def windows_on(self, channel: str, day: date) -> tuple[Window, ...]:
        """The opening windows of ``channel`` on local ``day``, after bank holidays and closures."""
        pattern = self.for_channel(channel)
        if pattern.always:
            return ((0, 1440),)
        windows = pattern.bank_holiday if self.is_bank_holiday(day) else pattern.week[day.weekday()]
        for closure in self.closures:
            if closure.day == day and (closure.channels is None or channel in closure.channels):
                windows = _subtract(windows, (closure.start, closure.end))
        return windows


def _subtract(windows: tuple[Window, ...], cut: Window) -> tuple[Window, ...]:
    out: list[Window] = []
    for start, end in windows:
        if cut[1] <= start or cut[0] >= end:
            out.append((start, end))
            continue
        if start < cut[0]:
            out.append((start, cut[0]))
        if cut[1] < end:
            out.append((cut[1], end))
    return tuple(out)


@lru_cache(maxsize=64)
def _england_and_wales(year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def bank_holidays_in(year: int) -> frozenset[date]:
    """England and Wales bank holidays of ``year`` (substitute days and one-off holidays included)."""
    return _england_and_wales(year)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is needed")
    return moment


def _local_instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    if minutes >= 1440:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)


def is_open(hours: OpeningHours, channel: str, moment: datetime) -> bool:
    """Whether ``channel`` is staffed (or, for an ``always`` channel, accepting) at ``moment``."""
    local = _aware(moment).astimezone(hours.zone)
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in hours.windows_on(channel, local.date()))


def next_opening(hours: OpeningHours, channel: str, moment: datetime) -> datetime | None:
    """``moment`` if open then, else the next instant ``channel`` opens (in UTC); ``None`` if it never does."""
    if is_open(hours, channel, moment):
        return moment
    zone = hours.zone
    local = _aware(moment).astimezone(zone)
    minute = local.hour * 60 + local.minute
    for offset in range(_SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        for start, _end in hours.windows_on(channel, day):
            if offset > 0 or start > minute:
                return _local_instant(day, start, zone).astimezone(UTC)
    return None


def next_closing(hours: OpeningHours, channel: str, moment: datetime) -> datetime | None:
    """When an open ``channel`` next closes (in UTC); ``moment`` if it is closed; ``None`` if it never closes.

    Back-to-back windows across midnight (``00:00-24:00`` every day) count as one opening.
    """
    if not is_open(hours, channel, moment):
        return moment
    zone = hours.zone
    local = _aware(moment).astimezone(zone)
    day, minute = local.date(), local.hour * 60 + local.minute
    for _ in range(_SEARCH_DAYS):
        for start, end in hours.windows_on(channel, day):
            if end <= minute or start > minute:
                continue
            if end < 1440:
                return _local_instant(day, end, zone).astimezone(UTC)
            following = hours.windows_on(channel, day + timedelta(days=1))
            if not following or following[0][0] != 0:
                return _local_instant(day, end, zone).astimezone(UTC)
            break
        day, minute = day + timedelta(days=1), 0
    return None


def is_working_day(hours: OpeningHours, day: date) -> bool:
    """Monday to Friday, not a bank holiday, not a whole-day closure of the partner."""
    if day.weekday() >= 5 or hours.is_bank_holiday(day):
        return False
    return not any(c.day == day and c.whole_day and c.channels is None for c in hours.closures)


def add_working_days(hours: OpeningHours, start: date, days: int) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself is not counted); 0 → ``start`` or,
    when ``start`` is not a working day, the next one."""
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    if days == 0:
        while not is_working_day(hours, day):
            day += timedelta(days=1)
        return day
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(hours, day):
            counted += 1
    return day


def resolution_due(hours: OpeningHours, received_at: datetime, working_days: int) -> datetime:
    """When an enquiry received at ``received_at`` is due, for a target of ``working_days`` (UTC).

    The day of receipt is day 0 in the partner's own time zone; the target falls at the close of the
    ``working_days``-th working day after it (``END_OF_WORKING_DAY`` local time).
    """
    zone = hours.zone
    received_local = _aware(received_at).astimezone(zone)
    due_day = add_working_days(hours, received_local.date(), working_days)
    return datetime.combine(due_day, END_OF_WORKING_DAY, tzinfo=zone).astimezone(UTC)
