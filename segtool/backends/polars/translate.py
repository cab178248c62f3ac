"""The lowered plan (plan/ir.py) → polars expressions: one small function per node type.

Row nodes become expressions over the rows of a table (events, conversions, line items, profile rows);
an aggregate registers itself in `Features`, which computes it per visitor (features.py), and becomes its
column of the visitor frame. Values that are costly to derive (a referrer's host, a URL's parameter) read
the column the event branch computed for them where there is one (`Context.derived`, events.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import singledispatch

import polars as pl

from ...language.timeframe import MICROSECONDS_PER_DAY, UTC_NAME, wall_clock
from ...plan import ir
from ...inputs.tables import UTC_US, VID
from . import expressions as ex

DTYPES = {"integer": pl.Int64, "float": pl.Float64, "number": pl.Float64}


@dataclass
class Context:
    features: object  # features.Features: registers the aggregates
    derived: dict[ir.Node, str] = field(default_factory=dict)  # costly values: the column holding each
    memo: dict[int, tuple[ir.Node, pl.Expr]] = field(default_factory=dict)  # by id, the node kept alive

    def within(self, derived: dict[ir.Node, str]) -> "Context":
        """The same registry, translating over a frame with the `derived` columns."""
        return Context(self.features, derived)


def translate(node: ir.Node, ctx: Context) -> pl.Expr:
    """A node as a polars expression, once per node however often the plan shares it."""
    found = ctx.memo.get(id(node))
    if found is None:  # kept with its node: a node gone could leave its id to another
        found = ctx.memo[id(node)] = (node, _translate(node, ctx))
    return found[1]


@singledispatch
def _translate(node, ctx: Context) -> pl.Expr:
    raise TypeError(f"the polars backend has no translation for {type(node).__name__}")


@_translate.register
def _column(node: ir.Column, ctx: Context) -> pl.Expr:
    return pl.col(node.name)


@_translate.register
def _const(node: ir.Const, ctx: Context) -> pl.Expr:
    return pl.lit(node.value)


@_translate.register
def _number(node: ir.Number, ctx: Context) -> pl.Expr:
    return ex.numbers(translate(node.value, ctx), DTYPES.get(node.kind))


@_translate.register
def _text(node: ir.Text, ctx: Context) -> pl.Expr:
    return translate(node.value, ctx).cast(pl.String)


@_translate.register
def _instant(node: ir.Instant, ctx: Context) -> pl.Expr:
    return ex.as_instant(translate(node.value, ctx), node.zone)


@_translate.register
def _host(node: ir.Host, ctx: Context) -> pl.Expr:
    if node in ctx.derived:
        return pl.col(ctx.derived[node])
    return ex.host(translate(node.url, ctx))


@_translate.register
def _own_host(node: ir.OwnHost, ctx: Context) -> pl.Expr:
    return ex.is_internal(translate(node.host, ctx), node.domains)


@_translate.register
def _url_parameter(node: ir.UrlParameter, ctx: Context) -> pl.Expr:
    if node in ctx.derived:
        return pl.col(ctx.derived[node])
    return ex.percent_decoded(ex.utm_from_url(translate(node.url, ctx), node.name))


@_translate.register
def _coalesce(node: ir.Coalesce, ctx: Context) -> pl.Expr:
    return pl.coalesce([translate(v, ctx) for v in node.values])


@_translate.register
def _case(node: ir.Case, ctx: Context) -> pl.Expr:
    expr = translate(node.default, ctx)
    for predicate, value in reversed(node.whens):
        expr = pl.when(translate(predicate, ctx)).then(translate(value, ctx)).otherwise(expr)
    return expr


ARITHMETIC = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
              "/": lambda a, b: a / b, "**": lambda a, b: a.pow(b)}
FUNCTIONS = {"sin": pl.Expr.sin, "cos": pl.Expr.cos, "asin": pl.Expr.arcsin, "sqrt": pl.Expr.sqrt}


@_translate.register
def _arithmetic(node: ir.Arithmetic, ctx: Context) -> pl.Expr:
    return ARITHMETIC[node.op](translate(node.left, ctx), translate(node.right, ctx))


@_translate.register
def _function(node: ir.Function, ctx: Context) -> pl.Expr:
    return FUNCTIONS[node.name](translate(node.value, ctx))


@_translate.register
def _round(node: ir.Round, ctx: Context) -> pl.Expr:
    return translate(node.value, ctx).round(node.decimals, mode="half_away_from_zero")


@_translate.register
def _days_since(node: ir.DaysSince, ctx: Context) -> pl.Expr:
    instant = translate(node.instant, ctx)
    if node.zone == UTC_NAME:
        elapsed = pl.lit(node.until, dtype=UTC_US) - instant
    else:
        local = instant.dt.convert_time_zone(node.zone).dt.replace_time_zone(None)
        elapsed = pl.lit(wall_clock(node.until, node.zone), dtype=pl.Datetime("us")) - local
    return (elapsed.dt.total_microseconds() // MICROSECONDS_PER_DAY).cast(pl.Float64)


# -- predicates: two-valued, a missing value never meets a test --------------------------------------------
@_translate.register
def _text_test(node: ir.TextTest, ctx: Context) -> pl.Expr:
    return ex.TEXT_OPERATORS[node.op](translate(node.value, ctx), node.operand, node.ignore_case).fill_null(False)


@_translate.register
def _number_test(node: ir.NumberTest, ctx: Context) -> pl.Expr:
    return ex.NUMBER_OPERATORS[node.op](translate(node.value, ctx), node.operand).fill_null(False)


@_translate.register
def _present(node: ir.Present, ctx: Context) -> pl.Expr:
    value = translate(node.value, ctx)
    present = value.is_not_null()
    return present & (value.cast(pl.String) != "").fill_null(False) if node.text else present


@_translate.register
def _within(node: ir.Within, ctx: Context) -> pl.Expr:
    instant = translate(node.instant, ctx)
    mask = instant.is_not_null()
    if node.start is not None:
        start = pl.lit(node.start, dtype=UTC_US)
        mask = mask & (instant >= start if node.start_inclusive else instant > start)
    if node.end is not None:
        end = pl.lit(node.end, dtype=UTC_US)
        mask = mask & (instant <= end if node.end_inclusive else instant < end)
    return mask.fill_null(False)


@_translate.register
def _and(node: ir.And, ctx: Context) -> pl.Expr:
    parts = [translate(p, ctx) for p in node.parts]
    return pl.all_horizontal(parts) if parts else pl.lit(True)


@_translate.register
def _or(node: ir.Or, ctx: Context) -> pl.Expr:
    parts = [translate(p, ctx) for p in node.parts]
    return pl.any_horizontal(parts) if parts else pl.lit(False)


@_translate.register
def _not(node: ir.Not, ctx: Context) -> pl.Expr:
    return ~translate(node.part, ctx)


# -- aggregates: the visitor frame's columns ---------------------------------------------------------------
@_translate.register
def _event_aggregate(node: ir.EventAggregate, ctx: Context) -> pl.Expr:
    return pl.col(ctx.features.event_aggregate(node))


@_translate.register
def _conversion_aggregate(node: ir.ConversionAggregate, ctx: Context) -> pl.Expr:
    return pl.col(ctx.features.conversion_aggregate(node))


@_translate.register
def _order_has_line(node: ir.OrderHasLine, ctx: Context) -> pl.Expr:
    return pl.col(ctx.features.item_flag(node))


@_translate.register
def _first_profile(node: ir.FirstProfile, ctx: Context) -> pl.Expr:
    return pl.col(ctx.features.first_profile(node))


@_translate.register
def _predicted(node: ir.Predicted, ctx: Context) -> pl.Expr:
    return pl.col(ctx.features.predicted(node.column))


@_translate.register
def _chain(node: ir.Chain, ctx: Context) -> pl.Expr:
    return pl.col(ctx.features.chain(node))


@_translate.register
def _bucket(node: ir.Bucket, ctx: Context) -> pl.Expr:
    return ex.sample_bucket(pl.col(VID), node.seed)


def aggregate_expression(node: ir.Node, ctx: Context) -> pl.Expr:
    """An event or conversion aggregate over the visitor's rows (in a group_by over visitors)."""
    where = translate(node.where, ctx)
    if node.fn == "any":
        return where.any()
    if node.fn == "count":  # rows rather than a sum of `where`, which may be a literal (summing to 1)
        return pl.when(where).then(pl.col("timestamp")).count().cast(pl.Float64)
    value = pl.when(where).then(translate(node.value, ctx))
    return {"sum": value.sum, "mean": value.mean, "min": value.min, "max": value.max}[node.fn]()
