"""The opened tables (inputs.py) as the SQL compiler sees them, and the SQL engines that run it: DuckDB in
this process, Spark through a session. The compiler itself (segtool/sql) knows nothing of polars; this module
tells it where each table is and how its columns are stored and typed, turns the engines' answers into
polars frames, and judges the counts that check the input rows as the polars engine judges its own."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import Callable, Iterator

import polars as pl
from sqlglot import exp

from ... import temporaries
from ...language.catalog import NUMBER_COLUMNS, PREDICTED_COLUMNS
from ...config import CsvOptions, table_name
from ...errors import DataError, OutOfMemory
from .compiler import CompileError, Columns
from .dialects import dialect as dialect_named
from .kinds import stored_kind, typed_kind
from .stitched import joined_tables
from .views import link_relation, view_relation
from .statement import (CHECKED_ROWS, UNREADABLE, WITHOUT_VISITOR, Source, Tables, conversion_count,
                             not_numbers)
from ...inputs import files as filesystem
from ...inputs.health import EventHealth, check_health
from ...inputs.stitching import Part, Stitched
from ...inputs.tables import Inputs, Table
from ...inputs.source import collect_all, not_numbers_error


def _columns_of(table: Table) -> list[str]:
    reverse = {export: canonical for canonical, export in table.mapping.items()}
    return [reverse.get(name, name) for name in table.schema()]


def sql_columns(inputs: Inputs) -> Columns:
    kinds = {}
    for table in (inputs.events, inputs.profiles, inputs.items):
        if table is not None:
            kinds[table.name] = {c: typed_kind(table, c) for c in _columns_of(table)}
    return Columns(kinds)


PREDICTIONS = "predictions"  # the table of predictions computed from events (segtool predict)


def sql_tables(inputs: Inputs, dialect: str, named: dict[str, str] | None = None,
               staged: dict[str, str] | None = None) -> Tables:
    """Each table as a relation of the dialect: a configured table name, else the Parquet file this run
    staged it in (`staged`: stage_tables; None where the statement is printed, so it reads no file of this
    run), else its files read by the engine (DuckDB's readers, Spark's file sources); for other dialects the
    table's own name. The predictions, where a table holds them."""
    here, named, staged = staged is not None, named or {}, staged or {}
    sources, joined, read = {}, [], []  # read: the tables read from their files, by the name they are read by

    def rows_of(part: Part) -> exp.Expression:
        """Where a source's rows are: a table engine.tables names for it, else as a table alone is read."""
        name = table_name(part.origin)
        return exp.to_table(named[name], dialect=dialect) if name in named else \
            _rows(part.table, dialect, None, None, here, name)

    for table in (inputs.events, inputs.profiles, inputs.items):
        if table is None:
            continue
        if isinstance(table, Stitched) and table.name not in named and table.name not in staged:
            joined.append(table)
            continue
        own = table.name in named or table.name in staged
        origin = _joined_origin(table, inputs)
        if origin is not None:  # its export's rows, as the joined events read them (events_0 where read by name)
            default, rows = table_name(origin.origin), None if own else rows_of(origin)
        else:
            default = inputs.events.name if table.view is not None and table is not inputs.events and \
                table.files == inputs.events.files else table.name  # a table the preset reads from the events' export
            rows = None
        sources[table.name] = _table_source(table, dialect, named.get(table.name), staged.get(table.name), here,
                                            default, rows)
        if not own and (origin is None or default not in named):
            read.append((table, default))
    ctes = []
    if joined:
        def part_source(part: Part) -> Source:
            return _table_source(part.table, dialect, None, None, here, table_name(part.origin), rows_of(part))

        def part_links(part: Part) -> Source | None:
            relation = link_relation(part.table, rows_of(part), dialect_named(dialect))
            return None if relation is None else Source(relation, raw_kinds={"visitor_id": "text",
                                                                             "timestamp": "micros"})

        read += [(part.table, table_name(part.origin)) for table in joined for part in table.sources
                 if table_name(part.origin) not in named]
        found, ctes = joined_tables(joined, part_source, part_links, inputs.config.timestamp_format,
                                    dialect_named(dialect))
        sources.update(found)
    predictions = None
    if PREDICTIONS in named or PREDICTIONS in staged:
        relation = _relation(None, dialect, named.get(PREDICTIONS), staged.get(PREDICTIONS))
        predictions = Source(relation, raw_kinds={"visitor_id": "text", **dict.fromkeys(PREDICTED_COLUMNS, "float")})
    return Tables(sources["events"], sources.get("profiles"), sources.get("items"),
                  inputs.config.timestamp_format, predictions, tuple(ctes), tuple(spark_setup(read, dialect)))


def _joined_origin(table: Table, inputs: Inputs) -> Part | None:
    """The source of the joined events whose export a table that a preset derives from it reads (its items, its
    profiles), where the events are joined."""
    if table.view is None or not isinstance(inputs.events, Stitched):
        return None
    return next((part for part in inputs.events.sources if part.table.files == table.files), None)


def _table_source(table: Table, dialect: str, canonical: str | None, staged: str | None, here: bool, default: str,
                  rows: exp.Expression | None = None) -> Source:
    """How the statement reads the table: its relation (`canonical`: a configured table of its canonical
    columns, `staged`: a Parquet file of this run, else its rows: `rows` where they are given, its files, or a
    table named `default`), its columns' names and kinds, its CSV options."""
    raw = {c: stored_kind(dtype) for c, dtype in zip(_columns_of(table), table.schema().values())}
    if rows is None and canonical is None and staged is None:
        rows = _rows(table, dialect, None, None, here, default)
    if table.view is not None and canonical is None and staged is None:
        relation, kinds = view_relation(table, rows, dialect_named(dialect))
        relation, raw = _numbered(relation, table.name, dialect), {**raw, **kinds}
    elif rows is not None:
        relation = _numbered(rows, table.name, dialect)
    else:
        relation = _relation(table, dialect, canonical, staged, here, default)
    for column in ("visitor_id", "order_id"):
        if raw.get(column) == "float":
            raise CompileError(f"{table.label}: {column} is stored as floating-point numbers, which the engines "
                               "write as text differently; store IDs as text or integers")
    order = exp.column("segtool_row") if table.name == "profiles" else None
    csv = table.reading.csv if table.format == "csv" else CsvOptions()
    viewed = table.view is not None and canonical is None  # staged, or a view that reads them so
    null_values = csv.null_values if not viewed else ()  # as polars read them
    return Source(relation, dict(table.mapping), order, raw, null_values, csv.decimal_comma)


def stage_tables(inputs: Inputs, folder, predictions: pl.DataFrame | None, named: dict[str, str],
                 remote: bool = False) -> dict[str, str]:
    """The tables an SQL engine reads from Parquet files this run writes into `folder` (temporary), and where:
    each table read through a preset's view or joined from several sources, as the polars engine reads it, and
    the `predictions` computed here from events, unless engine.tables names a table for them. A `remote`
    engine (Spark Connect) shares no file with this machine: there they must be tables of its own."""
    views = [t for t in (inputs.events, inputs.profiles, inputs.items) if t is not None and t.shaped
             and t.name not in named]
    wanted = predictions is not None and PREDICTIONS not in named
    if remote and views:
        how = f"an export read through the {views[0].preset} preset is" if views[0].preset else \
            "sources joined by person are"
        raise CompileError(f"{views[0].label}: Spark Connect reads only tables where the cluster is, and {how} read "
                           "here; run it with a local session (engine.spark.master) or --engine duckdb, or load the "
                           "export with the canonical columns into a table named in engine.tables")
    if remote and wanted:
        raise CompileError("predictions computed from events are computed here, and Spark Connect reads only tables "
                           "where the cluster is: write them with `segtool predict -o predictions.parquet` (at the "
                           "same --as-of), load them there and name the table in engine.tables.predictions")
    staged = {t.name: f"{folder}/{t.name}.parquet" for t in views}
    sinks = [t.scan().sink_parquet(staged[t.name], lazy=True) for t in views]
    if sinks:
        collect_all(sinks, inputs)
    if wanted:
        staged[PREDICTIONS] = f"{folder}/{PREDICTIONS}.parquet"
        predictions.write_parquet(staged[PREDICTIONS])
    return staged


def _relation(table: Table | None, dialect: str, name: str | None, staged: str | None = None,
              here: bool = False, default: str | None = None) -> exp.Expression:
    """The table's rows; profiles numbered in the order they are written, where the engine knows it (a
    visitor's first row counts): DuckDB reads files in order, Spark numbers rows by partition and position;
    a warehouse table has no order, so a visitor with two profile rows gets either."""
    return _numbered(_rows(table, dialect, name, staged, here, default),
                     table.name if table is not None else PREDICTIONS, dialect)


def _numbered(source: exp.Expression, alias: str, dialect: str) -> exp.Expression:
    """Profiles with their position (`segtool_row`); other tables as they are (a reader call as a subquery)."""
    if alias != "profiles":
        return source if isinstance(source, (exp.Table, exp.Subquery)) else \
            exp.select(exp.Star()).from_(source).subquery(alias)
    if dialect in ("spark", "databricks"):
        numbered = exp.Anonymous(this="MONOTONICALLY_INCREASING_ID", expressions=[])
    elif dialect == "snowflake":
        numbered = exp.Literal.number(0)
    else:
        numbered = exp.Window(this=exp.RowNumber(), over="OVER")
    return exp.select(exp.Star(), numbered.as_("segtool_row")).from_(source).subquery(alias)


def _rows(table: Table | None, dialect: str, name: str | None, staged: str | None, here: bool,
          default: str | None = None) -> exp.Expression:
    """Where the table's rows are: a named table, a staged Parquet file, the files as the dialect's engine reads
    them, or (other dialects) a table named `default` (the table's name)."""
    if name is not None:
        return exp.to_table(name, dialect=dialect)
    if staged is not None:  # DuckDB's (Spark registers the file as a view of that name)
        return exp.Anonymous(this="READ_PARQUET", expressions=[exp.Literal.string(staged)])
    if dialect == "duckdb":
        return _duckdb_reader(table, here)
    if dialect in ("spark", "databricks") and table.format == "parquet":
        paths = [f.replace("`", "") for f in table.files]
        return exp.to_table(f"parquet.`{paths[0] if len(paths) == 1 else table.spec}`", dialect="spark")
    if dialect in ("spark", "databricks") and _spark_viewed(table):  # registered by spark_setup
        return exp.to_table(file_view(default or table.name, table.format))
    return exp.to_table(default or table.name)


def file_view(name: str, format: str) -> str:
    """The temporary view a printed Spark statement reads a table's (or source's, by its table name) CSV or
    NDJSON files from."""
    return f"segtool_{name}_{format}"


def _spark_viewed(table: Table) -> bool:
    """Whether a printed Spark statement reads the table through a view it registers: CSV, and NDJSON with a
    preset's fields."""
    return table.format == "csv" or (table.format == "ndjson" and bool(table.reading.ndjson_schema))


def spark_setup(tables: list[tuple[Table, str]], dialect: str) -> list[exp.Expression]:
    """The statements a printed Spark statement runs first: each table read from CSV or NDJSON files (with
    the name it is read by) registered as its view."""
    if dialect not in ("spark", "databricks"):
        return []
    views = {file_view(name, table.format): table for table, name in tables if _spark_viewed(table)}
    return [_spark_file_view(table, view) for view, table in views.items()]


def _duckdb_reader(table: Table, here: bool) -> exp.Expression:
    """DuckDB's reader of the table's files, with the CSV options as polars reads them; `here` where the
    statement runs in this process (so it may read the UTF-8 copies of files in another encoding)."""
    files = exp.Array(expressions=[exp.Literal.string(f) for f in table.files])
    if any(filesystem.is_cloud(f) for f in table.files):
        raise CompileError(f"{table.label}: the DuckDB engine reads local files; use the polars engine for buckets")
    if table.format == "parquet":
        return exp.Anonymous(this="READ_PARQUET", expressions=[
            files, exp.EQ(this=exp.var("union_by_name"), expression=exp.true()),
            exp.EQ(this=exp.var("hive_partitioning"), expression=exp.true() if table.hive else exp.false())])
    if table.format == "ndjson" and table.reading.ndjson_schema:
        return _duckdb_json(table, files)
    if table.format != "csv":
        raise CompileError(f"{table.label}: the DuckDB engine reads CSV and Parquet; use the polars engine")
    options: CsvOptions = table.reading.csv
    quote = exp.Literal.string(options.quote_char or "")  # '' reads no quotes, as polars' quote_char null
    if not here and options.encoding.lower() not in ("utf8", "utf-8"):
        raise CompileError(f"{table.label}: the printed SQL reads files as UTF-8, not {options.encoding}; convert them "
                           f"(iconv -f {options.encoding} -t utf-8), or run it with `run --engine duckdb`")
    return exp.Anonymous(this="READ_CSV", expressions=[
        exp.Array(expressions=[exp.Literal.string(f) for f in (utf8_files(table) if here else table.files)]),
        exp.EQ(this=exp.var("all_varchar"), expression=exp.true()),
        exp.EQ(this=exp.var("header"), expression=exp.true()),
        exp.EQ(this=exp.var("delim"), expression=exp.Literal.string(options.separator)),
        exp.EQ(this=exp.var("quote"), expression=quote),
        exp.EQ(this=exp.var("escape"), expression=quote),  # RFC 4180 with its quote, as polars reads CSV
        exp.EQ(this=exp.var("allow_quoted_nulls"), expression=exp.false()),  # "" is text, as in polars
        exp.EQ(this=exp.var("union_by_name"), expression=exp.true())])


def _duckdb_json(table: Table, files: exp.Array) -> exp.Expression:
    """NDJSON with a preset's fields (ndjson_schema), typed as polars reads them (GA4's INT64 as its text)."""
    columns = exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(name, quoted=True),
                                                     expression=exp.Literal.string(duckdb_type(dtype)))
                                      for name, dtype in table.reading.ndjson_schema.items()])
    compressed = {filesystem.compression(f) or "none" for f in table.files}  # by content, whatever the name
    compression = compressed.pop() if len(compressed) == 1 else "auto"
    return exp.Anonymous(this="READ_JSON", expressions=[
        files, exp.EQ(this=exp.var("format"), expression=exp.Literal.string("newline_delimited")),
        exp.EQ(this=exp.var("compression"), expression=exp.Literal.string(compression)),
        exp.EQ(this=exp.var("columns"), expression=columns)])


def duckdb_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.List):
        return duckdb_type(dtype.inner) + "[]"
    if isinstance(dtype, pl.Struct):
        return "STRUCT(" + ", ".join(f'"{f.name}" {duckdb_type(f.dtype)}' for f in dtype.fields) + ")"
    return {pl.String: "VARCHAR", pl.Float64: "DOUBLE", pl.Int64: "BIGINT", pl.Boolean: "BOOLEAN"}[dtype]


def utf8_files(table: Table) -> list[str]:
    """A CSV table's files as UTF-8, which DuckDB and Spark read: the files, or the copies polars reads
    (the encoding decoded by Python, `utf8-lossy` with U+FFFD for bad bytes, as polars reads it)."""
    return [filesystem.utf8_copy(f, table.reading.csv.encoding, lossy=True) for f in table.files]


Run = Callable[[str], pl.DataFrame]  # runs a statement, returns its answer


@contextmanager
def engine(name: str, inputs: Inputs, views: dict[str, str] | None, staged: dict[str, str], settings) -> Iterator[Run]:
    """The SQL engine `name` ("duckdb" or "spark"), opened once for the statements of a run."""
    with (_duckdb(settings.memory_limit) if name == "duckdb" else _spark(inputs, views or {}, staged, settings)) as run:
        yield run


ENGINE_SHARE = 0.75  # of a memory limit, what the engine's own limit is: the rest is the process around it


@contextmanager
def _duckdb(memory_limit: int | None = None) -> Iterator[Run]:
    """An embedded DuckDB (UTC session). Answers travel as a Parquet file, so no row passes through Python.
    Under a memory limit DuckDB keeps to its share of it, spilling to a temporary folder."""
    try:
        import duckdb
    except ImportError:
        raise CompileError("--engine duckdb needs DuckDB: pip install 'segtool[sql]'") from None
    with temporaries.folder("segtool-duckdb-") as folder:
        connection = duckdb.connect()

        def run(sql: str) -> pl.DataFrame:
            answer = f"{folder}/answer.parquet"
            try:
                connection.execute(f"COPY ({sql}) TO '{answer}' (FORMAT PARQUET)")
            except duckdb.OutOfMemoryException:
                raise OutOfMemory("DuckDB could not keep within the memory limit") from None
            except duckdb.Error as exc:
                raise DataError(f"DuckDB could not run the segments: {str(exc).splitlines()[0]}") from None
            return pl.read_parquet(answer)

        try:
            connection.execute("SET TimeZone = 'UTC'")
            if memory_limit is not None:
                connection.execute(f"SET memory_limit = '{int(memory_limit * ENGINE_SHARE)}B'")
                connection.execute(f"SET temp_directory = '{folder}/spilled'")
            yield run
        finally:
            connection.close()


def typed_answer(frame: pl.DataFrame) -> pl.DataFrame:
    """The segments' answer as the polars engine types it: text IDs, booleans."""
    return frame.with_columns(pl.col("visitor_id").cast(pl.String),
                              *(pl.col(c).cast(pl.Boolean) for c in frame.columns if c.startswith("segment_")))


def check_counts(counts: dict[str, int], inputs: Inputs, as_of, conversion_types: bool = True) -> EventHealth | None:
    """The counts an engine made of the input rows (backends/sql/statement.row_checks), judged as the polars engine
    judges its own: values that are not numbers in a number column the run reads, then the health of the
    event rows it reads (health.check_health); the health, where event rows were checked."""
    for name in ("events", "profiles", "items"):
        table = getattr(inputs, name)
        for canonical in NUMBER_COLUMNS[name]:
            if counts.get(not_numbers(name, canonical)):
                raise not_numbers_error(table, canonical)
    if CHECKED_ROWS not in counts:
        return None
    types = inputs.config.conversion_events
    found = {t: counts[conversion_count(i)] for i, t in enumerate(types) if conversion_count(i) in counts}
    health = EventHealth(counts[CHECKED_ROWS], counts[WITHOUT_VISITOR], counts[UNREADABLE], found)
    check_health(health, inputs, as_of, conversion_types)
    return health


SPARK_VIEWS = {"events": "segtool_events", "profiles": "segtool_profiles", "items": "segtool_items",
               PREDICTIONS: "segtool_predictions"}


def spark_views(inputs: Inputs, staged: dict[str, str]) -> dict[str, str]:
    """The temporary view each table (and staged predictions) is registered as in the Spark session."""
    names = [t.name for t in (inputs.events, inputs.profiles, inputs.items) if t is not None]
    return {name: SPARK_VIEWS[name] for name in (*names, *([PREDICTIONS] if PREDICTIONS in staged else []))}


def remote_spark(settings) -> bool:
    """Whether Spark runs behind Spark Connect (`engine.spark.remote`): a cluster that shares no file system
    with this machine, so it reads only what is where it runs."""
    return bool(settings.spark.get("remote"))


@contextmanager
def _spark(inputs: Inputs, views: dict[str, str], staged: dict[str, str], settings) -> Iterator[Run]:
    """A SparkSession: Spark Connect where `engine.spark.remote` names one, else a local session
    (`engine.spark.master`, default local[*]), in UTC. Each table's files are registered as a view (Parquet
    as stored, CSV with its header, options and every column as text, as the polars engine reads it; the
    tables this run staged as Parquet)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise CompileError("--engine spark needs PySpark: pip install 'segtool[spark]' (and Java 17 for a local "
                           "session), or pyspark-client for Spark Connect") from None
    builder = (SparkSession.builder.appName("segtool").config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.showConsoleProgress", "false"))  # segtool draws progress itself, on a terminal
    remote = settings.spark.get("remote")
    if settings.memory_limit is not None and not remote:  # a local session's JVM: the driver does the work
        builder = builder.config("spark.driver.memory", f"{int(settings.memory_limit * ENGINE_SHARE) >> 20}m")
    for key, value in settings.spark_conf.items():
        builder = builder.config(key, value)
    builder = builder.remote(remote) if remote else builder.master(settings.spark.get("master") or "local[*]")
    with _spark_errors():
        spark = builder.getOrCreate()
        if not remote:
            spark.sparkContext.setLogLevel("FATAL")  # errors come back as exceptions, with their message
        tables = {t.name: t for t in (inputs.events, inputs.profiles, inputs.items) if t is not None}
        for name, view in views.items():
            if name in settings.tables:
                continue
            frame = spark.read.parquet(staged[name]) if name in staged else _spark_frame(spark, tables[name], remote)
            frame.createOrReplaceTempView(view)

    def run(sql: str) -> pl.DataFrame:
        with _spark_errors():
            return _spark_answer(spark.sql(sql), local=not remote)

    yield run


@contextmanager
def _spark_errors():
    try:
        yield
    except Exception as exc:  # Spark reports through py4j/grpc exceptions of its own
        if isinstance(exc, (CompileError, DataError)):
            raise
        raise DataError(f"Spark could not run the segments: {str(exc).strip().splitlines()[0]}") from None


def _spark_answer(rows, local: bool) -> pl.DataFrame:
    """A local session writes the answer as Parquet that polars reads (no row passes through Python); a
    remote one (Spark Connect) shares no file system with this machine, so its rows are collected."""
    if not local:
        return pl.DataFrame([tuple(r) for r in rows.collect()], schema=rows.columns, orient="row")
    with temporaries.folder("segtool-spark-") as folder:
        rows.write.mode("overwrite").parquet(f"{folder}/answer")
        return pl.read_parquet(f"{folder}/answer/*.parquet")


def spark_csv_options(options: CsvOptions) -> dict[str, str]:
    """How Spark reads a CSV export as polars reads it: its header, every column as text, the config's
    separator and quote (RFC 4180: a quote doubled inside quotes), fields over several lines; an empty field is
    null and a quoted empty one "" text, as in polars (Spark's nullValue "" nulls both)."""
    quote = options.quote_char or ""  # '' reads no quotes, as polars' quote_char null
    return {"header": "true", "inferSchema": "false", "sep": options.separator, "quote": quote,
            "escape": quote or "\\", "multiLine": "true", "nullValue": "\0segtool: no text is null\0"}


def _spark_file_view(table: Table, name: str) -> exp.Expression:
    """The statement that registers the table's files as the temporary view `name` for a printed Spark
    statement, read as `run --engine spark` and polars read them (Spark SQL's `csv.` source reads no header,
    and `json.` infers its own types): CSV with its options, NDJSON with the preset's fields typed."""
    found = {"path": _spark_paths(table)}
    columns = []
    if table.format == "csv":
        options = table.reading.csv
        if options.encoding.lower() == "utf8-lossy":
            raise CompileError(f"{table.label}: Spark reads the printed statement's files in their encoding, and "
                               f"{options.encoding} is none; convert them, or run it with `run --engine spark`")
        found.update(spark_csv_options(options))
        if options.encoding.lower() not in ("utf8", "utf-8"):
            found["encoding"] = options.encoding
    else:
        for file in table.files:  # Spark tells a file's compression by its name: gzip by `.gz`
            method = filesystem.compression(file)
            if method not in ("gzip", None) or (method == "gzip") != file.lower().endswith(".gz"):
                raise CompileError(f"{table.label}: {file} is {method or 'not'} compressed, which Spark does not "
                                   "tell from its name; run it with `run --engine spark`, or load the export as a table")
        columns = [exp.ColumnDef(this=exp.to_identifier(column, quoted=True),
                                 kind=exp.DataType.build(spark_type(dtype), dialect="spark"))
                   for column, dtype in table.reading.ndjson_schema.items()]
    view = exp.Schema(this=exp.to_table(name), expressions=columns) if columns else exp.to_table(name)
    return exp.Create(this=view, kind="VIEW", replace=True, properties=exp.Properties(expressions=[
        exp.TemporaryProperty(), exp.FileFormatProperty(this=exp.var("csv" if table.format == "csv" else "json")),
        exp.OptionsProperty(expressions=[exp.Property(this=exp.var(k), value=exp.Literal.string(v))
                                         for k, v in found.items()])]))


def _spark_paths(table: Table) -> str:
    """The table's files as one Hadoop path pattern: the file, or the folder they share and each file's path
    below it in braces (`/exports/{2024/a.gz,2024/b.gz}`), so Spark reads the files polars reads and no others."""
    files = [f.replace("`", "") for f in table.files]
    odd = next((f for f in files if re.search(r"[\\{}\[\]*?,]", f)), None)
    if odd is not None:
        raise CompileError(f"{table.label}: {odd} holds a character that a Spark path pattern reads as one of its "
                           "own; run it with `run --engine spark`, or load the export as a table")
    if len(files) == 1:
        return files[0]
    if any(filesystem.is_cloud(f) for f in files):
        return table.spec
    folder = os.path.commonpath(files)
    return f"{folder}/{{{','.join(os.path.relpath(f, folder) for f in files)}}}"


def spark_type(dtype: pl.DataType) -> str:
    """A polars type as Spark SQL writes it (a preset's NDJSON fields)."""
    if isinstance(dtype, pl.List):
        return f"ARRAY<{spark_type(dtype.inner)}>"
    if isinstance(dtype, pl.Struct):
        return "STRUCT<" + ", ".join(f"`{f.name}`: {spark_type(f.dtype)}" for f in dtype.fields) + ">"
    return {pl.String: "STRING", pl.Float64: "DOUBLE", pl.Int64: "BIGINT", pl.Boolean: "BOOLEAN"}[dtype]


def _spark_frame(spark, table: Table, remote: bool):
    """The table's files as Spark reads them: Parquet as stored, CSV with its options (files in another
    encoding: the UTF-8 copies polars reads, which only a local session can see)."""
    if table.format == "parquet":
        return spark.read.parquet(*table.files)
    if table.format != "csv":
        raise CompileError(f"{table.label}: the Spark engine reads CSV and Parquet; use the polars engine")
    options = table.reading.csv
    if remote and options.encoding.lower() not in ("utf8", "utf-8"):
        raise CompileError(f"{table.label}: Spark Connect reads the files where the cluster is, as UTF-8, not "
                           f"{options.encoding}; convert them (iconv -f {options.encoding} -t utf-8), or use a local "
                           "session (engine.spark.master)")
    return spark.read.options(**spark_csv_options(options)).csv(table.files if remote else utf8_files(table))
