"""Reading the exports: files, globs and directories scanned lazily, renamed to canonical columns, typed.

Only the columns a run needs are selected, so polars reads nothing else.
"""

from __future__ import annotations

import csv
import glob as globlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..catalog import NUMBER_COLUMNS
from ..config import Config
from ..errors import DataError
from ..timeframe import AsOf
from .drift import UTC_US, aligned, common_schema

VID = "visitor_id"
PREDICTIVE_COLUMNS = ("conversion_potential", "clv")  # profile columns the models can compute from events
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
REQUIRED = {"events": ("visitor_id", "timestamp", "event_type"), "profiles": ("visitor_id",), "items": ("order_id",)}
ID_COLUMNS = ("visitor_id", "order_id")  # text whatever the file stores: `7` and `007` stay as written
ISO_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M%#z",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
EPOCH_UNITS = {"epoch_s": "s", "epoch_ms": "ms", "epoch_us": "us"}


@dataclass
class Table:
    """One input table: where it is, how its columns are named, and its lazy scan."""

    name: str
    spec: str
    files: list[str]
    format: str
    mapping: dict[str, str] = field(default_factory=dict)  # canonical -> export name
    _schema: dict | None = None
    _file_schemas: list[dict] | None = None  # per file, where the files' schemas drift apart

    @property
    def label(self) -> str:
        return self.spec if len(self.files) != 1 else self.files[0]

    @property
    def hive(self) -> bool:
        return len(self.files) > 1 or Path(self.spec).is_dir()

    def _scan(self, files: list[str] | str) -> pl.LazyFrame:
        if self.format == "csv":
            return pl.scan_csv(files, infer_schema=False)
        return pl.scan_parquet(files, hive_partitioning=self.hive)

    def scan(self) -> pl.LazyFrame:
        """Every row of every file, with the columns of `schema()`: files that drift are aligned by name."""
        self.schema()
        if self._file_schemas is None:
            return self._scan(self.files)
        return pl.concat([self._scan(file).select(aligned(schema, self._schema))
                          for file, schema in zip(self.files, self._file_schemas)], how="vertical")

    def schema(self) -> dict:
        """The columns and types of the table (no rows read): every file's, or their common schema."""
        if self._schema is None:
            schemas = [self._file_schema(file) for file in self.files]
            if all(list(schema.items()) == list(schemas[0].items()) for schema in schemas):
                self._schema = schemas[0]
            else:
                self._schema, self._file_schemas = common_schema(self.files, schemas), schemas
        return self._schema

    def _file_schema(self, file: str) -> dict:
        if self.format == "csv":
            _check_csv_header(file)
        try:
            return dict(self._scan(file).collect_schema())
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise DataError(f"cannot read {self.name}: {_first_line(exc)}", file=file) from None

    def estimated_rows(self) -> int:
        """The number of rows: from the Parquet footers, or for CSV from the file sizes and the first rows."""
        if self.format == "parquet":
            return self.scan().select(pl.len()).collect().item()
        sizes = sum(Path(f).stat().st_size for f in self.files)
        head = Path(self.files[0]).open("rb").read(1 << 20)
        return int(sizes / max(len(head), 1) * max(head.count(b"\n") - 1, 1))

    def unreadable_file(self) -> str | None:
        """The first file whose values cannot all be read (a full read of each: for error messages only)."""
        for file in self.files:
            try:
                self._scan(file).select(pl.all().cast(pl.String, strict=False).str.len_bytes().sum()
                                        ).collect(engine="streaming")
            except (pl.exceptions.PolarsError, OSError):
                return file
        return None

    def export_name(self, canonical: str) -> str:
        return self.mapping.get(canonical, canonical)

    def has(self, canonical: str) -> bool:
        return self.export_name(canonical) in self.schema()

    def dtype(self, canonical: str):
        return self.schema()[self.export_name(canonical)]

    def require(self, columns) -> None:
        for canonical in columns:
            if not self.has(canonical):
                export = self.export_name(canonical)
                mapped = f" (mapped from {canonical!r} in the config)" if export != canonical else ""
                raise DataError(f"missing required column {export!r}{mapped} in {self.name}",
                                file=self.label, column=export)

    def select(self, columns) -> pl.LazyFrame:
        """The scan with the canonical columns asked for (absent optional ones as nulls), typed."""
        exprs = []
        for canonical in dict.fromkeys(columns):
            if self.has(canonical):
                exprs.append(self.typed(canonical, pl.col(self.export_name(canonical))).alias(canonical))
            else:
                exprs.append(pl.lit(None, pl.Float64 if canonical in NUMBER_COLUMNS[self.name] else pl.String)
                             .alias(canonical))
        return self.scan().select(exprs)

    def typed(self, canonical: str, expr: pl.Expr) -> pl.Expr:
        dtype = self.dtype(canonical)
        if canonical in NUMBER_COLUMNS[self.name]:
            if dtype == pl.String:
                expr = expr.str.strip_chars()
                expr = pl.when(expr != "").then(expr)
            return expr.cast(pl.Float64, strict=True).fill_nan(None)
        if canonical == "timestamp":
            return expr
        if dtype == pl.String or (dtype.is_numeric() and canonical not in ID_COLUMNS):
            return expr
        return expr.cast(pl.String)

    def typed_dtype(self, canonical: str) -> pl.DataType:
        """The type `select` gives the column: floats for numeric columns, numbers kept, the rest text."""
        if canonical in NUMBER_COLUMNS[self.name]:
            return pl.Float64
        if not self.has(canonical) or canonical in ID_COLUMNS:
            return pl.String
        dtype = self.dtype(canonical)
        return dtype if dtype.is_numeric() else pl.String


@dataclass
class Inputs:
    """The run's tables and settings: what the visitor frame is built from."""

    events: Table
    profiles: Table | None
    items: Table | None
    config: Config

    def computes(self, column: str) -> bool:
        """Whether a predictive profile column comes from the models rather than the profiles: config
        `predictive: events`, or `auto` where the profiles lack the column (or there are no profiles)."""
        source = self.config.predictive
        return column in PREDICTIVE_COLUMNS and (
            source == "events" or (source == "auto" and (self.profiles is None or not self.profiles.has(column))))


def resolve_table(name: str, spec: str | None, mapping: dict[str, str] | None = None) -> Table | None:
    """The table at `spec` (a file, a glob or a directory); None when no spec was given."""
    if not spec:
        return None
    path = Path(spec)
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.suffix.lower() in FORMATS and p.is_file())
    elif any(ch in spec for ch in "*?["):
        files = sorted(globlib.glob(spec, recursive=True))
    else:
        files = [spec] if path.is_file() else []
    if not files:
        raise DataError(f"no {name} file found", file=spec)
    formats = {FORMATS.get(Path(f).suffix.lower()) for f in files}
    if None in formats:
        bad = next(f for f in files if Path(f).suffix.lower() not in FORMATS)
        raise DataError(f"{name}: cannot tell the format of {bad!r}; use .csv or .parquet", file=bad)
    if len(formats) > 1:
        raise DataError(f"{name}: mixes CSV and Parquet files; use one format", file=spec)
    return Table(name, spec, files, formats.pop(), dict(mapping or {}))


def parse_timestamps(table: Table, timestamp_format: str, col: pl.Expr | None = None) -> pl.Expr:
    """The `timestamp` column as UTC datetimes; unparseable values become null (and the row is skipped).

    `col` is the raw column where the caller already renamed it (default: its export name)."""
    col = pl.col(table.export_name("timestamp")) if col is None else col
    dtype = table.dtype("timestamp")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone == "UTC":
            return col  # as is, so the as_of filter reaches the Parquet scan (row groups can be skipped)
        return col.dt.replace_time_zone("UTC") if dtype.time_zone is None else col.dt.convert_time_zone("UTC")
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if dtype.is_integer() or (dtype == pl.String and timestamp_format in EPOCH_UNITS):
        if timestamp_format not in EPOCH_UNITS:
            raise DataError("timestamp holds numbers; set timestamp_format to epoch_s, epoch_ms or epoch_us "
                            "in the config", file=table.label, column=table.export_name("timestamp"))
        ints = col.cast(pl.Int64, strict=False) if dtype == pl.String else col.cast(pl.Int64)
        return pl.from_epoch(ints, time_unit=EPOCH_UNITS[timestamp_format]).dt.replace_time_zone("UTC").cast(UTC_US)
    if dtype != pl.String:
        raise DataError(f"timestamp has type {dtype}, not a date-time", file=table.label,
                        column=table.export_name("timestamp"))
    text = col.str.strip_chars()
    formats = ISO_FORMATS if timestamp_format == "iso" else (timestamp_format,)
    parsed = [text.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us") for f in formats]
    return pl.coalesce(parsed) if len(parsed) > 1 else parsed[0]


def before_as_of(ts: pl.Expr, as_of: AsOf) -> pl.Expr:
    bound = pl.lit(as_of.instant, dtype=UTC_US)
    return ts <= bound if as_of.inclusive else ts < bound


def _check_csv_header(file: str) -> None:
    """A header that names a column twice is refused: polars would rename one and read only the first."""
    try:
        with open(file, "rb") as f:
            line = f.readline(1 << 20)
    except OSError:
        return  # the scan reports it, naming the file
    header = next(csv.reader([line.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")]), [])
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"the CSV header names the column {name!r} twice", file=file, column=name)
        seen.add(name)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
