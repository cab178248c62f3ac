"""Presets on exports as each vendor delivers them (tests/fixtures/vendors, see its README): the vendors' own
file names, compression and folders, read with nothing in the config but `preset:` and the path.

segtool reads the files as they are; the expected sets come from DuckDB SQL over the same files with
DuckDB's own readers (expected.json holds the SQL), and must also be the sets the fixtures were designed
to give (expected.json's `ids`).
"""

from __future__ import annotations

import gzip
import json
import textwrap

import duckdb
import pytest

from conftest import REPO, Workspace

VENDORS = REPO / "tests" / "fixtures" / "vendors"
EXPECTED = json.loads((VENDORS / "expected.json").read_text())
AS_OF = "2024-06-30"
GA4_EXTRACT, GA4_PARQUET = "ga4/bq-extract", "ga4/parquet"  # each day's table extracted; one Parquet export
SHOPIFY, SEGMENT_LOGS = "shopify/orders_export_*.csv", "segment/segment-logs"
FILES = {  # vendor -> (preset, the paths of its deliveries, the SQL's key for each)
    "ga4": ("ga4", [(GA4_EXTRACT, "sql_ndjson"), (GA4_PARQUET, "sql")]),
    "shopify": ("shopify_orders", [(SHOPIFY, "sql")]),
    "segment": ("segment", [(SEGMENT_LOGS, "sql")]),
}
CASES = [(vendor, file, sql_key, segment) for vendor, (_, files) in FILES.items() for file, sql_key in files
         for segment, entry in EXPECTED[vendor].items() if isinstance(entry, dict) and entry.get("ids") is not None]


def duckdb_ids(sql: str) -> set[str]:
    """The SQL of expected.json with its file names made absolute."""
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    for folder in ("ga4", "shopify", "segment"):
        sql = sql.replace(f"'{folder}/", f"'{VENDORS / folder}/")
    return {str(row[0]) for row in db.execute(sql).fetchall()}


def preset_workspace(ws: Workspace, preset: str, path: str) -> Workspace:
    """A config of `preset:` and the path alone (and the site's domain, which no export holds)."""
    (ws.root / "vendor.yaml").write_text(f"preset: {preset}\ndata:\n  events: {VENDORS / path}\n"
                                          "site:\n  domains: [shop.example]\n")
    return ws


@pytest.mark.parametrize("vendor, file, sql_key, segment", CASES, ids=lambda v: str(v).replace("/", "-"))
def test_presets_agree_with_duckdb_on_the_vendors_files(ws: Workspace, vendor, file, sql_key, segment):
    entry = EXPECTED[vendor][segment]
    preset_workspace(ws, FILES[vendor][0], file)
    path = ws.segment(f"name: {segment}\nrules:\n  - {entry['rule']}\n")
    result = ws.cli("run", str(path), "--as-of", entry["as_of"], "--config", str(ws.root / "vendor.yaml"))
    assert result.exit_code == 0, result.stderr
    expected = duckdb_ids(entry[sql_key])
    assert set(result.ids) == expected
    assert expected == set(entry["ids"]), "the SQL no longer gives the set the fixture was designed for"


def test_a_referrer_rule_on_an_export_without_referrers_is_an_error(ws: Workspace):
    preset_workspace(ws, "shopify_orders", SHOPIFY)
    path = ws.segment("rules:\n  - referrer_domain: {ends_with: facebook.com}\n")
    result = ws.cli("run", str(path), "--as-of", AS_OF, "--config", str(ws.root / "vendor.yaml"))
    assert result.exit_code == 3 and "referrer" in result.stderr


@pytest.mark.parametrize("preset, file, segment, expected", [
    # the line items and the customers come from the same export as the orders; julia's only order (#US1003,
    # 2024-06-30 21:40 -0400) is after as_of in UTC: as of June 30 she is no customer yet (SPEC 2)
    ("shopify_orders", SHOPIFY, "country: {is: US}", {"ivan.petrov@example.com", "kate.oneill@example.com"}),
    ("shopify_orders", SHOPIFY, "event: {type: {is: voided_order}}", {"dirk.peeters@example.be"}),
    # GA4 writes country names; the preset reads them as ISO codes like every other table
    ("ga4", GA4_PARQUET, "country: {is: DE}", {"1602276190.1718218213", "904417723.1715673302"}),
    ("ga4", GA4_EXTRACT, "event: {type: {is: add_to_cart}, url: {contains: nike}}",
     {"1197433012.1714724049", "377281904.1716655458"}),  # U01 bought it, U07 never did
    ("segment", SEGMENT_LOGS, "city: {is: Amsterdam}", {"6aaab9f2-3824-5e80-b539-e00be2e661af"}),
])
def test_derived_tables_and_event_rules(ws: Workspace, preset, file, segment, expected):
    preset_workspace(ws, preset, file)
    path = ws.segment(f"rules:\n  - {segment}\n")
    result = ws.cli("run", str(path), "--as-of", AS_OF, "--config", str(ws.root / "vendor.yaml"))
    assert set(result.ids) == expected


def test_ga4_items_as_a_flattened_table(ws: Workspace):
    """GA4 items unnested into a table of their own (one row per item with its transaction_id), mapped
    by `columns:`, give the same brand buyers as the nested `items`."""
    import polars as pl

    purchases = pl.read_parquet(VENDORS / GA4_PARQUET).filter(pl.col("event_name") == "purchase")
    (purchases.select(pl.col("ecommerce").struct.field("transaction_id"), "items").explode("items")
     .unnest("items").select("transaction_id", "item_name", "item_brand").write_parquet(ws.root / "items.parquet"))
    (ws.root / "vendor.yaml").write_text(
        f"preset: ga4\ndata:\n  events: {VENDORS / GA4_PARQUET}\n  items: items.parquet\n"
        "columns:\n  items: {order_id: transaction_id, name: item_name, brand: item_brand}\n")
    entry = EXPECTED["ga4"]["brand_buyers"]
    path = ws.segment(f"rules:\n  - {entry['rule']}\n")
    result = ws.cli("run", str(path), "--as-of", entry["as_of"], "--config", str(ws.root / "vendor.yaml"))
    assert set(result.ids) == set(entry["ids"])


@pytest.mark.parametrize("preset, file, expected", [
    ("ga4", GA4_PARQUET, {"visitor_id": "user_pseudo_id", "order_value": "ecommerce.purchase_revenue",
                                   "utm_source": "collected_traffic_source.manual_source", "url": "event_params",
                                   "city": "geo.city", "brand": "items.item_brand"}),
    ("shopify_orders", SHOPIFY, {"visitor_id": "Email", "order_value": "Total",
                                                     "utm_source": "Note Attributes", "city": "Billing City",
                                                     "brand": "Vendor"}),
    ("segment", SEGMENT_LOGS, {"visitor_id": "anonymousId, userId",
                                          "order_value": "properties.total, properties.revenue",
                                          "utm_source": "context.campaign.source", "city": "traits.address.city",
                                          "brand": "properties.products.brand"}),
])
def test_explain_names_the_vendor_columns_each_field_is_read_from(ws: Workspace, preset, file, expected):
    preset_workspace(ws, preset, file)
    path = ws.segment("rules:\n  - utm_source: {is: google}\n  - order_value: {gte: 10}\n  - city: {is: Milan}\n"
                      "  - conversions: {gte: 1, items: {brand: {is: Nike}}}\n")
    result = ws.cli("explain", str(path), "--as-of", AS_OF, "--config", str(ws.root / "vendor.yaml"))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    for table in ("events", "profiles", "items"):
        assert any(line.startswith(f"{table} from ") and f"preset {preset}" in line for line in lines), table
    for column, source in expected.items():
        assert f"  {column} ← {source}" in lines, column


# -- the wrong preset, or none: an error that names the export the file looks like and the preset for it ---
DELIVERIES = {"ga4": [GA4_EXTRACT, GA4_PARQUET], "shopify_orders": [SHOPIFY], "segment": [SEGMENT_LOGS]}


def config_run(ws: Workspace, config: str, *args: str):
    (ws.root / "vendor.yaml").write_text(config)
    path = ws.segment("rules:\n  - conversions: {gte: 1}\n")
    result = ws.cli("run", str(path), "--as-of", AS_OF, "--config", str(ws.root / "vendor.yaml"), *args)
    assert "Traceback" not in result.stderr
    return result


@pytest.mark.parametrize("fits, path, wrong", [(fits, path, wrong) for fits, paths in DELIVERIES.items()
                                               for path in paths for wrong in DELIVERIES if wrong != fits])
def test_a_preset_on_another_vendors_export_names_the_preset_that_fits(ws: Workspace, fits, path, wrong):
    result = config_run(ws, f"preset: {wrong}\ndata:\n  events: {VENDORS / path}\n")
    assert result.exit_code == 3 and f"set preset: {fits} instead of {wrong}" in result.stderr, result.stderr


@pytest.mark.parametrize("preset, path", [(preset, path) for preset, paths in DELIVERIES.items() for path in paths])
def test_a_vendors_export_without_its_preset_names_the_lines_that_read_it(ws: Workspace, preset, path):
    """The error shows the config lines to add; with them, the run gives the export's buyers."""
    result = config_run(ws, f"data:\n  events: {VENDORS / path}\n")
    assert result.exit_code == 3 and f"preset: {preset}\n" in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith("with these lines in the config:")) + 1
    fixed = textwrap.dedent("\n".join(lines[start:start + 3])) + "\n"
    assert fixed == f"preset: {preset}\ndata:\n  events: {VENDORS / path}\n"
    vendor = next(v for v, (p, _) in FILES.items() if p == preset)
    assert set(config_run(ws, fixed).ids) == set(EXPECTED[vendor]["buyers"]["ids"])


def test_a_vendors_export_as_another_table_names_its_own_preset_key(ws: Workspace):
    result = config_run(ws, f"data:\n  events: {VENDORS / GA4_PARQUET}\n  profiles: {VENDORS / SHOPIFY}\n"
                            "preset: ga4\n")
    assert result.exit_code == 3 and "profiles: {path: " in result.stderr, result.stderr
    assert f"{VENDORS / SHOPIFY}, preset: shopify_orders}}" in result.stderr


def test_a_profiles_export_read_as_events_names_the_lines_that_read_it_as_profiles(ws: Workspace):
    """Shopify's customers export is profiles only: the lines shown read it there, and they work."""
    customers = VENDORS / "shopify_customers" / "customers_export.csv"
    result = config_run(ws, f"data:\n  events: {customers}\n")
    assert result.exit_code == 3 and "with these lines in the config:" in result.stderr, result.stderr
    shown = result.stderr.split("with these lines in the config:\n", 1)[1]
    lines = textwrap.dedent(shown).splitlines()[:2]
    assert lines == ["data:", f"  profiles: {{path: {customers}, preset: shopify_customers}}"]
    fixed = f"preset: shopify_orders\ndata:\n  events: {VENDORS / SHOPIFY}\n" + lines[1] + "\n"
    assert config_run(ws, fixed).exit_code == 0


@pytest.mark.parametrize("content, words", [
    ("visitor_id,timestamp,event_type\na,2024-06-01T10:00:00Z,conversion\n", "it has segtool's own columns: "
                                                                             "leave the preset out"),
    ("order,when,what\n1,2024-06-01,x\n", "its columns: order, when, what"),
    ("Name;Email;Financial Status;Lineitem name\n#1;a@example.com;paid;Shoe\n", "is the separator ';'?"),
])
def test_a_preset_on_a_file_of_no_vendor_says_what_the_file_is(ws: Workspace, content, words):
    (ws.root / "export.csv").write_text(content)
    result = config_run(ws, "preset: shopify_orders\ndata:\n  events: export.csv\n")
    assert result.exit_code == 3 and "is not Shopify's orders export, which preset: shopify_orders reads" in \
        result.stderr and words in result.stderr, result.stderr


def test_a_preset_on_a_file_that_is_no_data_names_its_first_bytes(ws: Workspace):
    (ws.root / "orders_export_1.csv").write_text("<!DOCTYPE html>\n<html><body>Log in to Shopify</body></html>\n")
    result = config_run(ws, "preset: shopify_orders\ndata:\n  events: orders_export_1.csv\n")
    assert result.exit_code == 3 and "the file is an HTML page" in result.stderr, result.stderr


def test_the_sql_engines_give_the_same_errors(ws: Workspace):
    result = config_run(ws, f"preset: ga4\ndata:\n  events: {VENDORS / SHOPIFY}\n", "--engine", "duckdb")
    assert result.exit_code == 3 and "set preset: shopify_orders instead of ga4" in result.stderr, result.stderr


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_segment_amounts_and_ids_the_sender_wrote_as_text_or_numbers(ws: Workspace, engine):
    """A Segment call is the sender's JSON: `"total": "250.00"` beside `"total": 90`, a numeric order_id."""
    calls = [{"type": "track", "event": "Order Completed", "anonymousId": "a1", "timestamp": "2024-06-10T10:00:00Z",
              "properties": {"order_id": 50001, "total": "250.00",
                             "products": [{"sku": "N1", "brand": "Nike", "price": "125.00", "quantity": "2"}]}},
             {"type": "track", "event": "Order Completed", "anonymousId": "a2", "timestamp": "2024-06-11T10:00:00Z",
              "properties": {"order_id": "O2", "total": 90, "revenue": 80.5,
                             "products": [{"sku": "A1", "brand": "adidas", "price": 90, "quantity": 1}]}}]
    logs = ws.root / "segment-logs" / "SRC" / "1717977600000"
    logs.mkdir(parents=True)
    with gzip.open(logs / "batch.gz", "wt") as f:
        f.writelines(json.dumps(call) + "\n" for call in calls)
    (ws.root / "vendor.yaml").write_text(f"preset: segment\ndata:\n  events: {ws.root / 'segment-logs'}\n")
    calls_sql = f"read_json('{logs}/batch.gz', format = 'newline_delimited', columns = {{anonymousId: 'VARCHAR', " \
                "properties: 'STRUCT(total VARCHAR, products STRUCT(brand VARCHAR)[])'})"
    for rule, sql in [("total_order_value: {gte: 100}",
                       f"SELECT anonymousId FROM {calls_sql} WHERE properties.total::DOUBLE >= 100"),
                      ("conversions: {gte: 1, items: {brand: {is: Nike}}}",
                       f"SELECT anonymousId FROM {calls_sql}, unnest(properties.products) AS p(it) "
                       "WHERE it.brand = 'Nike'")]:
        path = ws.segment(f"rules:\n  - {rule}\n")
        result = ws.cli("run", str(path), "--as-of", AS_OF, "--config", str(ws.root / "vendor.yaml"), "--engine", engine)
        assert result.exit_code == 0, result.stderr
        assert set(result.ids) == duckdb_ids(sql) != set()


@pytest.mark.parametrize("engine", ["polars", "duckdb", "sql"])
def test_a_profile_a_preset_reads_from_events_is_built_from_those_up_to_as_of(ws: Workspace, engine):
    """Julia's only order (2024-06-30 21:40 -0400) is after the end of June 30 in UTC: her billing address makes
    her a US customer from July 1, not before (events after as_of are ignored by every rule, SPEC 2)."""
    from test_preset_sql import sql_members

    preset_workspace(ws, "shopify_orders", SHOPIFY)
    path = ws.segment("name: us\nrules:\n  - country: {is: US}\n")
    found = {}
    for as_of in ("2024-06-30", "2024-07-01"):
        args = ("--as-of", as_of, "--config", str(ws.root / "vendor.yaml"))
        if engine == "sql":
            printed = ws.cli("sql", str(path), *args)
            assert printed.exit_code == 0, printed.stderr
            found[as_of] = sql_members(printed.stdout)["us"]
        else:
            result = ws.cli("run", str(path), *args, "--engine", engine)
            assert result.exit_code == 0, result.stderr
            found[as_of] = set(result.ids)
    assert found["2024-07-01"] - found["2024-06-30"] == {"julia.moreno@example.com"}
    if engine == "polars":  # a replay reads the export once, and builds the profiles anew at each instant
        diff = ws.cli("diff", str(path), "--config", str(ws.root / "vendor.yaml"), "--from", "2024-06-30", "--to",
                      "2024-07-01", "--output-dir", str(ws.root / "diff"))
        assert diff.exit_code == 0, diff.stderr
        assert (ws.root / "diff" / "us.entered.csv").read_text().split() == ["visitor_id", "julia.moreno@example.com"]
