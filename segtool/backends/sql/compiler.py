"""The lowered plan (plan/ir.py) → sqlglot expressions: one small function per node type, the SQL twin of
backends/polars/translate.py.

Row nodes become expressions over a row of a CTE (the events `ev_ok`, the conversions `conv`, the line
items, the profile rows `prof`); an aggregate registers itself in `Needs` (statement.py makes its CTE) and
becomes a column of the `visitors` CTE. Time is integer microseconds since the epoch (UTC) everywhere: the
plan's instants are literals, day counts integer divisions (of wall-clock microseconds in a zone other than
UTC). Every predicate is two-valued.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import singledispatch

from sqlglot import exp

from ...errors import Location, SegtoolError
from ...language.timeframe import NUMBER_TEXT, UTC_NAME, wall_clock
from ...plan import ir
from ...plan.semantics import ASCII_UPPER, HOST_PATTERN
from .dialects import Dialect
from .portable import WHITESPACE, literal_regex

TRUE, FALSE = exp.true(), exp.false()
DERIVED_TABLES = ("events", "profiles")  # whose rows hold the costly values derived from them (`_derived`)
DATE_ALONE = r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}$"  # ISO text of a date without a time (white space stripped)
SENTINEL = "\ue000"  # marks a valid %XX escape while decoding (private use: no URL text holds it)
DECODED = range(0x20, 0x7F)  # printable ASCII: the characters SQL string literals hold alike everywhere


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
    """The per-visitor aggregates the plan asks for, each under its node, computed once; the columns of each
    table their expressions read."""

    events: dict[ir.Node, tuple[str, exp.Expression]] = field(default_factory=dict)       # over ev_ok rows
    conversions: dict[ir.Node, tuple[str, exp.Expression]] = field(default_factory=dict)  # over conv rows
    items: dict[ir.Node, tuple[str, exp.Expression]] = field(default_factory=dict)        # per order_id
    profile: dict[ir.Node, tuple[str, exp.Expression]] = field(default_factory=dict)      # per profile row
    event_columns: set[str] = field(default_factory=set)
    item_columns: set[str] = field(default_factory=set)
    profile_columns: set[str] = field(default_factory=set)
    samples: dict[str, str] = field(default_factory=dict)  # seed -> bucket column
    sequences: dict[ir.Node, tuple] = field(default_factory=dict)  # chain -> (column, SequenceSql)
    # per table whose rows get columns of their own (ev_ok, prof): layers of columns -> value per row, a layer
    # reading the columns of those before it
    derived: dict[str, list[dict[str, exp.Expression]]] = field(default_factory=dict)
    derived_of: dict[tuple[str, object], str] = field(default_factory=dict)  # (table, a costly value) -> its column
    predicted: set[str] = field(default_factory=set)

    def add(self, table: dict, prefix: str, node: ir.Node, build) -> str:
        if node not in table:
            table[node] = (f"{prefix}{len(table)}", build())
        return table[node][0]


@dataclass
class Context:
    needs: Needs
    dialect: Dialect
    table: str = "visitors"  # whose rows the expressions are over: events, conversions, items, profiles, visitors
    memo: dict = field(default_factory=dict)
    predictions: bool = False  # whether the statement is handed the models' predictions

    def over(self, table: str) -> "Context":
        return Context(self.needs, self.dialect, table, self.memo, self.predictions)


def translate(node: ir.Node, ctx: Context) -> exp.Expression:
    """A node as a sqlglot expression, worked out once per node and table (a copy each time: a tree holds an
    expression once)."""
    key = (id(node), ctx.table)
    if key not in ctx.memo:
        ctx.memo[key] = (node, _translate(node, ctx))
    return ctx.memo[key][1].copy()


@singledispatch
def _translate(node, ctx: Context) -> exp.Expression:
    raise TypeError(f"the SQL backend has no translation for {type(node).__name__}")


# -- literals and small helpers ------------------------------------------------------------------------
def micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def up_to(ts: exp.Expression, as_of) -> exp.Expression:
    """`ts` (microseconds since the epoch) at or before as_of, or before it where as_of is exclusive (the SQL
    of inputs.tables.before_as_of)."""
    end = num(micros(as_of.instant))
    return exp.LTE(this=ts, expression=end) if as_of.inclusive else exp.LT(this=ts, expression=end)


def num(value) -> exp.Expression:
    if isinstance(value, float) and not math.isfinite(value):
        raise CompileError(f"the number {value} has no SQL literal")
    return exp.Literal.number(repr(value) if isinstance(value, float) else value)


def flag(condition: exp.Expression) -> exp.Expression:
    """A boolean as 1 or 0 (null and false are 0): what MAX and SUM aggregate on every dialect."""
    return exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))], default=exp.Literal.number(0))


def is_one(column: exp.Expression) -> exp.Expression:
    """A flag column (1, 0 or NULL) as a boolean: NULL is false."""
    return exp.EQ(this=exp.Coalesce(this=column, expressions=[exp.Literal.number(0)]), expression=exp.Literal.number(1))


def two_valued(condition: exp.Expression) -> exp.Expression:
    """TRUE or FALSE, never NULL, before NOT/AND/OR see it."""
    return exp.Coalesce(this=exp.paren(condition), expressions=[FALSE])


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



def _columns_read(*nodes: ir.Node | None) -> set[str]:
    """The columns of their own table the expressions read (the events' timestamp is always read, as `ts`;
    a line item's columns are the items table's)."""
    found, stack = set(), [n for n in nodes if n is not None]
    while stack:
        node = stack.pop()
        if isinstance(node, ir.Column) and node.kind != "absent" and node.name != "timestamp":
            found.add(node.name)
        elif not isinstance(node, ir.OrderHasLine):
            stack.extend(ir.children(node))
    return found


# -- values of one row ---------------------------------------------------------------------------------------
@_translate.register
def _column(node: ir.Column, ctx: Context) -> exp.Expression:
    if node.kind == "absent":
        return exp.cast(exp.Null(), "VARCHAR")
    return exp.column("ts" if node.name == "timestamp" else node.name)


@_translate.register
def _const(node: ir.Const, ctx: Context) -> exp.Expression:
    value = node.value
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return TRUE if value else FALSE
    return exp.Literal.string(value) if isinstance(value, str) else num(value)


@_translate.register
def _number(node: ir.Number, ctx: Context) -> exp.Expression:
    value = translate(node.value, ctx)
    if node.kind == "number":  # a number the plan computed: already a double, NaN-free
        return value
    return as_number(value, node.kind, ctx.dialect)


@_translate.register
def _text(node: ir.Text, ctx: Context) -> exp.Expression:
    if node.kind != "integer":
        raise CompileError(f"a text operator on a column of {node.kind} numbers is not compiled to SQL")
    return exp.cast(translate(node.value, ctx), "VARCHAR")


@_translate.register
def _instant(node: ir.Instant, ctx: Context) -> exp.Expression:
    """ISO text as an instant (iso.py: a date-time without an offset is UTC); in a zone other than UTC, a
    date alone is the instant its day starts there (`Dialect.utc_micros`). Each a column of the row."""
    from .iso import iso_micros_of

    text = exp.cast(translate(node.value, ctx), "VARCHAR")
    utc = _derived(("iso", node.value), ctx, lambda c: iso_micros_of(text.copy(), c.dialect))
    if node.zone == UTC_NAME:
        return utc

    def local_midnight(c: Context) -> exp.Expression:
        alone = c.dialect.search(trimmed(text.copy()), DATE_ALONE, False)
        return exp.Case(ifs=[exp.If(this=alone, true=c.dialect.utc_micros(utc, node.zone))], default=utc.copy())

    return _derived(node, ctx, local_midnight)


@_translate.register
def _host(node: ir.Host, ctx: Context) -> exp.Expression:
    """The URL's host, lower-cased (ASCII letters), without a leading www. and one trailing dot; over the
    events, a column of ev_ok worked out once per event for every rule that reads it."""
    return _derived(node, ctx, lambda c: host(translate(node.url, c), c.dialect, c))


@_translate.register
def _own_host(node: ir.OwnHost, ctx: Context) -> exp.Expression:
    value = translate(node.host, ctx)
    own = [exp.or_(exp.EQ(this=value.copy(), expression=exp.Literal.string(d)),
                   ctx.dialect.ends_with(value.copy(), "." + d)) for d in node.domains]
    return two_valued(exp.or_(*own)) if own else FALSE


@_translate.register
def _url_parameter(node: ir.UrlParameter, ctx: Context) -> exp.Expression:
    return _derived(node, ctx, lambda c: url_parameter(translate(node.url, c), node.name, c))


def _derived(key, ctx: Context, derive) -> exp.Expression:
    """A costly value of a row (`derive` builds it), worked out once per event or profile row as a column of
    ev_ok or prof, where every rule that reads it finds it; over other rows, the value itself."""
    if ctx.table not in DERIVED_TABLES:
        return derive(ctx)
    if (ctx.table, key) not in ctx.needs.derived_of:
        value, layers = derive(ctx), ctx.needs.derived.setdefault(ctx.table, [])
        layer_of = {name: i for i, layer in enumerate(layers) for name in layer}
        layer = max((layer_of[c.name] + 1 for c in value.find_all(exp.Column) if c.name in layer_of), default=0)
        if layer == len(layers):
            layers.append({})
        name = ctx.needs.derived_of[(ctx.table, key)] = f"derived_{len(ctx.needs.derived_of)}"
        layers[layer][name] = value
    return exp.column(ctx.needs.derived_of[(ctx.table, key)])


def host(url: exp.Expression, dialect: Dialect, ctx: Context | None = None) -> exp.Expression:
    found = exp.Anonymous(this="TRANSLATE", expressions=[dialect.extract(url, HOST_PATTERN, True),
                                                          exp.Literal.string(ASCII_UPPER),
                                                          exp.Literal.string(ASCII_UPPER.lower())])
    bare = exp.RegexpReplace(this=found, expression=exp.Literal.string("^www[.]"), replacement=exp.Literal.string(""))
    if ctx is not None:  # worked out once per row, then read three times below
        bare = _derived(("host", url.sql()), ctx, lambda c: bare)
    cut = exp.Substring(this=bare.copy(), start=num(1), length=exp.Sub(this=exp.Length(this=bare.copy()),
                                                                         expression=num(1)))
    return exp.Case(ifs=[exp.If(this=dialect.ends_with(bare.copy(), "."), true=cut)], default=bare.copy())


def url_parameter(url: exp.Expression, name: str, ctx: Context) -> exp.Expression:
    """The parameter in the URL's query string (the last one before any #), percent-decoded with `+` as a
    space; '' where it is there without a value. The raw value is a column of its own where the row has one.
    The exact pattern is slow (it reads from the start of the URL, with a capture), so, as the polars engine
    does (expressions.utm_from_url), the usual case -- one `name=` in the URL, after its first `?` and before
    any `#` -- is read with a search from that literal, and URLs without it are not searched at all."""
    def raw(c: Context) -> exp.Expression:
        def at(text: str) -> exp.Expression:  # 1-based, 0 where it is not in the URL
            return exp.StrPosition(this=url.copy(), substr=exp.Literal.string(text))

        def value(pattern: str) -> exp.Expression:  # the pattern's group is `name=...`: never '' where it matches
            return exp.Substring(this=c.dialect.extract(url.copy(), pattern, False), start=num(len(name) + 2))

        found, query, fragment = at(f"{name}="), at("?"), at("#")
        without = exp.Replace(this=url.copy(), expression=exp.Literal.string(f"{name}="),
                              replacement=exp.Literal.string(""))
        once = exp.EQ(this=exp.Sub(this=exp.Length(this=url.copy()), expression=exp.Length(this=without)),
                      expression=num(len(name) + 1))
        before = exp.Sub(this=found.copy(), expression=num(1))  # where the `?` or `&` before it is
        after_first = exp.or_(exp.EQ(this=before.copy(), expression=query.copy()),
                              exp.and_(exp.EQ(this=exp.Substring(this=url.copy(), start=before.copy(), length=num(1)),
                                              expression=exp.Literal.string("&")),
                                       exp.GT(this=before.copy(), expression=query.copy())))
        usual = exp.and_(once, exp.GT(this=before.copy(), expression=num(0)),
                         exp.GT(this=query.copy(), expression=num(0)), after_first,
                         exp.or_(exp.EQ(this=fragment.copy(), expression=num(0)),
                                 exp.LT(this=before.copy(), expression=fragment.copy())))
        return exp.Case(ifs=[exp.If(this=exp.EQ(this=found, expression=num(0)), true=exp.Null()),
                             exp.If(this=usual, true=value(rf"[?&]({name}=[^&#]*)"))],
                        default=value(rf"^[^?#]*\?(?:[^#]*&)?({name}=[^&#]*)"))

    raw_value = _derived(("url_parameter", url.sql(), name), ctx, raw)
    escaped = exp.or_(*(exp.GT(this=exp.StrPosition(this=raw_value.copy(), substr=exp.Literal.string(sign)),
                               expression=num(0)) for sign in "%+"))
    return exp.Case(ifs=[exp.If(this=escaped, true=_percent_decoded(raw_value.copy(), ctx))], default=raw_value.copy())


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



@_translate.register
def _coalesce(node: ir.Coalesce, ctx: Context) -> exp.Expression:
    first, *rest = (translate(v, ctx) for v in node.values)
    return exp.Coalesce(this=first, expressions=rest) if rest else first


@_translate.register
def _case(node: ir.Case, ctx: Context) -> exp.Expression:
    ifs = [exp.If(this=translate(p, ctx), true=translate(v, ctx)) for p, v in node.whens]
    return exp.Case(ifs=ifs, default=translate(node.default, ctx))


ARITHMETIC = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul, "/": exp.Div, "**": exp.Pow}
FUNCTIONS = {"sin": exp.Sin, "cos": exp.Cos, "asin": exp.Asin, "sqrt": exp.Sqrt}


@_translate.register
def _arithmetic(node: ir.Arithmetic, ctx: Context) -> exp.Expression:
    return exp.paren(ARITHMETIC[node.op](this=translate(node.left, ctx), expression=translate(node.right, ctx)))


@_translate.register
def _function(node: ir.Function, ctx: Context) -> exp.Expression:
    return FUNCTIONS[node.name](this=translate(node.value, ctx))


@_translate.register
def _round(node: ir.Round, ctx: Context) -> exp.Expression:
    return exp.Round(this=translate(node.value, ctx), decimals=num(node.decimals))


@_translate.register
def _days_since(node: ir.DaysSince, ctx: Context) -> exp.Expression:
    """Whole days, rounded down; in a zone other than UTC between what a clock there shows at both ends."""
    instant = translate(node.instant, ctx)
    if node.zone == UTC_NAME:
        elapsed = exp.Sub(this=num(micros(node.until)), expression=instant)
    else:
        until = micros(wall_clock(node.until, node.zone).replace(tzinfo=UTC))
        elapsed = exp.Sub(this=num(until), expression=ctx.dialect.wall_micros(instant, node.zone))
    return ctx.dialect.floor_days(exp.paren(elapsed))


# -- predicates: two-valued ------------------------------------------------------------------------------------
@_translate.register
def _text_test(node: ir.TextTest, ctx: Context) -> exp.Expression:
    return two_valued(text_operator(translate(node.value, ctx), node.op, node.operand, node.ignore_case, ctx.dialect))


def text_operator(column: exp.Expression, op: str, value, ignore_case: bool, dialect: Dialect) -> exp.Expression:
    if op == "matches":  # portable: checked when the segment was parsed (regex.py)
        return dialect.search(column, value, ignore_case)
    if ignore_case:
        if op == "in":
            pattern = "^(?:" + "|".join(map(literal_regex, value)) + ")$"
        else:
            text = literal_regex(value)
            pattern = {"is": f"^{text}$", "contains": text, "starts_with": f"^{text}", "ends_with": f"{text}$"}[op]
        return dialect.search(column, pattern, True)
    if op == "is":
        return exp.EQ(this=column, expression=exp.Literal.string(value))
    if op == "in":
        return exp.In(this=column, expressions=[exp.Literal.string(v) for v in value])
    if op == "contains":
        return exp.GT(this=exp.StrPosition(this=column, substr=exp.Literal.string(value)), expression=num(0))
    if op == "starts_with":
        return exp.StartsWith(this=column, expression=exp.Literal.string(value))
    return dialect.ends_with(column, value)


NUMBER_OPERATORS = {"eq": exp.EQ, "lt": exp.LT, "lte": exp.LTE, "gt": exp.GT, "gte": exp.GTE}


@_translate.register
def _number_test(node: ir.NumberTest, ctx: Context) -> exp.Expression:
    value, operand = translate(node.value, ctx), node.operand
    if node.op == "in":
        test = exp.In(this=value, expressions=[num(v) for v in operand])
    elif node.op == "between":
        test = exp.Between(this=value, low=num(operand[0]), high=num(operand[1]))
    else:
        test = NUMBER_OPERATORS[node.op](this=value, expression=num(operand))
    return two_valued(test)


@_translate.register
def _present(node: ir.Present, ctx: Context) -> exp.Expression:
    value = translate(node.value, ctx)
    present = exp.Not(this=exp.Is(this=value, expression=exp.Null()))
    if node.text:
        present = exp.and_(present, exp.NEQ(this=exp.cast(value.copy(), "VARCHAR"), expression=exp.Literal.string("")))
    return two_valued(present)


@_translate.register
def _within(node: ir.Within, ctx: Context) -> exp.Expression:
    instant = translate(node.instant, ctx)
    tests = [exp.Not(this=exp.Is(this=instant, expression=exp.Null()))]
    if node.start is not None:
        start = num(micros(node.start))
        kind = exp.GTE if node.start_inclusive else exp.GT
        tests.append(kind(this=instant.copy(), expression=start))
    if node.end is not None:
        end = num(micros(node.end))
        kind = exp.LTE if node.end_inclusive else exp.LT
        tests.append(kind(this=instant.copy(), expression=end))
    return two_valued(exp.and_(*tests))


@_translate.register
def _and(node: ir.And, ctx: Context) -> exp.Expression:
    parts = [translate(p, ctx) for p in node.parts]
    return exp.paren(exp.and_(*parts)) if parts else TRUE.copy()


@_translate.register
def _or(node: ir.Or, ctx: Context) -> exp.Expression:
    parts = [translate(p, ctx) for p in node.parts]
    return exp.paren(exp.or_(*parts)) if parts else FALSE.copy()


@_translate.register
def _not(node: ir.Not, ctx: Context) -> exp.Expression:
    return exp.Not(this=exp.paren(translate(node.part, ctx)))


# -- aggregates: columns of the visitors CTE -------------------------------------------------------------------------
def _over_rows(fn: str, where: exp.Expression, value: exp.Expression | None) -> exp.Expression:
    """An aggregate over the rows of a visitor (or an order): flags for `any`, counts, and the rest of the
    values of the rows that meet `where`."""
    if fn == "any":
        return exp.Max(this=flag(where))
    if fn == "count":
        return exp.Sum(this=flag(where))
    picked = exp.Case(ifs=[exp.If(this=where, true=value)])
    return {"sum": exp.Sum, "mean": exp.Avg, "min": exp.Min, "max": exp.Max}[fn](this=picked)


def _aggregate_value(node: ir.Node, name: str) -> exp.Expression:
    column = exp.column(name)
    return exp.EQ(this=column, expression=num(1)) if node.fn == "any" else column


@_translate.register(ir.EventAggregate)
@_translate.register(ir.ConversionAggregate)
def _over_visitor_rows(node: ir.Node, ctx: Context) -> exp.Expression:
    """An aggregate over the visitor's events (per_event) or conversions (per_conversion, read off the events)."""
    table, prefix, rows = ((ctx.needs.events, "e", ctx.over("events")) if isinstance(node, ir.EventAggregate)
                           else (ctx.needs.conversions, "c", ctx.over("conversions")))

    def build():
        ctx.needs.event_columns.update(_columns_read(node.where, node.value))
        value = translate(node.value, rows) if node.value is not None else None
        return _over_rows(node.fn, translate(node.where, rows), value)

    return _aggregate_value(node, ctx.needs.add(table, prefix, node, build))


@_translate.register
def _order_has_line(node: ir.OrderHasLine, ctx: Context) -> exp.Expression:
    lines = ctx.over("items")

    def build():
        ctx.needs.item_columns.update(_columns_read(node.where))
        return exp.Max(this=flag(translate(node.where, lines)))

    return is_one(exp.column(ctx.needs.add(ctx.needs.items, "i", node, build)))


@_translate.register
def _first_profile(node: ir.FirstProfile, ctx: Context) -> exp.Expression:
    rows = ctx.over("profiles")

    def build():
        ctx.needs.profile_columns.update(_columns_read(node.value))
        return translate(node.value, rows)

    return exp.column(ctx.needs.add(ctx.needs.profile, "p", node, build))


@_translate.register
def _predicted(node: ir.Predicted, ctx: Context) -> exp.Expression:
    if not ctx.predictions:
        raise CompileError(f"{node.column} computed from events: the SQL reads the predictions from a table; write "
                           "them with `segtool predict -o predictions.parquet` (at the same --as-of), load them and "
                           "name the table in engine.tables.predictions")
    ctx.needs.predicted.add(node.column)
    return exp.column(predicted_column(node.column))


def predicted_column(column: str) -> str:
    return f"predicted_{column}"


@dataclass(frozen=True)
class SequenceSql:
    """A sequence as statement.py chains it: per step a test of one event (in the period), the most
    microseconds after the step before (None: any time later), and the `then_not` test and gap."""

    steps: tuple[exp.Expression, ...]
    within: tuple[int | None, ...]
    then_not: exp.Expression | None
    gap: int | None
    last_instant: int


@_translate.register
def _chain(node: ir.Chain, ctx: Context) -> exp.Expression:
    rows = ctx.over("events")

    def build():
        for step in (*node.steps, *([node.then_not] if node.then_not is not None else [])):
            ctx.needs.event_columns.update(_columns_read(step))
        return SequenceSql(tuple(translate(step, rows) for step in node.steps), node.within,
                           translate(node.then_not, rows) if node.then_not is not None else None, node.gap,
                           micros(node.until))

    return is_one(exp.column(ctx.needs.add(ctx.needs.sequences, "q", node, build)))


@_translate.register
def _bucket(node: ir.Bucket, ctx: Context) -> exp.Expression:
    return exp.column(ctx.needs.samples.setdefault(node.seed, f"b{len(ctx.needs.samples)}"))
