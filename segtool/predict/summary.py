"""Each visitor's purchase history as the models read it: (x, t_x, T, m_x) in days, one row per visitor.

A purchase day is a UTC calendar day with at least one conversion (de-duplicated by order_id, as every
conversion rule counts them); its value is the day's sum. x = purchase days − 1, t_x = days from the first
to the last purchase day, T = days from midnight of the first purchase day to as_of, m_x = the mean value of
the repeat purchase days (the first day left out). A visitor who never converted has x = 0, t_x = 0 and T =
days from their first event to as_of; a visitor with a profile and no events has T = 0.
"""

from __future__ import annotations

import polars as pl

from ..inputs import source
from ..inputs.tables import UTC_US, VID, Inputs
from ..language.timeframe import MICROSECONDS_PER_DAY
from ..language.timeframe import AsOf



def _days(elapsed: pl.Expr) -> pl.Expr:
    return elapsed.dt.total_microseconds().cast(pl.Float64) / MICROSECONDS_PER_DAY


def purchase_summary(inputs: Inputs, as_of: AsOf) -> pl.LazyFrame:
    """visitor_id, customer (converted at least once), x, t_x, T, m_x for every visitor of the universe."""
    events = source.event_rows(inputs, as_of, source.CONVERSION_COLUMNS)
    as_of_instant = pl.lit(as_of.instant, dtype=UTC_US)
    purchase_days = (source.conversions(events, inputs)
                     .group_by(VID, pl.col("timestamp").dt.truncate("1d").alias("day"))
                     .agg(pl.col("order_value").sum().alias("value")))
    customers = purchase_days.group_by(VID).agg(
        (pl.len() - 1).cast(pl.Float64).alias("x"),
        _days(pl.col("day").max() - pl.col("day").min()).alias("t_x"),
        _days(as_of_instant - pl.col("day").min()).alias("T"),
        pl.col("value").sort_by("day").slice(1).mean().alias("m_x"),
    )
    visitors = events.group_by(VID).agg(_days(as_of_instant - pl.col("timestamp").min()).alias("T_seen"))
    if inputs.profiles is not None:
        visitors = visitors.join(source.profile_visitors(inputs), on=VID, how="full", coalesce=True)
    return visitors.join(customers, on=VID, how="left").select(
        VID,
        pl.col("x").is_not_null().alias("customer"),
        pl.col("x").fill_null(0.0),
        pl.col("t_x").fill_null(0.0),
        pl.coalesce("T", "T_seen", pl.lit(0.0)).alias("T"),
        "m_x",
    )
