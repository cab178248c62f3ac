"""The preset views on exports as their vendors deliver them, beyond the plain case (tests/test_vendors.py): a GA4
export without its optional nested columns and with intraday tables beside the daily ones, countries written
as names or codes, profile values that later rows leave unknown, Shopify's cancelled and customerless orders,
an orders export re-saved by a spreadsheet, and Shopify's customers export.

The files are tests/fixtures/vendors/{ga4_daily,shopify_store,shopify_spreadsheet,shopify_customers}, written by
make_view_fixtures.py; the expected sets come from DuckDB SQL over the same files with DuckDB's own readers, and
every set is the same on the polars and the DuckDB engine.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from conftest import REPO, Workspace
from segtool.inputs.presets.ga4 import without_replaced_intraday

VENDORS = REPO / "tests" / "fixtures" / "vendors"
AS_OF = "2024-06-30"
BEFORE = "TIMESTAMPTZ '2024-07-01 00:00:00+00'"
ENGINES = ("polars", "duckdb")

# GA4: the daily tables, and an intraday table only for a day without its daily one
GA4_EVENTS = f"""
    WITH rows AS (
      SELECT *, regexp_extract(filename, 'events_(intraday_)?([0-9]{{8}})', 2) AS day,
             filename LIKE '%events_intraday_%' AS intraday
      FROM read_parquet('{VENDORS}/ga4_daily/*.parquet', filename = true))
    SELECT * FROM rows WHERE NOT (intraday AND day IN (SELECT day FROM rows WHERE NOT intraday))"""
# each visitor's latest known country, as GA4 writes it
GA4_COUNTRY = f"""
    SELECT user_pseudo_id AS id, arg_max(geo.country, event_timestamp) AS country
    FROM read_parquet('{VENDORS}/ga4_daily/*.parquet') WHERE geo.country <> '(not set)' GROUP BY 1"""
# Shopify: one row per order (its first), the customer trimmed and lower-cased
SHOPIFY_ORDERS = """
    SELECT lower(trim("Email")) AS id, "Financial Status" AS status, "Cancelled at" AS cancelled,
           replace("Total", ',', '.')::DOUBLE AS total, "Billing Country" AS country, strptime("Created at", '%Y-%m-%d %H:%M:%S %z') AS created
    FROM read_csv('{file}', all_varchar = true, delim = '{separator}') WHERE "Financial Status" IS NOT NULL"""
PAID = f"status NOT IN ('voided', 'expired') AND cancelled IS NULL AND id IS NOT NULL AND created < {BEFORE}"
CUSTOMERS = f"""
    SELECT lower(trim("Email")) AS id, * FROM read_csv('{VENDORS}/shopify_customers/customers_export.csv',
                                                      all_varchar = true) WHERE "Email" IS NOT NULL"""

GA4_CASES = [
    # an intraday table whose day has its daily table is left out: G2's purchase is counted once
    ("conversions: {gte: 2}", f"SELECT user_pseudo_id FROM ({GA4_EVENTS}) WHERE event_name = 'purchase' "
                              f"AND make_timestamp(event_timestamp) < TIMESTAMP '2024-07-01' GROUP BY 1 "
                              "HAVING count(*) >= 2"),
    ("conversions: {gte: 1}", f"SELECT DISTINCT user_pseudo_id FROM ({GA4_EVENTS}) WHERE event_name = 'purchase' "
                              f"AND make_timestamp(event_timestamp) < TIMESTAMP '2024-07-01'"),
    # a country as GA4 writes it or as its ISO code; G1's later `(not set)` does not erase the Netherlands
    ("country: {is: Netherlands}", f"SELECT id FROM ({GA4_COUNTRY}) WHERE country = 'Netherlands'"),
    ("country: {is: NL}", f"SELECT id FROM ({GA4_COUNTRY}) WHERE country = 'Netherlands'"),
    ("country: {in: [tr, GBR]}", f"SELECT id FROM ({GA4_COUNTRY}) WHERE country IN ('Türkiye', 'United Kingdom')"),
    ("country: {is_not: Netherlands}", f"SELECT DISTINCT user_pseudo_id FROM ({GA4_EVENTS}) EXCEPT "
                                       f"SELECT id FROM ({GA4_COUNTRY}) WHERE country = 'Netherlands'"),
]
STORE, SPREADSHEET = (f"{VENDORS}/shopify_store/orders_export_1.csv", ","), \
    (f"{VENDORS}/shopify_spreadsheet/orders_export_1.csv", ";")
SHOPIFY_CASES = [
    # cancelled (#2005) and voided (#2006) orders are no conversions; orders without an e-mail have no customer
    ("conversions: {gte: 1}", f"SELECT DISTINCT id FROM ({{orders}}) WHERE {PAID}"),
    ("total_order_value: {gte: 200}", f"SELECT id FROM ({{orders}}) WHERE {PAID} GROUP BY 1 HAVING sum(total) >= 200"),
    ("event: {type: {is: cancelled_order}}", "SELECT id FROM ({orders}) WHERE cancelled IS NOT NULL AND status NOT IN "
                                             f"('voided', 'expired') AND created < {BEFORE}"),
    ("event: {type: {is: voided_order}}", f"SELECT id FROM ({{orders}}) WHERE status = 'voided' AND created < {BEFORE}"),
    # each customer's latest known billing country: Lisa's later order without an address keeps hers
    ("country: {is: Netherlands}", "SELECT id FROM ({orders}) WHERE id IS NOT NULL AND country IS NOT NULL "
                                   "GROUP BY id HAVING arg_max(country, created) = 'NL'"),
]
CUSTOMER_CASES = [
    ("profile.accepts_email_marketing: {is: 'yes'}", f"SELECT id FROM ({CUSTOMERS}) WHERE "
                                                     "\"Accepts Email Marketing\" = 'yes'"),
    ("profile.accepts_sms_marketing: {is: 'yes'}", f"SELECT id FROM ({CUSTOMERS}) WHERE "
                                                   "\"Accepts SMS Marketing\" = 'yes'"),
    ("profile.tags: {contains: vip}", f"SELECT id FROM ({CUSTOMERS}) WHERE \"Tags\" LIKE '%vip%'"),
    ("profile.total_spent: {gte: 200}", f"SELECT id FROM ({CUSTOMERS}) WHERE \"Total Spent\"::DOUBLE >= 200"),
    ("country: {is: Belgium}", f"SELECT id FROM ({CUSTOMERS}) WHERE \"Country Code\" = 'BE'"),
    ("city: {is: Den Haag}", f"SELECT id FROM ({CUSTOMERS}) WHERE \"City\" = 'Den Haag'"),
    ("profile.first_name: {is: Lisa}", f"SELECT id FROM ({CUSTOMERS}) WHERE \"First Name\" = 'Lisa'"),
    # the customers' own columns beside the orders of the same store
    ("{all: [{conversions: {gte: 1}}, {profile.accepts_email_marketing: {is: 'yes'}}]}",
     f"SELECT DISTINCT id FROM ({SHOPIFY_ORDERS.format(file=STORE[0], separator=',')}) WHERE {PAID} "
     f"INTERSECT SELECT id FROM ({CUSTOMERS}) WHERE \"Accepts Email Marketing\" = 'yes'"),
]


def duckdb_ids(sql: str) -> set[str]:
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    return {row[0] for row in db.execute(sql).fetchall()}


def run(ws: Workspace, config: str, rule: str, engine: str = "polars", *args: str):
    (ws.root / "vendor.yaml").write_text(config)
    path = ws.segment(f"name: s\nrules:\n  - {rule}\n")
    return ws.cli("run", str(path), "--as-of", AS_OF, "--config", str(ws.root / "vendor.yaml"), "--engine", engine,
                  *args)


GA4 = f"preset: ga4\ndata:\n  events: {VENDORS / 'ga4_daily'}\n"
SHOPIFY = "preset: shopify_orders\ndata:\n  events: {file}\n"
SPREADSHEET_OPTIONS = "csv: {separator: ';', decimal_comma: true}\n"
WITH_CUSTOMERS = (f"preset: shopify_orders\ndata:\n  events: {STORE[0]}\n  profiles: "
                  f"{{path: {VENDORS / 'shopify_customers/customers_export.csv'}, preset: shopify_customers}}\n")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("rule, sql", GA4_CASES, ids=[c[0] for c in GA4_CASES])
def test_ga4_without_optional_columns_with_intraday_tables(ws: Workspace, rule, sql, engine):
    result = run(ws, GA4, rule, engine)
    assert result.exit_code == 0, result.stderr
    assert set(result.ids) == duckdb_ids(sql) != set()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("export", [STORE, SPREADSHEET], ids=["as-exported", "re-saved-by-a-spreadsheet"])
@pytest.mark.parametrize("rule, sql", SHOPIFY_CASES, ids=[c[0] for c in SHOPIFY_CASES])
def test_shopify_orders(ws: Workspace, rule, sql, export, engine):
    file, separator = export
    config = SHOPIFY.format(file=file) + (SPREADSHEET_OPTIONS if separator == ";" else "")
    result = run(ws, config, rule, engine)
    assert result.exit_code == 0, result.stderr
    assert set(result.ids) == duckdb_ids(sql.format(orders=SHOPIFY_ORDERS.format(file=file, separator=separator)))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("rule, sql", CUSTOMER_CASES, ids=[c[0] for c in CUSTOMER_CASES])
def test_shopify_customers_export_as_profiles(ws: Workspace, rule, sql, engine):
    result = run(ws, WITH_CUSTOMERS, rule, engine)
    assert result.exit_code == 0, result.stderr
    assert set(result.ids) == duckdb_ids(sql) != set()


def test_shopify_customers_export_with_the_newer_address_columns(ws: Workspace):
    """Newer exports name the address `Default Address City`, `Default Address Country Code`, ..."""
    text = (VENDORS / "shopify_customers/customers_export.csv").read_text()
    header, rest = text.split("\n", 1)
    renamed = {"City": "Default Address City", "Province Code": "Default Address Province Code",
               "Country Code": "Default Address Country Code", "Zip": "Default Address Zip"}
    columns = [renamed.get(c, c) for c in header.split(",")]
    kept = [i for i, c in enumerate(columns) if c not in ("Province", "Country")]
    rows = [line.split(",") for line in rest.splitlines() if '"' not in line]  # the quoted Tags aside
    lines = [",".join(columns[i] for i in kept)] + [",".join(row[i] for i in kept) for row in rows]
    (ws.root / "customers_export.csv").write_text("\n".join(lines) + "\n")
    config = WITH_CUSTOMERS.replace(str(VENDORS / "shopify_customers"), str(ws.root))
    assert set(run(ws, config, "country: {is: Netherlands}").ids) == {
        "mark.dewit@example.nl", "noor.elamrani@example.nl", "sara.jansen@example.nl"}
    assert set(run(ws, config, "region: {is: ZH}").ids) == {"mark.dewit@example.nl", "noor.elamrani@example.nl"}


@pytest.mark.parametrize("engine", ENGINES)
def test_orders_without_a_customer_are_set_aside_and_counted_not_skipped(ws: Workspace, tmp_path, engine):
    """4 of the store's 10 orders have no e-mail (POS, a draft order): far above the default max_skipped_rows,
    yet no data error; the summary and the manifest count them, with the customers without an e-mail."""
    expected = duckdb_ids(f"SELECT count(*)::VARCHAR FROM ({SHOPIFY_ORDERS.format(file=STORE[0], separator=',')}) "
                          "WHERE id IS NULL")
    result = run(ws, WITH_CUSTOMERS, "conversions: {gte: 1}", engine, "--summary", "--format", "json",
                 "--output-dir", str(tmp_path / "lists"))
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["skipped_event_rows"] == 0
    assert summary["set_aside"] == {"events": {"orders without a customer": int(expected.pop())},
                                    "profiles": {"customers without an e-mail": 1}}
    manifest = json.loads((tmp_path / "lists" / "manifest.json").read_text())
    assert {e["table"]: e["set_aside"] for e in manifest["inputs"] if e["set_aside"]} == summary["set_aside"]


def test_the_summary_table_names_what_a_preset_set_aside(ws: Workspace):
    result = run(ws, SHOPIFY.format(file=STORE[0]), "conversions: {gte: 1}", "polars", "--summary")
    assert result.exit_code == 0, result.stderr
    assert "orders without a customer: 4" in " ".join(result.stdout.split())


def test_a_spreadsheet_saved_export_says_which_csv_options_to_set(ws: Workspace):
    result = run(ws, SHOPIFY.format(file=SPREADSHEET[0]), "conversions: {gte: 1}")
    assert result.exit_code == 3 and "Traceback" not in result.stderr
    assert "separator: ';', decimal_comma: true" in result.stderr


@pytest.mark.parametrize("rule, named", [
    ("utm_source: {is: google}", ("collected_traffic_source", "event_params")),
    ("referrer_domain: {ends_with: facebook.com}", ("event_params",)),
    ("total_order_value: {gte: 100}", ("ecommerce",)),
    ("event: {type: {is: page_view}, url: {contains: sale}}", ("event_params",)),
    ("conversions: {gte: 1, items: {brand: {is: Nike}}}", ("items", "ecommerce")),
])
def test_a_rule_on_an_optional_column_the_export_lacks_names_it(ws: Workspace, rule, named):
    """Every other rule works on the same export (test_ga4_without_optional_columns_with_intraday_tables)."""
    result = run(ws, GA4, rule)
    assert result.exit_code == 3 and "Traceback" not in result.stderr
    assert all(column in result.stderr for column in named), result.stderr


def test_a_profile_rule_on_an_export_without_geo_names_it(ws: Workspace):
    import polars as pl

    for file in sorted((VENDORS / "ga4_daily").glob("*.parquet")):
        pl.read_parquet(file).drop("geo").write_parquet(ws.root / file.name)
    result = run(ws, f"preset: ga4\ndata:\n  events: {ws.root}/*.parquet\n", "city: {is: Amsterdam}")
    assert result.exit_code == 3 and "geo.city" in result.stderr
    assert run(ws, f"preset: ga4\ndata:\n  events: {ws.root}/*.parquet\n", "conversions: {gte: 1}").exit_code == 0


@pytest.mark.parametrize("files, kept", [
    (["events_20240601.parquet", "events_intraday_20240601.parquet", "events_intraday_20240602.parquet"],
     ["events_20240601.parquet", "events_intraday_20240602.parquet"]),
    # `bq extract` to Cloud Storage: one or more numbered files per table
    (["x/events_20240601-000000000000.json.gz", "x/events_intraday_20240601-000000000000.json.gz",
      "x/events_intraday_20240601-000000000001.json.gz", "x/events_intraday_20240602-000000000000.json.gz"],
     ["x/events_20240601-000000000000.json.gz", "x/events_intraday_20240602-000000000000.json.gz"]),
    # a folder per table
    (["ga4/events_20240601/part-0.parquet", "ga4/events_intraday_20240601/part-0.parquet"],
     ["ga4/events_20240601/part-0.parquet"]),
    (["export.parquet", "events_intraday_20240601.parquet"], ["export.parquet", "events_intraday_20240601.parquet"]),
])
def test_intraday_tables_whose_day_has_its_daily_table_are_left_out(files, kept):
    assert without_replaced_intraday(files) == kept


@pytest.mark.parametrize("rule, suggested", [
    ("city: {is: den haag}", "Den Haag"),
    ("city: {in: [Amsterdam, Utrech]}", "Utrecht"),
    ("country: {is: Netherland}", "Netherlands"),
])
def test_a_place_spelled_unlike_the_profiles_suggests_the_spelling_they_hold(ws: Workspace, rule, suggested):
    result = run(ws, WITH_CUSTOMERS, rule)
    assert result.exit_code == 3 and "Traceback" not in result.stderr
    assert repr(suggested) in result.stderr


def test_a_place_no_profile_holds_nor_resembles_is_an_empty_answer(ws: Workspace):
    result = run(ws, WITH_CUSTOMERS, "city: {in: [Maastricht, Den Haag]}")
    assert result.exit_code == 0 and set(result.ids) == {"noor.elamrani@example.nl"}


@pytest.mark.parametrize("rule", ["city: {is: Bern}", "country: {is: Austria}", "country: {in: [AT, BE]}"])
def test_a_place_that_exists_is_no_misspelling_of_one_the_profiles_hold(ws: Workspace, rule):
    """Bern is spelled like Berlin and Austria like Australia, yet both exist: no one from there is an answer
    (which a nightly run must not fail on because of the day's profiles)."""
    ws.events({"visitor_id": "a", "timestamp": "2024-06-01T10:00:00Z", "event_type": "page"})
    ws.profiles({"visitor_id": "a", "city": "Berlin", "country": "Australia"})
    assert ws.run(f"rules:\n  - {rule}\n") == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_country_rule_matches_a_name_or_a_code_on_any_source(ws: Workspace, engine):
    """Profiles of a CRM that writes countries every which way: each rule value names a country, compared as one."""
    ws.events({"visitor_id": "v1", "timestamp": "2024-06-01T10:00:00Z", "event_type": "page"})
    ws.profiles({"visitor_id": "a", "country": "Netherlands"}, {"visitor_id": "b", "country": "NL"},
                {"visitor_id": "c", "country": "the Netherlands"}, {"visitor_id": "d", "country": "nl"},
                {"visitor_id": "e", "country": "Belgium"}, {"visitor_id": "f", "country": "Holland"},
                {"visitor_id": "g", "country": ""})
    netherlands = {"a", "b", "c", "d"}
    assert set(ws.run("rules:\n  - country: {is: NL}\n", "--engine", engine)) == netherlands
    assert set(ws.run("rules:\n  - country: {is: netherlands}\n", "--engine", engine)) == netherlands
    assert set(ws.run("rules:\n  - country: {in: [NLD, Holland]}\n", "--engine", engine)) == netherlands | {"f"}
    assert set(ws.run("rules:\n  - country: {not_in: [NL, BE]}\n", "--engine", engine)) == {"f", "g", "v1"}


def test_a_profiles_preset_belongs_under_data_profiles(ws: Workspace):
    (ws.root / "vendor.yaml").write_text("preset: shopify_customers\ndata:\n  events: orders.csv\n")
    result = ws.cli("validate", str(ws.segment("rules:\n  - country: {is: NL}\n")), "--config",
                    str(ws.root / "vendor.yaml"))
    assert result.exit_code == 1 and "data.profiles" in result.stderr


def test_the_fixtures_are_what_their_generator_writes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_view_fixtures", VENDORS / "make_view_fixtures.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.main(check=True) == 0


@pytest.mark.parametrize("engine", [*ENGINES, "sql"])
def test_ga4_cookieless_pings_are_set_aside_and_counted_not_skipped(ws: Workspace, tmp_path, engine):
    """Consent mode's cookieless pings (no user_pseudo_id, no user_id, analytics_storage `No`): 6 of 10 events,
    far above the default max_skipped_rows, yet no data error; the summary counts them; the printed SQL leaves
    them out too."""
    def event(device, name, day, consent="Yes"):
        row = {"event_date": f"202406{day:02}", "event_timestamp": str(1717200000000000 + day * 86_400_000_000),
               "event_name": name, "privacy_info": {"analytics_storage": consent}}
        return json.dumps({**row, "user_pseudo_id": device} if device else row)

    lines = [event("111.1", "page_view", 1), event("111.1", "purchase", 2), event("222.2", "page_view", 3),
             event("222.2", "scroll", 4), *(event(None, "page_view", d, "No") for d in range(5, 11))]
    (tmp_path / "ga4").mkdir()
    (tmp_path / "ga4" / "events_20240601.json").write_text("\n".join(lines) + "\n")
    config = tmp_path / "ga4.yaml"
    config.write_text(f"preset: ga4\ndata:\n  events: {tmp_path}/ga4/\n")
    segment = ws.segment("name: viewers\nrules:\n  - event: {type: {is: page_view}}\n")
    if engine == "sql":
        from test_preset_sql import sql_members

        printed = ws.cli("sql", str(segment), "--config", str(config), "--as-of", AS_OF)
        assert printed.exit_code == 0, printed.stderr
        assert sql_members(printed.stdout) == {"viewers": {"111.1", "222.2"}}
        return
    result = ws.cli("run", str(segment), "--config", str(config), "--as-of", AS_OF, "--engine", engine,
                    "--summary", "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["skipped_event_rows"] == 0
    assert summary["set_aside"] == {"events": {"events without a device (consent mode)": 6}}
    assert set(ws.cli("run", str(segment), "--config", str(config), "--as-of", AS_OF).ids) == {"111.1", "222.2"}


def _ga4_day(folder, day: str, rows: list[dict]) -> None:
    """A GA4 daily table as its own Parquet file, with the nested records as that day's schema had them."""
    import polars as pl
    pl.DataFrame(rows, infer_schema_length=None).write_parquet(folder / f"events_{day}.parquet")


def test_ga4_daily_tables_across_a_schema_change_read_as_one(ws: Workspace, tmp_path):
    """GA4 adds fields to its nested records over time (`geo.continent`, `items[].item_params`): each day's
    table extracted alone has its own struct fields, and the tables read as one (the union of the fields)."""
    def event(visitor, ts, name, country, **more):
        return {"event_timestamp": ts, "event_name": name, "user_pseudo_id": visitor, **more,
                "event_params": [{"key": "page_location", "value": {"string_value": "https://shop.example/"}}],
                "geo": {"city": "Berlin", "country": country}}

    def item(brand):
        return {"item_id": "i", "item_name": "Shoe", "item_brand": brand, "item_category": "Shoes", "price": 50.0,
                "quantity": 1}

    def purchase(visitor, ts, tx, brand):
        return event(visitor, ts, "purchase", "Germany", ecommerce={"transaction_id": tx, "purchase_revenue": 50.0},
                     items=[item(brand)])

    folder = tmp_path / "ga4"
    folder.mkdir()
    _ga4_day(folder, "20240610", [purchase("older", 1718013600000000, "T1", "Nike"),
                                  event("older", 1718013500000000, "page_view", "Germany")])
    newer = [purchase("newer", 1718100000000000, "T2", "adidas"), event("newer", 1718099900000000, "page_view", "Spain")]
    for row in newer:
        row["geo"] |= {"continent": "Europe", "region": "Madrid"}
        for it in row.get("items", []):
            it["item_params"] = [{"key": "size", "value": {"string_value": "42"}}]
    _ga4_day(folder, "20240611", newer)
    config = f"preset: ga4\ndata:\n  events: {folder}\n"
    rows = f"read_parquet('{folder}/*.parquet', union_by_name = true)"
    cases = [("conversions: {gte: 1, items: {brand: {is: Nike}}}",
              f"SELECT user_pseudo_id FROM {rows}, unnest(items) AS i(it) WHERE it.item_brand = 'Nike'"),
             ("country: {is: DE}", f"SELECT user_pseudo_id FROM {rows} GROUP BY 1 "
                                   "HAVING arg_max(geo.country, event_timestamp) = 'Germany'"),
             ("total_order_value: {gte: 50}", f"SELECT user_pseudo_id FROM {rows} WHERE event_name = 'purchase'")]
    for rule, sql in cases:
        expected = duckdb_ids(sql)
        assert expected
        for engine in ENGINES:
            result = run(ws, config, rule, engine)
            assert result.exit_code == 0, result.stderr
            assert set(result.ids) == expected, (rule, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_shopify_orders_export_of_before_billing_province_name(ws: Workspace, engine):
    """Older orders exports have `Billing Province` (the code) and no `Billing Province Name`: the region."""
    (ws.root / "orders_export.csv").write_text(
        "Name,Email,Financial Status,Total,Created at,Lineitem quantity,Lineitem name,Lineitem price,Vendor,"
        "Billing City,Billing Province,Billing Country\n"
        "#1,Ann@Example.com,paid,10.00,2024-06-01 10:00:00 +0200,1,Cap,10.00,Nike,Amsterdam,NH,NL\n"
        "#2,bo@example.com,paid,20.00,2024-06-02 10:00:00 +0200,1,Cap,20.00,Nike,Utrecht,UT,NL\n"
        "#3,ann@example.com,paid,30.00,2024-06-03 10:00:00 +0200,1,Cap,30.00,Nike,Haarlem,,NL\n")
    expected = duckdb_ids(f"""SELECT lower(trim(Email)) FROM read_csv('{ws.root}/orders_export.csv', all_varchar = true)
                              GROUP BY 1 HAVING arg_max("Billing Province", "Created at") FILTER
                              (WHERE "Billing Province" IS NOT NULL) = 'NH'""")
    result = run(ws, SHOPIFY.format(file=ws.root / "orders_export.csv"), "region: {is: NH}", engine)
    assert result.exit_code == 0, result.stderr
    assert set(result.ids) == expected == {"ann@example.com"}
