"""The rule tree → polars boolean expressions over the visitor frame.

One registered function per tree node type and one per field family. A family
compiler turns a Condition into an expression over feature columns it
registers in `Features`; combinators combine those expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import singledispatch

import polars as pl

from ...language import catalog
from ...language.grid import GridCell
from ...language.operators import Predicate
from ...plan.sampling import buckets_below
from ...plan.semantics import NUMBER_OPS, SUM_DECIMALS
from ...language.timeframe import MICROSECONDS_PER_DAY, UTC_NAME, AsOf, Window, window
from ...language.tree import (AllOf, AnyOf, Condition, EventCondition, EventRule, ItemCondition, Not, Period, Rule, Sample,
                    Segment, SegmentRef, Sequence)
from . import expressions as ex
from .events import EventTest, Test, field_test
from .sequences import SequenceSpec
from .features import Features
from ...inputs.tables import UTC_US, VID, Inputs



@dataclass
class Context:
    features: Features
    inputs: Inputs
    as_of: AsOf
    answers: dict[str, pl.Expr] = field(default_factory=dict)  # segment name -> its compiled answer
    buckets: dict[str, pl.Expr] = field(default_factory=dict)  # sample seed -> each visitor's bucket

    def answer(self, segment: Segment) -> pl.Expr:
        """The segment's compiled rules: once per run, however often it is run or named."""
        if segment.name not in self.answers:
            self.answers[segment.name] = translate(segment.root, self)
        return self.answers[segment.name]

    def in_window(self, period: Period | None) -> pl.Expr:
        if period is None:
            return pl.lit(True)
        return in_window(pl.col("timestamp"), window(period, self.as_of))

    def days_since(self, instant: pl.Expr) -> pl.Expr:
        """Whole days (rounded down) from an instant to as_of, on the clock of the configured time zone: from
        10:00 one day to 10:00 the next is a day, also when the clocks changed in between."""
        if self.as_of.zone == UTC_NAME:
            elapsed = pl.lit(self.as_of.last_instant, dtype=UTC_US) - instant
        else:
            wall_clock = instant.dt.convert_time_zone(self.as_of.zone).dt.replace_time_zone(None)
            elapsed = pl.lit(self.as_of.local(), dtype=pl.Datetime("us")) - wall_clock
        return elapsed.dt.total_microseconds() // MICROSECONDS_PER_DAY


def in_window(instant: pl.Expr, w: Window) -> pl.Expr:
    if w.start is None:
        mask = instant.is_not_null()
    else:
        start = pl.lit(w.start, dtype=UTC_US)
        mask = instant >= start if w.start_inclusive else instant > start
    if w.end is not None:
        end = pl.lit(w.end, dtype=UTC_US)
        mask = mask & (instant <= end if w.end_inclusive else instant < end)
    return mask


@singledispatch
def translate(rule, ctx: Context) -> pl.Expr:
    raise TypeError(f"no translation rule for {type(rule).__name__}")


@translate.register
def _all(rule: AllOf, ctx: Context) -> pl.Expr:
    return pl.all_horizontal([translate(r, ctx) for r in rule.rules])


@translate.register
def _any(rule: AnyOf, ctx: Context) -> pl.Expr:
    return pl.any_horizontal([translate(r, ctx) for r in rule.rules])


@translate.register
def _not(rule: Not, ctx: Context) -> pl.Expr:
    return ~translate(rule.rule, ctx)


@translate.register
def _condition(rule: Condition, ctx: Context) -> pl.Expr:
    compiler = FAMILY_COMPILERS.get(rule.field.family)
    if compiler is None:
        raise NoCompiler(f"no compiler for field {rule.field.name!r} of family {rule.field.family!r}")
    return compiler(rule, ctx)


def _positive(p: Predicate) -> Predicate:
    return replace(p, negated=False, written="")


def _negate_if(p: Predicate, expr: pl.Expr) -> pl.Expr:
    return ~expr if p.negated else expr


# -- which event rules a rule needs ----------------------------------------------
@singledispatch
def required_events(rule, ctx: Context) -> frozenset[str] | None:
    """Names of event aggregates at least one of which is true wherever `rule` holds (None: no such set).
    Call after `translate`, which registers the aggregates."""
    return None


@required_events.register
def _all_required(rule: AllOf, ctx: Context) -> frozenset[str] | None:
    options = [r for r in (required_events(child, ctx) for child in rule.rules) if r is not None]
    return min(options, key=len) if options else None


@required_events.register
def _any_required(rule: AnyOf, ctx: Context) -> frozenset[str] | None:
    options = [required_events(child, ctx) for child in rule.rules]
    return frozenset().union(*options) if options and None not in options else None


@required_events.register
def _ref_required(rule: SegmentRef, ctx: Context) -> frozenset[str] | None:
    return required_events(rule.target.root, ctx)


@required_events.register
def _event_rule_required(rule: EventRule, ctx: Context) -> frozenset[str] | None:
    zero_passes = ex.numbers_pass(rule.count, 0.0)
    return None if zero_passes else frozenset({ctx.features.event_tests[("count", rule.conditions, rule.period)].name})


@required_events.register
def _sequence_required(rule: Sequence, ctx: Context) -> frozenset[str] | None:
    return frozenset({ctx.features.sequences[("sequence", rule)][0]})


@required_events.register
def _condition_required(rule: Condition, ctx: Context) -> frozenset[str] | None:
    if _seen_within(rule):
        return frozenset({ctx.features.event_tests[_seen_key(rule)].name})
    if rule.field.family != catalog.REFERRER_UTM or rule.predicate.negated:
        return None
    return frozenset({ctx.features.event_tests[_event_key(rule)].name})


def _seen_within(rule: Condition) -> bool:
    """`last_seen: {within: D}`: the last event is in the window exactly when some event is, so it is an
    event test (which spares the pass over every visitor's events when a segment needs it)."""
    p = rule.predicate
    return rule.field.family == catalog.VISITS and rule.field.measure == "last" and p.op == "within" and not p.negated


def _seen_key(rule: Condition) -> tuple:
    return ("seen", rule.predicate.value)


# -- families --------------------------------------------------------------------
def compile_profile(rule: Condition, ctx: Context) -> pl.Expr:
    """Tested on the profile rows (only the answer is joined to the visitors), or on the predictions where
    the column is computed from events; negation per visitor, so a visitor without a profile is `not`."""
    column, p = rule.field.column, rule.predicate
    dtype = ctx.inputs.profiles.typed_dtype(column) if ctx.inputs.profiles is not None else pl.String
    if ctx.inputs.computes(column):
        return ex.apply(ctx.features.profile(column), p, rule.field.value_type, dtype)
    dated = ctx.inputs.profiles is not None and ctx.inputs.profiles.stores_instants(column)
    if p.takes_duration or (dated and p.op in NUMBER_OPS):  # an instant: within/before, or whole days since it
        positive = instant_test(ex.as_instant(pl.col(column), ctx.as_of.zone), _positive(p), ctx)
    else:
        positive = ex.matches(pl.col(column), _positive(p), rule.field.value_type, dtype)
    return _negate_if(p, ctx.features.profile_test(("profile", column, _positive(p)), positive, (column,)))


def compile_location(rule: Condition, ctx: Context) -> pl.Expr:
    within = ex.within_km(pl.col("latitude"), pl.col("longitude"), rule.predicate)
    return ctx.features.profile_test(("location", rule.predicate), within, ("latitude", "longitude"))


def compile_event_field(rule: Condition, ctx: Context) -> pl.Expr:
    """At least one event in the period whose value satisfies the positive operator; negation per visitor."""
    p, name = rule.predicate, rule.field.name
    test = field_test(name, _positive(p), ctx.inputs.events.has)

    def build(flag: str) -> EventTest:
        return EventTest.of(flag, test, ctx.in_window(rule.period))

    return _negate_if(p, ctx.features.any_event(_event_key(rule), build, _event_columns(name)))


def _event_columns(field_name: str, column: str = "") -> tuple[str, ...]:
    """The raw events columns a test of the field reads."""
    return {"url": ("url",), "referrer": ("referrer",), "referrer_domain": ("referrer",),
            **{utm: (utm, "url") for utm in catalog.UTM_FIELDS}}.get(field_name, (column or field_name,))


def _conditions_test(conditions: tuple[EventCondition, ...], ctx: Context) -> tuple[Test, tuple[str, ...]]:
    """One event meeting every condition (negative ones per event), and the columns that reads."""
    events = ctx.inputs.events
    test, columns = Test(pl.lit(True)), ()
    for c in conditions:
        dtype = events.typed_dtype(c.column) if events.has(c.column) else pl.String
        test = test & field_test(c.field, c.predicate, events.has, c.column, c.value_type, dtype)
        columns += _event_columns(c.field, c.column)
    return test, columns


@translate.register
def _event_rule(rule: EventRule, ctx: Context) -> pl.Expr:
    """How many of the visitor's events in the period meet every condition (0 without any), compared."""
    test, columns = _conditions_test(rule.conditions, ctx)

    def build(flag: str) -> EventTest:
        return EventTest.of(flag, test, ctx.in_window(rule.period), aggregate="count")

    count = ctx.features.any_event(("count", rule.conditions, rule.period), build, columns)
    return ex.apply(count, rule.count, "number", pl.Float64)


@translate.register
def _sequence(rule: Sequence, ctx: Context) -> pl.Expr:
    steps = [_conditions_test(step.conditions, ctx) for step in rule.steps]
    then_not = _conditions_test(rule.then_not.conditions, ctx) if rule.then_not else None
    columns = tuple(c for _, cols in [*steps, *([then_not] if then_not else [])] for c in cols)
    spec = SequenceSpec([test for test, _ in steps], [step.within for step in rule.steps],
                        then_not[0] if then_not else None, rule.then_not.within if rule.then_not else None,
                        ctx.in_window(rule.period))
    return ctx.features.sequence(("sequence", rule), spec, columns)


@translate.register
def _segment_ref(rule: SegmentRef, ctx: Context) -> pl.Expr:
    """The referenced segment's answer, compiled once per run however often it is named."""
    return ctx.answer(rule.target)


@translate.register
def _sample(rule: Sample, ctx: Context) -> pl.Expr:
    if rule.seed not in ctx.buckets:
        ctx.buckets[rule.seed] = ex.sample_bucket(pl.col(VID), rule.seed)
    return (ctx.buckets[rule.seed] < buckets_below(rule.percent)).fill_null(False)


def _event_key(rule: Condition) -> tuple:
    return ("event", rule.field.name, _positive(rule.predicate), rule.period)


def _items_flag(items: tuple[ItemCondition, ...], ctx: Context) -> pl.Expr:
    """One line item must meet every item condition (negative ones included, per line)."""
    lines = ctx.inputs.items
    per_line = [ex.apply(pl.col(c.column), c.predicate, catalog.item_value_type(c.column),
                         lines.typed_dtype(c.column) if lines is not None else pl.String) for c in items]
    columns = tuple(sorted({c.column for c in items}))
    return ctx.features.item_flag(("items", items), pl.all_horizontal(per_line), columns)


# measure -> (aggregate over the visitor's masked conversions, value for a visitor without any). Numbers are
# floats; `count` counts timestamps rather than summing the mask, which is a literal without a period. Sums
# and means are rounded (semantics.SUM_DECIMALS).
def _rounded(value: pl.Expr) -> pl.Expr:
    return value.round(SUM_DECIMALS, mode="half_away_from_zero")


CONVERSION_MEASURES = {
    "count": (lambda mask: pl.when(mask).then(pl.col("timestamp")).count().cast(pl.Float64), 0.0),
    "sum": (lambda mask: _rounded(pl.when(mask).then(pl.col("order_value")).sum()), 0.0),
    "mean": (lambda mask: _rounded(pl.when(mask).then(pl.col("order_value")).mean()), None),
    "first": (lambda mask: pl.when(mask).then(pl.col("timestamp")).min(), None),
    "last": (lambda mask: pl.when(mask).then(pl.col("timestamp")).max(), None),
}
# measure -> the aggregate over all of a visitor's events (an instant)
VISIT_MEASURES = {
    "first": pl.col("timestamp").min(),
    "last": pl.col("timestamp").max(),
}


def compile_conversion(rule: Condition, ctx: Context) -> pl.Expr:
    """A number over the visitor's conversions (in the period, with a matching line item), compared."""
    p, measure = rule.predicate, rule.field.measure
    mask = ctx.in_window(rule.period)
    if rule.items:
        mask = mask & _items_flag(rule.items, ctx)
    if measure == "some_value":  # at least one conversion whose value meets p: tested per conversion
        row_matches = mask & ex.matches(pl.col("order_value"), p, "number", pl.Float64)
        key = ("conversion", measure, _positive(p), rule.period, rule.items)
        return _negate_if(p, ctx.features.over_conversions(key, row_matches.any(), default=False))
    if rule.field.value_type == "instant":
        return instant_test(_conversion_measure(measure, rule, mask, ctx), p, ctx)
    if measure == "days_since_last":
        value = ctx.days_since(_conversion_measure("last", rule, mask, ctx)).cast(pl.Float64)
    else:
        value = _conversion_measure(measure, rule, mask, ctx)
    return ex.apply(value, p, "number", pl.Float64)


def _conversion_measure(measure: str, rule: Condition, mask: pl.Expr, ctx: Context) -> pl.Expr:
    if measure not in CONVERSION_MEASURES:
        raise NoCompiler(f"no compiler for the measure {measure!r} of field {rule.field.name!r}")
    aggregate, default = CONVERSION_MEASURES[measure]
    return ctx.features.over_conversions(("conversion", measure, rule.period, rule.items), aggregate(mask), default)


def compile_visits(rule: Condition, ctx: Context) -> pl.Expr:
    """The first or last of the visitor's events (missing without any), tested as an instant."""
    measure = rule.field.measure
    if measure not in VISIT_MEASURES:
        raise NoCompiler(f"no compiler for the measure {measure!r} of field {rule.field.name!r}")
    if _seen_within(rule):
        return ctx.features.any_event(_seen_key(rule), lambda name: EventTest.of(
            name, Test(pl.lit(True)), ctx.in_window(rule.predicate.value)), ())
    return instant_test(ctx.features.over_visits(("visits", measure), VISIT_MEASURES[measure]), rule.predicate, ctx)


def instant_test(instant: pl.Expr, p: Predicate, ctx: Context) -> pl.Expr:
    """`within: D` — in the window `period: D` would cover, up to as_of; `before: D` — before that window;
    a number — whole days since the instant, to as_of; negation per visitor (a missing instant is `not`)."""
    positive = _positive(p)
    if positive.op in ("within", "before"):
        w = window(positive.value, ctx.as_of)
        if positive.op == "within":
            test = in_window(instant, Window(w.start, w.start_inclusive, ctx.as_of.instant, ctx.as_of.inclusive))
        else:
            start = pl.lit(w.start, dtype=UTC_US)
            test = instant < start if w.start_inclusive else instant <= start
    elif positive.op == "is_set":
        test = instant.is_not_null()
    else:
        test = ex.matches(ctx.days_since(instant).cast(pl.Float64), positive, "number", pl.Float64)
    return _negate_if(p, test.fill_null(False))


def grid_cell(ctx: Context) -> pl.Expr:
    """The visitor's retention grid cell name (null if no cell of a redefined grid fits)."""
    count = ctx.features.over_conversions(("grid", "count"), pl.len().cast(pl.Float64), default=0.0)
    last = ctx.features.over_conversions(("grid", "last"), pl.col("timestamp").max(), default=None)
    days = ctx.days_since(last)
    expr = pl.lit(None, pl.String)
    for cell in reversed(ctx.inputs.config.grid):
        expr = pl.when(_in_cell(cell, count, days)).then(pl.lit(cell.name)).otherwise(expr)
    return expr


def _in_cell(cell: GridCell, count: pl.Expr, days: pl.Expr) -> pl.Expr:
    cond = count >= cell.min_conversions
    if cell.max_conversions is not None:
        cond &= count <= cell.max_conversions
    if cell.min_days is not None:
        cond &= days >= cell.min_days
    if cell.max_days is not None:
        cond &= days <= cell.max_days
    return cond.fill_null(False)


def compile_retention(rule: Condition, ctx: Context) -> pl.Expr:
    return ex.apply(grid_cell(ctx), rule.predicate, "text", pl.String)


FAMILY_COMPILERS = {
    catalog.PROFILE: compile_profile,
    catalog.LOCATION: compile_location,
    catalog.REFERRER_UTM: compile_event_field,
    catalog.CONVERSION: compile_conversion,
    catalog.VISITS: compile_visits,
    catalog.RETENTION: compile_retention,
}


class NoCompiler(TypeError):
    """A field or measure the polars backend has no compiler for (a programming error, never user input)."""
