"""The SQL engines against the polars engine: the same checked rule trees compiled to SQL (segtool/sql) and
run by DuckDB (every push) and Spark (a local session, where Java and PySpark are present) must give the
same members and per-rule sizes. Golden SQL per dialect keeps the output stable and re-parses with sqlglot.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import re
import textwrap
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import REPO, UPDATE_GOLDEN, Workspace, assert_golden, conversion, pageview, spark
from oracle import Oracle, field_cases
from segtool.api import Overrides, Session
from segtool.cli.main import app
from segtool.backends.sql import deep_recursion
from segtool.backends.sql.dialects import DIALECTS

SAMPLE = REPO / "sample_data"
SEGMENT_FILES = sorted((REPO / "segments").glob("*.yaml"))
GOLDEN = REPO / "tests" / "golden" / "sql"
GOLDEN_SEGMENTS = ["one_time_buyers", "facebook_referrer", "sale_campaign", "abandoned_cart", "near_milan_store",
                   "active_promo_audience", "red_alert_nike_buyers"]
RUNS = [("latest", "parquet"), ("latest", "csv"), ("2026-03-31", "parquet"), ("2026-05-15T08:30:00Z", "csv")]


def session_for(as_of: str = "latest", fmt: str = "parquet", config: Path = REPO / "segtool.yaml") -> Session:
    files = {t: str(SAMPLE / f"{t}.{fmt}") for t in ("events", "profiles", "items")}
    return Session.open(config, Overrides(as_of=as_of, **files))


def answers(result) -> dict[str, tuple]:
    return {item.segment.name: (tuple(item.members["visitor_id"]), item.rule_sizes) for item in result.segments}


def assert_same(sql_result, polars_result):
    assert sql_result.universe == polars_result.universe
    mine, theirs = answers(sql_result), answers(polars_result)
    for name in theirs:
        only_sql, only_polars = set(mine[name][0]) - set(theirs[name][0]), set(theirs[name][0]) - set(mine[name][0])
        assert not only_sql and not only_polars, f"{name}: only SQL {sorted(only_sql)[:5]}, only polars " \
                                                 f"{sorted(only_polars)[:5]}"
        assert mine[name] == theirs[name], f"{name}: per-rule sizes {mine[name][1]} != {theirs[name][1]}"


# -- DuckDB: every push -------------------------------------------------------------------------------------
@pytest.mark.parametrize("as_of, fmt", RUNS, ids=lambda v: str(v))
def test_every_shipped_segment_gives_the_polars_answer_in_duckdb(as_of, fmt):
    session = session_for(as_of, fmt)
    segments = session.load_segments(SEGMENT_FILES)
    assert_same(session.run_sql(segments, "duckdb", per_rule=True), session.run(segments, per_rule=True))


@pytest.mark.parametrize("as_of", ["latest", "2026-03-31"])
def test_the_differential_field_cases_give_the_polars_answer_in_duckdb(as_of, tmp_path):
    cases = field_cases(Oracle(*(str(SAMPLE / f"{t}.parquet") for t in ("events", "profiles", "items")), as_of=as_of))
    for name, (rule, _) in cases.items():
        (tmp_path / f"{name}.yaml").write_text(textwrap.dedent(f"name: {name}\nrules:\n  - {rule}\n"))
    session = session_for(as_of)
    segments = session.load_segments(sorted(tmp_path.glob("*.yaml")))
    assert len(segments) >= 30
    assert_same(session.run_sql(segments, "duckdb", per_rule=True), session.run(segments, per_rule=True))


LEAVES = [
    "conversions: {gte: 1, period: 90d}", "conversions: {eq: 2}", "total_order_value: {between: [50, 400]}",
    "average_order_value: {is_set: false}", "order_value: {gte: 100, period: 60d}", "days_since_last_conversion: {lte: 45}",
    "first_conversion: {within: 120d}", "last_seen: {within: 14d}", "first_seen: {before: 200d}",
    "retention_grid: {in: [loyal, sleeper]}", "city: {is: Milan, ignore_case: true}", "country: {in: [NL, BE]}",
    "region: {starts_with: '0'}", "clv: {gte: 250}", "customer_type: {is_not: Believer}", "profile.newsletter: {is: 'yes'}",
    "location: {within_km: 25, of: Amsterdam}", "url: {contains: /sale}", "url: {matches: '/product/[a-z-]+-2[0-9]{2}$'}",
    "referrer: {contains: google}", "referrer_domain: {ends_with: facebook.com}", "utm_source: {in: [facebook, google]}",
    "utm_campaign: {contains: sale, ignore_case: true}", "utm_medium: {is_not: cpc, period: 30d}",
    "event: {type: {is: add_to_cart}, count: {gte: 2}, period: 60d}",
    "event: {type: {is: pageview}, url: {starts_with: 'https://shop.example/men'}}",
    "conversions: {gte: 1, items: {brand: {is: Nike}}}", "conversions: {gte: 1, items: {price: {gt: 100}}}",
    "sample: {percent: 30, seed: hypo}",
    "sequence: {steps: [{type: {is: search}}, {type: {is: add_to_cart}, within: 2h}], period: 90d}",
]


def tree(leaves=st.sampled_from(LEAVES)):
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda rules: {"all": rules}),
        st.lists(inner, min_size=1, max_size=3).map(lambda rules: {"any": rules}),
        inner.map(lambda rule: {"not": rule})), max_leaves=6)


def as_yaml(rule) -> str:
    if isinstance(rule, str):
        return "{" + rule + "}"
    (key, value), = rule.items()
    if key == "not":
        return "{not: " + as_yaml(value) + "}"
    return "{" + key + ": [" + ", ".join(as_yaml(r) for r in value) + "]}"


@pytest.fixture(scope="module")
def sample_session():
    return session_for("2026-06-15")


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(tree(), min_size=1, max_size=4))
def test_generated_rule_trees_give_the_polars_answer_in_duckdb(sample_session, tmp_path_factory, rules):
    folder = tmp_path_factory.mktemp("trees")
    (folder / "generated.yaml").write_text("name: generated\nrules:\n" + "".join(f"  - {as_yaml(r)}\n" for r in rules))
    segments = sample_session.load_segments([folder / "generated.yaml"])
    assert_same(sample_session.run_sql(segments, "duckdb", per_rule=True),
                sample_session.run(segments, per_rule=True))


def test_the_edges_of_tiny_data(ws: Workspace):
    """Zero events, blank IDs, an order tracked twice at one instant, events after as_of, a value with a
    decimal that is not a number: the SQL engine reads them as the polars engine does."""
    ws.events(pageview("a", "2024-06-01T10:00:00Z", url="/p?utm_source=news%20letter&utm_source=mail+box"),
              pageview(" ", "2024-06-01T10:00:00Z"), pageview("late", "2024-07-05T10:00:00Z"),
              conversion("b", "2024-06-10T10:00:00Z", 80, "o1"), conversion("b", "2024-06-10T10:00:00Z", 40, "o1"),
              conversion("c", "2024-06-11T10:00:00Z", "", "o2"), conversion("c", "2024-06-20T23:59:59Z", 5))
    ws.profiles({"visitor_id": "p", "city": "Zürich"}, {"visitor_id": "p", "city": "Bern"},
                {"visitor_id": "b", "city": "  "})
    rules = ["total_order_value: {eq: 40}", "conversions: {eq: 2}", "utm_source: {is: mail box}",
             "city: {is: zürich, ignore_case: true}", "city: {is_set: false}", "average_order_value: {is_set: false}",
             "days_since_last_conversion: {eq: 9}", "not: {conversions: {gte: 1}}"]
    folder = ws.root / "segs"
    folder.mkdir()
    for i, rule in enumerate(rules):
        (folder / f"r{i}.yaml").write_text(f"name: r{i}\nrules:\n  - {rule}\n")
    ws.config("max_skipped_rows: 50%\n")
    ws.cli("validate", str(folder))  # writes the workspace config
    session = Session.open(ws.root / "segtool.yaml", Overrides(as_of="2024-06-30"))
    segments = session.load_segments([folder])
    assert_same(session.run_sql(segments, "duckdb", per_rule=True), session.run(segments, per_rule=True))
    assert [m for m in answers(session.run(segments))["r0"][0]] == ["b"]


# -- SQL text -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def named_tables(tmp_path_factory) -> Path:
    """A config naming warehouse tables, so the SQL holds no machine's paths."""
    config = tmp_path_factory.mktemp("golden") / "segtool.yaml"
    config.write_text((REPO / "segtool.yaml").read_text().replace("sample_data/", f"{SAMPLE}/")
                      + "engine:\n  tables: {events: shop.events, profiles: shop.profiles, items: shop.items}\n")
    return config


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_golden_sql_per_dialect_is_stable_and_parses_back(named_tables, dialect):
    session = session_for("2026-06-30T12:00:00Z", config=named_tables)
    segments = session.load_segments([REPO / "segments" / f"{name}.yaml" for name in GOLDEN_SEGMENTS])
    text = session.sql(segments, dialect)
    with deep_recursion():
        parsed = sqlglot.parse_one(text, read=dialect)
    assert parsed.find(sqlglot.exp.With) is not None and "shop.events" in text.replace("`", "").replace('"', "")
    assert_golden(GOLDEN / f"{dialect}.sql", text + "\n")


def test_there_is_a_golden_for_each_dialect_and_no_other():
    assert sorted(p.stem for p in GOLDEN.iterdir()) == sorted(DIALECTS)


def test_a_missing_golden_fails_and_is_written_only_when_asked(tmp_path, monkeypatch):
    golden = tmp_path / "golden" / "duckdb.sql"
    monkeypatch.delenv(UPDATE_GOLDEN, raising=False)
    with pytest.raises(AssertionError, match="is missing"):
        assert_golden(golden, "SELECT 1\n")
    assert not golden.exists()
    monkeypatch.setenv(UPDATE_GOLDEN, "1")
    assert_golden(golden, "SELECT 1\n")
    monkeypatch.delenv(UPDATE_GOLDEN)
    assert_golden(golden, "SELECT 1\n")
    with pytest.raises(AssertionError, match="differs"):
        assert_golden(golden, "SELECT 2\n")


def test_the_lowering_table_writes_what_each_dialect_means(named_tables):
    session = session_for("2026-06-30T12:00:00Z", config=named_tables)
    segments = session.load_segments([REPO / "segments" / "city_amsterdam.yaml", REPO / "segments" / "active_holdout.yaml"])
    snowflake, spark, trino = (session.sql(segments, d) for d in ("snowflake", "spark", "trino"))
    assert "REGEXP_INSTR(" in snowflake and "REGEXP_LIKE(" not in snowflake  # a search, not a full match
    assert "(?iu)" in spark  # Java's (?i) folds ASCII only
    assert "FROM_BASE(SUBSTR(LOWER(TO_HEX(MD5(TO_UTF8(" in "".join(trino.upper().split())  # MD5 takes bytes there


def as_duckdb(text: str, dialect: str, names: bool = True) -> str:
    """SQL of `dialect` parsed back by sqlglot (checked with `names`: nothing off the dialect's allowlist; not
    where sqlglot reads a call as another, Snowflake's TO_TIMESTAMP_NTZ as its TO_TIMESTAMP) and written for
    DuckDB; a group in a regular expression's replacement as DuckDB writes it (`\\1`, not `$1`); a division
    sqlglot marks as typed (Trino's) of two integers is the integer division it is there;
    Snowflake's FLATTEN, which sqlglot reads but does not write for DuckDB, the UNNEST it stands for (its fifth
    column, VALUE, the element)."""
    from segtool.backends.sql import called

    tree = sqlglot.parse_one(text, read=dialect)
    assert not names or called(tree, dialect) <= DIALECTS[dialect].allowed()
    for rows in list(tree.find_all(sqlglot.exp.TableFromRows)):
        if isinstance(rows.this, sqlglot.exp.Explode) and isinstance(rows.this.this, sqlglot.exp.Kwarg):
            element = sqlglot.exp.TableAlias(columns=[rows.args["alias"].columns[4]])
            rows.replace(sqlglot.exp.Unnest(expressions=[rows.this.this.expression], alias=element))
    if dialect in ("trino", "spark", "databricks"):  # a group in a replacement is $1 there, \1 in DuckDB
        for replace in tree.find_all(sqlglot.exp.RegexpReplace):
            text_ = replace.args["replacement"]
            if isinstance(text_, sqlglot.exp.Literal) and text_.is_string:
                replace.set("replacement", sqlglot.exp.Literal.string(re.sub(r"\$(\d)", r"\\\1", text_.this)))
    integer = sqlglot.exp.DataType.INTEGER_TYPES
    for division in list(tree.find_all(sqlglot.exp.Div)):
        operands = (division.this, division.expression)
        if division.args.get("typed") and all(isinstance(o, sqlglot.exp.Cast) and o.to.is_type(*integer)
                                              for o in operands):
            division.replace(sqlglot.exp.IntDiv(this=division.this, expression=division.expression))
    return tree.sql(dialect="duckdb")


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("micros, days", [(3 * 86_400_000_000 - 1, 2), (86_400_000_000, 1), (0, 0), (-1, -1),
                                          (-86_400_000_000, -1), (-86_400_000_001, -2)])
def test_whole_days_are_an_exact_integer_division_in_every_dialect(dialect, micros, days):
    """A microsecond short of 3 days is 2 whole days; a date a microsecond ahead is -1 (rounded down, as
    polars does). Trino's division went through DOUBLE, and Snowflake keeps a quotient's 6 decimals, rounded,
    before TRUNC sees it."""
    import duckdb

    found = DIALECTS[dialect].floor_days(sqlglot.exp.Literal.number(micros))
    text = sqlglot.exp.select(found.as_("days")).sql(dialect=dialect)
    assert duckdb.connect().execute(as_duckdb(text, dialect)).fetchone()[0] == days
    assert not list(sqlglot.parse_one(text, read=dialect).find_all(sqlglot.exp.Trunc))


@pytest.mark.parametrize("config, rule, message", [
    ("timezone: Europe/Amsterdam\n", "days_since_last_conversion: {lte: 3}", None),
    ("", "first_seen: {within: 30d}", None),
    ("predictive: events\n", "clv: {gte: 100}", "engine.tables.predictions"),
])
def test_what_the_printed_sql_cannot_read_is_refused_at_its_rule(tmp_path, config, rule, message):
    """Predictions computed from events are a table the printed SQL reads; without one named, the rule that
    needs it is refused at its position, saying how to make it. Local calendars need nothing."""
    (tmp_path / "segtool.yaml").write_text((REPO / "segtool.yaml").read_text().replace("sample_data/", f"{SAMPLE}/")
                                          + config)
    (tmp_path / "seg.yaml").write_text(f"rules:\n  - {rule}\n")
    result = CliRunner().invoke(app, ["sql", str(tmp_path / "seg.yaml"), "--config", str(tmp_path / "segtool.yaml")])
    if message is None:
        assert result.exit_code == 0, result.stderr
    else:
        assert result.exit_code == 1 and message in result.stderr
        assert result.stderr.startswith(f"Error: {tmp_path / 'seg.yaml'}:2:5: {rule.split(':')[0]}: ")


def test_run_engine_duckdb_on_the_cli_writes_what_polars_writes(tmp_path):
    def run(*args):
        result = CliRunner().invoke(app, ["run", *args, "--config", str(REPO / "segtool.yaml")])
        assert result.exit_code == 0, result.stderr
        return result.stdout

    assert run("segments/", "--summary", "--format", "json", "--engine", "duckdb") == run(
        "segments/", "--summary", "--format", "json")
    for engine in ("polars", "duckdb"):
        run("segments/", "--output-dir", str(tmp_path / engine), "--engine", engine, "-q")
    for path in (tmp_path / "polars").glob("*.csv"):
        assert path.read_bytes() == (tmp_path / "duckdb" / path.name).read_bytes(), path.name


# -- Spark: a local session, where Java and PySpark are here ------------------------------------------------
@spark
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_every_shipped_segment_gives_the_polars_answer_in_spark(fmt):
    session = session_for("latest", fmt)
    segments = session.load_segments(SEGMENT_FILES)
    assert_same(session.run_sql(segments, "spark", per_rule=True), session.run(segments, per_rule=True))


@spark
def test_run_engine_spark_summary_prints_the_polars_sizes():
    def summary(*args):
        result = CliRunner().invoke(app, ["run", "segments/", "--summary", "--format", "json", *args,
                                          "--config", str(REPO / "segtool.yaml")])
        assert result.exit_code == 0, result.stderr
        return result.stdout

    assert summary("--engine", "spark") == summary()


@spark
def test_spark_runs_the_same_input_checks(ws: Workspace):
    """The three a hunt found: a missing event_type, text in order_value, an impossible date (which stopped
    Spark's CAST); the same exit code, output and error line as polars and DuckDB."""
    engines = ("polars", "duckdb", "spark")
    ws.events({"visitor_id": "a", "timestamp": "2024-06-01T10:00:00Z", "url": "/x"},
              columns=["visitor_id", "timestamp", "url"])
    assert every_engine(ws, "last_seen: {within: 30d}", engines=engines).exit_code == 3
    ws.events(conversion("a", "2024-06-01T10:00:00Z", 12.5, "o1"), conversion("b", "2024-06-02T10:00:00Z", "abc", "o2"))
    assert every_engine(ws, "total_order_value: {gte: 1}", engines=engines).exit_code == 3
    ws.events(pageview("a", "2024-06-01T10:00:00Z"), pageview("b", "2024-06-31T12:00:00Z"))
    ws.config("max_skipped_rows: 50%\n")
    result = every_engine(ws, "last_seen: {within: 30d}", "--summary", "--format", "json", engines=engines)
    assert json.loads(result.stdout)["skipped_event_rows"] == 1


def test_segtool_sql_prints_a_statement_sqlglot_parses_back():
    result = CliRunner().invoke(app, ["sql", "segments/one_time_buyers.yaml", "--dialect", "bigquery",
                                      "--config", str(REPO / "segtool.yaml")])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("-- segtool ") and "-- segment_0: one_time_buyers" in result.stdout
    with deep_recursion():
        statement = sqlglot.parse_one(result.stdout.rstrip().rstrip(";"), read="bigquery")
    assert [e.alias_or_name for e in statement.expressions] == ["visitor_id", "segment_0"]
    bad = CliRunner().invoke(app, ["sql", "segments/one_time_buyers.yaml", "--dialect", "oracle"])
    assert bad.exit_code == 2 and "--dialect takes duckdb, spark" in bad.stderr


# -- what an adversarial hunt found (each was a disagreement between the engines) --------------------------
def both_engines(ws: Workspace, rule: str, *args: str, as_of: str = "2024-06-10") -> list[str]:
    """The segment's IDs from polars, checked equal to DuckDB's."""
    path = ws.segment(f"rules:\n  - {rule}\n")
    polars = ws.cli("run", str(path), "--as-of", as_of, *args)
    duckdb = ws.cli("run", str(path), "--as-of", as_of, "--engine", "duckdb", *args)
    assert (polars.exit_code, polars.stdout) == (duckdb.exit_code, duckdb.stdout), (polars.stderr, duckdb.stderr)
    return polars.ids


def test_hunted_differences_agree_now(ws: Workspace):
    ws.config("max_skipped_rows: 100%\n")
    stamps = {"plain": "2024-06-01T10:00:00Z", "lower_z": "2024-06-01T10:00:00z", "space_zone": "2024-06-01 10:00:00 +02:00",
              "utc_word": "2024-06-01 10:00:00 UTC", "hour_24": "2024-06-01T24:00:00", "slashes": "2024/06/01 10:00:00",
              "no_seconds_zone": "2024-06-01 10:00+02:00", "trailing_space": "2024-06-01 ", "nbsp": "2024-06-01 10:00:00\xa0",
              "fraction_9": "2024-06-01T10:00:00.123456789+01:00", "single_digits": "2024-6-1 9:05:00"}
    ws.events(*(pageview(name, stamp) for name, stamp in stamps.items()),
              pageview("twice", "2024-06-02T10:00:00Z", url="https://shop.example/?a=1?utm_source=news",
                       referrer="https://İx.com/p"),
              conversion("nan", "2024-06-03T10:00:00Z", "NaN", "o1"),
              conversion("tiny", "2024-06-03T10:00:00Z", "0.0000000025", "o2"))
    assert both_engines(ws, "last_seen: {within: 30d}") == sorted(
        ["plain", "trailing_space", "nbsp", "fraction_9", "single_digits", "twice", "nan", "tiny"])
    assert both_engines(ws, "total_order_value: {lt: 1}")[:1] == ["fraction_9"]  # NaN is no value: 0 in sums
    assert "nan" in both_engines(ws, "total_order_value: {lt: 1}")
    assert both_engines(ws, "total_order_value: {gte: 0.000000003}") == ["tiny"]  # 2.5e-9 rounds up, as SQL does
    assert both_engines(ws, "utm_source: {is: news}") == []  # after a second `?`: query text, not a parameter
    assert both_engines(ws, "referrer_domain: {is: ix.com}") == []  # İ is not I: hosts are lower-cased in ASCII
    assert both_engines(ws, "sample: {percent: 100, seed: s}") == both_engines(ws, "last_seen: {within: 30d}")


def test_hunted_differences_in_profiles_and_parquet(ws: Workspace):
    import polars as pl

    ws.events(pageview("a", "2024-06-01T10:00:00Z"), pageview("a", "2024-06-02T10:00:00Z"))
    assert both_engines(ws, "last_seen: {within: 30d}") == ["a"]  # no profiles table: each visitor once
    ws.profiles({"visitor_id": "a", "score": "1_000"}, {"visitor_id": "zz", "score": " 7 "})
    assert both_engines(ws, "profile.score: {gte: 5}") == ["zz"]  # 1_000 is no number to polars
    assert both_engines(ws, "sample: {percent: 100, seed: s}") == ["a", "zz"]
    pl.DataFrame({"visitor_id": ["a"], "timestamp": pl.Series(["2024-06-01T10:00:00"]).str.to_datetime(
        time_unit="ns", time_zone="Europe/Amsterdam"), "event_type": ["pageview"]}).write_parquet(ws.root / "ev.parquet")
    assert both_engines(ws, "last_seen: {within: 30d}", "--events", str(ws.root / "ev.parquet")) == ["a"]


def engines_agree(ws: Workspace, files: list[Path], as_of: str = "2024-06-30", engines=("duckdb",),
                  **tables: str) -> dict[str, list[str]]:
    """Each segment's members from polars, checked equal to each SQL engine's (members and per-rule sizes);
    `tables`: other paths of the tables than the workspace's (profiles=...)."""
    ws.cli("validate", str(files[0]))  # writes the workspace config
    session = Session.open(ws.root / "segtool.yaml", Overrides(as_of=as_of, **tables))
    segments = session.load_segments(files)
    polars = session.run(segments, per_rule=True)
    for engine in engines:
        assert_same(session.run_sql(segments, engine, per_rule=True), polars)
    return {name: list(members) for name, (members, _) in answers(polars).items()}


UTM_ROWS = {  # visitor: (url, utm_source, utm_medium, referrer)
    "a": ("https://shop.example/?utm_source=google&utm_medium=cpc", None, None, "https://www.google.com/search"),
    "b": ("https://shop.example/sale", "google", "email", "https://fb.com/x"),
    "c": ("https://shop.example/sale?utm_source=bing", None, "cpc", "https://shop.example/home"),
}
BESIDE_EVENT_UTM = {  # a field rule and what it gives beside `event: {utm_source: {is: google}}` (a and b)
    "utm_medium: {is: cpc}": ["a"], "url: {contains: sale}": ["b"], "referrer: {contains: google}": ["a"],
    "referrer_domain: {is: fb.com}": ["b"], "utm_source: {is_set: true}": ["a", "b"],
}


@pytest.mark.slow
@pytest.mark.parametrize("utm_columns", [True, False], ids=["utm columns", "utms in the url only"])
def test_a_field_rule_beside_an_event_rule_on_a_utm_reads_what_both_need(ws: Workspace, utm_columns):
    """The first rows of the export, which decide how UTMs and hosts are derived, hold the columns of every
    test of single events: `event` conditions and referenced segments too (it named only field rules' columns)."""
    def row(vid, url, source, medium, referrer):
        if utm_columns:
            return pageview(vid, url=url, utm_source=source, utm_medium=medium, referrer=referrer)
        query = "&".join(f"{k}={v}" for k, v in (("utm_source", source), ("utm_medium", medium)) if v)
        return pageview(vid, url=url + ("&" if "?" in url else "?") + query if query else url, referrer=referrer)

    ws.events(*(row(vid, *values) for vid, values in UTM_ROWS.items()))
    event = "event: {utm_source: {is: google}}"
    ws.segment(f"name: e\nrules: [{event}]\n", "e.yaml")
    files = []
    for i, (rule, expected) in enumerate(BESIDE_EVENT_UTM.items()):
        one = ws.segment(f"name: one{i}\nrules: [{rule}, {event}]\n", f"one{i}.yaml")
        field = ws.segment(f"name: field{i}\nrules: [{rule}]\n", f"field{i}.yaml")
        reference = ws.segment(f"name: ref{i}\nrules: [{rule}, segment: e]\n", f"ref{i}.yaml")
        assert engines_agree(ws, [one])[f"one{i}"] == expected, rule
        assert engines_agree(ws, [reference])[f"ref{i}"] == expected, rule
        both = engines_agree(ws, [field, ws.root / "e.yaml"])
        assert sorted(set(both[f"field{i}"]) & set(both["e"])) == expected and both["e"] == ["a", "b"], rule
        files += [one, field, reference]
    assert engines_agree(ws, files)["one0"] == ["a"]  # every combination in one run


def ids_in_buckets(seed: str, wanted: set[int]) -> dict[int, str]:
    """An ID for each wanted bucket of `seed`, the bucket worked out here as docs/segments.md writes it."""
    found = {}
    for i in itertools.count():
        vid = f"v{i}"
        bucket = int(hashlib.md5(f"{seed}:{vid}".encode()).hexdigest()[:8], 16) % 10_000
        if bucket in wanted:
            found.setdefault(bucket, vid)
        if len(found) == len(wanted):
            return found


@pytest.mark.parametrize("percent", ["12.345", "1.1", "0.29", "12.34", "0.005", "99.995", "100"])
def test_a_fractional_sample_holds_every_bucket_below_percent_times_100(ws: Workspace, percent):
    """12.345% holds bucket 1234 (below 1234.5); 1.1% stops at 109 (1.1 × 100 is 110.00000000000001 in binary
    floating point): the sample and a split of the same share take the same buckets, in both engines."""
    bound = Decimal(percent) * 100
    last_in = math.ceil(bound) - 1
    ids = ids_in_buckets("s1", {b for b in (last_in, last_in + 1) if b < 10_000})
    ws.events(*(pageview(vid) for vid in ids.values()))
    assert both_engines(ws, f"sample: {{percent: {percent}, seed: s1}}") == [ids[last_in]]
    if percent != "100":
        out = ws.root / "parts.csv"
        split = ws.cli("run", str(ws.segment("rules: [last_seen: {is_set: true}]\n", "all.yaml")), "--as-of",
                       "2024-06-10", "-o", str(out), "--split", f"{percent}:{Decimal(100) - Decimal(percent)}",
                       "--split-seed", "s1")
        assert split.exit_code == 0, split.stderr
        assert (ws.root / "parts.a.csv").read_text().split() == ["visitor_id", ids[last_in]]


EARLY = {"at_t", "after_t", "before_local_midnight"}  # 2 days that end by 30 June 21:59:59.999999 UTC


@pytest.mark.parametrize("as_of, zone, expected", [
    ("2024-06-30T12:00:00Z", "UTC", {"at_t"}),  # 2 days ending exactly at a datetime as_of have passed
    ("2024-06-30", "UTC", EARLY | {"at_local_midnight", "before_midnight"}),  # not those ending at 1 July 00:00
    ("2024-07-01T00:00:00Z", "UTC", EARLY | {"at_local_midnight", "before_midnight", "at_midnight"}),
    ("2024-06-30", "Europe/Amsterdam", EARLY),  # the date ends at 22:00 UTC
])
def test_then_not_has_passed_when_its_window_ends_within_as_of(ws: Workspace, as_of, zone, expected):
    """The `then_not` window (after the last step, its end included) must lie within as_of: a datetime T
    includes T, a date D ends before the midnight after D, where an event would still be in the window."""
    checkouts = {"at_t": "2024-06-28T12:00:00Z", "after_t": "2024-06-28T12:00:00.000001Z",
                 "at_midnight": "2024-06-29T00:00:00Z", "before_midnight": "2024-06-28T23:59:59.999999Z",
                 "at_local_midnight": "2024-06-28T22:00:00Z", "before_local_midnight": "2024-06-28T21:59:59.999999Z",
                 "bought_at_midnight": "2024-06-29T00:00:00Z"}
    ws.events(*(pageview(vid, ts, event_type="begin_checkout") for vid, ts in checkouts.items()),
              conversion("bought_at_midnight", "2024-07-01T00:00:00Z", 10, "o1"))
    ws.config(f"timezone: {zone}\n")
    rule = "sequence: {steps: [{type: {is: begin_checkout}}], then_not: {type: {is: conversion}, within: 2d}}"
    assert both_engines(ws, rule, as_of=as_of) == sorted(expected)


@spark
def test_the_hunted_answers_are_the_polars_answers_in_spark(ws: Workspace):
    """A UTM event rule beside field rules, fractional samples and then_not at a date as_of, in one Spark run."""
    ws.events(*(pageview(vid, url=url, utm_source=source, utm_medium=medium, referrer=referrer)
                for vid, (url, source, medium, referrer) in UTM_ROWS.items()),
              *(pageview(vid) for vid in ids_in_buckets("s1", {109, 110, 1234, 1235}).values()),
              pageview("at_midnight", "2024-06-29T00:00:00Z", event_type="begin_checkout"),
              pageview("before_midnight", "2024-06-28T23:59:59.999999Z", event_type="begin_checkout"))
    rules = [f"[{rule}, event: {{utm_source: {{is: google}}}}]" for rule in BESIDE_EVENT_UTM]
    rules += ["[sample: {percent: 12.345, seed: s1}]", "[sample: {percent: 1.1, seed: s1}]",
              "[sequence: {steps: [{type: {is: begin_checkout}}], then_not: {type: {is: conversion}, within: 2d}}]"]
    files = [ws.segment(f"name: s{i}\nrules: {text}\n", f"s{i}.yaml") for i, text in enumerate(rules)]
    expected = engines_agree(ws, files)
    session = Session.open(ws.root / "segtool.yaml", Overrides(as_of="2024-06-30"))
    segments = session.load_segments(files)
    assert_same(session.run_sql(segments, "spark", per_rule=True), session.run(segments, per_rule=True))
    assert expected[f"s{len(rules) - 1}"] == ["before_midnight"]


def test_column_names_are_never_read_as_function_calls(ws: Workspace):
    """Export names with a space before `(`, or a quote beside a literal that holds `(`, are names: the
    allowlist of functions is checked on the statement's tree, not on its text."""
    columns = ["visitor_id", "timestamp", "kind (GA)", "it's url"]
    ws.events({"visitor_id": "a", "timestamp": "2024-06-01T10:00:00Z", "kind (GA)": "pageview", "it's url": "/page(2)"},
              {"visitor_id": "b", "timestamp": "2024-06-02T10:00:00Z", "kind (GA)": "pageview", "it's url": "/x"},
              columns=columns)
    ws.config("columns:\n  events: {event_type: 'kind (GA)', url: \"it's url\"}\n")
    assert both_engines(ws, "url: {is: '/page(2)'}") == ["a"]
    for dialect in sorted(DIALECTS):  # CSV: ISO text timestamps, written out for every dialect
        result = ws.cli("sql", str(ws.root / "seg.yaml"), "--dialect", dialect, "--as-of", "2024-06-10",
                        "--config", str(ws.root / "segtool.yaml"))
        assert result.exit_code == 0, result.stderr


# -- ISO text timestamps: one grammar, written out for every dialect ----------------------------------------
def _padded(low: int, high: int):
    return st.integers(low, high).flatmap(lambda n: st.sampled_from(sorted({str(n), f"{n:02d}"})))


ISO_LIKE = st.builds(
    lambda space, year, month, day, clock, zone, after: f"{space}{year}-{month}-{day}{clock}{zone}{after}",
    st.sampled_from(["", " ", "\t", "\u3000"]),
    st.sampled_from(["0000", "0001", "1900", "1969", "1970", "2000", "2023", "2024", "2100", "9999"])
    | st.integers(0, 9999).map(lambda n: f"{n:04d}"),
    _padded(0, 13), _padded(0, 32),
    st.one_of(st.just(""), st.builds(lambda sep, h, m, s, f: f"{sep}{h}:{m:02d}{s}{f}", st.sampled_from("T "),
                                     _padded(0, 24), st.integers(0, 60),
                                     st.sampled_from(["", ":00", ":59", ":60", ":7"]),
                                     st.sampled_from(["", ".5", ".123456", ".9999999", ".123456789", ".1234567891"]))),
    st.one_of(st.sampled_from(["", "Z", "z", " +02:00"]),
              st.builds(lambda sign, h, colon, m: f"{sign}{h:02d}{colon}{m}", st.sampled_from("+-"),
                        st.integers(0, 25), st.sampled_from(["", ":"]),
                        st.sampled_from(["", "00", "30", "59", "60"]))),
    st.sampled_from(["", " ", "\xa0"]))


def _iso_reference(path: Path) -> list:
    """The timestamps as the polars engine reads them (microseconds; None where unreadable)."""
    import polars as pl

    from segtool.config import Config
    from segtool.inputs.tables import parse_timestamps, resolve_table

    table = resolve_table("events", str(path), Config())
    return table.scan().select(parse_timestamps(table, "iso").dt.epoch("us")).collect().to_series().to_list()


def test_warehouse_sql_reads_csv_exports(ws: Workspace):
    """Text timestamps (ISO, or epoch numbers), numbers compared in a text profile column: every dialect
    writes them out (no TRY_CAST: BigQuery's SAFE_CAST was refused, Spark and Snowflake write a CAST that
    stops the query), and DuckDB reads them as polars does."""
    ws.events(pageview("a", "2024-06-01T10:00:00+02:00"), pageview("b", "2024-06-31T12:00:00Z"),
              pageview("c", "2024-6-2 9:05:00"))
    ws.profiles({"visitor_id": "a", "age": "41"}, {"visitor_id": "c", "age": "4e1"}, {"visitor_id": "d", "age": "x"})
    ws.config("max_skipped_rows: 50%\n")
    assert both_engines(ws, "profile.age: {gte: 40}") == ["a", "c"]
    assert both_engines(ws, "last_seen: {within: 30d}") == ["a", "c"]
    for dialect in sorted(DIALECTS):
        result = ws.cli("sql", str(ws.root / "seg.yaml"), "--dialect", dialect, "--as-of", "2024-06-10",
                        "--config", str(ws.root / "segtool.yaml"))
        assert result.exit_code == 0, result.stderr
        with deep_recursion():
            sqlglot.parse_one(result.stdout.rstrip().rstrip(";"), read=dialect)
    stamps = {"plain": "1717236000", "signed": "+1717236000", "spaced": " 1717236000", "decimal": "1717236000.0",
              "text": "soon", "huge": "99999999999999999999"}
    ws.events(*(pageview(name, stamp) for name, stamp in stamps.items()))
    ws.config("timestamp_format: epoch_s\nmax_skipped_rows: 100%\n")
    assert both_engines(ws, "last_seen: {within: 30d}") == ["plain", "signed"]


@functools.cache
def _iso_in_duckdb(dialect: str) -> str:
    """The written-out ISO parsing of a column of table t as `dialect` writes it (no timestamp cast), for DuckDB."""
    from segtool.backends.sql.compiler import trimmed
    from segtool.backends.sql.iso import iso_micros, with_iso_fields

    column = sqlglot.exp.column("timestamp", quoted=True)
    rows = with_iso_fields(sqlglot.exp.to_table("t"), column, trimmed(column), DIALECTS[dialect], "events")
    query = sqlglot.exp.select(iso_micros(DIALECTS[dialect]).as_("m")).from_(rows)
    text = query.sql(dialect=dialect)
    temporal = sqlglot.exp.DataType.TEMPORAL_TYPES
    assert not [c for c in sqlglot.parse_one(text, read=dialect).find_all(sqlglot.exp.Cast) if c.to.is_type(*temporal)]
    return as_duckdb(text, dialect)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(ISO_LIKE, min_size=1, max_size=40))
def test_iso_text_is_read_as_polars_reads_it_in_every_dialect(dialect, tmp_path, texts):
    """ISO text timestamps (CSV) are read by the SQL of every dialect as polars reads them: impossible days,
    offsets past ±23:59, fractions beyond microseconds, white space around, forms outside the grammar."""
    import duckdb

    path = tmp_path / "events.csv"
    path.write_text("visitor_id,timestamp,event_type\n" + "".join(f'a,"{t}",x\n' for t in texts), encoding="utf-8")
    connection = duckdb.connect()
    connection.execute(f"CREATE VIEW t AS SELECT * FROM read_csv('{path}', all_varchar = true, header = true)")
    assert [row[0] for row in connection.execute(_iso_in_duckdb(dialect)).fetchall()] == _iso_reference(path)


# -- the same input checks, reported the same way, whichever engine runs the segments ----------------------
def every_engine(ws: Workspace, rule: str, *args: str, engines=("polars", "duckdb"), as_of="2024-06-30"):
    """The run on each engine: the same exit code, output and error lines (as polars's), which it returns."""
    path = ws.segment(f"rules:\n  - {rule}\n")
    results = {e: ws.cli("run", str(path), "--as-of", as_of, "--engine", e, *args) for e in engines}
    errors = {e: [line for line in r.stderr.splitlines() if line.startswith("Error")] for e, r in results.items()}
    reference = results["polars"]
    for engine, result in results.items():
        assert (result.exit_code, result.stdout, errors[engine]) == (
            reference.exit_code, reference.stdout, errors["polars"]), (engine, result.stderr, reference.stderr)
    return reference


def test_missing_required_columns_are_the_same_error_on_every_engine(ws: Workspace):
    ws.events({"visitor_id": "a", "timestamp": "2024-06-01T10:00:00Z", "url": "/x"},
              columns=["visitor_id", "timestamp", "url"])
    result = every_engine(ws, "last_seen: {within: 30d}")
    assert result.exit_code == 3 and "'event_type'" in result.stderr and "events.csv" in result.stderr
    ws.events(pageview("a"))
    ws.profiles({"id": "a", "city": "Milan"})
    assert every_engine(ws, "last_seen: {within: 30d}").exit_code == 3
    ws.events(conversion("a", "2024-06-01T10:00:00Z", 10, "o1"))
    ws.profiles({"visitor_id": "a", "city": "Milan"})
    (ws.root / "items.csv").write_text("item_id,brand\ni1,Nike\n")
    result = every_engine(ws, "conversions: {gte: 1, items: {brand: {is: Nike}}}")
    assert result.exit_code == 3 and "'order_id'" in result.stderr and "items.csv" in result.stderr


def test_values_that_are_no_numbers_are_the_same_error_on_every_engine(ws: Workspace):
    """Text in a number column the run reads is an error naming the file, the column and the values (every
    row counts, as polars casts the whole column); where no rule reads the column, no engine reads it."""
    ws.events(conversion("a", "2024-06-01T10:00:00Z", 12.5, "o1"), conversion("b", "2024-06-02T10:00:00Z", "abc", "o2"),
              pageview("c", "2024-06-02T10:00:00Z", order_value="xyz"), conversion("d", "2024-07-02T10:00:00Z", "n/a"))
    result = every_engine(ws, "total_order_value: {gte: 1}")
    assert result.exit_code == 3 and "'abc', 'xyz', 'n/a'" in result.stderr
    assert "events.csv" in result.stderr and "'order_value'" in result.stderr
    assert every_engine(ws, "conversions: {gte: 1}").stdout.split() == ["a", "b"]
    ws.events(pageview("a"))
    ws.profiles({"visitor_id": "a", "clv": "12"}, {"visitor_id": "b", "clv": "lots"})
    result = every_engine(ws, "clv: {gte: 10}")
    assert result.exit_code == 3 and "profiles.csv" in result.stderr and "'lots'" in result.stderr


def test_skipped_rows_are_counted_and_judged_the_same_on_every_engine(ws: Workspace):
    """An impossible date, a blank ID: skipped and counted alike (the summary), a share above max_skipped_rows
    the same error; over the rows the run reads (only the conversions where it reads nothing else)."""
    pageviews = [pageview(f"v{i}", "2024-06-0{}T10:00:00Z".format(i % 9 + 1)) for i in range(20)]
    ws.events(*pageviews, pageview("z", "2024-06-31T12:00:00Z"), conversion("b", "2024-06-10T10:00:00Z", 5, "o1"))
    result = every_engine(ws, "last_seen: {within: 30d}")
    assert result.exit_code == 3 and "'2024-06-31T12:00:00Z'" in result.stderr
    assert every_engine(ws, "conversions: {gte: 1}").stdout.split() == ["b"]  # the pageviews are not read
    ws.events(*pageviews, pageview("z", "2024-06-31T12:00:00Z"), pageview(" ", "2024-06-03T10:00:00Z"),
              conversion("b", "2024-06-10T10:00:00Z", 5, "o1"))
    ws.config("max_skipped_rows: 10%\n")
    summary = json.loads(every_engine(ws, "last_seen: {within: 30d}", "--summary", "--format", "json").stdout)
    assert summary["skipped_event_rows"] == 2 and summary["universe"] == 21
    ws.config("conversion_events: [purchase]\nmax_skipped_rows: 10%\n")
    result = every_engine(ws, "conversions: {gte: 1}")
    assert result.exit_code == 3 and "conversion_events" in result.stderr


def test_a_text_operator_on_integers_reads_their_digits_on_every_engine(ws: Workspace):
    """An integer column is its decimal digits to a text operator, alike on every engine."""
    import polars as pl

    ws.events(pageview("a"), pageview("b"), pageview("c"))
    pl.DataFrame({"visitor_id": ["a", "b", "c"], "age": [41, 14, None]}).write_parquet(ws.root / "profiles.parquet")
    path = ws.segment("rules:\n  - last_seen: {within: 30d}\n  - profile.age: {starts_with: '4'}\n")
    for engine in ("polars", "duckdb"):
        result = ws.cli("run", str(path), "--engine", engine, "--profiles", str(ws.root / "profiles.parquet"),
                        "--as-of", "2024-06-30", "--config", str(ws.root / "segtool.yaml"))
        assert result.ids == ["a"], engine


def test_a_text_operator_on_floats_is_refused_at_its_rule_on_every_engine(ws: Workspace):
    """Floating-point numbers have no one way to be written as text (1e20, 1e+20, 1.0E20): a text operator on
    them is a segment error at the rule, whichever engine runs it."""
    import polars as pl

    ws.events(pageview("a"))
    pl.DataFrame({"visitor_id": ["a"], "score": [41.5]}).write_parquet(ws.root / "profiles.parquet")
    path = ws.segment("rules:\n  - last_seen: {within: 30d}\n  - profile.score: {starts_with: '4'}\n")
    for command in (["run"], ["run", "--engine", "duckdb"], ["sql"]):
        result = ws.cli(command[0], str(path), *command[1:], "--profiles", str(ws.root / "profiles.parquet"),
                        "--as-of", "2024-06-30", "--config", str(ws.root / "segtool.yaml"))
        assert result.exit_code == 1, command
        assert result.stderr.startswith(f"Error: {path}:3:5: starts_with: a text operator on a column of floating")


# -- local calendars: day counts and dates on the wall clock of `timezone` ---------------------------------
LOCAL_CONVERSIONS = {  # visitor: its conversion (UTC), around the changes of clocks in 2026
    "ams_spring_eve": "2026-03-28T22:30:00Z",     # 23:30 CET, the evening before Amsterdam's 23-hour day
    "ams_spring_night": "2026-03-29T00:30:00Z",   # 01:30 CET, on it
    "ams_spring_noon": "2026-03-29T10:00:00Z",    # 12:00 CEST
    "ams_autumn_first": "2026-10-25T00:30:00Z",   # 02:30 CEST: the hour that repeats, the first time
    "ams_autumn_second": "2026-10-25T01:30:00Z",  # 02:30 CET: the second time
    "ams_autumn_last": "2026-10-25T22:59:59Z",    # 23:59:59 CET, the end of the 25-hour day
    "ny_spring": "2026-03-08T06:59:59Z",          # 01:59:59 EST, before New York's clocks go forward
    "ny_spring_after": "2026-03-08T07:00:00Z",    # 03:00 EDT
    "ny_midnight": "2026-11-01T04:00:00Z",        # 00:00 EDT, the start of New York's 25-hour day
    "ny_first": "2026-11-01T05:30:00Z",           # 01:30 EDT: the hour that repeats, the first time
    "ny_second": "2026-11-01T06:30:00Z",          # 01:30 EST: the second time
}
LOCAL_PROFILES = {  # visitor: ISO text, a date (a date alone is its local midnight), a date-time (UTC)
    "p_spring": ("2026-03-29", date(2026, 3, 29), datetime(2026, 3, 29, 0, 30)),
    "p_autumn": ("2026-10-25", date(2026, 10, 25), datetime(2026, 10, 25, 0, 30)),  # 02:30 CEST, repeated
    "p_autumn_second": ("2026-10-25T02:30:00+01:00", date(2026, 10, 26), datetime(2026, 10, 25, 1, 30)),
    "p_ny": ("2026-11-01", date(2026, 11, 1), datetime(2026, 11, 1, 5, 30)),  # 01:30 EDT, repeated
    "p_ny_second": ("2026-11-01 06:30:00", date(2026, 3, 8), datetime(2026, 11, 1, 6, 30)),
    "p_impossible": ("2026-02-30", None, None),
}
LOCAL_GRID = """retention_grid:
  - {name: never, conversions: [0, 0]}
  - {name: today, conversions: [1, null], days: [0, 0]}
  - {name: yesterday, conversions: [1, null], days: [1, 1]}
  - {name: earlier, conversions: [1, null], days: [2, null]}
"""
LOCAL_RULES = ([f"days_since_last_conversion: {{eq: {k}}}" for k in range(3)]
               + ["days_since_last_conversion: {gte: 3}", "first_seen: {gte: 1}", "first_seen: {gte: 2}",
                  "retention_grid: {in: [today]}", "retention_grid: {in: [yesterday]}",
                  "retention_grid: {in: [earlier]}"]
               + [f"profile.day: {{eq: {k}}}" for k in range(3)]
               + [f"profile.joined: {{eq: {k}}}" for k in range(2)]
               + ["profile.day: {lt: 0}", "profile.day: {within: 1d}", "profile.joined: {before: 1d}",
                  "profile.signup: {within: 1d}", "profile.signup: {before: 1d}",
                  "profile.joined: {starts_with: '2026-10-25 00:30:00.000000'}"])
LOCAL_AS_OFS = ["2026-03-09T02:30:00Z", "2026-03-29T23:45:00+02:00", "2026-10-25", "2026-10-26T01:30:00Z",
                "2026-11-02T06:15:00Z"]


def local_calendar_workspace(ws: Workspace, zone: str) -> list[Path]:
    """Conversions and profiles (Parquet: text, dates, date-times in milliseconds in Amsterdam) around the
    changes of clocks, the grid by days, and a segment per rule of LOCAL_RULES."""
    import polars as pl

    ws.events(*(conversion(vid, ts, 10) for vid, ts in LOCAL_CONVERSIONS.items()),
              pageview("ams_autumn_second", "2026-10-24T01:30:00Z"), pageview("ny_first", "2026-10-31T05:30:00Z"))
    text, day, joined = zip(*LOCAL_PROFILES.values())
    pl.DataFrame({"visitor_id": list(LOCAL_PROFILES), "signup": text, "day": day, "joined": joined}).with_columns(
        pl.col("joined").dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/Amsterdam").dt.cast_time_unit("ms")
    ).write_parquet(ws.root / "profiles.parquet")
    ws.config(f"timezone: {zone}\n" + LOCAL_GRID)
    return [ws.segment(f"name: r{i}\nrules:\n  - {rule}\n", f"r{i}.yaml") for i, rule in enumerate(LOCAL_RULES)]


@pytest.mark.slow
@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "America/New_York"])
def test_day_counts_on_a_local_wall_clock_give_the_polars_answer_in_duckdb(ws: Workspace, zone):
    """Whole days on the clock of the zone, across 23- and 25-hour days and in the hour that repeats:
    days_since_last_conversion, the grid, first_seen and profile dates (a date alone is its local midnight)."""
    files = local_calendar_workspace(ws, zone)
    profiles = str(ws.root / "profiles.parquet")
    found = {as_of: engines_agree(ws, files, as_of, profiles=profiles) for as_of in LOCAL_AS_OFS}

    def members(as_of: str, rule: str) -> set[str]:
        return set(found[as_of][f"r{LOCAL_RULES.index(rule)}"])

    if zone == "Europe/Amsterdam":  # 23:30 CET to 23:45 CEST the next day: 23¼ hours, one day on the clock
        assert "ams_spring_eve" in members("2026-03-29T23:45:00+02:00", "days_since_last_conversion: {eq: 1}")
        assert {"ams_autumn_first", "ams_autumn_second", "ams_autumn_last"} <= members(
            "2026-10-25", "days_since_last_conversion: {eq: 0}")
        assert members("2026-10-25", "profile.day: {eq: 0}") == {"p_autumn"}
        assert members("2026-10-25", "profile.joined: {eq: 0}") == {"p_autumn", "p_autumn_second"}
    else:  # 01:30 EDT and EST to 01:15 EST the next day: 0 days on the clock (24¾ and 23¾ hours)
        assert {"ny_first", "ny_second"} <= members("2026-11-02T06:15:00Z", "days_since_last_conversion: {eq: 0}")
    assert members("2026-10-25", LOCAL_RULES[-1]) == {"p_autumn"}  # the text of a date-time: its UTC clock


@pytest.mark.parametrize("zone, day, as_of, expected", [
    ("Atlantic/Azores", "2024-10-27", "2024-10-27T00:30:00Z", ["d"]),  # 00:00-01:00 repeats: from the first
    ("America/Havana", "2024-11-03", "2024-11-03T04:30:00Z", ["d"]),   # 00:00 -04 is 04:00 UTC, -05 05:00
    ("America/Havana", "2024-03-10", "2024-03-10T05:00:00Z", ["d"]),   # no midnight: 01:00 CDT, 05:00 UTC
    ("America/Santiago", "2024-09-08", "2024-09-08T03:59:59Z", []),    # no midnight: 01:00 -03, 04:00 UTC
    ("Asia/Beirut", "2024-03-31", "2024-03-30T22:00:00Z", ["d"]),      # no midnight: 01:00 EEST, 22:00 UTC
])
def test_a_midnight_the_clocks_skip_or_repeat_is_read_as_polars_reads_it(ws: Workspace, zone, day, as_of,
                                                                          expected):
    """A date alone is the first instant of its day: of a midnight that repeats the first, of one the clocks
    skip the end of the skipped hour, on every engine (DuckDB's own conversion takes the later of two)."""
    ws.events(pageview("e", "2024-01-01T00:00:00Z"))
    ws.profiles({"visitor_id": "d", "signup": day})
    ws.config(f"timezone: {zone}\n")
    rules = ["profile.signup: {within: 1d}", "profile.signup: {eq: 0}", "profile.signup: {before: 1d}"]
    files = [ws.segment(f"name: r{i}\nrules:\n  - {rule}\n", f"r{i}.yaml") for i, rule in enumerate(rules)]
    assert engines_agree(ws, files, as_of)["r0"] == expected


def test_every_shipped_segment_in_a_local_time_zone_gives_the_polars_answer_in_duckdb(tmp_path):
    config = tmp_path / "segtool.yaml"
    config.write_text((REPO / "segtool.yaml").read_text().replace("sample_data/", f"{SAMPLE}/")
                      + "timezone: Europe/Amsterdam\n")
    session = session_for("2026-03-31", config=config)
    segments = session.load_segments(SEGMENT_FILES)
    assert_same(session.run_sql(segments, "duckdb", per_rule=True), session.run(segments, per_rule=True))


@spark
def test_local_calendars_give_the_polars_answer_in_spark(ws: Workspace):
    """Day counts on Amsterdam's clock across its 23-hour day, dates in profiles (ISO text, Parquet dates,
    date-times in milliseconds in a zone) and, in the Azores, a midnight that repeats."""
    files = local_calendar_workspace(ws, "Europe/Amsterdam")
    profiles = str(ws.root / "profiles.parquet")
    engines_agree(ws, files, "2026-03-29T23:45:00+02:00", engines=("spark",), profiles=profiles)
    ws.config("timezone: Atlantic/Azores\n" + LOCAL_GRID)  # 25 October 2026 starts at 00:00 UTC, then at 01:00
    found = engines_agree(ws, files, "2026-10-25T00:30:00Z", engines=("spark",), profiles=profiles)
    assert "p_autumn" in found[f"r{LOCAL_RULES.index('profile.day: {within: 1d}')}"]


# the wall clock in a zone and back, and stored dates as text, in every dialect: run in DuckDB where sqlglot
# writes the dialect's functions as DuckDB's with their meaning, and for Trino with DuckDB macros of what its
# documentation says its functions do; Spark's FROM_UTC_TIMESTAMP becomes no DuckDB function that means it,
# so Spark's SQL is run by Spark (test_local_calendars_give_the_polars_answer_in_spark)
TRINO_IN_DUCKDB = """
CREATE MACRO from_unixtime_nanos(n) AS make_timestamptz(CAST(n / 1000 AS BIGINT));
CREATE MACRO at_timezone(instant, zone) AS timezone(zone, instant);  -- its local date-time, as a cast gives
CREATE MACRO with_timezone(local, zone) AS timezone(zone, local);
CREATE MACRO fail(message) AS error(message);
"""
ZONES = ["Europe/Amsterdam", "America/New_York", "Atlantic/Azores", "America/Santiago", "Asia/Beirut",
         "Australia/Lord_Howe"]


def _clock_reference(zone: str, instants: list[int], days: list[date]) -> tuple[list, list]:
    """What polars makes of them: each instant's wall clock in `zone` (µs read as UTC), each day's first
    instant there."""
    import polars as pl

    from segtool.backends.polars.expressions import local_midnight

    wall = pl.Series(instants, dtype=pl.Int64).to_frame("t").select(
        pl.from_epoch("t", "us").dt.replace_time_zone("UTC").dt.convert_time_zone(zone).dt.replace_time_zone(None)
        .dt.epoch("us"))
    first = pl.Series(days, dtype=pl.Date).to_frame("d").select(local_midnight(pl.col("d"), zone).dt.epoch("us"))
    return wall.to_series().to_list(), first.to_series().to_list()


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_the_wall_clock_of_a_zone_is_the_polars_one_in_every_dialect(dialect):
    """`wall_micros` over instants around every midnight of 2024 and `utc_micros` (a date's first instant)
    over its days, in zones with 23/25-hour days, midnights that repeat or are skipped, and a 30-minute
    change of clocks."""
    import duckdb

    from segtool.backends.sql import called

    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(366)]
    local = [(d - date(1970, 1, 1)).days * 86_400_000_000 for d in days]
    instants = [m + k * 1_800_000_000 for m in local for k in (-3, -1, 0, 1, 3, 5)]  # 30 minutes apart
    one, value = DIALECTS[dialect], sqlglot.exp.column("v")
    connection = duckdb.connect()
    # the DuckDB dialect must not depend on the session's zone; what sqlglot writes for the others reads
    # their UTC TIMESTAMPs as DuckDB's in the session's zone
    connection.execute(f"SET TimeZone = '{'Asia/Tokyo' if dialect == 'duckdb' else 'UTC'}'")
    connection.execute(TRINO_IN_DUCKDB)
    for name, values in (("instants", instants), ("days", local)):
        connection.execute(f"CREATE TABLE {name} AS SELECT UNNEST(?::BIGINT[]) AS v, UNNEST(RANGE(?)) AS i",
                           [values, len(values)])
    for zone in ZONES:
        wall, first = _clock_reference(zone, instants, days)
        for table, expression, expected in (("instants", one.wall_micros(value, zone), wall),
                                            ("days", one.utc_micros(value, zone), first)):
            query = sqlglot.exp.select(expression.as_("m")).from_(table).order_by("i")
            assert called(query, dialect) <= one.allowed()
            text = query.sql(dialect=dialect)
            with deep_recursion():
                sqlglot.parse_one(text, read=dialect)
            if dialect not in ("spark", "databricks"):
                assert [row[0] for row in connection.execute(as_duckdb(text, dialect, names=False)).fetchall()] \
                    == expected, (zone, table)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_stored_dates_are_the_text_polars_reads_in_every_dialect(dialect):
    """Dates and date-times stored as such become the ISO text the polars engine reads them as (its typed
    layer): before 1970 too, to the microsecond."""
    import duckdb
    import polars as pl

    from segtool.backends.sql import called
    from segtool.backends.sql.iso import iso_text
    from segtool.inputs.tables import INSTANT_FORMAT

    moments = [datetime(2024, 3, 31, 23, 30, 0, 123456), datetime(1969, 12, 31, 23, 59, 59, 999999),
               datetime(1900, 1, 1), datetime(2000, 2, 29, 12, 0, 0, 5), datetime(2024, 10, 27, 1, 2, 3)]
    expected = pl.DataFrame({"t": moments, "d": [m.date() for m in moments]}).select(
        pl.col("t").dt.to_string(INSTANT_FORMAT), pl.col("d").cast(pl.String)).rows()
    one = DIALECTS[dialect]
    query = sqlglot.exp.select(iso_text(sqlglot.exp.column("t"), "instant", one).as_("t"),
                               iso_text(sqlglot.exp.column("d"), "date", one).as_("d")).from_("stored").order_by("i")
    assert called(query, dialect) <= one.allowed()
    text = query.sql(dialect=dialect)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")  # the session's zone, as the engines set it (stored instants)
    connection.execute("CREATE TABLE stored AS SELECT UNNEST(?::TIMESTAMP[]) AS t, UNNEST(?::DATE[]) AS d, "
                       "UNNEST(RANGE(?)) AS i", [moments, [m.date() for m in moments], len(moments)])
    if dialect not in ("spark", "databricks"):  # Spark: test_local_calendars_give_the_polars_answer_in_spark
        assert connection.execute(as_duckdb(text, dialect)).fetchall() == expected
