"""Per-visitor features: everything the compiled rules need per visitor, computed once per run.

Rules register what they need (a test of single events, an aggregate over de-duplicated conversions, a
flag over line items, a test of the profile row, a profile column as it is) under a structural key, so
what several rules or segments ask for is computed once. `visitor_frame` assembles them: one branch per
kind of need, each reading its own columns through the source layer, joined per visitor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ...errors import DataError
from ...language.timeframe import AsOf
from ...inputs import health, source
from ...inputs.tables import VID, Inputs
from ...plan import ir
from .events import EventTest, aggregate, event_flags, passes
from .sequences import SequenceSpec, sequence_flags
from .translate import Context, aggregate_expression, translate


@dataclass
class Aggregate:
    name: str
    expr: pl.Expr


@dataclass(frozen=True)
class Preparation:
    """What a plan needs from the data besides its scans, found before planning (api.Session.prepare):
    predictions from the models."""

    predictions: pl.DataFrame | None = None  # visitor_id and the predicted columns
    prediction_notes: dict[str, str] = field(default_factory=dict)  # column -> how it was computed


@dataclass
class Features:
    """The per-visitor aggregates of a plan (plan/ir.py), each registered once under its node, with the
    columns of each table their expressions read."""

    event_tests: dict[ir.EventAggregate, EventTest] = field(default_factory=dict)  # any/count of some events
    visit_aggs: dict[ir.EventAggregate, Aggregate] = field(default_factory=dict)  # over all of a visitor's events
    conversion_aggs: dict[ir.ConversionAggregate, Aggregate] = field(default_factory=dict)
    item_flags: dict[ir.OrderHasLine, Aggregate] = field(default_factory=dict)
    profile_values: dict[ir.FirstProfile, Aggregate] = field(default_factory=dict)  # over each first profile row
    predicted_columns: dict[str, None] = field(default_factory=dict)  # computed by the models
    sequences: dict[ir.Chain, tuple[str, SequenceSpec]] = field(default_factory=dict)
    event_columns: set[str] = field(default_factory=set)  # raw event columns the event tests read
    item_columns: dict[str, None] = field(default_factory=dict)
    profile_reads: dict[str, None] = field(default_factory=dict)
    rows: Context = field(init=False)  # translates the expressions over single rows

    def __post_init__(self):
        self.rows = Context(self)

    def event_aggregate(self, node: ir.EventAggregate) -> str:
        """`any`/`count` of the events meeting a test (events.py), or the first/last of all events."""
        if node.fn in ("min", "max"):
            if node not in self.visit_aggs:
                self.visit_aggs[node] = Aggregate(f"v{len(self.visit_aggs)}", aggregate_expression(node, self.rows))
            return self.visit_aggs[node].name
        if node not in self.event_tests:
            self.event_tests[node] = EventTest.of(f"e{len(self.event_tests)}", node.fn, node.where, self.rows)
            self.event_columns.update(columns_of(node.where))
        return self.event_tests[node].name

    def chain(self, node: ir.Chain) -> str:
        """Whether the visitor has a chain of events that matches the sequence (sequences.py)."""
        if node not in self.sequences:
            self.sequences[node] = (f"s{len(self.sequences)}", SequenceSpec.of(node, self.rows))
            for step in (*node.steps, *([node.then_not] if node.then_not is not None else [])):
                self.event_columns.update(columns_of(step))
        return self.sequences[node][0]

    @property
    def reads_events_one_by_one(self) -> bool:
        return bool(self.event_tests or self.sequences or self.visit_aggs)

    def conversion_aggregate(self, node: ir.ConversionAggregate) -> str:
        """An aggregate over the visitor's de-duplicated conversions (with their item flags)."""
        if node not in self.conversion_aggs:
            self.conversion_aggs[node] = Aggregate(f"c{len(self.conversion_aggs)}",
                                                   aggregate_expression(node, self.rows))
        return self.conversion_aggs[node].name

    def item_flag(self, node: ir.OrderHasLine) -> str:
        """Per conversion: whether one of its line items meets the node's test."""
        if node not in self.item_flags:
            self.item_flags[node] = Aggregate(f"i{len(self.item_flags)}", translate(node.where, self.rows))
            self.item_columns.update(dict.fromkeys(sorted(columns_of(node.where))))
        return self.item_flags[node].name

    def first_profile(self, node: ir.FirstProfile) -> str:
        """A value of the visitor's first profile row (null without one)."""
        if node not in self.profile_values:
            self.profile_values[node] = Aggregate(f"p{len(self.profile_values)}", translate(node.value, self.rows))
            self.profile_reads.update(dict.fromkeys(sorted(columns_of(node.value))))
        return self.profile_values[node].name

    def predicted(self, column: str) -> str:
        """A column the models compute per visitor (Preparation.predictions)."""
        self.predicted_columns[column] = None
        return profile_name(column)

    @property
    def reads_profiles(self) -> bool:
        return bool(self.profile_values)


def profile_name(column: str) -> str:
    return f"profile:{column}"


def columns_of(node: ir.Node) -> set[str]:
    """The columns of its table a row expression reads."""
    return {n.name for n in ir.walk(node) if isinstance(n, ir.Column) and n.kind != "absent"}


def conversion_rows(events: pl.LazyFrame, inputs: Inputs, features: Features) -> pl.LazyFrame:
    """One row per conversion (source.conversions), with each item flag of the conversion's line items."""
    rows = source.conversions(events, inputs)
    if features.item_flags:
        rows = rows.join(_item_flags(inputs, features), on="order_id", how="left").with_columns(
            pl.col(a.name).fill_null(False) for a in features.item_flags.values())
    return rows


def _item_flags(inputs: Inputs, features: Features) -> pl.LazyFrame:
    if inputs.items is None:
        raise DataError("a rule uses `items`, but no items table is configured (data.items or --items)")
    inputs.items.require(["order_id"])
    lines = inputs.items.select(["order_id", *features.item_columns]).filter(pl.col("order_id").is_not_null())
    return lines.group_by("order_id").agg(a.expr.any().alias(a.name) for a in features.item_flags.values())


ALL = "all"              # the universe: profiles ∪ events up to as_of
MATCHING_EVENTS = "matching events"  # only visitors with an event that meets some event rule's condition
PROFILES = "profiles"    # only visitors with a profile
CONVERTERS = "converters"  # only visitors with a conversion
BOTH = "both"            # profiles ∪ converters
# The event rows whose health a plan of each scope counts (see visitor_frame): every event up to as_of, the
# conversion events, or none; what the SQL engines count too (backends/sql/statement.row_checks).
CHECKED_ROWS = {ALL: "events", MATCHING_EVENTS: "events", CONVERTERS: "conversions", BOTH: "conversions",
                PROFILES: None}
SCOPE_WORDS = {
    ALL: "every visitor (profiles and events up to as_of)",
    MATCHING_EVENTS: "the visitors with an event that meets one of the segment's event rules or a chain of its sequences",
    PROFILES: "the visitors with a profile",
    CONVERTERS: "the visitors with a conversion",
    BOTH: "the visitors with a profile or a conversion",
}


@dataclass
class VisitorFrame:
    """The per-visitor plan, and the one-row checks of the event rows it reads (health.py): `skips` counts
    rows without a visitor or a readable timestamp (`skipped_from` are those rows, where the count must be
    made exact), `conversion_types` counts the events of each conversion type."""

    frame: pl.LazyFrame
    skips: pl.LazyFrame | None = None
    skipped_from: pl.LazyFrame | None = None
    conversion_types: pl.LazyFrame | None = None


def visitor_frame(inputs: Inputs, features: Features, as_of: AsOf, scope: str = ALL,
                  prepared: Preparation = Preparation()) -> VisitorFrame:
    """One row per visitor of the universe (profiles ∪ events up to as_of) with every feature column.

    A narrower `scope` leaves out visitors that cannot match any output (see plan.universe_scope), which
    spares the per-visitor pass over all events when no rule reads events one by one. Each branch reads
    its own columns of the events in a scan of its own, streaming; only small results are cached."""
    events = source.event_rows(inputs, as_of, features.event_columns)
    predicted = list(features.predicted_columns)
    profiles = _profile_rows(inputs, features) if inputs.profiles is not None else None
    result = VisitorFrame(pl.LazyFrame())
    per_converter = None
    if features.conversion_aggs:
        converted = source.conversion_events(inputs, as_of)
        types = inputs.config.conversion_events
        result.conversion_types = health.conversion_type_counts(converted, types)
        per_converter = conversion_rows(converted, inputs, features).group_by(VID).agg(
            a.expr.alias(a.name) for a in features.conversion_aggs.values())
        if scope in (CONVERTERS, BOTH):
            result.skips, result.skipped_from = health.skip_counts(converted), converted
    tests = list(features.event_tests.values())
    if scope == ALL:
        by_time = [t for t in tests if t.reads_only_time]  # answered by the pass that finds every visitor
        tests = [t for t in tests if not t.reads_only_time]
        seen = source.event_base(inputs, as_of).with_columns(passes(t, features.rows) for t in by_time).group_by(
            VID).agg(pl.len().alias(health.ROWS), pl.col("timestamp").null_count().alias(health.UNREADABLE),
                     *(a.expr.alias(a.name) for a in features.visit_aggs.values()), *map(aggregate, by_time)).cache()
        result.skips = health.skip_counts_per_visitor(seen)
        universe = seen.filter(pl.col(health.ROWS) > pl.col(health.UNREADABLE)).select(
            VID, *(a.name for a in features.visit_aggs.values()), *(t.name for t in by_time))
    elif scope == MATCHING_EVENTS:
        read = source.event_base(inputs, as_of)
        result.skips, result.skipped_from = health.skip_counts(read), read
    if scope in (ALL, MATCHING_EVENTS):
        flags = event_flags(events, tests, features.rows) if tests else None
        if scope == ALL:
            universe = universe.join(flags, on=VID, how="left") if flags is not None else universe
        else:  # every segment needs a matching event or chain: the visitors with one are the universe
            universe = flags.filter(pl.any_horizontal(pl.col(t.name) for t in tests)) if flags is not None else None
        for name, spec in features.sequences.values():
            found = sequence_flags(events, spec, name, features.rows)
            universe = found if universe is None else universe.join(
                found, on=VID, how="left" if scope == ALL else "full", coalesce=True)
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
    if predicted:
        universe = universe.join(_predictions(prepared, predicted), on=VID, how="left")
    if per_converter is not None:
        universe = universe.join(per_converter, on=VID, how="left")
    result.frame = universe
    return result


def _profile_rows(inputs: Inputs, features: Features) -> pl.LazyFrame:
    """One row per visitor with a profile (its first), with the values the plan reads of it."""
    rows = source.profile_rows(inputs, list(features.profile_reads))
    return rows.select(VID, *(a.expr.alias(a.name) for a in features.profile_values.values()))


def _predictions(prepared: Preparation, columns: list[str]) -> pl.LazyFrame:
    """The predicted columns per visitor; null columns where the plan is only to be shown (explain)."""
    if prepared.predictions is None:
        return pl.LazyFrame(schema={VID: pl.String, **{profile_name(c): pl.Float64 for c in columns}})
    return prepared.predictions.lazy().select(VID, *(pl.col(c).alias(profile_name(c)) for c in columns))
