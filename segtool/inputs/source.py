"""Reading: the rows of the input tables as the planner and the predictions use them, and running plans.

The layer below everything that plans or predicts: it imports only the tables (inputs.py). Every read is
lazy; `collect_all` runs plans, turning what polars reports about unreadable data into a DataError that
names the file and column.
"""

from __future__ import annotations

import re

import polars as pl

from ..language.catalog import ITEM_COLUMNS, NUMBER_COLUMNS
from ..errors import DataError, OutOfMemory
from ..language.timeframe import AsOf
from .tables import DECIMAL_COMMA, PREDICTED_COLUMNS, VID, Inputs, Table, before_as_of, parse_timestamps

CONVERSION_COLUMNS = ("event_type", "order_id", "order_value")
# Branches of a plan that read the same scan would share it through a cache that holds every row in
# memory; each reads its own columns instead, streaming, so memory stays with the per-visitor results.
NO_SHARED_SCANS = pl.QueryOptFlags(comm_subplan_elim=False)


def event_columns(inputs: Inputs, columns=()) -> pl.LazyFrame:
    """Every event row with visitor_id, the parsed timestamp (null where unreadable) and the canonical
    `columns` (null where the export lacks one)."""
    events = inputs.events
    events.require(("visitor_id", "timestamp", "event_type"))
    wanted = sorted(set(columns) - {VID, "timestamp"})
    return events.select([VID, "timestamp", *wanted]).with_columns(
        parse_timestamps(events, inputs.config.timestamp_format, pl.col("timestamp")).alias("timestamp"))


def event_base(inputs: Inputs, as_of: AsOf | None, columns=()) -> pl.LazyFrame:
    """The event rows up to as_of (all of them where it is None), unreadable timestamps and missing visitors
    included: the health check (health.py) counts them, `event_rows` drops them."""
    ts = pl.col("timestamp")
    frame = event_columns(inputs, columns)
    return frame if as_of is None else frame.filter(ts.is_null() | before_as_of(ts, as_of))


def event_rows(inputs: Inputs, as_of: AsOf, columns=()) -> pl.LazyFrame:
    """The events up to as_of with a readable timestamp. Rows without a visitor_id fall into a null group
    when aggregated per visitor, which `known_visitors` drops with the blank IDs: no test per event row
    (a filter on visitor_id would make the scan decode every ID before the other filters)."""
    return event_columns(inputs, columns).filter(before_as_of(pl.col("timestamp"), as_of))


def conversion_events(inputs: Inputs, as_of: AsOf) -> pl.LazyFrame:
    """The events of the conversion types up to as_of, unreadable timestamps included (the health check
    counts them): a few percent of the rows, cached, as both the conversions and their check read them."""
    ts = pl.col("timestamp")
    rows = event_columns(inputs, CONVERSION_COLUMNS)
    return rows.filter(pl.col("event_type").is_in(list(inputs.config.conversion_events))
                       & (ts.is_null() | before_as_of(ts, as_of))).cache()


def conversions(events: pl.LazyFrame, inputs: Inputs) -> pl.LazyFrame:
    """One row per conversion (visitor_id, timestamp, order_id, order_value) from events with the conversion
    columns: the conversion types, a readable timestamp, an order tracked twice counted once (its first
    event; of events at the same instant, the one with the lowest value, a missing value last: a total
    order, so the answer never depends on the order of the rows)."""
    rows = events.filter(pl.col("event_type").is_in(list(inputs.config.conversion_events))
                         & pl.col("timestamp").is_not_null())
    columns = [VID, "timestamp", "order_id", "order_value"]
    orders = (rows.filter(pl.col("order_id").is_not_null())
              .group_by([VID, "order_id"])
              .agg(pl.col("timestamp").min(),
                   pl.col("order_value").sort_by(["timestamp", "order_value"], nulls_last=True).first())
              .select(columns))
    return pl.concat([orders, rows.filter(pl.col("order_id").is_null()).select(columns)])


def profile_rows(inputs: Inputs, columns=()) -> pl.LazyFrame:
    """One row per visitor with a profile, its first, with the canonical `columns` (null where missing)."""
    profiles = inputs.profiles
    profiles.require(["visitor_id"])
    read = list(dict.fromkeys(c for c in columns if c != VID))
    rows = profiles.select([VID, *(c for c in read if profiles.has(c))]).filter(
        pl.col(VID).is_not_null() & pl.col(VID).is_first_distinct())
    return rows.with_columns(pl.lit(None, profiles.typed_dtype(c)).alias(c) for c in read if not profiles.has(c))


def profile_visitors(inputs: Inputs) -> pl.LazyFrame:
    return inputs.profiles.select([VID]).filter(pl.col(VID).is_not_null()).unique()


def known_visitors(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows whose visitor_id has some text: an empty or all-whitespace ID is no visitor (its events are
    skipped, and counted so by the health check). Applied to a collected frame of one row per visitor:
    in a lazy plan polars would push the test down to every event row."""
    return frame.filter(pl.col(VID).str.contains(r"\S"))


def hold_inputs(inputs: Inputs, wanted: dict[str, set[str]]) -> None:
    """Read each table once, only the columns runs at several instants need (the required and conversion
    columns, and `wanted`), and keep them in memory for those runs."""
    base = {"events": {VID, "timestamp", *CONVERSION_COLUMNS}, "profiles": {VID, *PREDICTED_COLUMNS},
            "items": set(ITEM_COLUMNS)}
    for name, table in (("events", inputs.events), ("profiles", inputs.profiles), ("items", inputs.items)):
        if table is not None:
            table.hold(base[name] | wanted.get(name, set()), lambda frame: collect(frame, inputs))


def universe_counts(inputs: Inputs, as_of: AsOf) -> tuple[int, int]:
    """The number of visitors in the universe (profiles ∪ events up to as_of with a readable timestamp, blank
    IDs left out) and of event rows up to as_of (unreadable timestamps included): one pass over two columns."""
    rows = event_base(inputs, as_of)
    seen = rows.filter(pl.col("timestamp").is_not_null()).select(VID)
    if inputs.profiles is not None:
        seen = pl.concat([seen, profile_visitors(inputs)])
    visitors = seen.unique().filter(pl.col(VID).str.contains(r"\S")).select(pl.len().alias("visitors"))
    counted = collect_all([visitors, rows.select(pl.len().alias("rows"))], inputs)
    return counted[0].item(), counted[1].item()


def set_aside_counts(inputs: Inputs) -> dict[str, dict[str, int]]:
    """Each table's rows that its preset's view sets aside (no data error: Shopify's orders without a
    customer), by reason; tables that set none aside are left out. One pass over those tables' files."""
    queries = {t.name: rows for t in (inputs.events, inputs.profiles, inputs.items)
               if t is not None and (rows := t.set_aside_rows()) is not None}
    counted = collect_all(list(queries.values()), inputs) if queries else []
    return {name: frame.row(0, named=True) for name, frame in zip(queries, counted)}


def collect(frame: pl.LazyFrame, inputs: Inputs) -> pl.DataFrame:
    """Run a plan; a value that cannot be read as its column's type becomes a DataError naming file and column."""
    return collect_all([frame], inputs)[0]


def collect_all(frames: list[pl.LazyFrame], inputs: Inputs) -> list[pl.DataFrame]:
    """Run several plans at once."""
    try:
        return pl.collect_all(frames, engine="streaming", optimizations=NO_SHARED_SCANS)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError, OSError) as exc:
        raise _data_error(exc, inputs) from None


def _decimal_comma_hint(table: Table, values: list[str]) -> str:
    """A hint where a value that is not a number is one written with a decimal comma (`12,50`)."""
    if table.format != "csv" or table.reading.csv.decimal_comma:
        return ""
    comma = [v for v in values if re.match(DECIMAL_COMMA, v)]
    return (f"; {comma[0]!r} is a number written with a decimal comma: set `csv: {{decimal_comma: true}}` in the "
            f"config (or `decimal_comma: true` under data.{table.name})") if comma else ""


def not_numbers_error(table: Table, canonical: str) -> DataError:
    """Values of a number column that are not numbers: the error every engine reports, with the first few."""
    values = table.not_numbers(canonical)
    shown = f": {', '.join(map(repr, values))}" if values else ""
    return DataError(f"values that are not numbers in {table.name}{shown}{_decimal_comma_hint(table, values)}",
                     file=table.label, column=table.export_name(canonical))


def _data_error(exc: Exception, inputs: Inputs) -> DataError:
    message = str(exc)
    tables = [part for t in (inputs.events, inputs.profiles, inputs.items) if t is not None for part in t.parts()]
    named = re.search(r"in column '([^']+)'", message)  # a cast polars could not make names its column
    if named is not None or isinstance(exc, pl.exceptions.InvalidOperationError):
        for table in tables:
            for canonical in NUMBER_COLUMNS[table.name]:
                if (named is None or named.group(1) in (canonical, table.export_name(canonical))) \
                        and table.not_numbers(canonical):
                    return not_numbers_error(table, canonical)
    first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    if any(sign in first.lower() for sign in ("os error 12", "cannot allocate memory", "memory allocation",
                                               "out of memory")):
        return OutOfMemory("while reading the data")
    for table in tables:
        file = table.unreadable_file()
        if file is not None:
            hint = "; the file is not UTF-8 text: convert it to UTF-8" if "utf-8" in first else ""
            return DataError(f"cannot read {table.name}: {first}{hint}", file=file)
    return DataError(f"cannot read the input data: {first}")
