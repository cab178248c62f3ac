"""Reading the exports: files, globs, directories and buckets scanned lazily (files.py), seen through a
preset's view where the export is a vendor's (presets/), renamed to canonical columns, typed.

Only the columns a run needs are selected, so polars reads nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
import polars as pl

from ..language.catalog import NUMBER_COLUMNS, PREDICTED_COLUMNS
from ..config import Config, Source
from ..errors import DataError
from ..language import strftime
from ..language.timeframe import DECIMAL_COMMA_TEXT, ISO_TEXT, AsOf
from . import files as filesystem
from .drift import UTC_US, aligned, common_schema
from .files import Reading
from .presets.common import View

VID = "visitor_id"
REQUIRED = {"events": ("visitor_id", "timestamp", "event_type"), "profiles": ("visitor_id",), "items": ("order_id",)}
ID_COLUMNS = ("visitor_id", "order_id")  # text whatever the file stores: `7` and `007` stay as written
DATE_FORMAT = "%Y-%m-%d"
INSTANT_FORMAT = "%Y-%m-%d %H:%M:%S%.6f"  # a stored date-time as text: its UTC wall clock, to the microsecond
ISO_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M%#z",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    DATE_FORMAT,
)
EPOCH_UNITS = {"epoch_s": "s", "epoch_ms": "ms", "epoch_us": "us"}
SEPARATORS = {";": "';'", "\t": "a tab ('\\t')", "|": "'|'", ",": "','"}
DECIMAL_COMMA = r"^\s*" + DECIMAL_COMMA_TEXT[1:-1] + r"\s*$"  # with the white space around it


@dataclass
class Table:
    """One input table: where it is, how it is read, how its columns are named, and its lazy scan. A
    preset's `view` turns the vendor's rows into the table (`origin` says which preset and file)."""

    name: str
    spec: str
    files: list[str]
    reading: Reading
    mapping: dict[str, str] = field(default_factory=dict)  # canonical -> export name
    view: View | None = None
    origin: str = ""
    preset: str = ""  # the preset's name where `view` is one of its views
    columns_key: str = ""  # where the config sets `mapping` (default columns.<name>), for messages
    _schema: dict | None = None
    _raw_schema: dict | None = None
    _file_schemas: list[dict] | None = None  # per file, where the files' schemas drift apart
    _held: pl.DataFrame | None = None  # the columns a replay reads, read once (see `hold`)
    as_of: AsOf | None = None  # the run's instant, where a view is built from rows in time (Inputs.bind_as_of)

    @property
    def format(self) -> str:
        return self.reading.format

    @property
    def label(self) -> str:
        place = self.spec if len(self.files) != 1 else self.files[0]
        return f"{place} ({self.origin})" if self.origin else place

    @property
    def shaped(self) -> bool:
        """Whether the rows are computed from the files' rather than read as they are: a preset's view, or
        several sources joined by person (an SQL engine reads them as this process computes them)."""
        return self.view is not None

    def parts(self) -> list[Table]:
        """The tables read from files that make this one: itself, or its sources (stitching.py)."""
        return [self]

    @property
    def hive(self) -> bool:
        return len(self.files) > 1 or Path(self.spec).is_dir() or self.spec.endswith("/")

    def _scan(self, files: list[str] | str) -> pl.LazyFrame:
        return filesystem.scan(files, self.reading, self.hive)

    def raw_scan(self) -> pl.LazyFrame:
        """Every row of every file as written: files that drift are aligned by name."""
        self.raw_schema()
        if self._file_schemas is None:
            return self._scan(self.files)
        return pl.concat([self._scan(file).select(aligned(schema, self._raw_schema))
                          for file, schema in zip(self.files, self._file_schemas)], how="vertical")

    def scan(self) -> pl.LazyFrame:
        """The table's rows: the files' rows, through the preset's view where there is one (or the rows
        held in memory by `hold`)."""
        if self._held is not None:
            return self._held.lazy()
        rows = self.raw_scan()
        if self.view is None:
            return rows
        if self.view.timed is not None and self.as_of is not None:
            rows = rows.filter(before_as_of(self.view.timed.polars(self.raw_schema()), self.as_of))
        return self.view(rows)

    def link_rows(self) -> pl.LazyFrame | None:
        """The export's rows that link a device to a person without being events (View.link_rows); None
        where its preset names none."""
        if self.view is None or self.view.links is None:
            return None
        return self.view.link_rows(self.raw_scan())

    def set_aside_rows(self) -> pl.LazyFrame | None:
        """One row: the rows the preset's view sets aside, under its reason (None where it sets none aside)."""
        if self.view is None or self.view.set_aside is None:
            return None
        return self.view.set_aside_rows(self.raw_scan())

    def hold(self, canonical: set[str], collect) -> None:
        """Read the table's columns for `canonical` (those it has) once and keep them in memory: every later
        scan reads them there. `collect` runs the read (turning bad values into DataErrors)."""
        self.schema()
        if self.view is not None and self.view.timed is not None:
            return  # built anew from the export at each instant
        names = list(dict.fromkeys(self.export_name(c) for c in canonical if self.has(c)))
        self._held = collect(self.scan().select(names))

    def schema(self) -> dict:
        """The columns and types of the table (no rows read)."""
        if self._schema is None:
            raw = self.raw_schema()
            try:
                self._schema = dict(self.scan().collect_schema()) if self.view is not None else raw
            except pl.exceptions.ColumnNotFoundError:  # a column the view's rows are shaped by
                lacking = sorted({c for read in self.view.lacking(raw).values() for c in read})
                raise DataError(f"{self.name}: the {self.preset} preset reads columns that the file does not have "
                                f"({', '.join(lacking[:8])}){self.separator_hint()}", file=self.label) from None
        return self._schema

    def raw_schema(self) -> dict:
        """The files' columns and types: every file's, or their common schema."""
        if self._raw_schema is None:
            schemas = [self._file_schema(file) for file in self.files]
            if all(list(schema.items()) == list(schemas[0].items()) for schema in schemas):
                self._raw_schema = schemas[0]
            else:
                self._raw_schema, self._file_schemas = common_schema(self.files, schemas), schemas
        return self._raw_schema

    def _file_schema(self, file: str) -> dict:
        if self.format == "csv":
            _check_csv_header(file, self.reading)
        try:
            return dict(self._scan(file).collect_schema())
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise DataError(f"cannot read {self.name}: {_first_line(exc)}", file=file) from None

    def estimated_rows(self) -> int | None:
        """The number of rows: from the Parquet footers, or for plain local CSV from the file sizes and the
        first rows; None where that cannot be told cheaply (compressed, NDJSON, buckets)."""
        if self.format == "parquet" and self.view is None:
            return self.scan().select(pl.len()).collect().item()
        if self.format != "csv" or any(filesystem.is_cloud(f) or filesystem.compression(f) for f in self.files):
            return None
        sizes = sum(Path(f).stat().st_size for f in self.files)
        head = Path(self.files[0]).open("rb").read(1 << 20)
        return int(sizes / max(len(head), 1) * max(head.count(b"\n") - 1, 1))

    def exact_rows(self) -> int | None:
        """The number of rows where the files tell it without a read (Parquet footers), else None."""
        return self.estimated_rows() if self.format == "parquet" and self.view is None else None

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

    def source(self, canonical: str) -> list[str] | None:
        """The export's columns a canonical column is read from, where not from a column of its own name: the
        vendor's columns that the preset's view reads (none: the export lacks it), or the column that
        `columns:` maps it to; None where the column is read as it is named."""
        name = self.export_name(canonical)
        if self.view is not None and name in (read := self.view.sources(self.raw_schema())):
            return read[name]
        return [name] if name != canonical else None

    def has(self, canonical: str) -> bool:
        return self.export_name(canonical) in self.schema()

    def dtype(self, canonical: str):
        return self.schema()[self.export_name(canonical)]

    def require(self, columns) -> None:
        for canonical in columns:
            if not self.has(canonical):
                export = self.export_name(canonical)
                mapped = f" (mapped from {canonical!r} in the config)" if export != canonical else ""
                hint = self.separator_hint() or self.view_lacks(canonical)
                raise DataError(f"missing required column {export!r}{mapped} in {self.name}{hint}", file=self.label,
                                column=export)

    def view_lacks(self, *canonical: str) -> str:
        """Where a preset's view cannot give the columns: the vendor's columns they are read from, which the
        file lacks (`; the ga4 preset reads it from event_params, which the file lacks`)."""
        lacking = self.view.lacking(self.raw_schema()) if self.view is not None else {}
        read = list(dict.fromkeys(column for name in canonical for column in lacking.get(name, ())))
        return f"; the {self.preset} preset reads it from {', '.join(read)}, which the file lacks" if read else ""

    def separator_hint(self) -> str:
        """For a CSV whose header did not split: which separator it looks like."""
        names = list(self.raw_schema()) if self.format == "csv" else []
        if len(names) != 1:
            return ""
        found = [sep for sep in SEPARATORS if sep != self.reading.csv.separator and sep in names[0]]
        if not found:
            return ""
        shown = names[0] if len(names[0]) <= 60 else names[0][:57] + "..."
        comma = self._decimal_commas(found[0])
        options = f"separator: {found[0]!r}" + (", decimal_comma: true" if comma else "")
        return (f"; found one column {shown!r}: is the separator {SEPARATORS[found[0]]}? Set csv: {{{options}}} "
                f"in the config (or {'separator and decimal_comma' if comma else 'separator'} in data.{self.name})")

    def _decimal_commas(self, separator: str) -> bool:
        """Whether the first rows, split by `separator`, hold numbers written with a decimal comma (`12,50`):
        a file re-saved by a spreadsheet in a language that writes them so."""
        reading = replace(self.reading, csv=replace(self.reading.csv, separator=separator))
        try:
            head = filesystem.scan(self.files[0], reading, False).head(50).collect()
        except (pl.exceptions.PolarsError, OSError):
            return False
        return any(head.select(pl.col(pl.String).str.contains(DECIMAL_COMMA).any()).row(0))

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
        if dtype == pl.String and self.format == "csv" and self.reading.csv.decimal_comma \
                and canonical not in ID_COLUMNS and canonical != "timestamp":
            expr = decimal_point(expr)
        if canonical in NUMBER_COLUMNS[self.name]:
            if dtype == pl.String:
                expr = _number_text(expr)
            return expr.cast(pl.Float64, strict=True).fill_nan(None)
        if canonical == "timestamp":
            return expr
        if dtype == pl.String or (dtype.is_numeric() and canonical not in ID_COLUMNS):
            return expr
        if isinstance(dtype, pl.Datetime):  # one text whatever the unit and zone (the SQL engines write it too)
            utc = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None) if dtype.time_zone else expr
            return utc.dt.cast_time_unit("us").dt.to_string(INSTANT_FORMAT)
        return expr.cast(pl.String)

    def stores_instants(self, canonical: str) -> bool:
        """Whether the export stores the column as dates or date-times (`select` gives their ISO text:
        YYYY-MM-DD, or a date-time's UTC wall clock as INSTANT_FORMAT)."""
        dtype = self.dtype(canonical) if self.has(canonical) else None
        return dtype == pl.Date or isinstance(dtype, pl.Datetime)

    def not_numbers(self, canonical: str, limit: int = 3) -> list[str]:
        """The first values of a number column (as `typed` reads it) that are neither blank nor a number, as
        written: a read of the column, for error messages (none where it cannot be read)."""
        if not self.has(canonical) or self.dtype(canonical) != pl.String:
            return []
        raw = pl.col(self.export_name(canonical))
        text = _number_text(decimal_point(raw) if self.format == "csv" and self.reading.csv.decimal_comma else raw)
        bad = text.is_not_null() & text.cast(pl.Float64, strict=False).is_null()
        try:
            found = self.scan().select(raw.filter(bad).unique(maintain_order=True).head(limit))
            return found.collect(engine="streaming").to_series().to_list()
        except (pl.exceptions.PolarsError, OSError):
            return []

    def columns(self) -> list[str]:
        """The canonical names of the table's columns (an unmapped export column keeps its name)."""
        reverse = {export: canonical for canonical, export in self.mapping.items()}
        return [reverse.get(name, name) for name in self.schema()]

    def kind(self, canonical: str) -> str:
        """How rules see the column: `float` (the number columns, and floats), `integer`, `instant` (dates and
        date-times, which reach the rules as their ISO text), `text` (the rest), or `absent`."""
        if not self.has(canonical):
            return "absent"
        if self.stores_instants(canonical) and canonical not in NUMBER_COLUMNS[self.name]:
            return "instant"
        dtype = self.typed_dtype(canonical)
        return "float" if dtype.is_float() else "integer" if dtype.is_integer() else "text"

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
    identity: object | None = None  # stitching.Identity, where the sources are joined by person

    def bind_as_of(self, as_of: AsOf) -> None:
        """The instant the scans read the tables as of from here on: the profiles a preset builds from events
        up to it, and where sources are joined by person, each device's person (the links up to it)."""
        for table in (self.events, self.profiles, self.items):
            for part in table.parts() if table is not None else ():
                part.as_of = as_of
        if self.identity is not None:
            self.identity.as_of = as_of

    def kinds(self) -> dict[str, dict[str, str]]:
        """Each configured table's columns and their kinds (Table.kind)."""
        return {t.name: {c: t.kind(c) for c in t.columns()} for t in (self.events, self.profiles, self.items)
                if t is not None}

    def computes(self, column: str) -> bool:
        """Whether a predictive profile column comes from the models rather than the profiles: config
        `predictive: events`, or `auto` where the profiles lack the column (or there are no profiles)."""
        source = self.config.predictive
        return column in PREDICTED_COLUMNS and (
            source == "events" or (source == "auto" and (self.profiles is None or not self.profiles.has(column))))


Opened = tuple[Table, Source, bool]  # a source's table, the config's entry, and whether a preset derives it


def open_sources(config: Config, paths: dict[str, str | None]) -> tuple[Config, dict[str, list[Opened]]]:
    """Each table's sources: the command line's path, else the config's source(s), then the tables the
    events' presets derive from the events' own files (their items and profiles); where the events are a
    vendor's export, its preset's view. The presets' conversion events are the default. stitching.open_inputs
    makes the run's tables of them."""
    from .presets import presets

    known = presets()
    tables: dict[str, list[Opened]] = {}
    for name in ("events", "profiles", "items"):
        sources = config.data.get(name, ())
        if paths.get(name):  # the command line's path, read with the settings of the config's one source
            sources = (replace(sources[0], path=paths[name]) if len(sources) == 1
                       else Source(paths[name], where=f"--{name}"),)
        opened = [(resolve_table(name, s.path, config, known.get(config.preset_for(name, s) or ""), s), s)
                  for s in sources]
        tables[name] = [(table, s, False) for table, s in opened if table is not None]
    if not tables["events"]:
        raise DataError("no events table: set data.events in segtool.yaml or pass --events")
    for name in ("profiles", "items"):
        tables[name] += [(derived_table(name, events, known[events.preset]), s, True)
                         for events, s, _ in tables["events"] if events.preset and name in known[events.preset].views]
    if config.where("conversion_events") is None and any(events.preset for events, _, _ in tables["events"]):
        defaults = [known[events.preset].conversion_events if events.preset else Config.conversion_events
                    for events, _, _ in tables["events"]]
        config = replace(config, conversion_events=tuple(dict.fromkeys(t for types in defaults for t in types)))
    return config, tables


def resolve_table(name: str, spec: str | None, config: Config, preset=None, source: Source | None = None
                  ) -> Table | None:
    """The table at `spec` (a file, a glob, a directory or a bucket path); None when no spec was given.
    With a preset, the table is the preset's view of the vendor's files. `source`: the config's entry it
    comes from (its CSV options and column mapping)."""
    if not spec:
        return None
    files, fmt = filesystem.find_files(name, spec, source.format if source is not None else None)
    files = preset.files(files) if preset is not None else files
    schema = (preset.ndjson_schema or None) if preset is not None else None
    options = config.csv_for(source)
    if options.separator == "," and all(filesystem.is_tab_separated(f) for f in files):
        options = replace(options, separator="\t")  # .tsv: tabs, unless a separator is configured
    reading = Reading(fmt, options, schema)
    view = preset.views[name] if preset is not None else None
    origin = f"read as {preset.vendor}" if preset is not None else ""
    mapping, columns_key = config.columns_for(name, source)
    table = Table(name, spec, files, reading, mapping, view, origin, preset.name if preset is not None else "",
                  columns_key)
    _check_export(table)
    return table


def _check_export(table: Table) -> None:
    """The first file is the export its preset reads, and a vendor's export is read through its preset."""
    from .presets import mismatch

    columns = filesystem.columns_of(table.files[0], table.reading)
    if columns is None:
        return
    missing = [c for c in REQUIRED[table.name] if (c if table.preset else table.export_name(c)) not in columns]
    problem = mismatch(table.name, table.spec, table.files[0], columns, table.preset or None, missing)
    if problem is not None:
        raise DataError(problem + table.separator_hint())


def derived_table(name: str, events: Table, preset) -> Table:
    """A table that a preset reads from the events' own files (Shopify's line items and customers)."""
    return Table(name, events.spec, events.files, events.reading, {}, preset.views[name],
                 f"{name} of {preset.vendor}", preset.name)


def _number_text(text: pl.Expr) -> pl.Expr:
    """A number column's text without white space; blank text is missing."""
    stripped = text.str.strip_chars()
    return pl.when(stripped != "").then(stripped)


def decimal_point(text: pl.Expr) -> pl.Expr:
    """A number written with a decimal comma (1.234,56) as one with a point (1234.56); other text as it is."""
    is_number = text.str.contains(DECIMAL_COMMA)
    converted = text.str.strip_chars().str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    return pl.when(is_number).then(converted).otherwise(text)


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
    if timestamp_format != "iso":
        parsed = text.str.to_datetime(timestamp_format, strict=False, time_zone="UTC", time_unit="us")
        try:
            grammar = strftime.pattern(timestamp_format)
        except strftime.OutsideGrammar:
            return parsed  # read by polars alone (the SQL engines refuse the pattern)
        return pl.when(text.str.contains(grammar.regex())).then(parsed)  # the text every engine reads alike
    parsed = pl.coalesce([text.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us")
                          for f in ISO_FORMATS])
    return pl.when(text.str.contains(ISO_TEXT)).then(parsed)  # the text every engine reads alike


def before_as_of(ts: pl.Expr, as_of: AsOf) -> pl.Expr:
    bound = pl.lit(as_of.instant, dtype=UTC_US)
    return ts <= bound if as_of.inclusive else ts < bound


def _check_csv_header(file: str, reading: Reading) -> None:
    """A header that names a column twice is refused: polars would rename one and read only the first."""
    seen: set[str] = set()
    for name in filesystem.csv_header(file, reading.csv) or []:  # None: the scan reports what cannot be read
        if name in seen:
            raise DataError(f"the CSV header names the column {name!r} twice", file=file, column=name)
        seen.add(name)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
