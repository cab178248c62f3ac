"""The run's point in time (`as_of`, SPEC §2) and the time windows of periods, in the configured time zone.

Hours, days and weeks are exact durations. Dates, calendar units (`{this: month}`), months and years are
read on the calendar of the configured time zone (config `timezone`, default UTC): a date is the local day
from midnight to midnight, 23 or 25 hours long on the days the clocks change.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from ..errors import UsageError
from .tree import CalendarPeriod, FixedPeriod, LastPeriod, Period, RelativePeriod

MICROSECONDS_PER_DAY = 86_400_000_000
_ZONE = r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)"
# The ISO 8601 text every engine reads alike (polars' formats, DuckDB's and Spark's casts), after white space
# is stripped: a date; a date and time with seconds (and a fraction) after T or a space, with an optional
# offset; a date and time without seconds after T with an optional offset, or after a space without one.
_CLOCK = r"(?:[01]?[0-9]|2[0-3]):[0-5][0-9]"  # 24:00 is the next day to some engines and no time to others
ISO_TEXT = (r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[T ]" + _CLOCK + r":[0-5][0-9](?:\.[0-9]{1,9})?" + _ZONE + "?"
            r"|T" + _CLOCK + _ZONE + r"?| " + _CLOCK + r")?$")
# A number as text (white space stripped): what polars reads as a float, and so must every SQL engine.
NUMBER_TEXT = r"^[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])$"
# A number written with a decimal comma (white space stripped), thousands optionally grouped by dots: 1.234,56
DECIMAL_COMMA_TEXT = r"^[+-]?(?:[0-9]{1,3}(?:[.][0-9]{3})+|[0-9]+),[0-9]+$"
# Unicode White_Space (what Rust's `\\s`, chrono's and polars' strip_chars() mean), as literal characters
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
LATEST = "latest"
NOW = "now"
UTC_NAME = "UTC"


def char_class(characters: str, negated: bool = False) -> str:
    """A [...] class of `characters`, literally (none of them is special there, except these), in every
    engine's regular expressions."""
    inner = "".join("\\" + c if c in "\\]^-[" else c for c in characters)
    return f"[{'^' if negated else ''}{inner}]"


@dataclass(frozen=True)
class AsOf:
    """Events count when at or before `instant` (a datetime as_of) or before it (a date's next midnight).

    `last_instant` is the reference for "days since": a date D is measured from
    the last instant of D, so a conversion on D (00:00 included) is 0 days old.
    `zone` is the calendar of dates and of "days since".
    """

    instant: datetime
    inclusive: bool
    zone: str = UTC_NAME

    @property
    def last_instant(self) -> datetime:
        """The last instant that counts: `instant`, or for a date D the last microsecond of D."""
        return self.instant if self.inclusive else self.instant - timedelta(microseconds=1)

    def local(self, moment: datetime | None = None) -> datetime:
        """An instant (default: the last that counts) as wall-clock time in the zone, naive."""
        return wall_clock(moment or self.last_instant, self.zone)

    def describe(self) -> str:
        if self.inclusive:
            return self.instant.isoformat().replace("+00:00", "Z")
        return f"end of {self.local().date().isoformat()} ({self.zone})"


@dataclass(frozen=True)
class Window:
    """Events with start < t (or start <= t when start_inclusive) and, if end is set, t < end (or t <= end
    when end_inclusive). No start: from the beginning."""

    start: datetime | None
    start_inclusive: bool
    end: datetime | None = None
    end_inclusive: bool = False


@lru_cache(maxsize=None)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def wall_clock(moment: datetime, zone_name: str) -> datetime:
    """What a clock in the zone shows at an instant (naive)."""
    return moment.astimezone(zone(zone_name)).replace(tzinfo=None)


def instant(local: datetime, zone_name: str) -> datetime:
    """Wall-clock time in the zone (naive) as a UTC instant; an aware datetime keeps its own offset."""
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone(zone_name))
    return local.astimezone(UTC)


def midnight(day: date, zone_name: str) -> datetime:
    """The instant the day starts in the zone."""
    return instant(datetime(day.year, day.month, day.day), zone_name)


def parse_as_of(text: str, zone_name: str = UTC_NAME) -> AsOf | str:
    """A date (through the end of that day in the zone), an ISO datetime (in the zone unless it has an
    offset), `today` or `yesterday` (dates in the zone), `-7d` (that long before now: h, d or w), `now`,
    or `latest` (returned as is). Between the years 1900 and 9998, so every window (periods are at most
    100 years) is an instant the engine represents."""
    value = text.strip()
    if value in (LATEST, NOW):
        return value
    try:
        as_of = _relative(value, zone_name) or _as_of(value, zone_name)
    except ValueError:
        raise UsageError(f"as_of: {text!r} is not a date (2024-06-30), an ISO datetime "
                         "(2024-06-30T18:00:00+02:00), today, yesterday, a time before now (-7d, -12h, -2w), "
                         "now or latest") from None
    except OverflowError:
        as_of = None
    if as_of is None or not EARLIEST <= as_of.last_instant < LAST_INSTANT:
        raise UsageError(f"as_of: {text!r} is outside the years 1900 to 9998")
    return as_of


EARLIEST, LAST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)


def _relative(value: str, zone_name: str) -> AsOf | None:
    if value in ("today", "yesterday"):
        today = current_time().astimezone(zone(zone_name)).date()
        day = today - timedelta(days=1 if value == "yesterday" else 0)
        return AsOf(midnight(day + timedelta(days=1), zone_name), inclusive=False, zone=zone_name)
    m = RELATIVE.fullmatch(value)
    if m is None:
        return None
    return AsOf(current_time() - int(m.group(1)) * _EXACT[UNIT_NAMES[m.group(2)]], inclusive=True, zone=zone_name)


DURATION = re.compile(r"(\d+)\s*(h|d|w)")
RELATIVE = re.compile(r"-\s*" + DURATION.pattern)
UNIT_NAMES = {"h": "hours", "d": "days", "w": "weeks"}


def duration(text: str) -> timedelta | None:
    """`26h`, `3d`, `2w` as a length of time (None: not one)."""
    m = DURATION.fullmatch(text.strip())
    return int(m.group(1)) * _EXACT[UNIT_NAMES[m.group(2)]] if m else None


def in_future(as_of: AsOf, moment: datetime) -> bool:
    """Whether as_of lies after `moment` (now): a date after the day of `moment` in its zone, or an instant
    after it (a date as_of runs to its end, so today is no future)."""
    if as_of.inclusive:
        return as_of.instant > moment
    return as_of.local().date() > wall_clock(moment, as_of.zone).date()


def current_time() -> datetime:
    """Now, in UTC (one place, so tests can set the clock)."""
    return datetime.now(UTC)


def _as_of(value: str, zone_name: str) -> AsOf:
    if len(value) == 10:
        day = date.fromisoformat(value)
        return AsOf(midnight(day + timedelta(days=1), zone_name), inclusive=False, zone=zone_name)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return AsOf(instant(moment, zone_name), inclusive=True, zone=zone_name)


def now(zone_name: str = UTC_NAME) -> AsOf:
    return AsOf(current_time(), inclusive=True, zone=zone_name)


_EXACT = {"hours": timedelta(hours=1), "days": timedelta(days=1), "weeks": timedelta(weeks=1)}


def window(period: Period, as_of: AsOf) -> Window:
    if isinstance(period, LastPeriod):
        # Half-open, ending at as_of: a 7-day window is exactly 7 days long
        return Window(back(period, as_of), start_inclusive=not as_of.inclusive)
    if isinstance(period, FixedPeriod):
        start = None if period.start is None else _start_of(period.start, as_of.zone)
        if period.end is None:
            return Window(start, True, as_of.instant, end_inclusive=as_of.inclusive)
        end, inclusive = _end_of(period.end, as_of.zone)
        return Window(start, True, end, end_inclusive=inclusive)
    if isinstance(period, RelativePeriod):  # the part of the longer window that the shorter one leaves out
        newer = window(period.end, as_of)
        older = window(period.start, as_of) if period.start is not None else Window(None, True)
        return Window(older.start, older.start_inclusive, newer.start, end_inclusive=not newer.start_inclusive)
    if isinstance(period, CalendarPeriod):
        first = unit_start(as_of.local().date(), period.unit)
        if period.which == "this":
            return Window(midnight(first, as_of.zone), True, as_of.instant, end_inclusive=as_of.inclusive)
        before = unit_start(first - timedelta(days=1), period.unit)
        return Window(midnight(before, as_of.zone), True, midnight(first, as_of.zone))
    raise TypeError(f"no window for {period!r}")


def exact_length(period: LastPeriod) -> timedelta:
    """The length of a period of hours, days or weeks (those have one; months and years do not)."""
    return period.amount * _EXACT[period.unit]


def back(period: LastPeriod, as_of: AsOf) -> datetime:
    """The instant `period` before as_of: exact for hours, days and weeks; months and years step back on
    the calendar of the zone, to the same day and time (the month's last day where it has fewer days)."""
    if period.unit in _EXACT:
        return as_of.instant - period.amount * _EXACT[period.unit]
    months = period.amount * (12 if period.unit == "years" else 1)
    local = as_of.instant.astimezone(zone(as_of.zone)).replace(tzinfo=None)
    return instant(months_back(local, months), as_of.zone)


def months_back(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def unit_start(day: date, unit: str) -> date:
    """The first day of the calendar unit that holds `day` (weeks start on Monday)."""
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


def _start_of(moment: date | datetime, zone_name: str) -> datetime:
    return instant(moment, zone_name) if isinstance(moment, datetime) else midnight(moment, zone_name)


def _end_of(moment: date | datetime, zone_name: str) -> tuple[datetime, bool]:
    """A day ends before the next midnight; an instant includes itself."""
    if isinstance(moment, datetime):
        return instant(moment, zone_name), True
    return midnight(moment + timedelta(days=1), zone_name), False


def instants_between(start: AsOf, end: AsOf, amount: int, unit: str, limit: int = 1000) -> list[AsOf]:
    """`end`, and every `amount` `unit`s (hours, days, weeks) before it back to `start`, oldest first. From a
    date `end`, days and weeks step on the calendar (the ends of earlier local days); otherwise exactly."""
    found, k = [], 0
    calendar_days = not end.inclusive and unit != "hours"
    while True:
        if calendar_days:
            days = k * amount * (7 if unit == "weeks" else 1)
            moment = AsOf(midnight(end.local().date() - timedelta(days=days) + timedelta(days=1), end.zone),
                          inclusive=False, zone=end.zone)
        else:
            moment = AsOf(end.instant - k * amount * _EXACT[unit], end.inclusive, end.zone)
        if moment.last_instant < start.last_instant:
            break
        found.append(moment)
        if len(found) > limit:
            raise UsageError(f"more than {limit} instants from {start.describe()} to {end.describe()}; "
                             "take a longer --every or a shorter range")
        k += 1
    return found[::-1]
