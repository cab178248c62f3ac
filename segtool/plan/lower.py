"""Lowering: the checked rule tree → the plan every backend computes (ir.py), with every meaning decided once.

The passes, in order, for each rule:
- references: a `segment:` rule is the lowered answer of the segment it names (lowered once per run);
- fields: a field's measure (catalog.FieldSpec.measure) becomes its per-visitor aggregate through the table
  `MEASURES`, which is the only place a measure is defined;
- periods: every period and `within`/`before` becomes absolute instants against as_of (timeframe.window);
- values: what a test reads is typed by the table's schema: numbers compared as numbers, text as text,
  UTMs from their column else the URL, referrer hosts without the site's own, dates as instants;
- negation: a negative operator is `not` of the positive one, per visitor for fields (so it matches a visitor
  without the value) and per row inside `event`, `sequence` and `items` conditions;
- missing aggregates: what a visitor without rows counts as (0 conversions, no matching event).
An operation a table's column cannot take (a text operator on a float column) is a segment error at the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import singledispatch

from ..errors import Location, Problem, SegmentError
from ..language import catalog
from ..language.grid import GridCell
from ..language.operators import Predicate
from ..language.timeframe import AsOf, exact_length, window
from ..language.tree import (AllOf, AnyOf, Condition, EventCondition, EventRule, ItemCondition, Period, Rule,
                             Sample, Segment, SegmentRef, Sequence, Step, WithinKm)
from ..language.tree import Not as NotRule
from ..places import country_spellings
from . import ir
from .ir import (FALSE, TRUE, And, Bucket, Case, Chain, Coalesce, Column, Const, ConversionAggregate, DaysSince,
                 EventAggregate, FirstProfile, Host, Instant, Node, Not, Number, NumberTest, Or, OrderHasLine,
                 OwnHost, Predicted, Present, Round, Text, TextTest, UrlParameter, Within)
from .sampling import buckets_below
from .semantics import EARTH_RADIUS_KM, EDGE_TOLERANCE_KM, NUMBER_OPS, SUM_DECIMALS, compares_as_number

NUMERIC = ("integer", "float")


def _refuse(loc: Location | None, message: str, code: str):
    """A rule the data's columns cannot answer as written: a segment error at the rule (exit 1)."""
    raise SegmentError([Problem(loc, message, code)])


@dataclass(frozen=True)
class Schema:
    """What the lowering knows of the tables: each canonical column's kind as the input layer types it
    (`text`, `integer`, `float`, or `instant` for dates and date-times, which reach the rules as ISO text);
    tables that are not configured are absent. `predicted`: profile columns computed by the models."""

    kinds: dict[str, dict[str, str]]
    predicted: frozenset[str] = frozenset()

    @classmethod
    def of(cls, inputs) -> "Schema":
        """The schema of the opened tables (inputs.tables.Inputs)."""
        return cls(inputs.kinds(), frozenset(c for c in catalog.PREDICTED_COLUMNS if inputs.computes(c)))

    def has_table(self, table: str) -> bool:
        return table in self.kinds

    def kind(self, table: str, column: str) -> str:
        return self.kinds.get(table, {}).get(column, "absent")

    def column(self, table: str, name: str) -> Column:
        return Column(name, self.kind(table, name))


@dataclass(frozen=True)
class Settings:
    as_of: AsOf
    site_domains: tuple[str, ...] = ()
    grid: tuple[GridCell, ...] = ()

    @classmethod
    def of(cls, config, as_of: AsOf) -> "Settings":
        return cls(as_of, tuple(config.site_domains), tuple(config.grid))


@dataclass
class Lowering:
    schema: Schema
    settings: Settings
    answers: dict[str, Node] = field(default_factory=dict)  # segment name -> its lowered answer

    @property
    def as_of(self) -> AsOf:
        return self.settings.as_of

    def answer(self, segment: Segment) -> Node:
        """A segment's answer, lowered once per run however often it is run or named."""
        if segment.name not in self.answers:
            self.answers[segment.name] = lower(segment.root, self)
        return self.answers[segment.name]

    def events(self, name: str) -> Column:
        return self.schema.column("events", name)

    def timestamp(self) -> Column:
        return Column("timestamp", "instant")


def lower_segments(segments: list[Segment], schema: Schema, settings: Settings, *, per_rule: bool = False,
                   columns: tuple[str, ...] = ()) -> ir.LoweredPlan:
    return lower_with(Lowering(schema, settings), segments, per_rule=per_rule, columns=columns)


def lower_with(ctx: "Lowering", segments: list[Segment], *, per_rule: bool = False,
               columns: tuple[str, ...] = ()) -> ir.LoweredPlan:
    plans = []
    for segment in segments:
        rules = tuple(lower(rule, ctx) for rule in segment.top_rules) if per_rule else ()
        plans.append(ir.SegmentPlan(segment.name, ctx.answer(segment), rules))
    return ir.LoweredPlan(tuple(plans), columns)


def profile_value(column: str, schema: Schema) -> Node:
    """A profile column per visitor as it is (written beside the IDs, or computed by the models)."""
    if column in schema.predicted:
        return Predicted(column)
    if not schema.has_table("profiles"):
        return Const(None)
    return FirstProfile(schema.column("profiles", column))


# -- the rule tree ------------------------------------------------------------------------------------------
@singledispatch
def lower(rule, ctx: Lowering) -> Node:
    raise TypeError(f"no lowering for {type(rule).__name__}")


@lower.register
def _all(rule: AllOf, ctx: Lowering) -> Node:
    return And(tuple(lower(r, ctx) for r in rule.rules))


@lower.register
def _any(rule: AnyOf, ctx: Lowering) -> Node:
    return Or(tuple(lower(r, ctx) for r in rule.rules))


@lower.register
def _not(rule: NotRule, ctx: Lowering) -> Node:
    return Not(lower(rule.rule, ctx))


@lower.register
def _reference(rule: SegmentRef, ctx: Lowering) -> Node:
    return ctx.answer(rule.target)


@lower.register
def _sample(rule: Sample, ctx: Lowering) -> Node:
    return NumberTest(Bucket(rule.seed), "lt", float(buckets_below(rule.percent)))


@lower.register
def _condition(rule: Condition, ctx: Lowering) -> Node:
    measure = MEASURES.get(rule.field.measure)
    if measure is None:
        raise TypeError(f"no lowering for the measure {rule.field.measure!r} of field {rule.field.name!r}")
    return measure(rule, ctx)


@lower.register
def _event_rule(rule: EventRule, ctx: Lowering) -> Node:
    """How many of the visitor's events in the period meet every condition on one and the same event."""
    where = both(in_period(rule.period, ctx), *(event_condition(c, ctx, rule.loc) for c in rule.conditions))
    count = Coalesce((EventAggregate("count", where), Const(0.0)))
    return number_rule(count, rule.count)


@lower.register
def _sequence(rule: Sequence, ctx: Lowering) -> Node:
    period = in_period(rule.period, ctx)
    steps = tuple(both(period, step_test(step, ctx, rule.loc)) for step in rule.steps)
    within = tuple(None if step.within is None else micros(step.within) for step in rule.steps)
    then_not = step_test(rule.then_not, ctx, rule.loc) if rule.then_not is not None else None
    gap = micros(rule.then_not.within) if rule.then_not is not None else None
    return Coalesce((Chain(steps, within, then_not, gap, ctx.as_of.last_instant), FALSE))


def step_test(step: Step, ctx: Lowering, loc: Location | None) -> Node:
    return both(*(event_condition(c, ctx, loc) for c in step.conditions))


def micros(period) -> int:
    length = exact_length(period)
    return (length.days * 86_400 + length.seconds) * 1_000_000 + length.microseconds


# -- values and tests ---------------------------------------------------------------------------------------
def both(*parts: Node) -> Node:
    """All of `parts` (those that are TRUE left out): a part alone is itself."""
    kept = tuple(p for p in parts if p != TRUE)
    return kept[0] if len(kept) == 1 else And(kept) if kept else TRUE


def positive(p: Predicate) -> Predicate:
    return replace(p, negated=False, written="")


def negate_if(p: Predicate, node: Node) -> Node:
    return Not(node) if p.negated else node


def test(value: Node, p: Predicate, value_type: str, kind: str, loc: Location | None = None) -> Node:
    """The positive operator `p` on a value of `kind`: numbers compared as numbers (by the field's type, the
    operator, or `is`/`in` with numbers on a numeric column), text as text; a missing value never meets it."""
    if p.op == "is_set":
        if kind == "float":
            return Present(Number(value, kind))
        return Present(value, text=kind not in NUMERIC)
    if compares_as_number(p, value_type, kind in NUMERIC):
        number = value if isinstance(value, Number) or kind == "number" else Number(value, kind)
        return NumberTest(number, "eq" if p.op == "is" else p.op, _floats(p.value))
    if kind == "float":
        _refuse(loc, f"{p.written or p.op}: a text operator on a column of floating-point numbers, which have no "
                     "one way to be written as text; compare it as a number (eq, between, ...)", "text-on-float")
    text = Text(value, kind) if kind in NUMERIC else value
    return TextTest(text, p.op, p.value, p.ignore_case)


def _floats(value):
    return tuple(float(v) for v in value) if isinstance(value, tuple) else float(value)


def number_rule(value: Node, p: Predicate) -> Node:
    """`p` on a per-visitor number, negation included."""
    return negate_if(p, test(value, positive(p), "number", "number"))


def in_period(period: Period | None, ctx: Lowering, instant: Node | None = None) -> Node:
    if period is None:
        return TRUE
    w = window(period, ctx.as_of)
    return Within(instant or ctx.timestamp(), w.start, w.start_inclusive, w.end, w.end_inclusive)


def instant_test(instant: Node, p: Predicate, ctx: Lowering) -> Node:
    """`within: D` — in the window `period: D` would cover, up to as_of; `before: D` — before that window; a
    number — whole days since the instant, to as_of; negation per visitor (a missing instant is `not`)."""
    q = positive(p)
    if q.op in ("within", "before"):
        w = window(q.value, ctx.as_of)
        if q.op == "within":
            node = Within(instant, w.start, w.start_inclusive, ctx.as_of.instant, ctx.as_of.inclusive)
        else:
            node = Within(instant, None, True, w.start, not w.start_inclusive)
    elif q.op == "is_set":
        node = Present(instant)
    else:
        node = test(DaysSince(instant, ctx.as_of.last_instant, ctx.as_of.zone), q, "number", "number")
    return negate_if(p, node)


# -- single events: referrers, UTMs, URLs and any events column --------------------------------------------
def event_value(name: str, ctx: Lowering) -> Node:
    """The value of an event field: a UTM from its column where set, else from the URL's query string; a
    referrer domain only where the referrer is not the site's own."""
    if name in catalog.UTM_FIELDS:
        sources = []
        if ctx.schema.kind("events", name) != "absent":
            sources.append(ctx.events(name))
        if ctx.schema.kind("events", "url") != "absent":
            sources.append(UrlParameter(ctx.events("url"), name))
        return Coalesce(tuple(sources)) if len(sources) > 1 else (sources[0] if sources else Const(None))
    if name == "referrer_domain":
        host = Host(ctx.events("referrer"))
        own = _own_host(host, ctx)
        return host if own is None else Case(((own, Const(None)),), host)
    return ctx.events(name)


def _own_host(host: Node, ctx: Lowering) -> Node | None:
    return OwnHost(host, ctx.settings.site_domains) if ctx.settings.site_domains else None


def event_field_test(name: str, p: Predicate, ctx: Lowering) -> Node:
    """The positive operator on one event's referrer (not the site's own), referrer domain, UTM or URL."""
    found = test(event_value(name, ctx), p, "text", "text")
    if name == "referrer":
        own = _own_host(Host(ctx.events("referrer")), ctx)
        return found if own is None else both(found, Not(own))
    return found


def event_condition(c: EventCondition, ctx: Lowering, loc: Location | None) -> Node:
    """One condition on one event; a negative operator is `not` of the positive one, per event."""
    spec = catalog.FIELDS.get(c.field)
    if spec is not None and spec.family == catalog.REFERRER_UTM:
        return negate_if(c.predicate, event_field_test(c.field, positive(c.predicate), ctx))
    kind = ctx.schema.kind("events", c.column)
    column = Column(c.column, "text" if kind == "absent" else kind)
    return negate_if(c.predicate, test(column, positive(c.predicate), c.value_type, kind, loc))


def some_event(rule: Condition, ctx: Lowering) -> Node:
    """At least one event in the period whose value meets the positive operator; negation per visitor."""
    where = both(in_period(rule.period, ctx), event_field_test(rule.field.name, positive(rule.predicate), ctx))
    return negate_if(rule.predicate, Coalesce((EventAggregate("any", where), FALSE)))


# -- conversions ----------------------------------------------------------------------------------------------
def conversion_mask(rule: Condition, ctx: Lowering) -> Node:
    mask = in_period(rule.period, ctx)
    if rule.items:
        mask = both(mask, OrderHasLine(items_test(rule.items, ctx, rule.loc)))
    return mask


def items_test(items: tuple[ItemCondition, ...], ctx: Lowering, loc: Location | None) -> Node:
    """One line item meeting every item condition (negative ones included, per line)."""
    parts = []
    for c in items:
        kind = ctx.schema.kind("items", c.column)
        column = Column(c.column, "text" if kind == "absent" else kind)
        parts.append(negate_if(c.predicate, test(column, positive(c.predicate), catalog.item_value_type(c.column),
                                                 kind, loc)))
    return both(*parts)


def _order_value(ctx: Lowering) -> Column:
    return Column("order_value", "float")


def conversion_count(rule: Condition, ctx: Lowering) -> Node:
    return number_rule(Coalesce((ConversionAggregate("count", conversion_mask(rule, ctx)), Const(0.0))),
                       rule.predicate)


def some_conversion_value(rule: Condition, ctx: Lowering) -> Node:
    """At least one conversion whose value meets the operator: tested per conversion."""
    p = rule.predicate
    where = both(conversion_mask(rule, ctx), test(_order_value(ctx), positive(p), "number", "float"))
    return negate_if(p, Coalesce((ConversionAggregate("any", where), FALSE)))


def conversion_sum(rule: Condition, ctx: Lowering) -> Node:
    total = Round(ConversionAggregate("sum", conversion_mask(rule, ctx), _order_value(ctx)), SUM_DECIMALS)
    return number_rule(Coalesce((total, Const(0.0))), rule.predicate)


def conversion_mean(rule: Condition, ctx: Lowering) -> Node:
    mean = Round(ConversionAggregate("mean", conversion_mask(rule, ctx), _order_value(ctx)), SUM_DECIMALS)
    return number_rule(mean, rule.predicate)


def first_conversion(rule: Condition, ctx: Lowering) -> Node:
    first = ConversionAggregate("min", conversion_mask(rule, ctx), ctx.timestamp())
    return instant_test(first, rule.predicate, ctx)


def days_since_last_conversion(rule: Condition, ctx: Lowering) -> Node:
    last = ConversionAggregate("max", conversion_mask(rule, ctx), ctx.timestamp())
    return number_rule(DaysSince(last, ctx.as_of.last_instant, ctx.as_of.zone), rule.predicate)


# -- visits, the grid ----------------------------------------------------------------------------------------------
def first_seen(rule: Condition, ctx: Lowering) -> Node:
    return instant_test(EventAggregate("min", TRUE, ctx.timestamp()), rule.predicate, ctx)


def last_seen(rule: Condition, ctx: Lowering) -> Node:
    """The last event is in a window ending at as_of exactly when some event is: `within` is an event test."""
    p = rule.predicate
    if p.op == "within":
        return negate_if(p, Coalesce((EventAggregate("any", in_period(p.value, ctx)), FALSE)))
    return instant_test(EventAggregate("max", TRUE, ctx.timestamp()), p, ctx)


def grid_cell(ctx: Lowering) -> Node:
    """The visitor's retention grid cell name (missing where no cell of a redefined grid fits)."""
    count = Coalesce((ConversionAggregate("count"), Const(0.0)))
    days = DaysSince(ConversionAggregate("max", TRUE, ctx.timestamp()), ctx.as_of.last_instant, ctx.as_of.zone)
    whens = []
    for cell in ctx.settings.grid:
        tests = [NumberTest(count, "gte", float(cell.min_conversions))]
        if cell.max_conversions is not None:
            tests.append(NumberTest(count, "lte", float(cell.max_conversions)))
        if cell.min_days is not None:
            tests.append(NumberTest(days, "gte", float(cell.min_days)))
        if cell.max_days is not None:
            tests.append(NumberTest(days, "lte", float(cell.max_days)))
        whens.append((both(*tests), Const(cell.name)))
    return Case(tuple(whens), Const(None))


def retention(rule: Condition, ctx: Lowering) -> Node:
    p = rule.predicate
    return negate_if(p, test(grid_cell(ctx), positive(p), "text", "text"))


# -- profiles and places --------------------------------------------------------------------------------------------
def profile(rule: Condition, ctx: Lowering) -> Node:
    """Tested on the visitor's first profile row (or on the predictions, where the models compute the
    column); negation per visitor, so a visitor without a profile is `not`."""
    column, p = rule.field.column, rule.predicate
    if column in ctx.schema.predicted:
        return negate_if(p, test(Predicted(column), positive(p), rule.field.value_type, "float", rule.loc))
    if not ctx.schema.has_table("profiles"):
        return negate_if(p, FALSE)
    kind = ctx.schema.kind("profiles", column)
    value = Column(column, "text" if kind == "absent" else kind)
    if p.takes_duration or (kind == "instant" and p.op in NUMBER_OPS):  # an instant, or whole days since it
        row = instant_test(Instant(value, kind, ctx.as_of.zone), positive(p), ctx)
    elif column == "country" and kind == "text" and p.op in ("is", "in"):
        row = country_test(value, positive(p))
    else:
        row = test(value, positive(p), rule.field.value_type, kind, rule.loc)
    return negate_if(p, Coalesce((FirstProfile(row), FALSE)))


def country_test(value: Node, p: Predicate) -> Node:
    """`country` is/in compares countries, not spellings: a value that names a country (its ISO 3166 alpha-2
    or alpha-3 code, or its English name, in any case) matches the country written any of those ways (`NL`,
    `nl`, `NLD`, `Netherlands`, `The Netherlands`); a value that names none compares as written."""
    values = p.value if isinstance(p.value, tuple) else (p.value,)
    spellings = {v: country_spellings(str(v)) for v in values}
    named = tuple(dict.fromkeys(s for v in values for s in spellings[v]))
    rest = tuple(str(v) for v in values if not spellings[v])
    tests = ([TextTest(value, "in", named, True)] if named else []) + ([TextTest(value, "in", rest, p.ignore_case)]
                                                                      if rest else [])
    return tests[0] if len(tests) == 1 else Or(tuple(tests))


def location(rule: Condition, ctx: Lowering) -> Node:
    """Great-circle distance from the rule's point at most `km`, as the haversine package computes it."""
    w: WithinKm = rule.predicate
    if not ctx.schema.has_table("profiles"):
        return FALSE
    to_radians = math.pi / 180
    lat1, lng1 = w.latitude * to_radians, w.longitude * to_radians

    def radians(column: str) -> Node:
        return ir.Arithmetic("*", Number(Column(column, "float"), "float"), Const(to_radians))

    def half_sine_squared(delta: Node) -> Node:
        return ir.Arithmetic("**", ir.Function("sin", ir.Arithmetic("*", delta, Const(0.5))), Const(2.0))

    lat2, lng2 = radians("latitude"), radians("longitude")
    d = ir.Arithmetic("+", half_sine_squared(ir.Arithmetic("-", lat2, Const(lat1))),
                      ir.Arithmetic("*", ir.Arithmetic("*", Const(math.cos(lat1)), ir.Function("cos", lat2)),
                                    half_sine_squared(ir.Arithmetic("-", lng2, Const(lng1)))))
    distance = ir.Arithmetic("*", Const(2 * EARTH_RADIUS_KM), ir.Function("asin", ir.Function("sqrt", d)))
    return Coalesce((FirstProfile(NumberTest(distance, "lte", w.km + EDGE_TOLERANCE_KM)), FALSE))


# measure (catalog.FieldSpec.measure) -> its lowering: the one place a measure is defined
MEASURES = {
    "some_event": some_event,
    "count": conversion_count,
    "some_value": some_conversion_value,
    "sum": conversion_sum,
    "mean": conversion_mean,
    "days_since_last": days_since_last_conversion,
    "first_conversion": first_conversion,
    "first_seen": first_seen,
    "last_seen": last_seen,
    "grid_cell": retention,
    "profile": profile,
    "distance": location,
}
