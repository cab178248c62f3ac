"""The retention grid: cells of conversion count × days since the last conversion (SPEC §4)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GridCell:
    """A cell: conversions in [min_conversions, max_conversions] and days since last in [min_days, max_days].

    None as a maximum means no upper bound; days bounds of None on both ends mean
    the recency does not matter (needed for visitors who never converted).
    """

    name: str
    min_conversions: int
    max_conversions: int | None
    min_days: int | None = None
    max_days: int | None = None

    @property
    def conversions_label(self) -> str:
        return range_label(self.min_conversions, self.max_conversions)

    @property
    def days_label(self) -> str:
        if self.min_days is None and self.max_days is None:
            return "—"
        if self.max_days is None:
            return f"over {self.min_days - 1}" if self.min_days else "any"
        return range_label(self.min_days or 0, self.max_days)


def range_label(lo: int, hi: int | None) -> str:
    """`3`, `2–3` or `4 or more`."""
    if hi is None:
        return f"{lo} or more"
    return str(lo) if lo == hi else f"{lo}–{hi}"


DEFAULT_GRID: tuple[GridCell, ...] = (
    GridCell("never_converted", 0, 0),
    GridCell("one_time_buyer", 1, 1, 0, 90),
    GridCell("promising", 2, 3, 0, 90),
    GridCell("loyal", 4, None, 0, 90),
    GridCell("sleeper", 1, 3, 91, None),
    GridCell("red_alert", 4, None, 91, None),
)
