"""How each table's rows reach the SQL engines, against the polars engine: the CSV options, timestamp_format
patterns, exports read through a preset, predictions computed from events, and `--columns` give the same
members, outputs and errors on `run --engine duckdb` (and Spark, where Java and PySpark are here) as on
polars; the SQL other dialects are sent is parsed back by sqlglot and run in DuckDB.
"""

from __future__ import annotations

import functools
import json
import re
import textwrap
from pathlib import Path

import duckdb
import polars as pl
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, Workspace, conversion, pageview
from segtool.api import Overrides, Session
from segtool.backends.sql import deep_recursion
from segtool.backends.sql.dialects import DIALECTS
from test_sql_engines import SAMPLE, as_duckdb, every_engine, spark
from test_vendors import CASES, EXPECTED, FILES, SHOPIFY, preset_workspace

# -- timestamp_format: a strftime pattern, read as chrono reads it, by every engine --------------------------
PATTERNS = ["%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M", "%Y%m%d%H%M%S", "%d %b %Y", "%B %d, %Y %I:%M %p",
            "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%j", "%F %T", "%d.%m.%y %H:%M:%S%.3f", "%Y-%m-%d %H:%M:%S %Z",
            "%m/%d/%Y %l:%M:%S %P", "%Y-%m-%d %H:%M:%S%:z", "%d-%b-%Y %H:%M:%S.%6f", "%e %B %Y", "%Y %m %d %H %M",
            "%y%m%d %k%M"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
SPACES = st.sampled_from(["", " ", "  ", "\t", "\u3000", "\xa0"])


def _number(most: int, high: int):
    """A field's digits: often right, sometimes too many, too few, out of range, after white space."""
    digits = st.builds(lambda n, width: str(n).zfill(width), st.integers(0, high), st.integers(0, most + 1))
    return st.builds(lambda space, text: space + text, st.sampled_from([""] * 6) | SPACES, digits)


def _cased(text: str):
    return st.lists(st.booleans(), min_size=len(text), max_size=len(text)).map(
        lambda upper: "".join(c.upper() if u else c.lower() for c, u in zip(text, upper)))


DIRECTIVES = {
    "%Y": _number(4, 9999), "%y": _number(2, 99), "%m": _number(2, 13), "%d": _number(2, 32), "%e": _number(2, 32),
    "%j": _number(3, 367), "%H": _number(2, 24), "%k": _number(2, 24), "%I": _number(2, 13), "%l": _number(2, 13),
    "%M": _number(2, 60), "%S": _number(2, 61),
    "%b": st.sampled_from([m[:3] for m in MONTHS] + ["Foo"]).flatmap(_cased),
    "%B": st.sampled_from(MONTHS + [m[:3] for m in MONTHS] + ["Juni"]).flatmap(_cased),
    "%p": st.sampled_from(["AM", "pm", "Pm", "xm", "A"]), "%P": st.sampled_from(["am", "PM", "p"]),
    "%.f": st.sampled_from(["", ".", ".5", ".123", ".123456", ".123456789", ".1234567891"]),
    "%.3f": st.sampled_from(["", ".12", ".123", ".1234"]), "%6f": st.sampled_from(["12345", "123456", "1234567"]),
    "%z": st.builds(lambda space, sign, hours, colon, minutes: space + sign + hours + colon + minutes, SPACES,
                    st.sampled_from(["+", "-", "\u2212", ""]), st.sampled_from(["00", "02", "23", "24", "2"]),
                    st.sampled_from(["", ":", " ", "::"]), st.sampled_from(["00", "30", "59", "60", "7", ""])),
    "%Z": st.sampled_from(["UTC", "", "CEST", "Z9"]),
}
DIRECTIVES["%:z"] = DIRECTIVES["%z"]
EXPANDED = {"%F": "%Y-%m-%d", "%T": "%H:%M:%S"}


def pattern_text(pattern: str):
    """Text written in `pattern`, or nearly: each directive's field generated, literal text mostly kept."""
    parts = []
    for token in re.findall(r"%[:.]?[0-9]?[A-Za-z]|\s+|[^%\s]+", pattern):
        if token in EXPANDED:
            parts.append(pattern_text(EXPANDED[token]))
        elif token in DIRECTIVES:
            parts.append(DIRECTIVES[token])
        elif token.isspace():
            parts.append(SPACES)
        else:
            parts.append(st.sampled_from([token] * 12 + ["", "x" + token]))
    return st.tuples(*parts).map("".join)


def polars_instants(path: Path, pattern: str) -> list:
    """The timestamps as the polars engine reads them (microseconds; None where unreadable)."""
    from segtool.config import Config
    from segtool.inputs.tables import parse_timestamps, resolve_table

    table = resolve_table("events", str(path), Config())
    return table.scan().select(parse_timestamps(table, pattern).dt.epoch("us")).collect().to_series().to_list()


@functools.cache
def _pattern_in_duckdb(pattern: str, dialect: str) -> str:
    """The timestamp column of table t read by the SQL `dialect` is sent (no timestamp cast or parser), for DuckDB."""
    from segtool.backends.sql.compiler import trimmed
    from segtool.backends.sql.iso import pattern_micros, with_pattern_fields
    from segtool.language.strftime import pattern as grammar_of

    grammar, column = grammar_of(pattern), sqlglot.exp.column("timestamp", quoted=True)
    rows = with_pattern_fields(sqlglot.exp.to_table("t"), trimmed(column), grammar, DIALECTS[dialect], "events")
    query = sqlglot.exp.select(pattern_micros(grammar, DIALECTS[dialect]).as_("m"), "i").from_(rows).order_by("i")
    text = query.sql(dialect=dialect)
    temporal = sqlglot.exp.DataType.TEMPORAL_TYPES
    assert not [c for c in sqlglot.parse_one(text, read=dialect).find_all(sqlglot.exp.Cast) if c.to.is_type(*temporal)]
    return as_duckdb(text, dialect)


def sql_instants(path: Path, pattern: str, dialect: str) -> list:
    """The column as the SQL of `dialect` reads it, run in DuckDB (microseconds; None where unreadable)."""
    import duckdb

    connection = duckdb.connect()
    connection.execute(f"CREATE VIEW t AS SELECT *, row_number() OVER () AS i FROM read_parquet('{path}')")
    return [row[0] for row in connection.execute(_pattern_in_duckdb(pattern, dialect)).fetchall()]


def write_stamps(path: Path, texts: list[str]) -> Path:
    pl.DataFrame({"visitor_id": ["a"] * len(texts), "timestamp": texts, "event_type": ["x"] * len(texts)},
                 schema={"visitor_id": pl.String, "timestamp": pl.String, "event_type": pl.String}).write_parquet(path)
    return path


EVERY_DIALECT = {"%Y%m%d%H%M%S", "%B %d, %Y %I:%M %p", "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%j", "%d.%m.%y %H:%M:%S%.3f"}


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_pattern_text_is_read_as_polars_reads_it_in_every_dialect(pattern, tmp_path, data):
    """Out-of-range fields, a day the month lacks, :60, digits run together, month names in any case,
    offsets past ±23:59, white space inside: the rows polars reads, the SQL reads alike (every dialect's, for
    patterns that hold every kind of field between them)."""
    texts = data.draw(st.lists(pattern_text(pattern), min_size=5, max_size=40))
    path = write_stamps(tmp_path / "stamps.parquet", texts)
    reference = polars_instants(path, pattern)
    for dialect in sorted(DIALECTS) if pattern in EVERY_DIALECT else ["duckdb"]:
        assert sql_instants(path, pattern, dialect) == reference, dialect


TRICKY = {  # pattern: [(text, read by both engines)]
    "%Y-%m-%d %H:%M:%S": [("2024-12-31 23:59:60", True), ("2024-06-31 10:00:00", False), ("2024-6-1 1:2:3", True),
                          ("2024-06-0110:00:00", True), ("24-06-01 10:00:00", True), ("2024-06-01 24:00:00", False),
                          ("2023-02-29 00:00:00", False), ("0000-02-29 00:00:00", True),
                          ("2024- 6- 1\u300010:00:00", True), ("2024-06-01 10:00:00 UTC", False),
                          ("-2024-06-01 10:00:00", False), ("+2024-06-01 10:00:00", False)],  # chrono reads signs
    "%y-%m-%d": [("2a-06-01", False), ("-2-06-01", False), ("2-06-01", True), ("69-06-01", True)],  # polars' fast path
    "%Y%m%d": [("2024611", False), ("202461", False), ("2024 6 1", True), ("20240601", True)],
    "%Y-%m-%d %H:%M:%S%z": [("2024-06-01 10:00:00\u22120130", True), ("2024-06-01 10:00:00+02 00", True),
                            ("2024-06-01 10:00:00+2400", False), ("2024-06-01 10:00:00Z", False)],
    "%Y-%j": [("2024-366", True), ("2023-366", False), ("2024-0001", False)],
    "%I:%M %p %d/%m/%Y": [("12:00 AM 01/06/2024", True), ("12:00 pm 01/06/2024", True), ("0:00 AM 01/06/2024", False)],
}


@pytest.mark.parametrize("pattern", sorted(TRICKY))
def test_tricky_pattern_text_reads_alike(pattern, tmp_path):
    """chrono's way of scanning (a field takes all the digits it may, white space before a number is
    skipped) kept; what polars' fast parser alone reads (`2a` as a year), and signed years, read by neither."""
    texts, readable = zip(*TRICKY[pattern])
    path = write_stamps(tmp_path / "stamps.parquet", list(texts))
    reference = polars_instants(path, pattern)
    assert [value is not None for value in reference] == list(readable)
    assert sql_instants(path, pattern, "duckdb") == reference


def test_a_pattern_runs_on_every_engine_with_the_same_skipped_rows(ws: Workspace):
    ws.events(pageview("a", "01/06/2024 10:00"), pageview("b", " 2/6/2024 9:05 "), pageview("c", "31/06/2024 10:00"),
              conversion("d", "05/06/2024  23:59", 20, "o1"), pageview("e", "2024-06-01T10:00:00Z"))
    ws.config("timestamp_format: '%d/%m/%Y %H:%M'\nmax_skipped_rows: 50%\n")
    summary = json.loads(every_engine(ws, "last_seen: {within: 30d}", "--summary", "--format", "json").stdout)
    assert summary["skipped_event_rows"] == 2 and summary["segments"][0]["size"] == 3
    assert every_engine(ws, "days_since_last_conversion: {lte: 25}").stdout.split() == ["d"]
    ws.config("timestamp_format: '%d/%m/%Y %H'\n")  # polars reads no hour without minutes: the same error
    assert every_engine(ws, "last_seen: {within: 30d}").exit_code == 3


def test_a_pattern_beyond_the_grammar_is_refused_by_the_sql_naming_its_directive(ws: Workspace):
    ws.events(pageview("a", "Sat 01 Jun 2024 10:00"))
    ws.config("timestamp_format: '%a %d %b %Y %H:%M'\n")
    assert ws.run("rules:\n  - last_seen: {within: 30d}\n") == ["a"]  # polars reads it as before
    for command in (["run", "--engine", "duckdb"], ["sql", "--dialect", "trino"]):
        result = ws.cli(command[0], str(ws.root / "seg.yaml"), *command[1:], "--as-of", "2024-06-30",
                        "--config", str(ws.root / "segtool.yaml"))
        assert result.exit_code == 1 and "does not read %a" in result.stderr, result.stderr
        assert ("duckdb" if "run" in command else "trino") in result.stderr


def test_stored_instants_are_read_as_stored_whatever_the_format(ws: Workspace):
    """Dates and date-times in Parquet are what they are, whatever timestamp_format says (as polars reads them)."""
    from datetime import date, datetime

    events = ws.root / "events.parquet"
    ws.config(f"data:\n  events: {events}\ntimestamp_format: '%d/%m/%Y'\n")
    for stamps in ([date(2024, 6, 1), date(2024, 5, 1)], [datetime(2024, 6, 1, 10), datetime(2024, 5, 1, 10)]):
        frame = pl.DataFrame({"visitor_id": ["a", "b"], "timestamp": stamps, "event_type": ["pageview"] * 2})
        frame.write_parquet(events)
        assert every_engine(ws, "last_seen: {within: 30d}", as_of="2024-06-10").stdout.split() == ["a"]


# -- the CSV options ------------------------------------------------------------------------------------------
EUROPEAN = textwrap.dedent("""\
    visitor_id;timestamp;event_type;order_value;order_id;url
    a;2024-06-01T10:00:00Z;conversion;'12,50';o1;https://x.example/?utm_source=café
    b;2024-06-02T10:00:00Z;conversion;'1.234,56';o2;''
    c;2024-06-03T10:00:00Z;conversion;n/a;o3;NULL
    d;2024-06-04T10:00:00Z;pageview;;;'a;b'
    e;2024-06-05T10:00:00Z;conversion;'7';NULL;'it''s'
    'NULL';2024-06-05T10:00:00Z;pageview;;;x
    """)
EUROPEAN_PROFILES = textwrap.dedent("""\
    visitor_id;city;age;note
    a;Malmö;'41,5';'12,50'
    b;NULL;n/a;''
    c;'Zürich';40;x
    d;-;'1.000,5';'-'
    """)
EUROPEAN_RULES = ["total_order_value: {gte: 12}", "conversions: {gte: 1}", "url: {is_set: true}",
                  "url: {contains: ';'}", "utm_source: {is: café}", "city: {is_set: false}",
                  "city: {in: [Malmö, Zürich]}", "profile.age: {gte: 41}", "profile.note: {is: '12.50'}",
                  "profile.note: {is_set: true}", "url: {is: \"it's\"}", "url: {matches: '^$'}",
                  "profile.age: {lt: 1001}"]
EUROPEAN_CSV = "csv: {separator: ';', quote_char: \"'\", null_values: [NULL, n/a, '-'], decimal_comma: true, " \
               "encoding: cp1252}\nmax_skipped_rows: 50%\n"


def european(ws: Workspace) -> Workspace:
    """A cp1252 export with `;`, `'` quotes, texts that mean missing and decimal commas."""
    (ws.root / "events.csv").write_bytes(EUROPEAN.encode("cp1252"))
    (ws.root / "profiles.csv").write_bytes(EUROPEAN_PROFILES.encode("cp1252"))
    return ws.config(EUROPEAN_CSV)


@pytest.mark.parametrize("rule", EUROPEAN_RULES)
def test_the_csv_options_give_the_polars_answer(ws: Workspace, rule):
    european(ws)
    assert every_engine(ws, rule, as_of="2024-06-10").exit_code == 0


def test_more_csv_options_give_the_polars_answer(ws: Workspace):
    """No quote character, tabs, bytes that are not UTF-8 read as U+FFFD, a decimal comma that is no number."""
    (ws.root / "events.csv").write_bytes(b'visitor_id\ttimestamp\tevent_type\turl\n'
                                         b'a\t2024-06-01T10:00:00Z\tpageview\t"quoted"\n'
                                         b'b\t2024-06-01T10:00:00Z\tpageview\tit"s \xff\xfe\n'
                                         b'"c\t2024-06-01T10:00:00Z\tpageview\t""\n')
    ws.config("csv: {separator: tab, quote_char: null, encoding: utf8-lossy}\n")
    for rule in ("url: {contains: '\"'}", "url: {is: '\"\"'}", "url: {ends_with: \"\\uFFFD\\uFFFD\"}"):
        assert every_engine(ws, rule).exit_code == 0
    assert every_engine(ws, "url: {contains: '\"'}").stdout.split() == ['"c', "a", "b"]
    ws.events(conversion("a", "2024-06-01T10:00:00Z", "12,5x", "o1"))
    ws.config("csv: {decimal_comma: true}\n")
    assert every_engine(ws, "total_order_value: {gte: 1}").exit_code == 3


def test_printed_sql_reads_the_csv_options_on_warehouse_tables(ws: Workspace):
    """Where the SQL reads tables (engine.tables), texts that mean missing and decimal commas in their text
    columns are read as polars reads the CSV export (run on DuckDB; every dialect's SQL parses back); a printed
    DuckDB statement reads only UTF-8 files."""
    import duckdb

    european(ws)
    ws.config(EUROPEAN_CSV + "engine:\n  tables: {events: shop.events, profiles: shop.profiles}\n")
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA shop")
    for table in ("events", "profiles"):
        (ws.root / f"{table}.utf8.csv").write_text((ws.root / f"{table}.csv").read_bytes().decode("cp1252"))
        connection.execute(f"CREATE TABLE shop.{table} AS SELECT * FROM read_csv('{ws.root / table}.utf8.csv', "
                           "all_varchar = true, delim = ';', quote = '''', escape = '''', allow_quoted_nulls = false)")
    for rule in ("total_order_value: {gte: 12}", "profile.age: {gte: 41}", "city: {is_set: false}"):
        path = ws.segment(f"rules:\n  - {rule}\n")
        polars = ws.cli("run", str(path), "--as-of", "2024-06-10")
        for dialect in sorted(DIALECTS):
            result = ws.cli("sql", str(path), "--dialect", dialect, "--as-of", "2024-06-10",
                            "--config", str(ws.root / "segtool.yaml"))
            assert result.exit_code == 0, result.stderr
            with deep_recursion():
                sqlglot.parse_one(result.stdout.rstrip().rstrip(";"), read=dialect)
            if dialect == "duckdb":
                rows = connection.execute(result.stdout.rstrip().rstrip(";")).fetchall()
                assert sorted(r[0] for r in rows if r[1]) == polars.ids, rule
    ws.config(EUROPEAN_CSV)
    result = ws.cli("sql", str(path), "--dialect", "duckdb", "--config", str(ws.root / "segtool.yaml"))
    assert result.exit_code == 1 and "cp1252" in result.stderr and "iconv" in result.stderr


# -- exports read through a preset ---------------------------------------------------------------------------
@pytest.mark.parametrize("vendor, file", sorted({(vendor, file) for vendor, file, _, _ in CASES}),
                         ids=lambda v: str(v).replace("/", "-"))
def test_presets_give_the_polars_answer_on_duckdb(ws: Workspace, vendor, file):
    """The export's view, as polars reads it, staged as Parquet for the engine: the vendors' fixtures give
    their designed sets."""
    preset_workspace(ws, FILES[vendor][0], file)
    cases = {segment: EXPECTED[vendor][segment] for v, f, _, segment in CASES if (v, f) == (vendor, file)}
    for segment, entry in cases.items():
        ws.segment(f"name: {segment}\nrules:\n  - {entry['rule']}\n", f"{segment}.yaml")
    (as_of,) = {entry["as_of"] for entry in cases.values()}
    session = Session.open(ws.root / "vendor.yaml", Overrides(as_of=as_of))
    result = session.run_sql(session.load_segments([ws.root / f"{s}.yaml" for s in cases]), "duckdb")
    for answer in result.segments:
        assert sorted(answer.members["visitor_id"]) == sorted(cases[answer.segment.name]["ids"]), answer.segment.name


def test_preset_tables_and_columns_on_duckdb_and_the_sql_text(ws: Workspace, tmp_path):
    """Shopify's customers and line items derived from the orders export, written with --columns; `segtool
    sql` reads the export itself (tests/test_preset_sql.py), with the same members."""
    preset_workspace(ws, "shopify_orders", SHOPIFY)
    path = ws.segment("name: nike\nrules:\n  - conversions: {gte: 1, items: {brand: {is: Nike}}}\n"
                      "  - city: {is_set: true}\n")
    outputs = {}
    for engine in ("polars", "duckdb"):
        result = ws.cli("run", str(path), "--as-of", "2024-06-30", "--engine", engine, "--columns", "email,city",
                        "-o", str(tmp_path / f"{engine}.csv"), "--config", str(ws.root / "vendor.yaml"))
        assert result.exit_code == 0, result.stderr
        outputs[engine] = (tmp_path / f"{engine}.csv").read_bytes()
    assert outputs["polars"] == outputs["duckdb"] and outputs["polars"].count(b"\n") > 2
    result = ws.cli("sql", str(path), "--as-of", "2024-06-30", "--config", str(ws.root / "vendor.yaml"))
    assert result.exit_code == 0, result.stderr
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    members = {row[0] for row in db.execute(result.stdout).fetchall() if row[1]}
    assert members == {line.split(",")[0] for line in outputs["polars"].decode().splitlines()[1:]}


# -- predictions computed from events, and --columns ---------------------------------------------------------
def sample_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "segtool.yaml"
    config.write_text((REPO / "segtool.yaml").read_text().replace("sample_data/", f"{SAMPLE}/") + extra)
    return config


def test_predictions_and_columns_on_duckdb_write_what_polars_writes(tmp_path):
    from segtool.cli.main import app
    from typer.testing import CliRunner

    config = sample_config(tmp_path, "predictive: events\n")

    def run(engine: str, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["run", *args, "--engine", engine, "--config", str(config)])
        return result.exit_code, result.stdout

    summary = ("segments/valuable_customers.yaml", "segments/high_clv.yaml", "--summary", "--format", "json")
    assert run("duckdb", *summary) == run("polars", *summary)
    assert "computed_predictive" in run("polars", *summary)[1]
    for engine in ("polars", "duckdb"):
        code, _ = run(engine, "segments/", "--output-dir", str(tmp_path / engine), "-q", "--columns",
                      "email,city,clv,latitude,conversion_potential")
        assert code == 0
    written = sorted(p.name for p in (tmp_path / "polars").glob("*.csv"))
    assert written and written == sorted(p.name for p in (tmp_path / "duckdb").glob("*.csv"))
    for name in written:
        assert (tmp_path / "polars" / name).read_bytes() == (tmp_path / "duckdb" / name).read_bytes(), name


def test_printed_sql_reads_predictions_from_the_table_engine_tables_names(tmp_path):
    """`segtool predict -o predictions.parquet` loaded as a table: the printed SQL joins it per visitor; without
    the table the rule is refused at its position, saying how to make one."""
    import duckdb
    from segtool.cli.main import app
    from typer.testing import CliRunner

    config, as_of = sample_config(tmp_path, "predictive: events\n"), ["--as-of", "2026-05-31"]
    segment = REPO / "segments" / "valuable_customers.yaml"
    refused = CliRunner().invoke(app, ["sql", str(segment), "--config", str(config), *as_of])
    assert refused.exit_code == 1 and refused.stderr.startswith(f"Error: {segment}:"), refused.stderr
    assert "engine.tables.predictions" in refused.stderr and "segtool predict" in refused.stderr
    made = CliRunner().invoke(app, ["predict", "-o", str(tmp_path / "predictions.parquet"), "--config", str(config),
                                    *as_of])
    assert made.exit_code == 0, made.stderr
    config.write_text(config.read_text() + "engine:\n  tables: {predictions: predictions}\n")
    printed = CliRunner().invoke(app, ["sql", str(segment), "--config", str(config), "--dialect", "duckdb", *as_of])
    assert printed.exit_code == 0, printed.stderr
    connection = duckdb.connect()
    connection.execute(f"CREATE VIEW predictions AS SELECT * FROM read_parquet('{tmp_path / 'predictions.parquet'}')")
    members = sorted(row[0] for row in connection.execute(printed.stdout.rstrip().rstrip(";")).fetchall() if row[1])
    polars = CliRunner().invoke(app, ["run", str(segment), "--config", str(config), *as_of])
    assert members == polars.stdout.split() and members


# -- Spark: one local session ---------------------------------------------------------------------------------
@spark
def test_spark_reads_the_inputs_as_polars_does(tmp_path):
    """The CSV options, a pattern, a preset's export with --columns and predictions, on a local Spark session."""
    def agree(config: Path, rules: list[str], as_of: str, columns: tuple[str, ...] = ()):
        folder = config.parent / "segments"
        folder.mkdir()
        for i, rule in enumerate(rules):
            (folder / f"r{i}.yaml").write_text(f"name: r{i}\nrules:\n  - {rule}\n")
        session = Session.open(config, Overrides(as_of=as_of))
        segments = session.load_segments([folder])
        polars, sql = session.run(segments, columns=columns), session.run_sql(segments, "spark", columns=columns)
        assert (sql.universe, sql.skipped_event_rows, sql.notes) == (polars.universe, polars.skipped_event_rows,
                                                                      polars.notes)
        for mine, theirs in zip(sql.segments, polars.segments):
            assert mine.members.equals(theirs.members), mine.segment.name

    def workspace(name: str) -> Workspace:
        (tmp_path / name).mkdir()
        return Workspace(tmp_path / name)

    ws = european(workspace("european"))
    ws.cli("validate", str(ws.segment("rules:\n  - conversions: {gte: 1}\n")))  # writes the workspace config
    agree(ws.root / "segtool.yaml", EUROPEAN_RULES, "2024-06-10")
    ws = workspace("pattern").events(pageview("a", "01/06/2024 10:00"), pageview("b", " 2/6/2024 9:05 "),
                                     pageview("c", "31/06/2024 10:00"))
    ws.config("timestamp_format: '%d/%m/%Y %H:%M'\nmax_skipped_rows: 50%\n")
    ws.cli("validate", str(ws.segment("rules:\n  - conversions: {gte: 1}\n")))
    agree(ws.root / "segtool.yaml", ["last_seen: {within: 30d}", "first_seen: {before: 8d}"], "2024-06-10")
    ws = preset_workspace(workspace("shopify"), "shopify_orders", SHOPIFY)
    agree(ws.root / "vendor.yaml", ["conversions: {gte: 1, items: {brand: {is: Nike}}}", "city: {is_set: true}"],
          "2024-06-30", ("email", "city"))
    agree(sample_config(workspace("sample").root, "predictive: events\n"),
          ["clv: {gte: 100}", "conversion_potential: {lt: 30}"], "latest", ("email", "clv"))
