"""`segtool sql` on exports read through a preset: the statement reads the vendor's files itself (the preset's
views written as SQL, backends/sql/views.py). Run by DuckDB over the fixture files, it gives the members that
`segtool run` gives on the polars engine, for every vendor fixture and segments on every field the presets give;
so do BigQuery's, Snowflake's and Trino's statements, put into DuckDB's words by sqlglot, over the export loaded
as a table; the warehouses' and Spark's statements parse as their dialect; what a dialect cannot read is a clear
error. (The Spark statements of GA4's fixture were run once by a local Spark 4 session with the same answers; a
run takes minutes here.)
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path

import duckdb
import polars as pl
import pytest
import sqlglot

from conftest import REPO, Workspace, spark, write_csv
from test_sql_engines import TRINO_IN_DUCKDB, as_duckdb
from segtool.api import Overrides, Session
from segtool.backends.sql import deep_recursion
from segtool.backends.sql.dialects import DIALECTS
from segtool.backends.sql.views import Reading, sql
from segtool.inputs.presets.common import Col, Country, Instant, utc_from_text
from segtool.places import country_code, country_keys

VENDORS = REPO / "tests" / "fixtures" / "vendors"
AS_OF = "2024-06-30"


def vendor(*path: str) -> str:
    """A vendor fixture (tests/fixtures/vendors): the one place that knows their layout."""
    return str(VENDORS.joinpath(*path))


def events_config(preset: str, path: str, extra: str = "") -> str:
    return f"preset: {preset}\ndata:\n  events: {path}\n{extra}"


EXPORTS = {  # name -> config
    "ga4-parquet": events_config("ga4", vendor("ga4", "parquet")),
    "ga4-ndjson": events_config("ga4", vendor("ga4", "bq-extract")),
    "ga4-daily": events_config("ga4", vendor("ga4_daily")),
    "shopify": events_config("shopify_orders", vendor("shopify", "orders_export_*.csv")),
    "shopify-store": events_config("shopify_orders", vendor("shopify_store", "orders_export_1.csv")),
    "shopify-spreadsheet": events_config("shopify_orders", vendor("shopify_spreadsheet", "orders_export_1.csv"),
                                         "csv: {separator: ';', decimal_comma: true}\n"),
    "shopify-customers": (f"preset: shopify_orders\ndata:\n  events: {vendor('shopify_store', 'orders_export_1.csv')}\n"
                          f"  profiles: {{path: {vendor('shopify_customers', 'customers_export.csv')}, "
                          "preset: shopify_customers}\n"),
    "segment": events_config("segment", vendor("segment", "segment-logs")),
}
EVENTS = ["conversions: {gte: 1}", "conversions: {gte: 2}", "total_order_value: {gte: 200}",
          "conversions: {gte: 1, items: {brand: {is: Nike}}}", "utm_source: {is: google}", "utm_medium: {is: cpc}",
          "utm_campaign: {contains: sale}", "referrer_domain: {ends_with: facebook.com}"]
COUNTRIES = ["country: {is: NL}", "country: {is: Netherlands}", "country: {in: [DE, United States, tr, GBR]}",
             "country: {is_not: NL}"]
GA4 = [*EVENTS, *COUNTRIES, "event: {type: {is: page_view}, url: {contains: nike}}",
       "event: {type: {is: add_to_cart}}", "city: {is: Amsterdam}", "region: {is: North Holland}"]
SHOPIFY = [*EVENTS[:5], *COUNTRIES, "event: {type: {is: voided_order}}", "event: {type: {is: cancelled_order}}",
           "conversions: {gte: 1, items: {name: {contains: Samba}}}", "conversions: {gte: 1, items: {name: {contains: Pegasus}}}",
           "city: {is: Utrecht}", "region: {is: New York}", "profile.email: {ends_with: .nl}"]
SEGMENT = [*EVENTS, *COUNTRIES, "event: {type: {is: page}, url: {contains: nike}}",
           "event: {type: {is: Product Added}}", "city: {is: Utrecht}", "profile.email: {ends_with: .nl}"]
CUSTOMERS = ["profile.accepts_email_marketing: {is: 'yes'}", "profile.accepts_sms_marketing: {is: 'yes'}",
             "profile.tags: {contains: vip}", "profile.total_spent: {gte: 200}", "country: {is: Belgium}",
             "city: {is: Den Haag}", "region: {is: NH}", "profile.first_name: {is: Lisa}",
             "profile.email: {ends_with: example.com}", "profile.zip: {starts_with: '1'}",
             "{all: [{conversions: {gte: 1}}, {profile.accepts_email_marketing: {is: 'yes'}}]}"]
DEFAULT_TIER = ("ga4-parquet", "shopify-store", "shopify-customers", "segment")  # the others: the slow tier
RULES = {"ga4-parquet": GA4, "ga4-ndjson": GA4, "shopify": SHOPIFY, "shopify-store": SHOPIFY,
         "shopify-spreadsheet": SHOPIFY, "shopify-customers": CUSTOMERS, "segment": SEGMENT,
         # the daily tables without the optional columns: what does not read them
         "ga4-daily": ["conversions: {gte: 1}", "conversions: {gte: 2}", *COUNTRIES, "city: {is: Amsterdam}",
                       "event: {type: {is: session_start}}"]}


def segments(ws: Workspace, config: str, rules: list[str]) -> tuple[Path, tuple[str, ...]]:
    """A folder with a segment per rule (s00, s01, ...), and the arguments that read the export."""
    (ws.root / "vendor.yaml").write_text(config)
    folder = ws.root / "segments"
    folder.mkdir()
    for i, rule in enumerate(rules):
        (folder / f"s{i:02}.yaml").write_text(f"name: s{i:02}\nrules:\n  - {rule}\n")
    return folder, ("--as-of", AS_OF, "--config", str(ws.root / "vendor.yaml"))


def sql_members(sql: str, db: duckdb.DuckDBPyConnection | None = None) -> dict[str, set[str]]:
    """Each segment's members in the answer of the statement, run by DuckDB, by the segment's name."""
    names = dict(re.findall(r"^-- (segment_\d+): (\S+) ", sql, re.M))
    db = db or duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    answer = db.execute(sql)
    columns = [d[0] for d in answer.description]
    rows = answer.fetchall()
    return {names[c]: {row[0] for row in rows if row[i]} for i, c in enumerate(columns) if c in names}


def run_members(ws: Workspace, folder: Path, args: tuple[str, ...]) -> dict[str, set[str]]:
    """Each segment's members as `segtool run` (polars) writes them, by the segment's name."""
    ran = ws.cli("run", str(folder), *args, "--output-dir", str(ws.root / "out"))
    assert ran.exit_code == 0, ran.stderr
    return {path.stem: set(path.read_text().splitlines()[1:]) for path in (ws.root / "out").glob("s*.csv")}


def assert_members_of_run(ws: Workspace, config: str, rules: list[str], members_of) -> None:
    """`members_of(segments_folder, args)` gives each segment's members as `segtool run` does (polars)."""
    folder, args = segments(ws, config, rules)
    ran = run_members(ws, folder, args)
    members = members_of(folder, args)
    assert len(members) == len(rules)
    for name, found in members.items():
        assert found == ran[name], name
    assert sum(bool(m) for m in members.values()) >= len(members) * 2 // 3  # mostly no empty answers


def tiered(exports) -> list:
    return [e if e in DEFAULT_TIER else pytest.param(e, marks=pytest.mark.slow) for e in exports]


def duckdb_members(ws: Workspace):
    """The members the printed DuckDB statement gives, run by DuckDB."""
    def members_of(folder, args):
        printed = ws.cli("sql", str(folder), "--dialect", "duckdb", *args)
        assert printed.exit_code == 0, printed.stderr
        return sql_members(printed.stdout)

    return members_of


@pytest.mark.parametrize("export", tiered(EXPORTS))
def test_the_printed_duckdb_sql_reads_the_export_as_the_polars_engine(ws: Workspace, export):
    assert_members_of_run(ws, EXPORTS[export], RULES[export], duckdb_members(ws))


def warehouse_members(ws: Workspace, config: str, dialect: str, reverse: bool = False):
    """The members the warehouse's own statement gives (BigQuery's UNNEST subqueries, Snowflake's FLATTEN and
    paths into VARIANTs, Trino's rows), put into DuckDB's words by sqlglot, over a table `events` that holds the
    export as it is loaded there (docs/engines.md, Presets; a CSV's columns as text); with `reverse`, its rows in
    the opposite order (a warehouse table has none)."""
    table = ws.root / "events.parquet"
    (ws.root / "vendor.yaml").write_text(config)
    rows = Session.open(ws.root / "vendor.yaml", Overrides(as_of=AS_OF)).inputs().events.raw_scan()
    (rows.reverse() if reverse else rows).sink_parquet(table)

    def members_of(folder, args):
        printed = ws.cli("sql", str(folder), "--dialect", dialect, *args)
        assert printed.exit_code == 0, printed.stderr
        db = duckdb.connect()
        db.execute(f"CREATE TABLE events AS SELECT * FROM read_parquet('{table}')")
        db.execute(TRINO_IN_DUCKDB)
        comments = "\n".join(line for line in printed.stdout.splitlines() if line.startswith("-- "))
        with deep_recursion():
            statement = as_duckdb(printed.stdout, dialect, names=False)  # the allowlist: checked as it is printed
        return sql_members(comments + "\n" + statement, db)

    return members_of


@pytest.mark.slow
@pytest.mark.parametrize("dialect, export", [(d, e) for d in ("bigquery", "snowflake", "trino")
                                             for e in ("ga4-parquet", "segment", "shopify-store")]
                         + [("bigquery", "shopify")])
def test_the_warehouse_sql_over_the_export_loaded_as_a_table_reads_it_as_the_polars_engine(ws: Workspace, export,
                                                                                          dialect):
    assert_members_of_run(ws, EXPORTS[export], RULES[export], warehouse_members(ws, EXPORTS[export], dialect))


def test_a_rule_on_a_column_the_export_lacks_is_the_same_error(ws: Workspace):
    folder, args = segments(ws, EXPORTS["ga4-daily"], ["utm_source: {is: google}"])
    ran, printed = ws.cli("run", str(folder), *args), ws.cli("sql", str(folder), "--dialect", "duckdb", *args)
    assert ran.exit_code == printed.exit_code == 3 and "collected_traffic_source" in printed.stderr


PARSED = [pytest.param(d, e, marks=() if e in DEFAULT_TIER and d in ("bigquery", "spark") else pytest.mark.slow,
                       id=f"{d}-{e}")
          for d, exports in (("bigquery", ["ga4-parquet", "ga4-ndjson", "segment"]),
                             ("snowflake", ["ga4-parquet", "ga4-ndjson", "segment"]),
                             ("trino", ["ga4-parquet", "ga4-ndjson", "segment"]),
                             ("spark", ["ga4-parquet", "ga4-ndjson", "segment", "shopify-store", "shopify-customers"]))
          for e in exports]


@pytest.mark.parametrize("dialect, export", PARSED)
def test_the_warehouse_statements_parse_as_their_dialect(ws: Workspace, dialect, export):
    folder, args = segments(ws, EXPORTS[export], RULES[export])
    printed = ws.cli("sql", str(folder), "--dialect", dialect, *args)
    assert printed.exit_code == 0, printed.stderr
    with deep_recursion():
        parsed = sqlglot.parse_one(printed.stdout, read=dialect)
    assert parsed.find(sqlglot.exp.Unnest, sqlglot.exp.Explode, sqlglot.exp.Lateral) or "shopify" in export


def shopify_row(name: str, email: str, item: str, status: str | None = None, total: str | None = None,
                city: str | None = None) -> dict:
    """A row of Shopify's orders export: an order's line item, with the order's fields where `status` is given."""
    fields = {"Financial Status": status, "Total": total, "Billing City": city, "Currency": "EUR"} if status else {}
    return {"Name": name, "Email": email, "Created at": "2024-06-10 12:00:00 +0200", "Lineitem quantity": "1",
            "Lineitem name": item, "Lineitem price": "10.00", "Lineitem sku": item.upper(), **fields}


@pytest.mark.parametrize("engine", ["polars", "duckdb", *(pytest.param(d, marks=pytest.mark.slow)
                                                          for d in ("bigquery", "snowflake", "trino"))])
def test_shopify_orders_are_read_from_the_row_with_their_fields_alike_by_every_engine(ws: Workspace, engine):
    """An order's row is told by its content (shopify.order_row), not by its place in the export: #1's first
    row is a line item without the order's fields, #2's rows are apart, #3 was exported twice (its second copy
    with another total and city: of the two, the row whose values come first), #4 has no row with the order's
    fields (its rows are candidates alike). polars, DuckDB's SQL over the file and the warehouses' over the
    export loaded as a table in the opposite order give the members worked out by hand."""
    header = pl.read_csv(vendor("shopify_store", "orders_export_1.csv"), n_rows=0).columns
    write_csv(ws.root / "orders_export_1.csv", [
        shopify_row("#1", "a@shop.example", "Cap"),
        shopify_row("#2", "b@shop.example", "Socks", "paid", "50.00", "Utrecht"),
        shopify_row("#1", "a@shop.example", "Boots", "voided", "300.00", "Amsterdam"),
        shopify_row("#3", "c@shop.example", "Coat", "paid", "90.00", "Rotterdam"),
        shopify_row("#2", "b@shop.example", "Laces"),
        shopify_row("#3", "c@shop.example", "Coat", "paid", "250.00", "Den Haag"),
        shopify_row("#4", "d@shop.example", "Belt"),
        shopify_row("#4", "d@shop.example", "Scarf"),
        shopify_row("#5", "a@shop.example", "Shirt", "paid", "120.00", "Amsterdam"),
    ], header)
    config = events_config("shopify_orders", str(ws.root / "orders_export_1.csv"))
    expected = {"conversions: {gte: 1}": {"a@shop.example", "b@shop.example", "c@shop.example", "d@shop.example"},
                "conversions: {gte: 2}": set(), "total_order_value: {gte: 200}": {"c@shop.example"},
                "event: {type: {is: voided_order}}": {"a@shop.example"}, "city: {is: Den Haag}": {"c@shop.example"},
                "city: {is: Amsterdam}": {"a@shop.example"}}
    folder, args = segments(ws, config, list(expected))
    if engine == "polars":
        members = run_members(ws, folder, args)
    else:
        members = (duckdb_members(ws) if engine == "duckdb" else
                   warehouse_members(ws, config, engine, reverse=True))(folder, args)
    assert members == {f"s{i:02}": want for i, want in enumerate(expected.values())}


def test_the_sql_country_codes_are_the_presets():
    """Every way of writing a country (names, codes, aliases, in other cases, without their accents, with extra
    spaces, a no-break space among them) and text that names none: the SQL's ISO code is polars' (places.country_code)."""
    written = [s for key in country_keys() for s in (key, key.title())]
    values = sorted({v for s in written for v in (s, s.upper(), s.lower(), f" {s}  ", s.replace(" ", "  "),
                                                   s.replace(" ", "\u00a0 "), unidecode_like(s))} | {"Atlantis", "", "N.L.", "u.k."})
    expected = pl.select(country_code(pl.Series(values))).to_series().to_list()
    reading = Reading(DIALECTS["duckdb"], {"c": pl.String})
    query = sqlglot.exp.select(sql(Country(Col("c")), reading)).from_(
        sqlglot.exp.select(sqlglot.exp.Unnest(expressions=[sqlglot.exp.Array(
            expressions=[sqlglot.exp.Literal.string(v) for v in values])]).as_("c")).subquery("vendor"))
    found = [row[0] for row in duckdb.sql(query.sql("duckdb")).fetchall()]
    assert dict(zip(values, found)) == dict(zip(values, expected))


def unidecode_like(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def test_a_csv_exports_null_values_are_missing_in_the_sql_as_in_polars(ws: Workspace):
    """`csv: {null_values: [...]}` makes texts missing as polars reads the file: an order whose e-mail is `N/A`
    has no customer, a city `N/A` is no city."""
    orders = pl.read_csv(vendor("shopify_store", "orders_export_1.csv"), infer_schema=False)
    first = orders["Email"].drop_nulls()[0]
    orders = orders.with_columns(pl.when(pl.col("Email") == first).then(pl.lit("N/A")).otherwise("Email").alias("Email"),
                                 pl.when(pl.col("Billing City").is_not_null()).then(pl.lit("N/A"))
                                 .otherwise("Billing City").alias("Billing City"))
    orders.write_csv(ws.root / "orders_export_1.csv")
    config = events_config("shopify_orders", str(ws.root / "orders_export_1.csv"), "csv: {null_values: [N/A]}\n")
    rules = ["conversions: {gte: 1}", "city: {is: N/A}", "country: {is: NL}"]
    assert_members_of_run(ws, config, rules, duckdb_members(ws))


ISO_TEXTS = [
    "2024-03-22 14:05:31 +0100", "2024-03-22 14:05:31 +01:00", "2024-03-22T14:05:31Z", "2024-03-22T14:05:31.123Z",
    "2024-03-22T14:05:31.123456789+05:30", "2024-03-22 14:05:31", "2024-03-22T14:05:31", "2024-03-22",
    "2024-03-22T14:05Z", "2024-3-2T4:05:31Z", " 2024-03-22T14:05:31Z ", "2024-03-22T14:05:31+0100",
    "2024-03-22T14:05:31+01", "2024-03-22 14:05:31.5 +0100", "2024-03-22T14:05:31.123 +0100", "garbage", "",
    "2024-02-30T10:00:00Z", "2024-03-22T24:00:00Z", "2024-03-22T14:05:31-0000", "2024-03-22T14:05:31.Z"]


def test_the_sql_reads_a_presets_iso_text_as_polars():
    """Shopify's `Created at` and Segment's `timestamp` (presets/common.utc_from_text) as microseconds."""
    expected = pl.select(utc_from_text(pl.Series(ISO_TEXTS)).dt.epoch("us")).to_series().to_list()
    values = sqlglot.exp.Array(expressions=[sqlglot.exp.Literal.string(v) for v in ISO_TEXTS])
    query = sqlglot.exp.select(sql(Instant(Col("c")), Reading(DIALECTS["duckdb"], {"c": pl.String}))).from_(
        sqlglot.exp.select(sqlglot.exp.Unnest(expressions=[values]).as_("c")).subquery("vendor"))
    found = [row[0] for row in duckdb.sql(query.sql("duckdb")).fetchall()]
    assert dict(zip(ISO_TEXTS, found)) == dict(zip(ISO_TEXTS, expected))


def spark_members(printed: str) -> dict[str, set[str]]:
    """Each segment's members in the answer of a printed Spark statement, run by a local Spark session after the
    statements before it (the views of CSV files)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.master("local[2]").config("spark.sql.session.timeZone", "UTC").getOrCreate()
    names = dict(re.findall(r"^-- (segment_\d+): (\S+) ", printed, re.M))
    *setup, statement = [s for s in printed.split(";\n") if s.strip()]
    for view in setup:
        spark.sql(view)
    answer = spark.sql(statement)
    rows = answer.collect()
    return {names[c]: {row[0] for row in rows if row[i]} for i, c in enumerate(answer.columns) if c in names}


@spark
def test_the_printed_spark_sql_reads_the_exports_as_the_polars_engine(ws: Workspace):
    """Spark SQL's `csv.` source reads no header and `json.` infers its own types: the printed statement
    registers each CSV export as a view with its options, and each NDJSON export with the preset's fields typed
    and the very files polars reads, and gives polars' members (Shopify's customers export, GA4's Parquet,
    Segment's gzipped logs in their day folders)."""
    def members_of(folder, args):
        printed = ws.cli("sql", str(folder), "--dialect", "spark", *args)
        assert printed.exit_code == 0, printed.stderr
        return spark_members(printed.stdout)

    for export in ("shopify-customers", "ga4-parquet", "segment"):
        for old in ("segments", "out"):
            shutil.rmtree(ws.root / old, ignore_errors=True)
        assert_members_of_run(ws, EXPORTS[export], RULES[export][:8], members_of)
    # the customers export's `City` beside the canonical `city`: one name to Spark, so the view keeps only `city`
    (ws.root / "vendor.yaml").write_text(EXPORTS["shopify-customers"])
    segment = ws.segment("rules:\n  - city: {is: Den Haag}\n")
    ran = [ws.cli("run", str(segment), "--as-of", AS_OF, "--config", str(ws.root / "vendor.yaml"), "--engine", engine)
           for engine in ("polars", "spark")]
    assert ran[0].exit_code == ran[1].exit_code == 0 and ran[0].ids == ran[1].ids and ran[0].ids


def test_the_printed_spark_sql_registers_the_files_polars_reads(ws: Workspace, tmp_path):
    """Segment's logs in their day folders: one Hadoop pattern of exactly those files (their shared folder, each
    path below it in braces), the preset's fields typed; a folder whose name Spark would read as a pattern, and a
    gzip file whose name does not say so (Spark tells compression by the name), are errors saying so."""
    folder, args = segments(ws, EXPORTS["segment"], ["utm_source: {is: google}"])
    printed = ws.cli("sql", str(folder), "--dialect", "spark", *args)
    assert printed.exit_code == 0, printed.stderr
    view = sqlglot.parse_one(printed.stdout.split(";\n")[0], read="spark")
    path = next(p.args["value"].this for p in view.find_all(sqlglot.exp.Property) if p.name == "path")
    files = sorted(str(f.relative_to(VENDORS / "segment" / "segment-logs")) for f in
                   (VENDORS / "segment" / "segment-logs").rglob("*.gz") if f.stat().st_size)
    assert path.startswith(str(VENDORS / "segment" / "segment-logs")) and path.endswith("}")
    assert sorted(path.split("{", 1)[1][:-1].split(",")) == sorted(f.split("/", 1)[1] for f in files)
    assert {c.name for c in view.this.expressions} >= {"anonymousId", "context", "properties"}
    odd = tmp_path / "logs"
    (odd / "a{1},b").mkdir(parents=True)
    for name, source in (("a{1},b/x.gz", files[0]), ("y.json", files[1])):
        (odd / name).write_bytes((VENDORS / "segment" / "segment-logs" / source).read_bytes())
    (ws.root / "odd.yaml").write_text(f"preset: segment\ndata:\n  events: {odd}\n")
    for wrong in ("a{1},b", "y.json"):
        printed = ws.cli("sql", str(folder), "--dialect", "spark", "--as-of", AS_OF, "--config",
                         str(ws.root / "odd.yaml"))
        assert printed.exit_code == 1 and wrong in printed.stderr and "Traceback" not in printed.stderr
        shutil.rmtree(odd / "a{1},b", ignore_errors=True)
