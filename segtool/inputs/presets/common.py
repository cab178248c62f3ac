"""What the preset views share: the Preset record and small expressions over vendors' columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import polars as pl

from ...places import country_code


@dataclass(frozen=True)
class View:
    """One canonical table from a vendor's rows: its columns, as expressions over the vendor's columns, and
    the shaping of the rows around them (which rows; one per order or per visitor). `explain` reads the same
    expressions to say which vendor column each canonical one comes from.

    A canonical column whose vendor column the file lacks (an optional nested column that property settings
    or older exports leave out) is not in the table: a rule that reads it is an error naming the vendor's
    column (`lacking`), every other rule works. `set_aside` names rows the view leaves out of the table that
    are no data error (Shopify's orders without a customer): where the canonical column it names is missing,
    the row is left out and counted under the reason (`set_aside_rows`). `links` shapes the rows that link
    a device to a person without being events (`link_rows`). A `timed` view is built from the rows up to the
    run's as_of only (tables.Table.scan): a profile read from events after as_of is no profile yet."""

    reads: Callable[[dict], dict[str, Read]]  # the file's schema -> each canonical column, as data (Read)
    shape: Callable[[pl.LazyFrame, dict[str, pl.Expr]], pl.LazyFrame]  # the rows, the columns by name
    set_aside: tuple[str, str] | None = None  # (reason, the column whose missing value leaves a row out)
    links: Callable[[pl.LazyFrame, dict[str, pl.Expr]], pl.LazyFrame] | None = None  # rows that only link a device
    timed: "Read | None" = None  # a row's instant, where the table is built from rows in time (profiles from events)

    def link_rows(self, rows: pl.LazyFrame) -> pl.LazyFrame:
        """The vendor's rows that are no events but say which person a device is at an instant (Segment's
        `identify` calls): visitor_id and timestamp as the events read them, and the file's other columns,
        where person keys are read (inputs/stitching.py)."""
        named = self._named(rows.collect_schema())
        return self.links(rows, {c: named[c] for c in ("visitor_id", "timestamp") if c in named})

    def columns(self, schema: dict) -> list[pl.Expr]:
        """The canonical columns as polars expressions, each aliased."""
        return [read.polars(schema).alias(name) for name, read in self.reads(schema).items()]

    def __call__(self, rows: pl.LazyFrame) -> pl.LazyFrame:
        table = self._shaped(rows)
        return table if self.set_aside is None else table.filter(pl.col(self.set_aside[1]).is_not_null())

    def set_aside_rows(self, rows: pl.LazyFrame) -> pl.LazyFrame:
        """One row, one column named by the reason: the number of rows the view leaves out."""
        reason, which = self.set_aside
        return self._shaped(rows).select(pl.col(which).is_null().sum().alias(reason))

    def _shaped(self, rows: pl.LazyFrame) -> pl.LazyFrame:
        return self.shape(rows, self._named(rows.collect_schema()))

    def sources(self, schema: dict) -> dict[str, list[str]]:
        """Each canonical column -> the vendor's columns it is read from (`geo.city` for a struct's field)."""
        return {name: vendor_columns(expr) for name, expr in self._named(schema).items()}

    def lacking(self, schema: dict) -> dict[str, list[str]]:
        """Each canonical column the file cannot give -> the vendor's columns it would be read from."""
        return {name: vendor_columns(expr) for name, expr in self._all(schema).items() if _lacks(expr, schema)}

    def _named(self, schema: dict) -> dict[str, pl.Expr]:
        return {name: expr for name, expr in self._all(schema).items() if not _lacks(expr, schema)}

    def _all(self, schema: dict) -> dict[str, pl.Expr]:
        return {expr.meta.output_name(): expr for expr in self.columns(schema)}


def _lacks(expr: pl.Expr, schema: dict) -> bool:
    """Whether the expression reads a column the file lacks: a path's top-level column (a column named by
    its path, `properties.products`, is made by the view from `properties`)."""
    return any(path[0].split(".")[0] not in schema for path in _paths(expr.meta.undo_aliases()))


@dataclass(frozen=True)
class Preset:
    name: str
    vendor: str                              # in words, for messages and `explain`
    conversion_events: tuple[str, ...]       # the event_type values that are conversions
    views: dict[str, View]                   # table name -> view of the vendor's rows
    ndjson_schema: dict[str, pl.DataType] = field(default_factory=dict)  # the fields the views read, for JSON
    files: Callable[[list[str]], list[str]] = list  # the files found -> those that hold the export's rows
    identity: dict[str, str] = field(default_factory=dict)  # identity role (or consent.KIND) -> profiles column


# -- a view's columns as data: the polars view and the SQL one (backends/sql/views.py) are read off them ----
class Read:
    """How a canonical column is read from the vendor's columns; `polars` gives the polars expression."""

    def polars(self, schema: dict) -> pl.Expr:
        raise NotImplementedError


@dataclass(frozen=True)
class Col(Read):
    """A vendor column, or a field of a struct column (`geo.city`): null where the struct lacks the field."""
    column: str
    path: tuple[str, ...] = ()

    def polars(self, schema: dict) -> pl.Expr:
        return field_of(self.column, *self.path, schema=schema)


@dataclass(frozen=True)
class Element(Read):
    """A field of one element of a list column, once the view has unnested the list (GA4's `items`)."""
    column: str
    name: str

    def polars(self, schema: dict) -> pl.Expr:
        return pl.col(self.column).struct.field(self.name)


@dataclass(frozen=True)
class Lit(Read):
    value: str | None

    def polars(self, schema: dict) -> pl.Expr:
        return pl.lit(self.value, pl.String)


@dataclass(frozen=True)
class Text(Read):
    """Trimmed text; blank, or one of the vendor's words for unknown (`unset`), is missing."""
    of: Read
    unset: tuple[str, ...] = ()

    def polars(self, schema: dict) -> pl.Expr:
        return text(self.of.polars(schema), *self.unset)


@dataclass(frozen=True)
class Lower(Read):
    of: Read

    def polars(self, schema: dict) -> pl.Expr:
        return lowered(self.of.polars(schema))


# what lower-casing writes differently in polars and the SQL engines (İ as i and a dot, Σ at a word's end as ς),
# and so every engine writes it after lower-casing
CASE_FOLDS = (("i\u0307", "i"), ("ς", "σ"))


def lowered(values: pl.Expr) -> pl.Expr:
    """Text lower-cased by Unicode's rules, the same on every engine (CASE_FOLDS)."""
    values = values.str.to_lowercase()
    for written, common in CASE_FOLDS:
        values = values.str.replace_all(written, common, literal=True)
    return values


@dataclass(frozen=True)
class Number(Read):
    """A number, also where written as text; what is none is missing."""
    of: Read

    def polars(self, schema: dict) -> pl.Expr:
        return number(self.of.polars(schema))


@dataclass(frozen=True)
class Coalesce(Read):
    parts: tuple[Read, ...]

    def polars(self, schema: dict) -> pl.Expr:
        return pl.coalesce([p.polars(schema) for p in self.parts])


@dataclass(frozen=True)
class Country(Read):
    """A country's name or code as its ISO 3166 alpha-2 code; what names no country as it is."""
    of: Read

    def polars(self, schema: dict) -> pl.Expr:
        return country_code(self.of.polars(schema))


@dataclass(frozen=True)
class When(Read):
    """`then` where `test` (a Read of a boolean: IsIn, Present) holds, else `otherwise`."""
    test: Read
    then: Read
    otherwise: Read

    def polars(self, schema: dict) -> pl.Expr:
        return pl.when(self.test.polars(schema)).then(self.then.polars(schema)).otherwise(self.otherwise.polars(schema))


@dataclass(frozen=True)
class IsIn(Read):
    of: Read
    values: tuple[str, ...]

    def polars(self, schema: dict) -> pl.Expr:
        return self.of.polars(schema).is_in(list(self.values))


@dataclass(frozen=True)
class Present(Read):
    of: Read

    def polars(self, schema: dict) -> pl.Expr:
        return self.of.polars(schema).is_not_null()


@dataclass(frozen=True)
class Instant(Read):
    """ISO 8601 text with `Z` or an offset (or none: UTC) as a UTC instant (utc_from_text)."""
    of: Read

    def polars(self, schema: dict) -> pl.Expr:
        return utc_from_text(self.of.polars(schema))


# -- building blocks shared by the views -----------------------------------------------------------------
def text(expr: pl.Expr, *unset: str) -> pl.Expr:
    """Text with blanks (and the vendor's words for "unknown", `unset`) as missing."""
    value = expr.cast(pl.String).str.strip_chars()
    missing = (value == "") | value.is_in(list(unset)) if unset else value == ""
    return pl.when(missing).then(None).otherwise(value)


def number(expr: pl.Expr) -> pl.Expr:
    """A JSON or CSV number as a float (a JSON export may write it as text); what is none is missing."""
    return expr.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)


def field_of(column: str, *path: str, schema: dict | None = None) -> pl.Expr:
    """`column.path...` of a struct column; with the file's `schema`, null where the column lacks a field of
    the path. A column the file lacks altogether leaves the canonical column out of the table (View)."""
    if schema is not None and column in schema and not has_path(schema, column, *path):
        return pl.lit(None)
    expr = pl.col(column)
    for name in path:
        expr = expr.struct.field(name)
    return expr


def has_path(schema: dict, column: str, *path: str) -> bool:
    dtype = schema.get(column)
    for name in path:
        if not isinstance(dtype, pl.Struct):
            return False
        dtype = {f.name: f.dtype for f in dtype.fields}.get(name)
    return dtype is not None


def keep_own(frame: pl.LazyFrame, canonical: dict[str, pl.Expr]) -> pl.LazyFrame:
    """The canonical columns first, then the file's other top-level columns as they are."""
    return frame.select(*canonical.values(), *own_columns(frame.collect_schema().names(), canonical))


def own_columns(names, canonical) -> list[str]:
    """The file's columns a view keeps beside its canonical ones: those that are not one of them, in any case
    (the customers export's `City` beside the canonical `city`: Spark's and DuckDB's names ignore case, so
    two such columns would be one name there; the canonical one reads it)."""
    taken = {c.lower() for c in canonical}
    return [c for c in names if c.lower() not in taken]


def latest_per_visitor(rows: pl.LazyFrame, columns: dict[str, pl.Expr], timestamp: pl.Expr) -> pl.LazyFrame:
    """One row per visitor (`columns` holds visitor_id): each column's latest known value, so a later row
    that leaves it missing (`(not set)`, blank) does not erase it. Of values at the same instant, the
    greatest, so the answer does not depend on the order of the rows."""
    others = [name for name in columns if name != "visitor_id"]
    return (rows.select(*columns.values(), timestamp.alias("ts"))
            .filter(pl.col("visitor_id").is_not_null())
            .group_by("visitor_id")
            .agg(pl.col(c).sort_by("ts", c, nulls_last=False).drop_nulls().last()
                 for c in others))


def vendor_columns(expr: pl.Expr) -> list[str]:
    """The vendor's columns an expression reads, each with the struct fields it reads into (`geo.city`)."""
    return list(dict.fromkeys(".".join(path) for path in _paths(expr.meta.undo_aliases())))


def _paths(node: pl.Expr) -> list[tuple[str, ...]]:
    if node.meta.is_column():
        return [(node.meta.output_name(),)]
    inputs = node.meta.pop()[::-1]  # polars lists them last first
    paths = [path for child in inputs for path in _paths(child)]
    name = node.meta.output_name(raise_if_undetermined=False)
    if len(inputs) == 1 and len(paths) == 1 and name and name != inputs[0].meta.output_name(
            raise_if_undetermined=False):
        return [paths[0] + (name,)]  # a step of one input that renames it: a field of a struct
    return paths


def utc_from_text(expr: pl.Expr) -> pl.Expr:
    """ISO 8601 text with `Z` or an offset (or none: UTC) as a UTC instant; what is not is missing."""
    text_ = expr.cast(pl.String).str.strip_chars()
    formats = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S %z",
               "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f")
    return pl.coalesce([text_.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us") for f in formats])
