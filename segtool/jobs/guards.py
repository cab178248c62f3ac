"""`expect:` of a segment file, checked against the size a run found (and the last run's, from the output
directory's manifest). A breach keeps the segment's output as it was and makes the run exit 4."""

from __future__ import annotations

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
