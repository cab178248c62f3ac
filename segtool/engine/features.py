"""Per-visitor features: every aggregate the compiled rules need, computed once per run.

Rules register what they need (a profile column, an aggregate over events, over
de-duplicated conversions, or a flag over line items) under a structural key, so
the same aggregate asked for by several rules or segments is computed once. The
visitor frame is then one aggregation over events, one over conversions and a
join with profiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ..errors import DataError
from ..timeframe import AsOf
from . import health
from .events import SAMPLE_ROWS, EventTest, event_flags
from .inputs import VID, Inputs, Table, before_as_of, parse_timestamps


@dataclass
class Aggregate:
    name: str
    expr: pl.Expr
    default: object


@dataclass
class Features:
    event_tests: dict[object, EventTest] = field(default_factory=dict)
    conversion_aggs: dict[object, Aggregate] = field(default_factory=dict)
    item_flags: dict[object, Aggregate] = field(default_factory=dict)
    event_columns: set[str] = field(default_factory=set)  # raw event columns the event tests read
    profile_tests: dict[object, Aggregate] = field(default_factory=dict)  # a test of each profile row
    profile_columns: dict[str, None] = field(default_factory=dict)  # profile columns joined as they are
    profile_reads: dict[str, None] = field(default_factory=dict)  # profile columns the profile tests read
    computed_predictive: dict[str, str] = field(default_factory=dict)  # column -> how it was computed from events

    def _register(self, table: dict, prefix: str, key, expr: pl.Expr, default):
        if key not in table:
            table[key] = Aggregate(f"{prefix}{len(table)}", expr, default)
        return pl.col(table[key].name)

    def any_event(self, key, build, columns: tuple[str, ...]) -> pl.Expr:
        """Whether at least one of the visitor's events (up to as_of) passes the test `build(name)` makes
        (events.event_test), which reads the raw event `columns`."""
        if key not in self.event_tests:
            self.event_tests[key] = build(f"e{len(self.event_tests)}")
        self.event_columns.update(columns)
        return pl.col(self.event_tests[key].name)

    def over_conversions(self, key, expr: pl.Expr, default) -> pl.Expr:
        """An aggregate over the visitor's de-duplicated conversions."""
        return self._register(self.conversion_aggs, "c", key, expr, default)

    def item_flag(self, key, line_expr: pl.Expr) -> pl.Expr:
        """Per conversion: whether one of its line items meets `line_expr`."""
        return self._register(self.item_flags, "i", key, line_expr, False)

    def profile(self, column: str) -> pl.Expr:
        """A profile column as it is, per visitor (for output, or computed from events)."""
        self.profile_columns[column] = None
        return pl.col(profile_name(column))

    def profile_test(self, key, expr: pl.Expr, columns: tuple[str, ...]) -> pl.Expr:
        """Whether the visitor's profile row meets `expr` (over the profile `columns`); False without one."""
        self.profile_reads.update(dict.fromkeys(columns))
        return self._register(self.profile_tests, "p", key, expr, False)

    @property
    def reads_profiles(self) -> bool:
        return bool(self.profile_columns or self.profile_tests)


def profile_name(column: str) -> str:
    return f"profile:{column}"


def event_base(inputs: Inputs, features: Features, as_of: AsOf | None, *, conversions: bool = False,
               event_type: bool = False) -> pl.LazyFrame:
    """The event rows up to as_of (all rows where it is None) with the columns the features read (and the
    conversion columns where `conversions` is set, event_type where `event_type` is), timestamps parsed.
    Rows without a visitor or a readable timestamp are still there: the health check (health.py) counts
    them, and `event_rows` drops them."""
    ts = pl.col("timestamp")
    frame = _event_columns(inputs, features, conversions, event_type)
    return frame if as_of is None else frame.filter(ts.is_null() | before_as_of(ts, as_of))


def event_rows(inputs: Inputs, features: Features, as_of: AsOf, *, conversions: bool = False) -> pl.LazyFrame:
    """The events up to as_of with a readable timestamp. Rows without a visitor_id fall into a null group
    when aggregated per visitor, which `known_visitors` drops with the blank IDs: no test per event row
    (a filter on visitor_id would make the scan decode every ID before the other filters)."""
    return _event_columns(inputs, features, conversions).filter(before_as_of(pl.col("timestamp"), as_of))


def _event_columns(inputs: Inputs, features: Features, conversions: bool = False, event_type: bool = False
                   ) -> pl.LazyFrame:
    events = inputs.events
    events.require(("visitor_id", "timestamp", "event_type"))
    raw = {c for c in features.event_columns if events.has(c)}
    if features.conversion_aggs or conversions:
        raw |= {"event_type", "order_id", "order_value"}
    if event_type:
        raw.add("event_type")
    return events.select([VID, "timestamp", *sorted(raw)]).with_columns(
        parse_timestamps(events, inputs.config.timestamp_format, pl.col("timestamp")).alias("timestamp"))


def known_visitors(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows whose visitor_id has some text: an empty or all-whitespace ID is no visitor (its events are
    skipped, and counted so by the health check). Applied to a collected frame of one row per visitor:
    in a lazy plan polars would push the test down to every event row."""
    return frame.filter(pl.col(VID).str.contains(r"\S"))


def conversion_events(inputs: Inputs, features: Features, as_of: AsOf) -> pl.LazyFrame:
    """The events of the conversion types up to as_of, unreadable timestamps included (the health check
    counts them): a few percent of the rows, cached, as both the conversions and their check read them."""
    ts = pl.col("timestamp")
    rows = _event_columns(inputs, features, conversions=True)
    return rows.filter(pl.col("event_type").is_in(list(inputs.config.conversion_events))
                       & (ts.is_null() | before_as_of(ts, as_of))).cache()


def conversion_rows(events: pl.LazyFrame, inputs: Inputs, features: Features) -> pl.LazyFrame:
    """One row per conversion: events of the conversion types, an order tracked twice counted once (first event)."""
    conversions = events.filter(pl.col("event_type").is_in(list(inputs.config.conversion_events))
                                & pl.col("timestamp").is_not_null())
    columns = [VID, "timestamp", "order_id", "order_value"]
    orders = (conversions.filter(pl.col("order_id").is_not_null())
              .group_by([VID, "order_id"])
              .agg(pl.col("timestamp").min(), pl.col("order_value").sort_by("timestamp").first())
              .select(columns))
    unordered = conversions.filter(pl.col("order_id").is_null()).select(columns)
    rows = pl.concat([orders, unordered])
    if features.item_flags:
        rows = rows.join(_item_flags(inputs, features), on="order_id", how="left").with_columns(
            pl.col(a.name).fill_null(False) for a in features.item_flags.values())
    return rows


def _item_flags(inputs: Inputs, features: Features) -> pl.LazyFrame:
    if inputs.items is None:
        raise DataError("a rule uses `items`, but no items table is configured (data.items or --items)")
    columns = sorted({c for key in features.item_flags for c in key[0]})
    inputs.items.require(["order_id"])
    lines = inputs.items.select(["order_id", *columns]).filter(pl.col("order_id").is_not_null())
    return lines.group_by("order_id").agg(a.expr.any().alias(a.name) for a in features.item_flags.values())


ALL = "all"              # the universe: profiles ∪ events up to as_of
MATCHING_EVENTS = "matching events"  # only visitors with an event that meets some event rule's condition
PROFILES = "profiles"    # only visitors with a profile
CONVERTERS = "converters"  # only visitors with a conversion
BOTH = "both"            # profiles ∪ converters


@dataclass
class VisitorFrame:
    """The per-visitor plan, and the one-row checks of the event rows it reads (health.py): `skips` counts
    rows without a visitor or a readable timestamp (`skipped_from` are those rows, where the count must be
    made exact), `conversion_types` counts the events of each conversion type."""

    frame: pl.LazyFrame
    skips: pl.LazyFrame | None = None
    skipped_from: pl.LazyFrame | None = None
    conversion_types: pl.LazyFrame | None = None


def visitor_frame(inputs: Inputs, features: Features, as_of: AsOf, scope: str = ALL) -> VisitorFrame:
    """One row per visitor of the universe (profiles ∪ events up to as_of) with every feature column.

    A narrower `scope` leaves out visitors that cannot match any output (see plan.universe_scope), which
    spares the per-visitor pass over all events when no rule reads events one by one. Each branch reads
    its own columns of the events in a scan of its own, streaming; only small results are cached."""
    events = event_rows(inputs, features, as_of)
    predicted = predicted_columns(inputs, features)
    profiles = _profile_rows(inputs.profiles, features, predicted) if inputs.profiles is not None else None
    result = VisitorFrame(pl.LazyFrame())
    per_converter = None
    if features.conversion_aggs:
        converted = conversion_events(inputs, features, as_of)
        types = inputs.config.conversion_events
        result.conversion_types = health.conversion_type_counts(converted, types)
        per_converter = conversion_rows(converted, inputs, features).group_by(VID).agg(
            a.expr.alias(a.name) for a in features.conversion_aggs.values())
        if scope in (CONVERTERS, BOTH):
            result.skips, result.skipped_from = health.skip_counts(converted), converted
    if scope == ALL:
        seen = event_base(inputs, Features(), as_of).group_by(VID).agg(
            pl.len().alias(health.ROWS), pl.col("timestamp").null_count().alias(health.UNREADABLE)).cache()
        result.skips = health.skip_counts_per_visitor(seen)
        universe = seen.filter(pl.col(health.ROWS) > pl.col(health.UNREADABLE)).select(VID)
    elif scope == MATCHING_EVENTS:
        read = event_base(inputs, Features(), as_of)
        result.skips, result.skipped_from = health.skip_counts(read), read
    if scope in (ALL, MATCHING_EVENTS):
        tests = list(features.event_tests.values())
        flags = _event_flags(events, tests, inputs) if tests else None
        if scope == ALL:
            if flags is not None:
                universe = universe.join(flags, on=VID, how="left")
        else:  # every segment needs a matching event: the visitors with one are the universe
            universe = flags.filter(pl.any_horizontal(pl.col(t.name) for t in tests))
        if profiles is not None and (scope == ALL or features.reads_profiles):
            universe = universe.join(profiles, on=VID, how="full" if scope == ALL else "left", coalesce=True)
    elif scope == CONVERTERS or (scope == BOTH and profiles is None):
        universe, per_converter = per_converter, None
        if profiles is not None and features.reads_profiles:
            universe = universe.join(profiles, on=VID, how="left")
    else:
        universe = profiles
        if scope == BOTH:
            universe, per_converter = universe.join(per_converter, on=VID, how="full", coalesce=True), None
    if profiles is None and features.reads_profiles:
        universe = universe.with_columns(*(pl.lit(None).alias(profile_name(c)) for c in features.profile_columns
                                           if c not in predicted),
                                         *(pl.lit(False).alias(a.name) for a in features.profile_tests.values()))
    if predicted:
        universe = universe.join(_predictions(inputs, features, as_of, predicted), on=VID, how="left")
    if per_converter is not None:
        universe = universe.join(per_converter, on=VID, how="left")
    defaults = {t.name: False for t in [*features.event_tests.values(), *features.profile_tests.values()]}
    defaults.update({a.name: a.default for a in features.conversion_aggs.values() if a.default is not None})
    result.frame = universe.with_columns(pl.col(name).fill_null(value) for name, value in defaults.items())
    return result


def _event_flags(events: pl.LazyFrame, tests: list[EventTest], inputs: Inputs) -> pl.LazyFrame:
    """Per visitor, whether an event passes each test; the export's first rows judge where a value derived
    from a referrer or URL is worth computing once per distinct value (events.event_flags)."""
    sample = rows = None
    if any(t.derived for t in tests):
        sample = events.head(SAMPLE_ROWS).collect(engine="streaming")
        rows = inputs.events.estimated_rows()
    return event_flags(events, tests, inputs.config.site_domains, sample, rows)


def _profile_rows(profiles: Table, features: Features, predicted: list[str]) -> pl.LazyFrame:
    """One row per visitor with a profile (its first): the profile tests' answers and the columns joined
    as they are."""
    profiles.require(["visitor_id"])
    wanted = [c for c in features.profile_columns if c not in predicted]
    read = list(dict.fromkeys([*wanted, *features.profile_reads]))
    rows = profiles.select([VID, *(c for c in read if profiles.has(c))]).filter(
        pl.col(VID).is_not_null() & pl.col(VID).is_first_distinct())
    rows = rows.with_columns(pl.lit(None, profiles.typed_dtype(c)).alias(c) for c in read if not profiles.has(c))
    return rows.select(VID, *(pl.col(c).alias(profile_name(c)) for c in wanted),
                       *(a.expr.alias(a.name) for a in features.profile_tests.values()))


PREDICTIVE_COLUMNS = ("conversion_potential", "clv")


def predicted_columns(inputs: Inputs, features: Features) -> list[str]:
    """The predictive profile columns the features read that are computed from events."""
    return [c for c in features.profile_columns if computed_from_events(c, inputs)]


def computed_from_events(column: str, inputs: Inputs) -> bool:
    """Whether a predictive column comes from the models: config `predictive: events`, or `auto` where the
    profiles lack the column (or there are no profiles)."""
    source, profiles = inputs.config.predictive, inputs.profiles
    return column in PREDICTIVE_COLUMNS and (
        source == "events" or (source == "auto" and (profiles is None or not profiles.has(column))))


def _predictions(inputs: Inputs, features: Features, as_of: AsOf, columns: list[str]) -> pl.LazyFrame:
    from ..predict import predict_visitors, source_note

    predictions = predict_visitors(inputs, as_of)
    features.computed_predictive.update({c: source_note(c, predictions.models) for c in columns})
    return predictions.frame.lazy().select(VID, *(pl.col(c).alias(profile_name(c)) for c in columns))
