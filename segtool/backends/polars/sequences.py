"""Sequences: events meeting the steps in order, each within its time of the one before; then none of a kind.

Exactly (docs/segments.md, "Sequences"): a visitor matches when some chain of events e1 … ek exists where ei meets
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
from datetime import datetime

import polars as pl

from ...inputs.tables import UTC_US, VID
from ...plan import ir
from .events import EventTest, matching_events
from .translate import Context


@dataclass(frozen=True)
class SequenceSpec:
    steps: list[EventTest]
    within: list[int | None]  # microseconds, per step; the first is None
    then_not: EventTest | None
    gap: int | None  # microseconds
    until: datetime

    @classmethod
    def of(cls, chain: ir.Chain, ctx: Context) -> "SequenceSpec":
        steps = [EventTest.of(f"step:{i}", "any", step, ctx) for i, step in enumerate(chain.steps)]
        then_not = EventTest.of("then_not", "any", chain.then_not, ctx) if chain.then_not is not None else None
        return cls(steps, list(chain.within), then_not, chain.gap, chain.until)


def sequence_flags(events: pl.LazyFrame, spec: SequenceSpec, name: str, ctx: Context) -> pl.LazyFrame:
    """visitor_id and `name`: True for each visitor with a chain that matches (only those are listed)."""
    tests = [*spec.steps, *([spec.then_not] if spec.then_not is not None else [])]
    matched = matching_events(events, tests, ctx).cache()  # one read; the sorts hold them anyway

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
            near = near & (pl.col("timestamp") - pl.col("before") <= pl.duration(microseconds=within))
        reached = joined.filter(near).select(VID, "timestamp")
    if spec.then_not is not None:
        gap = pl.duration(microseconds=spec.gap)
        following = step_events("then_not").rename({"timestamp": "after"})
        joined = reached.join_asof(following, left_on="timestamp", right_on="after", by=VID, strategy="forward",
                                   allow_exact_matches=False, check_sortedness=False)
        elapsed = pl.col("timestamp") + gap <= pl.lit(spec.until, dtype=UTC_US)
        reached = joined.filter(elapsed & (pl.col("after").is_null() | (pl.col("after") - pl.col("timestamp") > gap)))
    return reached.group_by(VID).agg(pl.lit(True).alias(name))
