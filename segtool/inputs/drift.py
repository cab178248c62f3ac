"""Exports whose files drift: one table's files with different column sets, orders or types, read as one.

Columns are matched by name (a column a file lacks is null there). A column whose type differs between
files is read as one type where the contract allows it: a column without a value (NDJSON's `null` in every
row reads as polars' Null type) takes the others' type, integers and floats widen to floats, any scalar
mixed with text is text (IDs and codes as written; number columns are parsed from it later), date-times
in different units or zones are UTC microseconds, structs are the union of their fields (each of one common
type; a field a file lacks is null there) and lists are lists of their elements' common type (a vendor's
nested records gain fields over time: GA4's daily tables before and after a schema change). Anything else
names both files and both types.
"""

from __future__ import annotations

import polars as pl

from ..errors import DataError

UTC_US = pl.Datetime("us", "UTC")  # every timestamp, once read: UTC microseconds


def common_schema(files: list[str], schemas: list[dict]) -> dict:
    """One schema for all files: every column in order of first appearance, each with its common type."""
    columns: dict[str, list[tuple[str, pl.DataType]]] = {}
    for file, schema in zip(files, schemas):
        for name, dtype in schema.items():
            columns.setdefault(name, []).append((file, dtype))
    return {name: _common_type(name, seen) for name, seen in columns.items()}


def _common_type(name: str, seen: list[tuple[str, pl.DataType]]) -> pl.DataType:
    seen = [(file, dtype) for file, dtype in seen if dtype != pl.Null] or seen
    dtypes = [dtype for _, dtype in seen]
    first = dtypes[0]
    if all(dtype == first for dtype in dtypes):
        return first
    if all(dtype.is_integer() for dtype in dtypes):
        return pl.Int64
    if all(dtype.is_numeric() for dtype in dtypes):
        return pl.Float64
    if all(isinstance(dtype, (pl.Datetime, pl.Date)) for dtype in dtypes):
        return UTC_US
    if any(dtype == pl.String for dtype in dtypes) and all(_scalar(dtype) for dtype in dtypes):
        return pl.String
    if all(isinstance(dtype, pl.Struct) for dtype in dtypes):
        fields = common_schema([file for file, _ in seen], [{f.name: f.dtype for f in dtype.fields} for dtype in dtypes])
        return pl.Struct(fields)
    if all(isinstance(dtype, pl.List) for dtype in dtypes):
        return pl.List(_common_type(name, [(file, dtype.inner) for file, dtype in seen]))
    (file_a, type_a), (file_b, type_b) = seen[0], next((f, t) for f, t in seen if t != first)
    raise DataError(f"column {name!r} is {type_a} in {file_a} but {type_b} in {file_b}, which cannot be read as "
                    "one type; convert one of the files", file=file_b, column=name)


def _scalar(dtype: pl.DataType) -> bool:
    return dtype == pl.String or dtype == pl.Boolean or dtype.is_numeric() or isinstance(dtype, (pl.Datetime, pl.Date))


def aligned(schema: dict, target: dict) -> list[pl.Expr]:
    """Expressions that turn one file's columns into `target`'s columns, types and order."""
    return [_convert(pl.col(name), schema[name], dtype).alias(name) if name in schema
            else pl.lit(None, dtype).alias(name) for name, dtype in target.items()]


def _convert(column: pl.Expr, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    if source == target:
        return column
    if isinstance(target, pl.Struct):
        have = {f.name: f.dtype for f in source.fields}
        return pl.struct([_convert(column.struct.field(f.name), have[f.name], f.dtype).alias(f.name) if f.name in have
                          else pl.lit(None, f.dtype).alias(f.name) for f in target.fields])
    if isinstance(target, pl.List):
        return column.list.eval(_convert(pl.element(), source.inner, target.inner))
    if target == UTC_US:
        if source == pl.Date:
            return column.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        zoned = column.dt.replace_time_zone("UTC") if source.time_zone is None else column.dt.convert_time_zone("UTC")
        return zoned.dt.cast_time_unit("us")
    if target == pl.String and isinstance(source, pl.Datetime):  # ISO 8601, which the iso format reads back
        if source.time_zone is None:
            return column.dt.strftime("%Y-%m-%dT%H:%M:%S%.f")
        return column.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
    return column.cast(target)
