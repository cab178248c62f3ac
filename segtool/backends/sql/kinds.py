"""How a table's columns are stored and typed, in the words the SQL compiler uses for them (Source.raw_kinds,
Columns): the kinds of the polars types the tables have."""

from __future__ import annotations

import polars as pl

from ...inputs.tables import ID_COLUMNS, Table
from ...language.catalog import NUMBER_COLUMNS


def stored_kind(dtype: pl.DataType) -> str:
    if dtype == pl.String:
        return "text"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "float"
    if isinstance(dtype, pl.Datetime):
        return "instant"
    if dtype == pl.Date:
        return "date"
    return "other"


def typed_kind(table: Table, canonical: str) -> str:
    """The kind of the column as the polars engine types it (inputs.Table.typed_dtype)."""
    if canonical in NUMBER_COLUMNS[table.name]:
        return "float"
    if canonical in ID_COLUMNS:
        return "text"
    return stored_kind(table.typed_dtype(canonical)) if table.has(canonical) else "text"
