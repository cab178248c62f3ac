"""Sequences: events meeting the steps in order, each within its time of the one before; then none of a kind.

Exactly (README, "Sequences"): a visitor matches when some chain of events e1 … ek exists where ei meets
step i, every ei lies in the period, each ei is strictly later than e(i−1) and at most step i's `within`
after it; with `then_not`, no event meeting it comes after ek and at most its `within` later, and that time
has fully passed by as_of, its end included (a checkout an hour before as_of is not yet abandoned; with a
date as_of, 2 days ending at the midnight after it have not passed). Any event up to as_of can
be the `then_not` event, in the period or not.

Evaluated without pairing events: for each event of step i, only the latest reachable event of step i−1
strictly before it can be the nearest, so one as-of join per step decides whether it is reachable; one
more as-of join finds the first `then_not` event after each reachable last step. Events are sorted by time
per step, never joined pairwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from ...language.timeframe import AsOf, exact_length
from ...language.tree import LastPeriod
from .events import EventTest, Test, matching_events
from ...inputs.tables import UTC_US, VID



@dataclass(frozen=True)
class SequenceSpec:
    steps: list[Test]
    within: list[LastPeriod | None]  # per step; the first is None
    then_not: Test | None
    then_not_within: LastPeriod | None
    period: pl.Expr  # the window every step's event lies in


def duration(period: LastPeriod) -> timedelta:
    return exact_length(period)


def sequence_flags(events: pl.LazyFrame, spec: SequenceSpec, name: str, as_of: AsOf,
                   site_domains: tuple[str, ...]) -> pl.LazyFrame:
    """visitor_id and `name`: True for each visitor with a chain that matches (only those are listed)."""
    tests = [EventTest.of(f"step:{i}", test, spec.period) for i, test in enumerate(spec.steps)]
    if spec.then_not is not None:
        tests.append(EventTest.of("then_not", spec.then_not, pl.lit(True)))
    matched = matching_events(events, tests, site_domains).cache()  # one read; the sorts hold them anyway

    def step_events(name: str) -> pl.LazyFrame:
        return matched.filter(pl.col(name)).select(VID, "timestamp").sort("timestamp")

    reached = step_events("step:0")
    for i, within in enumerate(spec.within[1:], start=1):
        previous = reached.rename({"timestamp": "before"})
        joined = step_events(f"step:{i}").join_asof(
            previous, left_on="timestamp", right_on="before", by=VID, strategy="backward", allow_exact_matches=False,
            check_sortedness=False)  # each side sorted by time above
        near = pl.col("before").is_not_null()
        if within is not None:
            near = near & (pl.col("timestamp") - pl.col("before") <= pl.lit(duration(within)))
        reached = joined.filter(near).select(VID, "timestamp")
    if spec.then_not is not None:
        gap = pl.lit(duration(spec.then_not_within))
        following = step_events("then_not").rename({"timestamp": "after"})
        joined = reached.join_asof(following, left_on="timestamp", right_on="after", by=VID, strategy="forward",
                                   allow_exact_matches=False, check_sortedness=False)
        elapsed = pl.col("timestamp") + gap <= pl.lit(as_of.last_instant, dtype=UTC_US)
        reached = joined.filter(elapsed & (pl.col("after").is_null() | (pl.col("after") - pl.col("timestamp") > gap)))
    return reached.group_by(VID).agg(pl.lit(True).alias(name))
