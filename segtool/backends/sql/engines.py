"""The opened tables (inputs.py) as the SQL compiler sees them, and the SQL engines that run it: DuckDB in
this process, Spark through a session. The compiler itself (segtool/sql) knows nothing of polars; this module
tells it where each table is and how its columns are stored and typed, turns the engines' answers into
polars frames, and judges the counts that check the input rows as the polars engine judges its own."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import polars as pl
from sqlglot import exp

from ... import temporaries
from ...language.catalog import NUMBER_COLUMNS
from ...config import CsvOptions
from ...errors import DataError
from .compiler import CompileError, Columns
from .statement import (CHECKED_ROWS, UNREADABLE, WITHOUT_VISITOR, Source, Tables, conversion_count,
                             not_numbers)
from ...inputs.files import is_cloud
from ...inputs.health import EventHealth, check_health
from ...inputs.tables import ID_COLUMNS, Inputs, Table
from ...inputs.source import not_numbers_error


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


def _columns_of(table: Table) -> list[str]:
    reverse = {export: canonical for canonical, export in table.mapping.items()}
    return [reverse.get(name, name) for name in table.schema()]


def sql_columns(inputs: Inputs) -> Columns:
    kinds = {}
    for table in (inputs.events, inputs.profiles, inputs.items):
        if table is not None:
            kinds[table.name] = {c: typed_kind(table, c) for c in _columns_of(table)}
    return Columns(kinds)


def sql_tables(inputs: Inputs, dialect: str, named: dict[str, str] | None = None) -> Tables:
    """Each table as a relation of the dialect: a configured table name, else its files read by the
    engine (DuckDB's readers, Spark's file sources); for other dialects the table's own name."""
    sources = {}
    for table in (inputs.events, inputs.profiles, inputs.items):
        if table is None:
            continue
        if table.view is not None:
            raise CompileError(f"{table.label}: exports read through a preset are read by the polars engine only; "
                               "convert them to the canonical columns (or use --engine polars)")
        relation = _relation(table, dialect, (named or {}).get(table.name))
        raw = {c: stored_kind(dtype) for c, dtype in zip(_columns_of(table), table.schema().values())}
        for column in ("visitor_id", "order_id"):
            if raw.get(column) == "float":
                raise CompileError(f"{table.label}: {column} is stored as floating-point numbers, which the engines "
                                   "write as text differently; store IDs as text or integers")
        order = exp.column("segtool_row") if table.name == "profiles" else None
        sources[table.name] = Source(relation, dict(table.mapping), order, raw)
    return Tables(sources["events"], sources.get("profiles"), sources.get("items"),
                  inputs.config.timestamp_format)


def _relation(table: Table, dialect: str, name: str | None) -> exp.Expression:
    """The table's rows; profiles numbered in the order they are written, where the engine knows it (a
    visitor's first row counts): DuckDB reads files in order, Spark numbers rows by partition and position;
    a warehouse table has no order, so a visitor with two profile rows gets either."""
    if dialect in ("spark", "databricks"):
        numbered = exp.Anonymous(this="MONOTONICALLY_INCREASING_ID", expressions=[])
    elif dialect == "snowflake":
        numbered = exp.Literal.number(0)
    else:
        numbered = exp.Window(this=exp.RowNumber(), over="OVER")
    if name is not None:
        source = exp.to_table(name, dialect=dialect)
    elif dialect == "duckdb":
        source = _duckdb_reader(table)
    elif dialect in ("spark", "databricks") and table.format in ("parquet", "csv"):
        paths = [f.replace("`", "") for f in table.files]
        source = exp.to_table(f"{table.format}.`{paths[0] if len(paths) == 1 else table.spec}`", dialect="spark")
    else:
        source = exp.to_table(table.name)
    if table.name != "profiles":
        return source if isinstance(source, exp.Table) else exp.select(exp.Star()).from_(source).subquery(table.name)
    return exp.select(exp.Star(), numbered.as_("segtool_row")).from_(source).subquery(table.name)


def _duckdb_reader(table: Table) -> exp.Expression:
    files = exp.Array(expressions=[exp.Literal.string(f) for f in table.files])
    if any(is_cloud(f) for f in table.files):
        raise CompileError(f"{table.label}: the DuckDB engine reads local files; use the polars engine for buckets")
    if table.format == "parquet":
        return exp.Anonymous(this="READ_PARQUET", expressions=[
            files, exp.EQ(this=exp.var("union_by_name"), expression=exp.true()),
            exp.EQ(this=exp.var("hive_partitioning"), expression=exp.true() if table.hive else exp.false())])
    if table.format != "csv":
        raise CompileError(f"{table.label}: the DuckDB engine reads CSV and Parquet; use the polars engine")
    options: CsvOptions = table.reading.csv
    if options.decimal_comma or options.encoding != "utf8" or options.null_values or options.quote_char != '"':
        raise CompileError(f"{table.label}: the csv options decimal_comma, encoding, null_values and quote_char "
                           "are read by the polars engine only")
    return exp.Anonymous(this="READ_CSV", expressions=[
        files, exp.EQ(this=exp.var("all_varchar"), expression=exp.true()),
        exp.EQ(this=exp.var("header"), expression=exp.true()),
        exp.EQ(this=exp.var("delim"), expression=exp.Literal.string(options.separator)),
        exp.EQ(this=exp.var("quote"), expression=exp.Literal.string('"')),
        exp.EQ(this=exp.var("escape"), expression=exp.Literal.string('"')),  # RFC 4180, as polars reads CSV
        exp.EQ(this=exp.var("union_by_name"), expression=exp.true())])


Run = Callable[[str], pl.DataFrame]  # runs a statement, returns its answer


@contextmanager
def engine(name: str, inputs: Inputs, views: dict[str, str] | None, settings) -> Iterator[Run]:
    """The SQL engine `name` ("duckdb" or "spark"), opened once for the statements of a run."""
    with (_duckdb() if name == "duckdb" else _spark(inputs, views or {}, settings)) as run:
        yield run


@contextmanager
def _duckdb() -> Iterator[Run]:
    """An embedded DuckDB (UTC session). Answers travel as a Parquet file, so no row passes through Python."""
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
            except duckdb.Error as exc:
                raise DataError(f"DuckDB could not run the segments: {str(exc).splitlines()[0]}") from None
            return pl.read_parquet(answer)

        try:
            connection.execute("SET TimeZone = 'UTC'")
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


SPARK_VIEWS = {"events": "segtool_events", "profiles": "segtool_profiles", "items": "segtool_items"}


def spark_views(inputs: Inputs) -> dict[str, str]:
    """The temporary view each table is registered as in the Spark session."""
    return {t.name: SPARK_VIEWS[t.name] for t in (inputs.events, inputs.profiles, inputs.items) if t is not None}


@contextmanager
def _spark(inputs: Inputs, views: dict[str, str], settings) -> Iterator[Run]:
    """A SparkSession: Spark Connect where `engine.spark.remote` names one, else a local session
    (`engine.spark.master`, default local[*]), in UTC. Each table's files are registered as a view (Parquet
    as stored, CSV with its header and every column as text, as the polars engine reads it)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise CompileError("--engine spark needs PySpark: pip install 'segtool[spark]' (and Java 17 for a local "
                           "session), or pyspark-client for Spark Connect") from None
    builder = (SparkSession.builder.appName("segtool").config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.showConsoleProgress", "false"))  # segtool draws progress itself, on a terminal
    for key, value in settings.spark_conf.items():
        builder = builder.config(key, value)
    remote = settings.spark.get("remote")
    builder = builder.remote(remote) if remote else builder.master(settings.spark.get("master") or "local[*]")
    with _spark_errors():
        spark = builder.getOrCreate()
        if not remote:
            spark.sparkContext.setLogLevel("FATAL")  # errors come back as exceptions, with their message
        for table in (inputs.events, inputs.profiles, inputs.items):
            if table is not None and table.name in views and table.name not in settings.tables:
                _spark_view(spark, table, views[table.name])

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


def _spark_view(spark, table: Table, view: str) -> None:
    if table.view is not None:
        raise CompileError(f"{table.label}: exports read through a preset are read by the polars engine only")
    reader = spark.read
    if table.format == "parquet":
        frame = reader.parquet(*table.files)
    elif table.format == "csv":
        options = table.reading.csv
        frame = reader.options(header=True, inferSchema=False, sep=options.separator, multiLine=True,
                               escape='"').csv(table.files)
    else:
        raise CompileError(f"{table.label}: the Spark engine reads CSV and Parquet; use the polars engine")
    frame.createOrReplaceTempView(view)
