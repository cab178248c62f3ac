"""The checked rule tree → sqlglot expressions over one row per visitor, the SQL twin of backends/polars/compile.py.

Each family compiler registers the per-visitor aggregates it needs (over the visitor's events, the
de-duplicated conversions, the line items of an order, the profile row) in `Needs`, and returns a
two-valued boolean over their columns; statement.py assembles the aggregates into CTEs. Time is integer
microseconds since the epoch (UTC) everywhere: windows and as_of are literals computed once in Python
(timeframe.py, as the polars engine computes them), day counts are integer divisions. What cannot be made
to give the polars engine's answer on every dialect is refused here with a CompileError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import singledispatch

from sqlglot import exp

from ...language import catalog
from ...errors import Location, SegtoolError
from ...language.operators import Predicate
from ...plan.sampling import buckets_below
from ...plan.semantics import (ASCII_UPPER, EARTH_RADIUS_KM, EDGE_TOLERANCE_KM, HOST_PATTERN, SUM_DECIMALS,
                         compares_as_number)
from ...language.timeframe import NUMBER_TEXT, UTC_NAME, AsOf, Window, exact_length, window
from ...language.tree import AllOf, AnyOf, Condition, EventRule, ItemCondition, Not, Sample, Segment, SegmentRef, Sequence
from .dialects import Dialect
from .portable import WHITESPACE, literal_regex

TRUE, FALSE = exp.true(), exp.false()


class CompileError(SegtoolError):
    """A rule the SQL engines cannot answer exactly as the polars engine does (exit 1: pick another engine),
    at the rule's position in its segment file where it is one rule's."""

    exit_code = 1

    def __init__(self, message: str, location: Location | None = None):
        self.location = location
        super().__init__(f"{location}: {message}" if location is not None else message)


@dataclass(frozen=True)
class Columns:
    """What the compiler knows of the tables: per table, each canonical column's kind (`text`, `integer`,
    `float`, `instant`, `date`, `other`); a column that is absent is not listed."""

    kinds: dict[str, dict[str, str]]

    def kind(self, table: str, column: str) -> str | None:
        return self.kinds.get(table, {}).get(column)


@dataclass
class Needs:
    """The per-visitor aggregates the rules ask for, each under a structural key, computed once."""

    events: dict[object, tuple[str, exp.Expression]] = field(default_factory=dict)       # over ev rows
    conversions: dict[object, tuple[str, exp.Expression, exp.Expression]] = field(default_factory=dict)
    items: dict[object, tuple[str, exp.Expression]] = field(default_factory=dict)        # per order_id
    profile: dict[object, tuple[str, exp.Expression]] = field(default_factory=dict)      # per profile row
    event_columns: set[str] = field(default_factory=set)
    item_columns: set[str] = field(default_factory=set)
    profile_columns: set[str] = field(default_factory=set)
    samples: dict[str, str] = field(default_factory=dict)  # seed -> bucket column
    sequences: dict[object, tuple] = field(default_factory=dict)  # key -> (column, SequenceSql)
    derived: dict[str, exp.Expression] = field(default_factory=dict)  # column of ev_ok -> its value per event

    def _add(self, table: dict, prefix: str, key, *parts) -> exp.Expression:
        if key not in table:
            table[key] = (f"{prefix}{len(table)}", *parts)
        return exp.column(table[key][0])


@dataclass
class Context:
    needs: Needs
    columns: Columns
    as_of: AsOf
    dialect: Dialect
    grid: tuple
    conversion_events: tuple[str, ...]
    site_domains: tuple[str, ...] = ()
    computed: frozenset[str] = frozenset()  # profile columns the polars engine computes from events
    answers: dict[str, exp.Expression] = field(default_factory=dict)

    def answer(self, segment: Segment) -> exp.Expression:
        if segment.name not in self.answers:
            self.answers[segment.name] = translate(segment.root, self)
        return self.answers[segment.name]


# -- literals and small helpers ------------------------------------------------------------------------
def micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def num(value) -> exp.Expression:
    if isinstance(value, float) and not math.isfinite(value):
        raise CompileError(f"the number {value} has no SQL literal")
    return exp.Literal.number(repr(value) if isinstance(value, float) else value)


def flag(condition: exp.Expression) -> exp.Expression:
    """A boolean as 1 or 0 (null and false are 0): what MAX and SUM aggregate on every dialect."""
    return exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))], default=exp.Literal.number(0))


def is_one(column: exp.Expression) -> exp.Expression:
    return exp.EQ(this=exp.Coalesce(this=column, expressions=[exp.Literal.number(0)]), expression=exp.Literal.number(1))


def two_valued(condition: exp.Expression) -> exp.Expression:
    """TRUE or FALSE, never NULL, before NOT/AND/OR see it."""
    return exp.Coalesce(this=exp.paren(condition), expressions=[FALSE])


def in_window(ts: exp.Expression, w: Window) -> exp.Expression:
    tests = [exp.Not(this=exp.Is(this=ts, expression=exp.Null()))]
    if w.start is not None:
        start = num(micros(w.start))
        tests.append(exp.GTE(this=ts, expression=start) if w.start_inclusive else exp.GT(this=ts, expression=start))
    if w.end is not None:
        end = num(micros(w.end))
        tests.append(exp.LTE(this=ts, expression=end) if w.end_inclusive else exp.LT(this=ts, expression=end))
    return exp.and_(*tests)


def period_mask(period, ctx: Context, ts: str = "ts") -> exp.Expression:
    return TRUE if period is None else in_window(exp.column(ts), window(period, ctx.as_of))


def trimmed(text: exp.Expression) -> exp.Expression:
    return exp.Trim(this=text, expression=exp.Literal.string(WHITESPACE))


def as_number(column: exp.Expression, kind: str | None, dialect: Dialect) -> exp.Expression:
    """A column as a double: text that is no number is missing, and so is NaN (as in the polars engine)."""
    if kind in ("integer", "float"):
        value = exp.cast(column, "DOUBLE")
    else:  # only what polars reads as a number (timeframe.NUMBER_TEXT): engines' casts accept more (1_000)
        text = trimmed(exp.cast(column, "VARCHAR"))
        value = exp.Case(ifs=[exp.If(this=dialect.search(text, NUMBER_TEXT, False), true=exp.cast(text, "DOUBLE"))])
    return exp.Case(ifs=[exp.If(this=exp.Not(this=dialect.is_nan(value)), true=value)])


def _positive(p: Predicate) -> Predicate:
    return replace(p, negated=False, written="")


def negate_if(p: Predicate, condition: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.paren(condition)) if p.negated else condition


# -- operators -------------------------------------------------------------------------------------------
def matches(column: exp.Expression, p: Predicate, value_type: str, kind: str | None, ctx: Context) -> exp.Expression:
    """The positive operator on a column, two-valued: a missing value never matches."""
    if p.op == "is_set":
        if kind == "float":
            return two_valued(exp.Not(this=exp.Is(this=as_number(column, kind, ctx.dialect), expression=exp.Null())))
        present = exp.Not(this=exp.Is(this=column, expression=exp.Null()))
        if kind in (None, "text"):
            present = exp.and_(present, exp.NEQ(this=column, expression=exp.Literal.string("")))
        return two_valued(present)
    if compares_as_number(p, value_type, kind in ("integer", "float")):
        value = as_number(column, kind, ctx.dialect)
        if p.op in ("is", "eq"):
            test = exp.EQ(this=value, expression=num(float(p.value)))
        elif p.op == "in":
            test = exp.In(this=value, expressions=[num(float(v)) for v in p.value])
        elif p.op == "between":
            test = exp.Between(this=value, low=num(float(p.value[0])), high=num(float(p.value[1])))
        else:
            kinds = {"lt": exp.LT, "lte": exp.LTE, "gt": exp.GT, "gte": exp.GTE}
            test = kinds[p.op](this=value, expression=num(float(p.value)))
        return two_valued(test)
    if kind not in (None, "text"):
        raise CompileError(f"a text operator ({p.op}) on a column that is not text: the engines write numbers "
                           "and dates as text differently; compare it as a number or use the polars engine")
    return two_valued(_text(column, p, ctx))


def _text(column: exp.Expression, p: Predicate, ctx: Context) -> exp.Expression:
    value, ic = p.value, p.ignore_case
    if p.op == "matches":  # portable: checked when the segment was parsed (regex.py)
        return ctx.dialect.search(column, value, ic)
    if ic:
        if p.op == "in":
            pattern = "^(?:" + "|".join(map(literal_regex, value)) + ")$"
        else:
            text = literal_regex(value)
            pattern = {"is": f"^{text}$", "contains": text, "starts_with": f"^{text}", "ends_with": f"{text}$"}[p.op]
        return ctx.dialect.search(column, pattern, True)
    if p.op == "is":
        return exp.EQ(this=column, expression=exp.Literal.string(value))
    if p.op == "in":
        return exp.In(this=column, expressions=[exp.Literal.string(v) for v in value])
    if p.op == "contains":
        return exp.GT(this=exp.StrPosition(this=column, substr=exp.Literal.string(value)), expression=num(0))
    if p.op == "starts_with":
        return exp.StartsWith(this=column, expression=exp.Literal.string(value))
    return ctx.dialect.ends_with(column, value)


def apply(column: exp.Expression, p: Predicate, value_type: str, kind: str | None, ctx: Context) -> exp.Expression:
    return negate_if(p, matches(column, _positive(p), value_type, kind, ctx))


# -- the tree --------------------------------------------------------------------------------------------
def translate(rule, ctx: Context) -> exp.Expression:
    """The rule as a two-valued boolean over the visitor's row; what cannot be compiled is refused at the
    innermost rule that has a position, named as the segment writes it."""
    try:
        return _translate(rule, ctx)
    except CompileError as exc:
        if exc.location is not None or getattr(rule, "loc", None) is None:
            raise
        raise CompileError(f"{rule_name(rule)}: {exc}", rule.loc) from None


def rule_name(rule) -> str:
    if isinstance(rule, Condition):
        return rule.field.name
    return {EventRule: "event", Sequence: "sequence", SegmentRef: "segment", Sample: "sample", Not: "not",
            AllOf: "all", AnyOf: "any"}[type(rule)]


@singledispatch
def _translate(rule, ctx: Context) -> exp.Expression:
    raise CompileError(f"the SQL engines cannot run {type(rule).__name__} rules yet; use the polars engine")


@_translate.register
def _all(rule: AllOf, ctx: Context) -> exp.Expression:
    return exp.paren(exp.and_(*(translate(r, ctx) for r in rule.rules)))


@_translate.register
def _any(rule: AnyOf, ctx: Context) -> exp.Expression:
    return exp.paren(exp.or_(*(translate(r, ctx) for r in rule.rules)))


@_translate.register
def _not(rule: Not, ctx: Context) -> exp.Expression:
    return exp.Not(this=exp.paren(translate(rule.rule, ctx)))


@_translate.register
def _ref(rule: SegmentRef, ctx: Context) -> exp.Expression:
    return ctx.answer(rule.target)


@_translate.register
def _sample(rule: Sample, ctx: Context) -> exp.Expression:
    name = ctx.needs.samples.setdefault(rule.seed, f"b{len(ctx.needs.samples)}")
    return two_valued(exp.LT(this=exp.column(name), expression=num(buckets_below(rule.percent))))


@dataclass(frozen=True)
class SequenceSql:
    """A sequence as statement.py chains it: per step a test of one event (in the period), the most
    microseconds after the step before (None: any time later), and the `then_not` test and gap."""

    steps: tuple[exp.Expression, ...]
    within: tuple[int | None, ...]
    then_not: exp.Expression | None
    gap: int | None
    last_instant: int


def _micros_of(period) -> int | None:
    return None if period is None else exact_length(period) // timedelta(microseconds=1)


@_translate.register
def _sequence(rule: Sequence, ctx: Context) -> exp.Expression:
    def test(step) -> exp.Expression:
        return exp.and_(TRUE, *(_event_condition(c, ctx) for c in step.conditions))

    period = period_mask(rule.period, ctx)
    spec = SequenceSql(tuple(two_valued(exp.and_(period, test(step))) for step in rule.steps),
                       tuple(_micros_of(step.within) for step in rule.steps),
                       two_valued(test(rule.then_not)) if rule.then_not else None,
                       _micros_of(rule.then_not.within) if rule.then_not else None,
                       micros(ctx.as_of.last_instant))
    key = ("sequence", rule)
    if key not in ctx.needs.sequences:
        ctx.needs.sequences[key] = (f"q{len(ctx.needs.sequences)}", spec)
    return is_one(exp.column(ctx.needs.sequences[key][0]))


@_translate.register
def _condition(rule: Condition, ctx: Context) -> exp.Expression:
    compiler = FAMILIES.get(rule.field.family)
    if compiler is None:
        raise CompileError("rules on this field are not compiled to SQL yet; use the polars engine")
    return compiler(rule, ctx)


@_translate.register
def _event_rule(rule: EventRule, ctx: Context) -> exp.Expression:
    tests = [_event_condition(c, ctx) for c in rule.conditions]
    mask = exp.and_(period_mask(rule.period, ctx), *tests) if tests else period_mask(rule.period, ctx)
    count = ctx.needs._add(ctx.needs.events, "e", ("count", rule.conditions, rule.period),
                           exp.Sum(this=flag(mask)))
    value = exp.Coalesce(this=count, expressions=[num(0)])
    return apply(value, rule.count, "number", "integer", ctx)


def _event_condition(c, ctx: Context) -> exp.Expression:
    """One condition on one event; a negative operator is `not` of the positive one, per event."""
    if c.field in catalog.FIELDS and catalog.FIELDS[c.field].family == catalog.REFERRER_UTM:
        return negate_if(c.predicate, event_field_test(c.field, _positive(c.predicate), ctx))
    ctx.needs.event_columns.add(c.column)
    kind = ctx.columns.kind("events", c.column)
    return apply(exp.column(c.column), c.predicate, c.value_type, kind, ctx)


# -- values derived from referrers and URLs ------------------------------------------------------------------
SENTINEL = "\ue000"  # marks a valid %XX escape while decoding (private use: no URL text holds it)
DECODED = range(0x20, 0x7F)  # printable ASCII: the characters SQL string literals hold alike everywhere


def event_field_test(name: str, p: Predicate, ctx: Context) -> exp.Expression:
    """The positive operator on an event's url, referrer (not the site's own), referrer_domain or utm_*."""
    if name == "url":
        ctx.needs.event_columns.add("url")
        return matches(exp.column("url"), p, "text", "text", ctx)
    if name == "referrer":
        ctx.needs.event_columns.add("referrer")
        internal = _internal(_derived("referrer_domain", _domain, ctx), ctx)
        return exp.and_(matches(exp.column("referrer"), p, "text", "text", ctx), exp.Not(this=internal))
    if name == "referrer_domain":
        ctx.needs.event_columns.add("referrer")
        domain = _derived("referrer_domain", _domain, ctx)
        outside = exp.Case(ifs=[exp.If(this=exp.Not(this=_internal(domain, ctx)), true=domain)])
        return matches(outside, p, "text", "text", ctx)
    return matches(_derived(name, lambda c: _utm(name, c), ctx), p, "text", "text", ctx)


def _derived(name: str, derive, ctx: Context) -> exp.Expression:
    """A value derived from each event (a referrer's domain, a UTM), computed once per event for every rule
    that reads it: a column of the events (statement.py adds it)."""
    column = f"derived_{name}"
    if column not in ctx.needs.derived:
        ctx.needs.derived[column] = derive(ctx)
    return exp.column(column)


def _domain(ctx: Context) -> exp.Expression:
    """The referrer's host, lower-cased (ASCII letters), without a leading www. and one trailing dot."""
    host = exp.Anonymous(this="TRANSLATE", expressions=[ctx.dialect.extract(exp.column("referrer"), HOST_PATTERN, True),
                                                         exp.Literal.string(ASCII_UPPER),
                                                         exp.Literal.string(ASCII_UPPER.lower())])
    bare = exp.RegexpReplace(this=host, expression=exp.Literal.string("^www[.]"), replacement=exp.Literal.string(""))
    cut = exp.Substring(this=bare, start=num(1), length=exp.Sub(this=exp.Length(this=bare), expression=num(1)))
    return exp.Case(ifs=[exp.If(this=ctx.dialect.ends_with(bare, "."), true=cut)], default=bare)


def _internal(domain: exp.Expression, ctx: Context) -> exp.Expression:
    if not ctx.site_domains:
        return FALSE
    own = [exp.or_(exp.EQ(this=domain, expression=exp.Literal.string(d)),
                   ctx.dialect.ends_with(domain, "." + d)) for d in ctx.site_domains]
    return two_valued(exp.or_(*own))


def _utm(name: str, ctx: Context) -> exp.Expression:
    """The UTM column where set, else the parameter in the URL's query string (the last one before any #),
    percent-decoded with `+` as a space."""
    column = exp.column(name) if ctx.columns.kind("events", name) else exp.cast(exp.Null(), "VARCHAR")
    if ctx.columns.kind("events", name):
        ctx.needs.event_columns.add(name)
    if not ctx.columns.kind("events", "url"):
        return column
    ctx.needs.event_columns.add("url")
    pattern = rf"^[^?#]*\?(?:[^#]*&)?{name}=([^&#]*)"
    url = exp.column("url")
    raw = exp.Case(ifs=[exp.If(this=ctx.dialect.search(url, pattern, False),
                               true=exp.Coalesce(this=ctx.dialect.extract(url, pattern, False),
                                                 expressions=[exp.Literal.string("")]))])
    escaped = exp.or_(exp.GT(this=exp.StrPosition(this=raw, substr=exp.Literal.string("%")), expression=num(0)),
                      exp.GT(this=exp.StrPosition(this=raw, substr=exp.Literal.string("+")), expression=num(0)))
    decoded = exp.Case(ifs=[exp.If(this=escaped, true=_percent_decoded(raw, ctx))], default=raw)
    return exp.Coalesce(this=column, expressions=[decoded])


def _percent_decoded(value: exp.Expression, ctx: Context) -> exp.Expression:
    """unquote_plus, written out: `+` as a space, each valid %XX escape marked, then every marked printable
    ASCII escape replaced by its character. An escape of anything else (UTF-8 beyond ASCII, control
    characters) stops the query: its answer would not be the polars engine's."""
    text = exp.Replace(this=value, expression=exp.Literal.string("+"), replacement=exp.Literal.string(" "))
    text = ctx.dialect.replace_all(text, "%([0-9A-Fa-f][0-9A-Fa-f])", SENTINEL, "")
    for code in DECODED:
        for spelling in dict.fromkeys((f"{code:02X}", f"{code:02x}")):
            text = exp.Replace(this=text, expression=exp.Literal.string(SENTINEL + spelling),
                               replacement=exp.Literal.string(chr(code)))
    stop = ctx.dialect.fail("a UTM read from a URL holds a percent-encoded character beyond printable ASCII, "
                            "which the SQL engines do not decode; run it with the polars engine")
    marked = exp.or_(*(exp.GT(this=exp.StrPosition(this=v, substr=exp.Literal.string(SENTINEL)), expression=num(0))
                       for v in (value, text)))
    decoded = exp.Case(ifs=[exp.If(this=marked, true=exp.cast(stop, "VARCHAR"))], default=text)
    decoded.meta["compact"] = True  # rendered on one line (sql/__init__.py)
    return decoded


# -- families --------------------------------------------------------------------------------------------
def compile_profile(rule: Condition, ctx: Context) -> exp.Expression:
    column, p = rule.field.column, rule.predicate
    kind = ctx.columns.kind("profiles", column)
    if column in ctx.computed:
        raise CompileError(f"{column} computed from events (predictions) is not compiled to SQL; use the polars "
                           "engine or a profiles column")
    if p.takes_duration or kind in ("instant", "date"):
        raise CompileError("dates in profiles are not compiled to SQL yet; use the polars engine")
    ctx.needs.profile_columns.add(column)
    positive = matches(exp.column(column), _positive(p), rule.field.value_type, kind, ctx)
    test = ctx.needs._add(ctx.needs.profile, "p", ("profile", column, _positive(p)), flag(positive))
    return negate_if(p, is_one(test))


def compile_location(rule: Condition, ctx: Context) -> exp.Expression:
    """The haversine distance as the haversine package computes it, written out."""
    ctx.needs.profile_columns.update(("latitude", "longitude"))
    w = rule.predicate
    to_radians = math.pi / 180
    lat1, lng1 = w.latitude * to_radians, w.longitude * to_radians
    lat2 = exp.Mul(this=as_number(exp.column("latitude"), ctx.columns.kind("profiles", "latitude"), ctx.dialect),
                   expression=num(to_radians))
    lng2 = exp.Mul(this=as_number(exp.column("longitude"), ctx.columns.kind("profiles", "longitude"), ctx.dialect),
                   expression=num(to_radians))

    def half_sine_squared(delta):
        return exp.Pow(this=exp.Sin(this=exp.Mul(this=exp.paren(delta), expression=num(0.5))), expression=num(2))

    d = exp.Add(this=half_sine_squared(exp.Sub(this=lat2, expression=num(lat1))),
                expression=exp.Mul(this=exp.Mul(this=num(math.cos(lat1)), expression=exp.Cos(this=lat2)),
                                   expression=half_sine_squared(exp.Sub(this=lng2, expression=num(lng1)))))
    distance = exp.Mul(this=num(2 * EARTH_RADIUS_KM), expression=exp.Asin(this=exp.Sqrt(this=d)))
    within = two_valued(exp.LTE(this=distance, expression=num(w.km + EDGE_TOLERANCE_KM)))
    return is_one(ctx.needs._add(ctx.needs.profile, "p", ("location", w), flag(within)))


def compile_event_field(rule: Condition, ctx: Context) -> exp.Expression:
    """At least one event in the period whose value meets the positive operator; negation per visitor."""
    p, name = rule.predicate, rule.field.name
    test = exp.and_(period_mask(rule.period, ctx), event_field_test(name, _positive(p), ctx))
    found = ctx.needs._add(ctx.needs.events, "e", ("event", name, _positive(p), rule.period), exp.Max(this=flag(test)))
    return negate_if(p, is_one(found))


def days_since(instant: exp.Expression, ctx: Context) -> exp.Expression:
    if ctx.as_of.zone != UTC_NAME:
        raise CompileError(f"day counts in the time zone {ctx.as_of.zone} are not compiled to SQL yet; use the "
                           "polars engine or timezone: UTC")
    elapsed = exp.Sub(this=num(micros(ctx.as_of.last_instant)), expression=instant)
    return ctx.dialect.whole_days(exp.paren(elapsed))


CONVERSION_MEASURES = {
    "count": lambda mask: exp.Count(this=exp.Case(ifs=[exp.If(this=mask, true=exp.column("ts"))])),
    "sum": lambda mask: exp.Round(this=exp.Sum(this=exp.Case(ifs=[exp.If(this=mask, true=exp.column("order_value"))])),
                                  decimals=num(SUM_DECIMALS)),
    "mean": lambda mask: exp.Round(this=exp.Avg(this=exp.Case(ifs=[exp.If(this=mask, true=exp.column("order_value"))])),
                                   decimals=num(SUM_DECIMALS)),
    "first": lambda mask: exp.Min(this=exp.Case(ifs=[exp.If(this=mask, true=exp.column("ts"))])),
    "last": lambda mask: exp.Max(this=exp.Case(ifs=[exp.If(this=mask, true=exp.column("ts"))])),
}
CONVERSION_DEFAULTS = {"count": 0, "sum": 0.0}


def _conversion(measure: str, rule: Condition, mask: exp.Expression, ctx: Context) -> exp.Expression:
    key = ("conversion", measure, rule.period, rule.items)
    default = CONVERSION_DEFAULTS.get(measure)
    column = ctx.needs._add(ctx.needs.conversions, "c", key, CONVERSION_MEASURES[measure](mask),
                            num(default) if default is not None else exp.Null())
    return exp.Coalesce(this=column, expressions=[num(default)]) if default is not None else column


def compile_conversion(rule: Condition, ctx: Context) -> exp.Expression:
    p, measure = rule.predicate, rule.field.measure
    ctx.needs.event_columns.update(c for reads in rule.field.reads for c in reads.columns)  # order_value, if read
    mask = period_mask(rule.period, ctx)
    if rule.items:
        mask = exp.and_(mask, is_one(_items_flag(rule.items, ctx)))
    if measure == "some_value":
        row = exp.and_(mask, matches(exp.column("order_value"), _positive(p), "number", "float", ctx))
        key = ("conversion", measure, _positive(p), rule.period, rule.items)
        found = ctx.needs._add(ctx.needs.conversions, "c", key, exp.Max(this=flag(row)), num(0))
        return negate_if(p, is_one(found))
    if rule.field.value_type == "instant":
        return instant_test(_conversion("first", rule, mask, ctx), p, ctx)
    if measure == "days_since_last":
        return apply(days_since(_conversion("last", rule, mask, ctx), ctx), p, "number", "integer", ctx)
    if measure not in CONVERSION_MEASURES:
        raise CompileError("not compiled to SQL yet; use the polars engine")
    return apply(_conversion(measure, rule, mask, ctx), p, "number", "float", ctx)


def _items_flag(items: tuple[ItemCondition, ...], ctx: Context) -> exp.Expression:
    ctx.needs.item_columns.update(c.column for c in items)
    line = exp.and_(*(apply(exp.column(c.column), c.predicate, catalog.item_value_type(c.column),
                            ctx.columns.kind("items", c.column), ctx) for c in items))
    return ctx.needs._add(ctx.needs.items, "i", ("items", items), exp.Max(this=flag(line)))


def compile_visits(rule: Condition, ctx: Context) -> exp.Expression:
    aggregate = {"first_seen": exp.Min, "last_seen": exp.Max}.get(rule.field.measure)
    if aggregate is None:
        raise CompileError("not compiled to SQL yet; use the polars engine")
    instant = ctx.needs._add(ctx.needs.events, "v", ("visits", rule.field.measure), aggregate(this=exp.column("ts")))
    return instant_test(instant, rule.predicate, ctx)


def instant_test(instant: exp.Expression, p: Predicate, ctx: Context) -> exp.Expression:
    positive = _positive(p)
    if positive.op in ("within", "before"):
        w = window(positive.value, ctx.as_of)
        if positive.op == "within":
            test = in_window(instant, Window(w.start, w.start_inclusive, ctx.as_of.instant, ctx.as_of.inclusive))
        else:
            start = num(micros(w.start))
            test = exp.LT(this=instant, expression=start) if w.start_inclusive else exp.LTE(this=instant, expression=start)
    elif positive.op == "is_set":
        test = exp.Not(this=exp.Is(this=instant, expression=exp.Null()))
    else:
        test = matches(days_since(instant, ctx), positive, "number", "integer", ctx)
    return negate_if(p, two_valued(test))


def grid_cell(ctx: Context) -> exp.Expression:
    count = _conversion("count", Condition(catalog.FIELDS["conversions"], None), TRUE, ctx)
    last = _conversion("last", Condition(catalog.FIELDS["conversions"], None), TRUE, ctx)
    days = days_since(last, ctx)
    ifs = []
    for cell in ctx.grid:
        tests = [exp.GTE(this=count, expression=num(cell.min_conversions))]
        if cell.max_conversions is not None:
            tests.append(exp.LTE(this=count, expression=num(cell.max_conversions)))
        if cell.min_days is not None:
            tests.append(exp.GTE(this=days, expression=num(cell.min_days)))
        if cell.max_days is not None:
            tests.append(exp.LTE(this=days, expression=num(cell.max_days)))
        ifs.append(exp.If(this=two_valued(exp.and_(*tests)), true=exp.Literal.string(cell.name)))
    return exp.Case(ifs=ifs)


def compile_retention(rule: Condition, ctx: Context) -> exp.Expression:
    return apply(grid_cell(ctx), rule.predicate, "text", "text", ctx)


FAMILIES = {
    catalog.PROFILE: compile_profile,
    catalog.LOCATION: compile_location,
    catalog.REFERRER_UTM: compile_event_field,
    catalog.CONVERSION: compile_conversion,
    catalog.VISITS: compile_visits,
    catalog.RETENTION: compile_retention,
}
