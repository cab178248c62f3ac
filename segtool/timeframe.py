"""The run's point in time (`as_of`, SPEC §2) and the time windows of periods."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .errors import UsageError
from .tree import FixedPeriod, LastPeriod, Period, RelativePeriod

MICROSECONDS_PER_DAY = 86_400_000_000
LATEST = "latest"
NOW = "now"


@dataclass(frozen=True)
class AsOf:
    """Events count when at or before `instant` (a datetime as_of) or before it (a date's next midnight).

    `last_instant` is the reference for "days since": a date D is measured from
    the last instant of D, so a conversion on D (00:00 included) is 0 days old.
    """

    instant: datetime
    inclusive: bool

    @property
    def last_instant(self) -> datetime:
        """The last instant that counts: `instant`, or for a date D the last microsecond of D."""
        return self.instant if self.inclusive else self.instant - timedelta(microseconds=1)

    def describe(self) -> str:
        if self.inclusive:
            return self.instant.isoformat().replace("+00:00", "Z")
        return f"end of {(self.instant - timedelta(days=1)).date().isoformat()} (UTC)"


@dataclass(frozen=True)
class Window:
    """Events with start < t (or start <= t when start_inclusive) and, if end is set, t < end (or t <= end
    when end_inclusive)."""

    start: datetime
    start_inclusive: bool
    end: datetime | None = None
    end_inclusive: bool = False


def parse_as_of(text: str) -> AsOf | str:
    """A date, an ISO datetime (UTC unless it has an offset), `now`, or `latest` (returned as is).
    Between the years 1900 and 9998, so every window (periods are at most 100 years) is an instant the
    engine represents."""
    value = text.strip()
    if value in (LATEST, NOW):
        return value
    try:
        as_of = _instant(value)
    except ValueError:
        raise UsageError(f"as_of: {text!r} is not a date (2024-06-30), an ISO datetime "
                         "(2024-06-30T18:00:00+02:00), 'now' or 'latest'") from None
    except OverflowError:
        as_of = None
    if as_of is None or not EARLIEST <= as_of.last_instant < LAST_INSTANT:
        raise UsageError(f"as_of: {text!r} is outside the years 1900 to 9998")
    return as_of


EARLIEST, LAST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)


def _instant(value: str) -> AsOf:
    if len(value) == 10:
        day = date.fromisoformat(value)
        return AsOf(datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1), inclusive=False)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return AsOf(moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC), inclusive=True)


def now() -> AsOf:
    return AsOf(datetime.now(UTC), inclusive=True)


_UNIT = {"hours": timedelta(hours=1), "days": timedelta(days=1), "weeks": timedelta(weeks=1)}


def window(period: Period, as_of: AsOf) -> Window:
    if isinstance(period, LastPeriod):
        # Half-open: a 7-day window is exactly 7 days long and ends at as_of.
        return Window(as_of.instant - period.amount * _UNIT[period.unit], start_inclusive=not as_of.inclusive)
    if isinstance(period, FixedPeriod):
        start = datetime(period.start.year, period.start.month, period.start.day, tzinfo=UTC)
        end = datetime(period.end.year, period.end.month, period.end.day, tzinfo=UTC) + timedelta(days=1)
        return Window(start, start_inclusive=True, end=end)
    if isinstance(period, RelativePeriod):  # the part of the longer window that the shorter one leaves out
        older, newer = window(period.start, as_of), window(period.end, as_of)
        return Window(older.start, older.start_inclusive, newer.start, end_inclusive=not newer.start_inclusive)
    raise TypeError(f"no window for {period!r}")
