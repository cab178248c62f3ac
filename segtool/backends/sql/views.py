"""A preset's views (inputs/presets/) as SQL: each canonical table a subquery over the vendor's rows, as the
dialect reads them, so `segtool sql` reads the export itself. Each canonical column is derived from the
preset's one definition of it (presets/common.py Read), as the polars view is; what shapes the rows around
the columns (which rows, one per order or per visitor, the line items unnested) is written here per preset,
after the polars view's `shape`.
"""

from __future__ import annotations

import re
from functools import cache, singledispatch
from typing import Callable

import polars as pl
from sqlglot import exp

from ...inputs.presets import common, ga4, segment, shopify
from ...inputs.tables import Table
from ... import places
from .compiler import CompileError, as_number, num, trimmed, up_to
from .portable import WHITESPACE
from .dialects import Dialect
from .iso import iso_micros_of

VENDOR, ELEMENT = "vendor", "element"  # the vendor's rows; one element of an unnested list
ORDERED = ("duckdb", "spark", "databricks")  # read files in order: a row's position in the export is known


class Reading:
    """What a Read is translated with: the dialect and the schema of the vendor's rows."""

    def __init__(self, dialect: Dialect, schema: dict):
        self.dialect, self.schema = dialect, schema

    def dtype(self, read: common.Read):
        """The polars type of a vendor column or field (None where the file lacks it)."""
        if isinstance(read, common.Col):
            dtype = self.schema.get(read.column)
            for name in read.path:
                dtype = {f.name: f.dtype for f in dtype.fields}.get(name) if isinstance(dtype, pl.Struct) else None
            return dtype
        if isinstance(read, common.Element):  # `properties.products`: a list in a struct
            column, *path = read.column.split(".")
            inner = self.dtype(common.Col(column, tuple(path)))
            inner = inner.inner if isinstance(inner, pl.List) else None
            return {f.name: f.dtype for f in inner.fields}.get(read.name) if isinstance(inner, pl.Struct) else None
        return pl.String


@singledispatch
def sql(read: common.Read, r: Reading) -> exp.Expression:
    raise CompileError(f"no SQL for {type(read).__name__}")


@sql.register
def _(read: common.Col, r: Reading) -> exp.Expression:
    if r.dtype(read) is None:
        return exp.Null()
    value = _vendor(read.column)
    for name in read.path:
        value = r.dialect.field(value, name)
    return value


@sql.register
def _(read: common.Element, r: Reading) -> exp.Expression:
    if r.dtype(read) is None:
        return exp.Null()
    return r.dialect.field(exp.column(ELEMENT), read.name)


@sql.register
def _(read: common.Lit, r: Reading) -> exp.Expression:
    return exp.cast(exp.Null(), "VARCHAR") if read.value is None else exp.Literal.string(read.value)


def _varchar(value: exp.Expression) -> exp.Expression:
    return exp.cast(value, "VARCHAR")


@sql.register
def _(read: common.Text, r: Reading) -> exp.Expression:
    value = trimmed(_varchar(sql(read.of, r)))
    for missing in ("", *read.unset):
        value = exp.Nullif(this=value, expression=exp.Literal.string(missing))
    return value


@sql.register
def _(read: common.Lower, r: Reading) -> exp.Expression:
    return lowered(sql(read.of, r))


def lowered(value: exp.Expression) -> exp.Expression:
    """LOWER, then what engines lower-case differently written one way (presets/common.lowered)."""
    value = exp.Lower(this=value)
    for written, common_ in common.CASE_FOLDS:
        value = exp.Replace(this=value, expression=exp.Literal.string(written),
                            replacement=exp.Literal.string(common_))
    return value


@sql.register
def _(read: common.Number, r: Reading) -> exp.Expression:
    dtype = r.dtype(read.of)
    return as_number(sql(read.of, r), "float" if dtype is not None and dtype.is_numeric() else None, r.dialect)


@sql.register
def _(read: common.Coalesce, r: Reading) -> exp.Expression:
    parts = [sql(p, r) for p in read.parts]
    return exp.Coalesce(this=parts[0], expressions=parts[1:]) if len(parts) > 1 else parts[0]


@sql.register
def _(read: common.When, r: Reading) -> exp.Expression:
    return exp.Case(ifs=[exp.If(this=sql(read.test, r), true=sql(read.then, r))], default=sql(read.otherwise, r))


@sql.register
def _(read: common.IsIn, r: Reading) -> exp.Expression:
    return exp.In(this=sql(read.of, r), expressions=[exp.Literal.string(v) for v in read.values])


@sql.register
def _(read: common.Present, r: Reading) -> exp.Expression:
    return exp.Not(this=exp.Is(this=sql(read.of, r), expression=exp.Null()))


# the texts utc_from_text reads: a date and a time with seconds, then a fraction and an offset (a space before it)
_WITH_SECONDS = r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[T ][0-9]{1,2}:[0-9]{2}:[0-9]{2}"
_SPACED_OFFSET = _WITH_SECONDS + r"(?:\.[0-9]{1,9})? [+-][0-9]{2}:?[0-9]{2}$"  # an offset after a space


@sql.register
def _(read: common.Instant, r: Reading) -> exp.Expression:
    """Microseconds since the epoch (the view's timestamps are read as such: raw kind `micros`)."""
    text = trimmed(_varchar(sql(read.of, r)))
    offset = exp.Case(ifs=[exp.If(this=r.dialect.search(text.copy(), _SPACED_OFFSET, False),
                                  true=r.dialect.replace_all(text.copy(), r" ([+-][0-9]{2}:?[0-9]{2})$", "", ""))],
                      default=text.copy())
    return exp.Case(ifs=[exp.If(this=r.dialect.search(text.copy(), _WITH_SECONDS, False),
                                true=iso_micros_of(offset, r.dialect))])


@sql.register
def _(read: ga4.Micros, r: Reading) -> exp.Expression:
    dtype = r.dtype(read.of)
    if dtype is not None and dtype.is_integer():
        return exp.cast(sql(read.of, r), "BIGINT")
    text = trimmed(_varchar(sql(read.of, r)))
    return exp.Case(ifs=[exp.If(this=r.dialect.search(text, r"^[+-]?[0-9]{1,18}$", False),
                                true=exp.cast(text.copy(), "BIGINT"))])


@sql.register
def _(read: ga4.Param, r: Reading) -> exp.Expression:
    """The first `event_params` element with the key, its string value."""
    return first_entry(_vendor("event_params"), read.key,
                       lambda param: r.dialect.field(r.dialect.field(param, "value"), "string_value"), r.dialect)


def first_entry(entries: exp.Expression, key: str, value: Callable[[exp.Expression], exp.Expression],
                dialect: Dialect) -> exp.Expression:
    """`value` of the first element of a list of key/value structs whose key is `key` (NULL where none is):
    BigQuery's subquery over UNNEST, or a lambda filter."""
    param = exp.to_identifier("param")
    is_key = exp.EQ(this=_varchar(dialect.field(exp.column(param), "key")), expression=exp.Literal.string(key))
    if dialect.name == "bigquery":
        unnest = exp.Unnest(expressions=[entries], alias=exp.TableAlias(columns=[param]),
                            offset=exp.to_identifier("position"))
        return exp.select(value(exp.column(param))).from_(unnest).where(is_key).order_by("position").limit(1).subquery()
    found = exp.ArrayFilter(this=entries, expression=exp.Lambda(this=is_key, expressions=[param]))
    return value(dialect.first(found))


class _Raw(common.Read):
    """An expression already in SQL."""

    def __init__(self, expression: exp.Expression):
        self.expression = expression


@sql.register
def _(read: _Raw, r: Reading) -> exp.Expression:
    return read.expression


@sql.register
def _(read: shopify.Note, r: Reading) -> exp.Expression:
    return sql(common.Text(_Raw(r.dialect.extract(sql(common.Col("Note Attributes"), r), read.pattern, False))), r)


@sql.register
def _(read: common.Country, r: Reading) -> exp.Expression:
    """The ISO code of the country the text names (presets' country_code): the name as compared (lower case,
    ß as ss, runs of hyphens, dots, commas, apostrophes and white space one space) looked up among the
    gazetteer's names and codes, with or without their accents, in a table of them (a CASE of that many
    branches is more than Spark compiles); what names none as it is."""
    value = sql(read.of, r)
    key = exp.Lower(this=value.copy())
    key = exp.Replace(this=key, expression=exp.Literal.string("ß"), replacement=exp.Literal.string("ss"))
    key = trimmed(exp.RegexpReplace(this=key, expression=exp.Literal.string(_PUNCTUATION),
                                    replacement=exp.Literal.string(" ")))
    names = exp.Values(expressions=[exp.Tuple(expressions=[exp.Literal.string(k), exp.Literal.string(c)])
                                    for k, c in _country_keys().items()],
                       alias=exp.TableAlias(this=exp.to_identifier("segtool_countries"),
                                            columns=[exp.to_identifier("country_key"), exp.to_identifier("country_code")]))
    code = exp.select(exp.Max(this=exp.column("country_code"))).from_(names).where(
        exp.EQ(this=exp.column("country_key"), expression=key))
    return exp.Coalesce(this=code.subquery(), expressions=[value.copy()])


_PUNCTUATION = f"[-'’.,{WHITESPACE}]+"  # polars' `\s` spelled out (portable.py): engines' `\s` differ


@cache
def _country_keys() -> dict[str, str]:
    """places.country_keys, each normalised as the SQL normalises it (its accents kept)."""
    keys = {}
    for key, code in places.country_keys().items():
        keys.setdefault(re.sub(_PUNCTUATION, " ", key.replace("ß", "ss")).strip(), code)
    return dict(sorted(keys.items()))


# -- the rows around the columns, per preset and table (the polars views' `shape`) ---------------------------
def view_relation(table: Table, rows: exp.Expression, dialect: Dialect) -> tuple[exp.Expression, dict[str, str]]:
    """The table as a subquery over the vendor's `rows` (a table or a reader call), and how each canonical
    column is stored in it (`micros`: the timestamp, microseconds since the epoch); the vendor's own columns
    beside them as they are stored."""
    shape = SHAPES.get((table.preset, table.name))
    if shape is None:
        raise CompileError(f"{table.label}: `segtool sql` does not read the {table.preset} preset's {table.name} "
                           "as SQL yet; run it with `run --engine duckdb|spark`, or load the canonical columns into "
                           "a table named in engine.tables")
    vendor, schema, r = _vendor_rows(table, rows, dialect)
    present = table.view.sources(schema)  # those the file does not lack
    reads = {name: read for name, read in table.view.reads(schema).items() if name in present}
    columns = {name: sql(read, r) for name, read in reads.items()}
    body = shape(_up_to_as_of(vendor, table, r), columns, schema, r, table)
    if table.view.set_aside is not None:
        body = exp.select("*").from_(body.subquery("viewed")).where(
            exp.Not(this=exp.Is(this=exp.column(table.view.set_aside[1]), expression=exp.Null())))
    return body.subquery(table.name), {name: _kind(read) for name, read in reads.items()}


def link_relation(table: Table, rows: exp.Expression, dialect: Dialect) -> exp.Expression | None:
    """The export's rows that link a device to a person without being events (View.link_rows: Segment's
    identify calls) as a subquery over the vendor's `rows`: visitor_id as text, the timestamp in microseconds
    since the epoch, and the file's other columns; None where the preset names none."""
    if table.view is None or table.view.links is None:
        return None
    shape = LINKS.get((table.preset, table.name))
    if shape is None:
        raise CompileError(f"{table.label}: `segtool sql` does not read the {table.preset} preset's rows that link "
                           "a device to a person yet; run it with `run --engine duckdb|spark`")
    vendor, schema, r = _vendor_rows(table, rows, dialect)
    reads = {name: read for name, read in table.view.reads(schema).items() if name in ("visitor_id", "timestamp")}
    return shape(vendor, {n: sql(read, r) for n, read in reads.items()}, schema, r, table).subquery("linking")


def _vendor_rows(table: Table, rows: exp.Expression, dialect: Dialect) -> tuple[exp.Expression, dict, Reading]:
    """The vendor's `rows` as the views read them (`_source`), the export's schema and the Reading of it."""
    schema = table.raw_schema()
    null_values = table.reading.csv.null_values if table.format == "csv" else ()
    return _source(rows, schema, null_values), schema, Reading(dialect, schema)


def _up_to_as_of(rows: exp.Expression, table: Table, r: Reading) -> exp.Expression:
    """The vendor's rows up to the table's as_of where its view is built from rows in time (View.timed)."""
    if table.view.timed is None or table.as_of is None:
        return rows
    return exp.select(exp.Star()).from_(rows).where(up_to(sql(table.view.timed, r), table.as_of)).subquery(VENDOR)


def _kind(read: common.Read) -> str:
    """How the SQL of a Read is stored: `micros`, `float` or `text`."""
    if isinstance(read, (common.Instant, ga4.Micros)):
        return "micros"
    if isinstance(read, common.Number):
        return "float"
    kinds = {_kind(p) for p in read.parts} if isinstance(read, common.Coalesce) else {"text"}
    return kinds.pop() if len(kinds) == 1 else "text"


def _source(rows: exp.Expression, schema: dict, null_values: tuple[str, ...]) -> exp.Expression:
    """The vendor's rows under the alias the columns read them by (so does every subquery of them below); a
    CSV's texts that mean missing (its `null_values`) NULL, as polars reads them."""
    if not null_values:
        return exp.select(exp.Star()).from_(rows).subquery(VENDOR)
    texts = [exp.Literal.string(v) for v in null_values]
    return exp.select(*(exp.Case(ifs=[exp.If(this=exp.In(this=exp.column(c, quoted=True), expressions=texts),
                                             true=exp.Null())], default=exp.column(c, quoted=True)).as_(c, quoted=True)
                        for c in schema)).from_(rows).subquery(VENDOR)


def _vendor(column: str) -> exp.Column:
    """A column of the vendor's rows: its name as the export spells it (quoted), the alias as every alias here
    (unquoted, so Snowflake reads it in upper case as it reads the alias)."""
    return exp.Column(this=exp.to_identifier(column, quoted=True), table=exp.to_identifier(VENDOR))


def _own(schema: dict, columns: dict[str, exp.Expression]) -> list[exp.Expression]:
    return [_vendor(c) for c in common.own_columns(schema, columns)]


def _select(columns: dict[str, exp.Expression]) -> list[exp.Expression]:
    return [value.copy().as_(name, quoted=True) for name, value in columns.items()]


def _keep_own(rows, columns, schema, r, table, where: exp.Expression | None = None) -> exp.Select:
    query = exp.select(*_select(columns), *_own(schema, columns)).from_(rows)
    return query.where(where) if where is not None else query


def _numbered(rows: exp.Expression, r: Reading) -> exp.Expression:
    """The vendor's rows with their position in the export (`segtool_position`): only for a dialect of ORDERED,
    which reads files in order (a warehouse table has none)."""
    position = (exp.Anonymous(this="MONOTONICALLY_INCREASING_ID", expressions=[]) if r.dialect.name != "duckdb"
                else exp.Window(this=exp.RowNumber(), over="OVER"))
    return exp.select(exp.Star(), position.as_("segtool_position")).from_(rows).subquery(VENDOR)


def _first_per(key: exp.Expression, order: list[exp.Ordered], rows: exp.Expression,
               where: exp.Expression | None = None) -> exp.Expression:
    """The rows that are the first of their `key` (NULL a key of its own) in `order`."""
    rank = exp.Window(this=exp.RowNumber(), partition_by=[key], order=exp.Order(expressions=order))
    ranked = exp.select(exp.Star(), rank.as_("segtool_first")).from_(rows)
    if where is not None:
        ranked = ranked.where(where)
    return exp.select(exp.Star()).from_(ranked.subquery(VENDOR)).where(
        exp.EQ(this=exp.column("segtool_first"), expression=num(1))).subquery(VENDOR)


def _first_rows(rows, r: Reading) -> exp.Expression:
    """Shopify: one row per order (`Name`), the order's row (shopify.order_row: by content, not position)."""
    return _first_per(_vendor("Name"),
                      [exp.Ordered(this=sql(key, r), nulls_first=False) for key in shopify.order_row(r.schema)], rows)


def _shopify_events(rows, columns, schema, r, table):
    return _keep_own(_first_rows(rows, r), columns, schema, r, table)


def _lines(rows, columns, schema, r, table):
    return exp.select(*_select(columns)).from_(rows)


def _latest(rows, columns, r: Reading, ts: exp.Expression, where: exp.Expression | None = None) -> exp.Select:
    """One row per visitor: each column's latest known value (of values at the same instant, the greatest;
    presets/common.latest_per_visitor)."""
    values = exp.select(*_select(columns), ts.as_("segtool_ts")).from_(rows)
    if where is not None:
        values = values.where(where)
    return first_present(values.subquery("known"), exp.column("visitor_id", quoted=True),
                         [c for c in columns if c != "visitor_id"],
                         lambda c: [exp.Ordered(this=exp.column("segtool_ts"), desc=True, nulls_first=False),
                                    exp.Ordered(this=exp.column(c, quoted=True), desc=True)])


def first_present(rows: exp.Expression, key: exp.Expression, columns: list[str],
                  order: Callable[[str], list[exp.Ordered]], extra: tuple[exp.Expression, ...] = ()) -> exp.Select:
    """One row per `key` (rows without one dropped): each column's first value present in `order(column)`,
    and the `extra` columns."""
    ranks = []
    for i, c in enumerate(columns):
        known = exp.Window(this=exp.RowNumber(), partition_by=[key.copy(), exp.Case(
            ifs=[exp.If(this=exp.Is(this=exp.column(c, quoted=True), expression=exp.Null()), true=num(0))],
            default=num(1))], order=exp.Order(expressions=order(c)))
        ranks.append(known.as_(f"segtool_rank_{i}"))
    ranked = exp.select(exp.Star(), *ranks).from_(rows).where(exp.Not(this=exp.Is(this=key.copy(), expression=exp.Null())))
    first = [exp.Max(this=exp.Case(ifs=[exp.If(this=exp.and_(
        exp.EQ(this=exp.column(f"segtool_rank_{i}"), expression=num(1)),
        exp.Not(this=exp.Is(this=exp.column(c, quoted=True), expression=exp.Null()))),
        true=exp.column(c, quoted=True))])).as_(c, quoted=True) for i, c in enumerate(columns)]
    return exp.select(key.copy(), *first, *extra).from_(ranked.subquery("ranked")).group_by(key.copy())


def _ga4_profiles(rows, columns, schema, r, table):
    return _latest(rows, columns, r, sql(ga4.TIMESTAMP, r))


def _segment_profiles(rows, columns, schema, r, table):
    return _latest(rows, columns, r, sql(segment.TIMESTAMP, r), _raw_in(r, "type", (segment.IDENTIFY,)))


def _shopify_profiles(rows, columns, schema, r, table):
    return _latest(_first_rows(rows, r), columns, r, sql(shopify.CREATED, r))


def _raw_in(r: Reading, column: str, values: tuple[str, ...]) -> exp.Expression:
    return exp.In(this=_vendor(column), expressions=[exp.Literal.string(v) for v in values])


def _segment_events(rows, columns, schema, r, table):
    return _keep_own(rows, columns, schema, r, table, _raw_in(r, "type", ("page", "track")))


def _segment_links(rows, columns, schema, r, table):
    return _keep_own(rows, columns, schema, r, table, _raw_in(r, "type", (segment.IDENTIFY,)))


def _items(rows, columns, r: Reading, orders: exp.Expression, ts: exp.Expression, order_id: common.Read,
           products: exp.Expression) -> exp.Select:
    """The line items of each order (`orders`: the rows that are orders), once per order: the first event's
    (by time, a missing time first), each element of the list `products` a row."""
    ordered = [exp.Ordered(this=ts, nulls_first=True)]
    if r.dialect.name in ORDERED:  # of two at the same time, the first in the export
        rows = _numbered(rows, r)
        ordered.append(exp.Ordered(this=exp.column("segtool_position")))
    first = _first_per(sql(order_id, r), ordered, rows,
                       exp.and_(orders, exp.Not(this=exp.Is(this=sql(order_id, r), expression=exp.Null()))))
    return exp.select(*_select(columns)).from_(first).join(r.dialect.elements(products, ELEMENT), join_type="cross")


def _ga4_items(rows, columns, schema, r, table):
    if "order_id" not in columns or "items" not in schema:
        return exp.select(*_select(columns)).from_(rows).where(exp.false())
    return _items(rows, columns, r, _raw_in(r, "event_name", (ga4.PURCHASE,)), sql(ga4.TIMESTAMP, r),
                  ga4.TRANSACTION, _vendor("items"))


def _segment_items(rows, columns, schema, r, table):
    return _items(rows, columns, r, _raw_in(r, "event", segment.ORDER_EVENTS), sql(segment.TIMESTAMP, r),
                  segment.ORDER_ID, sql(common.Col("properties", ("products",)), r))


SHAPES = {
    ("ga4", "events"): _keep_own, ("ga4", "items"): _ga4_items, ("ga4", "profiles"): _ga4_profiles,
    ("shopify_orders", "events"): _shopify_events, ("shopify_orders", "items"): _lines,
    ("shopify_orders", "profiles"): _shopify_profiles, ("shopify_customers", "profiles"): _keep_own,
    ("segment", "events"): _segment_events, ("segment", "items"): _segment_items,
    ("segment", "profiles"): _segment_profiles,
}
LINKS = {("segment", "events"): _segment_links}  # the rows of a preset's export that only link (View.links)
