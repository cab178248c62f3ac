"""`expect:` of a segment file, checked against the size a run found (and the last run's, from the output
directory's manifest). A breach keeps the segment's output as it was and makes the run exit 4. And the
config's `freshness:`, checked against the newest event before a run evaluates anything."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..config import Freshness
from ..language.tree import Expectation

EXIT_GUARD = 4


def breaches(expect: Expectation | None, size: int, previous: int | None) -> list[str]:
    """What the size breaks, in words (none: nothing)."""
    if expect is None:
        return []
    found = []
    if expect.min_size is not None and size < expect.min_size:
        found.append(f"{size:,} visitors, fewer than min_size {expect.min_size:,}")
    if expect.max_size is not None and size > expect.max_size:
        found.append(f"{size:,} visitors, more than max_size {expect.max_size:,}")
    if expect.max_change is not None and previous is not None:
        change = abs(size - previous) / previous if previous else (0.0 if size == 0 else float("inf"))
        if change > expect.max_change + 1e-12:
            shown = "from none" if previous == 0 else f"{change:.1%}"
            found.append(f"{size:,} visitors against {previous:,} in the last run ({shown}), more than "
                         f"max_change {expect.max_change:.0%}")
    return found


def stale(freshness: Freshness, newest: datetime | None, moment: datetime) -> tuple[str, str] | None:
    """Where the newest event is older than `freshness` allows at `moment` (now): the level broken (`error`
    before `warn`) and what, in words; None where the data is fresh."""
    age = None if newest is None else moment - newest
    for level, limit in (("error", freshness.error_after), ("warn", freshness.warn_after)):
        if limit is not None and (age is None or age > limit):
            key = f"{level}_after"
            where = freshness.where.get(key)
            found = ("there is no event with a readable timestamp" if newest is None else
                     f"the newest event ({newest.isoformat().replace('+00:00', 'Z')}) is {_age(age)} old")
            limit_text = freshness.written.get(key) or _age(limit)
            return level, f"{found}, older than freshness.{key} {limit_text}{f' ({where})' if where else ''}"
    return None


def _age(length: timedelta) -> str:
    """A length of time in days, hours and minutes: 3d 4h, 26h 5m (rounded down to the minute)."""
    minutes = max(int(length.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    parts = [f"{days}d" * bool(days), f"{rest // 60}h" * bool(rest // 60), f"{rest % 60}m" * bool(rest % 60)]
    return " ".join(p for p in parts if p) or "0m"
