"""What the preset views share: the Preset record and small expressions over vendors' columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import polars as pl

View = Callable[[pl.LazyFrame], pl.LazyFrame]


@dataclass(frozen=True)
class Preset:
    name: str
    vendor: str                              # in words, for messages and `explain`
    conversion_events: tuple[str, ...]       # the event_type values that are conversions
    views: dict[str, View]                   # table name -> view of the vendor's rows
    ndjson_schema: dict[str, pl.DataType] = field(default_factory=dict)  # the fields the views read, for JSON


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
    """`column.path...` of a struct column; null where the file lacks the column or a field of the path."""
    if schema is not None and not has_path(schema, column, *path):
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


def keep_own(frame: pl.LazyFrame, canonical: list[pl.Expr]) -> pl.LazyFrame:
    """The canonical columns first, then the file's other top-level columns as they are."""
    names = {e.meta.output_name() for e in canonical}
    own = [c for c in frame.collect_schema().names() if c not in names]
    return frame.select(*canonical, *own)


def utc_from_text(expr: pl.Expr) -> pl.Expr:
    """ISO 8601 text with `Z` or an offset (or none: UTC) as a UTC instant; what is not is missing."""
    text_ = expr.cast(pl.String).str.strip_chars()
    formats = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S %z",
               "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f")
    return pl.coalesce([text_.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us") for f in formats])
