"""Checking periods and durations (a Checker mixin): `7d`, `{last: 3, unit: months}`, `{from: DATE, to: DATE}`,
`{from: DATE}`, `{to: DATE}`, datetimes with offsets, `{from: 90d, to: 30d}`, `{this: month}`, `{previous: year}`."""

from __future__ import annotations

import re
from datetime import date, datetime

from ..errors import did_you_mean, suggest
from .tree import CalendarPeriod, FixedPeriod, LastPeriod, RelativePeriod
from .yamlsource import Node

UNITS = {"h": "hours", "d": "days", "w": "weeks", "mo": "months", "y": "years",
         "hours": "hours", "days": "days", "weeks": "weeks", "months": "months", "years": "years"}
EXACT_UNITS = ("hours", "days", "weeks")
DAYS_PER_UNIT = {"hours": 1 / 24, "days": 1, "weeks": 7, "months": 30.436875, "years": 365.2425}
CALENDAR_UNITS = ("day", "week", "month", "quarter", "year")
MAX_PERIOD_DAYS = 36_525  # 100 years: every window stays within the dates the engine represents
FIRST_DATE, LAST_DATE = date(1, 1, 1), date(9998, 12, 31)  # a window ends at the midnight after its last day
DURATION = re.compile(r"\s*(\d+)\s*(mo|h|d|w|y)\s*")
PERIOD_FORMS = ("7d, 3mo, {last: 30, unit: days}, {from: DATE, to: DATE}, {from: DATE}, {to: DATE}, "
                "{from: 90d, to: 30d}, {this: month} or {previous: quarter}")


class Periods:
    """The period grammar; mixed into parse.Checker (which provides `fail`)."""

    def duration(self, node: Node, what: str = "period", exact: bool = False) -> LastPeriod:
        """A length of time: 7d, 12h, 2w, 3mo, 1y, or {last: 30, unit: days} — at most 100 years. `exact`:
        hours, days and weeks only (a length that does not depend on the calendar)."""
        if node.is_map and set(node.value) <= {"last", "unit"} and "last" in node.value:
            period = self.last_period(node)
        else:
            m = DURATION.fullmatch(node.raw or "") if node.is_scalar else None
            if not m or int(m.group(1)) < 1:
                self.fail(node.loc, f"{what} must look like 7d, 12h, 2w, 3mo or 1y (or {{last: 30, unit: days}}), "
                                    f"found {node.describe()}", "bad-period")
            period = LastPeriod(int(m.group(1)), UNITS[m.group(2)])
        if exact and period.unit not in EXACT_UNITS:
            self.fail(node.loc, f"{what} takes hours, days or weeks (an exact length of time), found "
                                f"{node.describe()}", "bad-period")
        return self.bounded(period, node, what)

    def period(self, node: Node):
        if node.is_scalar and not DURATION.fullmatch(node.raw or ""):
            self.fail(node.loc, f"period must be like {PERIOD_FORMS}, found {node.describe()}", "bad-period")
        if node.is_scalar or (node.is_map and set(node.value) <= {"last", "unit"} and "last" in node.value):
            return self.duration(node)
        if not node.is_map:
            self.fail(node.loc, f"period must be like {PERIOD_FORMS}, found {node.describe()}", "bad-period")
        keys = set(node.value)
        if len(keys) == 1 and keys <= {"this", "previous"}:
            return self.calendar(node)
        if keys and keys <= {"from", "to"}:
            return self.between(node)
        bad = sorted(keys - {"last", "unit", "from", "to", "this", "previous"}) or sorted(keys)
        where = node.key_locs[bad[0]]
        close = suggest(bad[0], ("last", "unit", "from", "to", "this", "previous"))
        self.fail(where, f"period takes {PERIOD_FORMS}, found key {bad[0]!r}{did_you_mean(close)}",
                  "bad-period", close)

    def between(self, node: Node):
        """{from: X, to: Y} with dates or datetimes (fixed), or lengths before as_of (relative); either end
        may be left out."""
        start_node, end_node = node.value.get("from"), node.value.get("to")
        lengths = [n is not None and _looks_like_duration(n) for n in (start_node, end_node)]
        if any(lengths):
            if start_node is not None and end_node is not None and not all(lengths):
                self.fail(node.loc, "period: from and to must both be dates or both be lengths of time "
                                    "({from: 90d, to: 30d})", "bad-period")
            start = self.duration(start_node, "from") if start_node is not None else None
            end = self.duration(end_node, "to") if end_node is not None else None
            if end is None:
                return start  # {from: 90d}: the last 90 days
            if start is not None and _days(start) <= _days(end):
                self.fail(node.loc, f"period: from {start_node.raw} ago must be longer ago than to "
                                    f"{end_node.raw}", "bad-period")
            return RelativePeriod(start, end)
        start = self.moment(start_node, "from") if start_node is not None else None
        end = self.moment(end_node, "to") if end_node is not None else None
        if start is not None and end is not None and _sort_key(start) > _sort_key(end):
            self.fail(node.loc, f"period: from {start_node.raw} is after to {end_node.raw}", "bad-period")
        return FixedPeriod(start, end)

    def calendar(self, node: Node) -> CalendarPeriod:
        (which, value), = node.value.items()
        unit = value.raw if value.is_scalar else None
        if unit not in CALENDAR_UNITS:
            close = suggest(unit or "", CALENDAR_UNITS)
            self.fail(value.loc, f"{which} takes one of {', '.join(CALENDAR_UNITS)}, found {value.describe()}"
                                 f"{did_you_mean(close)}", "bad-period", close)
        return CalendarPeriod(which, unit)

    def bounded(self, period: LastPeriod, node: Node, what: str = "period") -> LastPeriod:
        if _days(period) > MAX_PERIOD_DAYS:
            self.fail(node.loc, f"{what}: at most {MAX_PERIOD_DAYS:,} days (100 years), found {node.describe()}; "
                                "leave the period out to count all of history", "bad-period")
        return period

    def last_period(self, node: Node) -> LastPeriod:
        last = node.value["last"]
        if not (last.is_scalar and isinstance(last.value, int) and not isinstance(last.value, bool) and last.value >= 1):
            self.fail(last.loc, f"last takes a whole number of at least 1, found {last.describe()}")
        unit_node = node.value.get("unit")
        unit = unit_node.raw if unit_node is not None and unit_node.is_scalar else "days"
        if unit not in UNITS or len(unit) < 4:
            names = ("hours", "days", "weeks", "months", "years")
            close = suggest(unit or "", names)
            self.fail(unit_node.loc, f"unit must be one of {', '.join(names)}, found {unit_node.describe()}"
                                     f"{did_you_mean(close)}", "bad-period", close)
        return LastPeriod(last.value, UNITS[unit])

    def moment(self, node: Node, key: str):
        """A date (a whole day), or a date and time (an instant; with an offset, or in the configured time
        zone)."""
        value = node.value if node.is_scalar else None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                value = None
        if isinstance(value, date):
            day = value.date() if isinstance(value, datetime) else value
            if not FIRST_DATE <= day <= LAST_DATE:
                self.fail(node.loc, f"{key}: dates run from {FIRST_DATE} to {LAST_DATE}, found {node.describe()}")
            return value
        self.fail(node.loc, f"{key} takes a date like 2024-06-01 or a date and time like 2024-06-01T09:00:00+02:00, "
                            f"found {node.describe()}", "bad-period")


def _days(period: LastPeriod) -> float:
    return period.amount * DAYS_PER_UNIT[period.unit]


def _looks_like_duration(node: Node) -> bool:
    return node.is_map or (node.is_scalar and isinstance(node.value, str) and DURATION.fullmatch(node.raw or "")
                           is not None)


def _sort_key(moment) -> tuple:
    """Dates and datetimes in one order (for `from` after `to`; time zones aside, which a window settles)."""
    if isinstance(moment, datetime):
        return (moment.replace(tzinfo=None).date(), moment.replace(tzinfo=None).time())
    return (moment, datetime.min.time())
