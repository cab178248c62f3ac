"""Several sources joined by person (docs/inputs.md, "Several sources"): GA4 browsing, Shopify orders and a CRM
in one config (tests/fixtures/identity), the person keys normalised, devices stitched to the person they last
logged in as up to as_of. The expected sets are written by hand and computed again by DuckDB SQL over the same
files; every engine must give them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, Workspace, spark
from segtool.api import Overrides, Session

FIXTURE = REPO / "tests" / "fixtures" / "identity"
CONFIG = FIXTURE / "segtool.yaml"
AS_OF = "2024-06-30T23:59:59Z"
SEGMENTS = {  # name -> (rules, the members by hand)
    "everyone": ("- conversions: {gte: 0}",
                 {"anna@example.com", "bob@example.com", "dave@example.com", "erin@example.com", "frank@example.com",
                  "émile@exemple.fr", "2222.1717581600"}),
    # a newsletter visit before the login, the order in Shopify under the e-mail in upper case
    "newsletter_buyers": ("- utm_source: {is: newsletter}\n- conversions: {gte: 1}", {"anna@example.com"}),
    # bob's visit after his login, dave's before it; the other google visitor never logged in
    "google_buyers": ("- utm_source: {is: google}\n- conversions: {gte: 1}", {"bob@example.com", "dave@example.com"}),
    "gold": ("- profile.tier: {is: gold}", {"anna@example.com", "émile@exemple.fr"}),
    # frank is in Shopify and the CRM only
    "silver_buyers": ("- profile.tier: {is: silver}\n- conversions: {gte: 1}", {"bob@example.com", "frank@example.com"}),
}

# The same sets in DuckDB SQL over the same files: the person key lower(trim(...)), a device's rows the last key it
# carried up to as_of, else its own.
SQL = """
WITH ga AS (
    SELECT user_pseudo_id AS device, NULLIF(lower(trim(user_id)), '') AS person,
           make_timestamp(CAST(event_timestamp AS BIGINT)) AS ts, collected_traffic_source.manual_source AS utm_source
    FROM read_json('{dir}/ga4/events.ndjson', format = 'newline_delimited', sample_size = -1)
), links AS (
    SELECT device, arg_max(person, ts) AS linked FROM ga WHERE person IS NOT NULL AND ts <= '{as_of}' GROUP BY device
), visits AS (
    SELECT coalesce(person, linked, device) AS vid, utm_source FROM ga LEFT JOIN links USING (device)
    WHERE ts <= '{as_of}'
), orders AS (
    SELECT DISTINCT lower(trim("Email")) AS vid FROM read_csv('{dir}/shopify/orders_export_1.csv', all_varchar = true)
    WHERE strptime("Created at", '%Y-%m-%d %H:%M:%S %z') <= '{as_of}'
), crm AS (
    SELECT lower(trim(email)) AS vid, tier FROM read_csv('{dir}/crm.csv', all_varchar = true)
)
SELECT 'everyone', vid FROM (SELECT vid FROM visits UNION SELECT vid FROM orders UNION SELECT vid FROM crm)
UNION ALL SELECT 'newsletter_buyers', vid FROM (SELECT vid FROM visits WHERE utm_source = 'newsletter'
                                              INTERSECT SELECT vid FROM orders)
UNION ALL SELECT 'google_buyers', vid FROM (SELECT vid FROM visits WHERE utm_source = 'google'
                                          INTERSECT SELECT vid FROM orders)
UNION ALL SELECT 'gold', vid FROM crm WHERE tier = 'gold'
UNION ALL SELECT 'silver_buyers', vid FROM (SELECT vid FROM crm WHERE tier = 'silver' INTERSECT SELECT vid FROM orders)
"""


def duckdb_sets(as_of: str = "2024-06-30 23:59:59+00") -> dict[str, set[str]]:
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    found: dict[str, set[str]] = {name: set() for name in SEGMENTS}
    for name, vid in db.execute(SQL.format(dir=FIXTURE, as_of=as_of)).fetchall():
        found[name].add(vid)
    return found


def run_all(ws: Workspace, *args: str, config: Path = CONFIG) -> tuple[dict[str, set[str]], dict]:
    """Every segment of SEGMENTS in one run into an output folder: the members of each, and the manifest."""
    paths = [str(ws.segment(f"name: {name}\nrules:\n" + "".join(f"  {line}\n" for line in rules.splitlines()),
                            f"{name}.yaml")) for name, (rules, _) in SEGMENTS.items()]
    out = ws.root / "out"
    result = ws.cli("run", *paths, "--config", str(config), "--as-of", AS_OF, "--output-dir", str(out), *args)
    assert result.exit_code == 0, result.stderr
    members = {}
    for name in SEGMENTS:
        with (out / f"{name}.csv").open(encoding="utf-8", newline="") as f:
            members[name] = {row["visitor_id"] for row in csv.DictReader(f)}
    return members, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_the_hand_sets_are_duckdbs():
    assert duckdb_sets() == {name: expected for name, (_, expected) in SEGMENTS.items()}


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_ga4_shopify_and_a_crm_give_the_hand_sets(ws: Workspace, engine):
    members, manifest = run_all(ws, "--engine", engine)
    assert members == {name: expected for name, (_, expected) in SEGMENTS.items()}
    assert manifest["identity"]["visitors"] == 7


@spark
def test_ga4_shopify_and_a_crm_on_spark(ws: Workspace):
    members, _ = run_all(ws, "--engine", "spark")
    assert members == {name: expected for name, (_, expected) in SEGMENTS.items()}


def test_a_device_belongs_to_the_last_person_it_carried_up_to_as_of(ws: Workspace):
    """Device 3333 logs in as bob on June 10 and as carol on July 2: up to July 3 its anonymous google visit of
    June 20 is carol's, and bob keeps his own login only (so he is no google buyer any more)."""
    path = ws.segment("rules:\n  - utm_source: {is: google}\n")
    later = ws.cli("run", str(path), "--config", str(CONFIG), "--as-of", "2024-07-03")
    assert later.exit_code == 0, later.stderr
    assert set(later.ids) == {"carol@example.com", "dave@example.com", "2222.1717581600"}
    before = ws.cli("run", str(path), "--config", str(CONFIG), "--as-of", AS_OF)
    assert set(before.ids) == {"bob@example.com", "dave@example.com", "2222.1717581600"}


def test_a_replay_joins_the_sources_as_of_each_instant(ws: Workspace):
    """diff and history read the sources once and stitch them again at each instant: carol's login on July 2
    moves the google visit of device 3333 from bob to her."""
    path = ws.segment("name: google\nrules:\n  - utm_source: {is: google}\n")
    result = ws.cli("diff", str(path), "--config", str(CONFIG), "--from", "2024-06-30", "--to", "2024-07-03",
                    "--output-dir", str(ws.root / "diff"))
    assert result.exit_code == 0, result.stderr
    assert (ws.root / "diff" / "google.entered.csv").read_text(encoding="utf-8").split() == ["visitor_id",
                                                                                           "carol@example.com"]
    assert (ws.root / "diff" / "google.exited.csv").read_text(encoding="utf-8").split() == ["visitor_id",
                                                                                          "bob@example.com"]


def test_the_summary_counts_what_each_source_contributed(ws: Workspace):
    path = ws.segment("rules:\n  - conversions: {gte: 1}\n")
    result = ws.cli("run", str(path), "--config", str(CONFIG), "--as-of", AS_OF, "--summary", "--format", "json")
    assert result.exit_code == 0, result.stderr
    identity = json.loads(result.stdout)["identity"]
    # visitors: anna bob dave émile (GA4 and more), frank (Shopify and CRM), erin (CRM), 2222 (GA4 alone)
    assert (identity["visitors"], identity["persons"], identity["joined"]) == (7, 6, 5)
    counted = {s["source"]: (s["person"], s["rows"], s["ids"], s["persons"], s["devices"], s["devices_stitched"],
                             s["joined"], s.get("unmatched")) for s in identity["sources"]}
    assert counted == {
        # 9 events up to as_of (carol's login is after it); 4 devices with rows without a user_id, 3 of them logged in
        "data.events[0]": ("user_id", 9, 5, 4, 4, 3, 4, None),
        "data.events[1]": ("Email", 4, 4, 4, 0, 0, 4, None),  # the preset's person; frank joins the CRM
        "data.profiles[0]": ("email", 5, 5, 5, 0, 0, 4, 1),  # erin has no events
        # the profiles the presets derive (GA4's geo, Shopify's billing address) count as their events' source
        "data.events[0] (profiles)": ("", 5, 5, 4, 5, 4, 4, 0),
        "data.events[1] (profiles)": ("Email", 4, 4, 4, 0, 0, 4, 0),
    }
    text = ws.cli("run", str(path), "--config", str(CONFIG), "--as-of", AS_OF, "--summary")
    assert "7 visitors, 6 of them persons; 5 in two sources or more" in text.stdout


def _config(ws: Workspace, text: str) -> Path:
    path = ws.root / "joined.yaml"
    path.write_text(text.replace("FIXTURE", str(FIXTURE)), encoding="utf-8")
    return path


def test_a_person_column_the_source_lacks_is_an_error_at_its_line(ws: Workspace):
    config = _config(ws, "data:\n"
                         "  events:\n"
                         "    - {path: FIXTURE/ga4/events.ndjson, preset: ga4, person: user_id}\n"
                         "  profiles:\n"
                         "    - path: FIXTURE/crm.csv\n"
                         "      person: e_mail\n")
    result = ws.cli("run", str(ws.segment("rules:\n  - conversions: {gte: 1}\n")), "--config", str(config))
    assert result.exit_code == 3
    assert f"{config}:6:15: data.profiles[0].person:" in result.stderr
    assert "has no column 'e_mail'; did you mean 'email'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_identity_block_is_a_config_error_at_its_line(ws: Workspace):
    config = _config(ws, "data:\n"
                         "  events:\n"
                         "    - {path: FIXTURE/ga4/events.ndjson, preset: ga4, person: {column: user_id}}\n"
                         "  profiles: {path: FIXTURE/crm.csv, person: []}\n"
                         "  items: {path: FIXTURE/crm.csv, person: email}\n")
    result = ws.cli("validate", str(ws.segment("rules:\n  - conversions: {gte: 1}\n")), "--config", str(config))
    assert result.exit_code == 1
    assert f"{config}:3:" in result.stderr and "data.events[0].person must be a value or a list" in result.stderr
    assert f"{config}:4:" in result.stderr and "data.profiles.person names no column" in result.stderr
    assert f"{config}:5:" in result.stderr and "data.items.person: items are about orders" in result.stderr


@pytest.mark.parametrize("person, sara, noah", [("userId", "u_7731", "u_5120"),
                                                 ("traits.email", "sara.meijer@example.nl", "noah.bos@example.nl")])
def test_segment_devices_join_by_user_id_or_the_traits_e_mail(ws: Workspace, person, sara, noah):
    """The vendors' Segment calls (tests/fixtures/vendors/README.md): S10a and S10b are one user on two devices,
    S04 logs in too; by `userId` (on their calls) or by `traits.email` (on their identify calls only)."""
    vendors = REPO / "tests" / "fixtures" / "vendors"
    expected = json.loads((vendors / "expected.json").read_text())["segment"]["buyers"]
    config = _config(ws, f"data:\n  events: {{path: {vendors}/segment/segment-logs/, preset: segment, "
                         f"person: {person}}}\n")
    result = ws.cli("run", str(ws.segment(f"rules:\n  - {expected['rule']}\n")), "--config", str(config),
                    "--as-of", expected["as_of"])
    assert result.exit_code == 0, result.stderr
    by_person = {"6aaab9f2-3824-5e80-b539-e00be2e661af": noah, "43435cfc-1f21-57b3-a8e9-953bc84bf145": sara}
    assert set(result.ids) == {by_person.get(vid, vid) for vid in expected["ids"]}


def test_the_readme_project_of_ga4_shopify_and_a_crm_runs_on_the_exports_as_delivered(ws: Workspace):
    """The README's several-sources config, word for word, over the vendors' files in the folders it names: every
    Shopify buyer (DuckDB's set, tests/fixtures/vendors/expected.json) is a buyer under its normalised e-mail,
    and every GA4 buyer under its user ID where it has one, else its device."""
    import gzip
    import re
    import shutil

    vendors = REPO / "tests" / "fixtures" / "vendors"
    readme = (REPO / "README.md").read_text()
    config = re.search(r"```yaml\n(data:\n  events:\n    - \{path: exports/ga4/.*?)```", readme, re.S).group(1)
    (ws.root / "exports" / "shopify").mkdir(parents=True)
    shutil.copytree(vendors / "ga4" / "bq-extract", ws.root / "exports" / "ga4")
    for file in (vendors / "shopify").glob("orders_export_*.csv"):
        shutil.copy(file, ws.root / "exports" / "shopify")
    shutil.copy(vendors / "shopify_customers" / "customers_export.csv", ws.root / "exports" / "shopify")
    shutil.copy(REPO / "tests" / "fixtures" / "identity" / "crm.csv", ws.root / "exports" / "crm.csv")
    (ws.root / "readme.yaml").write_text(config)
    expected = json.loads((vendors / "expected.json").read_text())
    result = ws.cli("run", str(ws.segment(f"rules:\n  - {expected['shopify']['buyers']['rule']}\n")), "--config",
                    str(ws.root / "readme.yaml"), "--as-of", expected["shopify"]["buyers"]["as_of"])
    assert result.exit_code == 0, result.stderr
    person = {}
    for file in (ws.root / "exports" / "ga4").iterdir():
        for line in gzip.decompress(file.read_bytes()).decode().splitlines():
            event = json.loads(line)
            if event.get("user_id"):
                person[event["user_pseudo_id"]] = event["user_id"].strip().lower()
    assert {e.strip().lower() for e in expected["shopify"]["buyers"]["ids"]} <= set(result.ids)
    assert {person.get(v, v) for v in expected["ga4"]["buyers"]["ids"]} <= set(result.ids)
    run, printed, _ = run_and_printed_sql(ws, ws.root / "readme.yaml", VENDOR_RULES, "2024-06-30")
    assert printed == run and set(result.ids) == run["s00"]


# `segtool sql` joins the sources by person in the statement itself (backends/sql/stitched.py): run by DuckDB over
# the same files, it gives the members the polars engine gives, for rules on every table the sources make
JOINED_RULES = [*(rules for rules, _ in SEGMENTS.values()), "- event: {type: {is: login}}",
                "- total_order_value: {gte: 100}", "- conversions: {gte: 1, items: {brand: {is: Puma}}}",
                "- profile.first_name: {is: Anna}", "- country: {is: NL}", "- city: {is: Utrecht}",
                "- first_seen: {within: 30d}", "- not: {profile.tier: {is: gold}}",
                "- event: {type: {is: page_view}, count: {gte: 2}}", "- profile.tier: {is_set: false}"]
VENDOR_RULES = ["- conversions: {gte: 1}", "- total_order_value: {gte: 200}", "- utm_source: {is: google}",
                "- conversions: {gte: 1, items: {brand: {is: Nike}}}", "- country: {is: NL}",
                "- city: {is: Utrecht}", "- event: {type: {is: page_view}}", "- profile.tier: {is: gold}",
                "- profile.email: {ends_with: .nl}"]
VENDORS = REPO / "tests" / "fixtures" / "vendors"


def run_and_printed_sql(ws: Workspace, config: Path, rules: list[str], as_of: str, dialect: str = "duckdb",
                        db: duckdb.DuckDBPyConnection | None = None) -> tuple[dict, dict, str]:
    """Each rule's members as `segtool run` gives them, as the printed statement gives them run by DuckDB (a
    dialect other than DuckDB's put into DuckDB's words by sqlglot), and the statement."""
    from test_preset_sql import sql_members
    from segtool.backends.sql import deep_recursion

    folder = ws.root / f"segments-{len(list(ws.root.glob('segments-*')))}"
    folder.mkdir()
    for i, rules_ in enumerate(rules):
        (folder / f"s{i:02}.yaml").write_text(f"name: s{i:02}\nrules:\n" + "".join(
            f"  {line}\n" for line in rules_.splitlines()), encoding="utf-8")
    args = ("--config", str(config), "--as-of", as_of)
    out = folder / "out"
    ran = ws.cli("run", str(folder), *args, "--output-dir", str(out))
    assert ran.exit_code == 0, ran.stderr
    run = {f"s{i:02}": set((out / f"s{i:02}.csv").read_text(encoding="utf-8").splitlines()[1:])
           for i in range(len(rules))}
    printed = ws.cli("sql", str(folder), "--dialect", dialect, *args)
    assert printed.exit_code == 0, printed.stderr
    statement = printed.stdout
    if dialect != "duckdb":
        from test_sql_engines import TRINO_IN_DUCKDB, as_duckdb

        comments = "\n".join(line for line in statement.splitlines() if line.startswith("-- "))
        with deep_recursion():
            statement = comments + "\n" + as_duckdb(statement, dialect, names=False)  # checked as printed
        db.execute(TRINO_IN_DUCKDB)
    return run, sql_members(statement, db), printed.stdout


@pytest.mark.parametrize("as_of", [AS_OF, "2024-07-03", "2024-06-10"])
def test_the_printed_sql_joins_the_sources_as_the_polars_engine(ws: Workspace, as_of):
    """Device 3333's google visit is bob's up to June 30 and carol's from her login on July 2; before June 10
    it has no person yet."""
    run, printed, _ = run_and_printed_sql(ws, CONFIG, JOINED_RULES, as_of)
    assert printed == run
    if as_of == AS_OF:
        assert sum(bool(m) for m in run.values()) >= len(run) - 2  # mostly no empty answers
        assert [printed[f"s{i:02}"] for i in range(len(SEGMENTS))] == [e for _, e in SEGMENTS.values()]


@pytest.mark.parametrize("person", ["userId", "traits.email"])
def test_the_printed_sql_joins_segment_devices_by_user_id_or_the_traits_e_mail(ws: Workspace, person):
    config = _config(ws, f"data:\n  events: {{path: {VENDORS}/segment/segment-logs/, preset: segment, "
                         f"person: {person}}}\n")
    run, printed, _ = run_and_printed_sql(ws, config, VENDOR_RULES[:7], "2024-06-30")
    assert printed == run and any(run.values())


def test_the_printed_sql_reads_a_key_of_ga4s_user_properties_and_the_readme_sources(ws: Workspace):
    """GA4's Parquet export joined by a user property (a key/value list whose values are typed structs: here every
    user with a tier is the person `member`), Shopify's numbered order exports and a CRM."""
    config = _config(ws, "data:\n  events:\n"
                         f"    - {{path: {VENDORS}/ga4/parquet, preset: ga4, person: "
                         "[user_properties.customer_tier, user_id]}\n"
                         f"    - {{path: '{VENDORS}/shopify/orders_export_*.csv', preset: shopify_orders}}\n"
                         "  profiles:\n    - {path: FIXTURE/crm.csv, person: email}\n")
    run, printed, _ = run_and_printed_sql(ws, config, VENDOR_RULES, "2024-06-30")
    assert printed == run and "member" in set().union(*run.values())


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["bigquery", "snowflake", "trino"])
def test_the_warehouse_statements_join_the_sources_loaded_as_tables(ws: Workspace, dialect):
    """The warehouse's statement over the sources loaded as they are into tables named after their place in the
    config (`events_0`: GA4's export, `events_1`: Shopify's CSV, `profiles_0`: the CRM's), put into DuckDB's words
    by sqlglot, gives the polars engine's members."""
    db = duckdb.connect()
    ga4 = ws.root / "events_0.parquet"
    Session.open(CONFIG, Overrides(as_of=AS_OF)).inputs().events.sources[0].table.raw_scan().sink_parquet(ga4)
    db.execute(f"CREATE TABLE events_0 AS SELECT * FROM read_parquet('{ga4}')")
    for name, file in (("events_1", "shopify/orders_export_1.csv"), ("profiles_0", "crm.csv")):
        db.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{FIXTURE / file}', all_varchar = true)")
    run, printed, statement = run_and_printed_sql(ws, CONFIG, JOINED_RULES, AS_OF, dialect, db)
    assert printed == run and "events_1" in statement


@pytest.mark.slow
def test_the_spark_statement_joins_the_sources_in_spark_sql(ws: Workspace):
    import sqlglot
    from segtool.backends.sql import deep_recursion

    printed = ws.cli("sql", str(ws.segment("rules:\n  - utm_source: {is: google}\n  - profile.tier: {is: gold}\n")),
                     "--dialect", "spark", "--config", str(CONFIG), "--as-of", AS_OF)
    assert printed.exit_code == 0, printed.stderr
    with deep_recursion():
        parsed = sqlglot.parse_one(printed.stdout, read="spark")
    assert {"joined_events", "joined_links", "joined_profiles"} <= {t.name for t in parsed.find_all(sqlglot.exp.Table)}


def test_engine_tables_name_each_source_by_its_place_in_the_config(ws: Workspace):
    """`events_1` is the second events source: the statement reads that table in place of its files (the export
    as it is, read through its preset, as the table `events_1` is where the SQL reads tables by name), and a name
    that is no source is a config error listing those that are."""
    config = _config(ws, CONFIG.read_text().replace("site:", "engine:\n  tables: {events_1: shop.orders}\nsite:")
                     .replace("ga4/", "FIXTURE/ga4/").replace("shopify/", "FIXTURE/shopify/")
                     .replace("crm.csv", "FIXTURE/crm.csv"))
    segment = ws.segment("rules:\n  - conversions: {gte: 1}\n")
    printed = ws.cli("sql", str(segment), "--dialect", "duckdb", "--config", str(config), "--as-of", AS_OF)
    assert printed.exit_code == 0, printed.stderr
    assert "shop.orders" in printed.stdout and "orders_export_1.csv" not in printed.stdout
    db = duckdb.connect()
    db.execute("CREATE SCHEMA shop")
    db.execute(f"CREATE TABLE shop.orders AS SELECT * FROM read_csv('{FIXTURE}/shopify/orders_export_1.csv', "
               "all_varchar = true)")
    from test_preset_sql import sql_members

    assert sql_members(printed.stdout, db) == {"seg": {"anna@example.com", "bob@example.com", "dave@example.com",
                                                        "frank@example.com"}}
    wrong = _config(ws, config.read_text().replace("events_1:", "events_2:"))
    result = ws.cli("validate", str(segment), "--config", str(wrong))
    assert result.exit_code == 1 and "events_2" in result.stderr and "events_1" in result.stderr


@spark
def test_the_printed_spark_sql_joins_the_sources_as_the_polars_engine(ws: Workspace):
    """GA4's export (Parquet, and bq extract's NDJSON), Shopify's CSV exports and a CRM's CSV joined by person in a
    Spark statement (the CSV and NDJSON files registered as views first), run by a local Spark session."""
    from test_preset_sql import spark_members

    parquet = _config(ws, "data:\n  events:\n"
                          f"    - {{path: {VENDORS}/ga4/parquet, preset: ga4}}\n"
                          f"    - {{path: '{VENDORS}/shopify/orders_export_*.csv', preset: shopify_orders}}\n"
                          "  profiles:\n    - {path: FIXTURE/crm.csv, person: email}\n")
    for config, rules in ((parquet, VENDOR_RULES), (CONFIG, [r for r in JOINED_RULES if "\n" not in r])):
        folder = ws.root / f"segments-{config.stem}"
        folder.mkdir()
        for i, rule in enumerate(rules):
            (folder / f"s{i:02}.yaml").write_text(f"name: s{i:02}\nrules:\n  {rule}\n", encoding="utf-8")
        args = ("--config", str(config), "--as-of", AS_OF)
        ran = ws.cli("run", str(folder), *args, "--output-dir", str(folder / "out"))
        assert ran.exit_code == 0, ran.stderr
        printed = ws.cli("sql", str(folder), "--dialect", "spark", *args)
        assert printed.exit_code == 0, printed.stderr
        assert spark_members(printed.stdout) == {
            f"s{i:02}": set((folder / "out" / f"s{i:02}.csv").read_text(encoding="utf-8").splitlines()[1:])
            for i in range(len(rules))}


def _segment_calls(folder: Path, calls: list[dict]) -> None:
    folder.mkdir(parents=True)
    base = {"context": {}, "properties": {}}
    (folder / "calls.json").write_text("".join(json.dumps({**base, **c}) + "\n" for c in calls), encoding="utf-8")


IDENTIFIED = [  # dev1 visits from google, then identifies as User-7 on June 12; user-7 ordered on dev2 on June 11
    {"type": "page", "anonymousId": "dev1", "timestamp": "2024-06-10T10:00:00Z",
     "context": {"campaign": {"source": "google"}}},
    {"type": "identify", "anonymousId": "dev1", "userId": "User-7", "timestamp": "2024-06-12T10:00:00Z",
     "traits": {"email": "seven@example.com"}},
    {"type": "track", "event": "Order Completed", "anonymousId": "dev2", "userId": " user-7 ",
     "timestamp": "2024-06-11T09:00:00Z", "properties": {"order_id": "o1", "total": 50}},
    {"type": "page", "anonymousId": "dev3", "timestamp": "2024-06-10T11:00:00Z",
     "context": {"campaign": {"source": "google"}}},
]


@pytest.mark.parametrize("as_of, expected", [("2024-06-30", {"user-7"}), ("2024-06-11", set())])
def test_a_segment_identify_call_links_its_device_to_the_user(ws: Workspace, as_of, expected):
    """Segment links a device to a user by its identify calls: dev1's google visit before the identify call is
    user-7's, with the order user-7 placed on another device; before the identify call dev1 is no one yet.
    polars, DuckDB and the printed statement alike."""
    _segment_calls(ws.root / "segment", IDENTIFIED)
    config = _config(ws, f"data:\n  events: {{path: {ws.root}/segment/, preset: segment, person: userId}}\n")
    rules = ["- utm_source: {is: google}\n- conversions: {gte: 1}", "- utm_source: {is: google}"]
    run, printed, _ = run_and_printed_sql(ws, config, rules, as_of)
    assert printed == run and run["s00"] == expected
    assert run["s01"] == ({"user-7", "dev3"} if expected else {"dev1", "dev3"})
    duckdb_run = ws.cli("run", str(ws.segment("rules:\n  - utm_source: {is: google}\n  - conversions: {gte: 1}\n")),
                        "--config", str(config), "--as-of", as_of, "--engine", "duckdb")
    assert duckdb_run.exit_code == 0 and set(duckdb_run.ids) == expected


def test_a_views_repeated_profiles_are_taken_in_the_order_written_by_the_printed_sql(ws: Workspace):
    """A customers export that names each e-mail several times (each time another city), joined with events:
    the first row written is the customer's profile in the polars engine and in the printed statement alike
    (not whichever row the engine meets first)."""
    customers = ws.root / "customers_export.csv"
    rows = [f"C,{i},c{i}@example.com,City {i}-{copy},1,10.00" for copy in range(30) for i in range(2000)]
    customers.write_text("First Name,Last Name,Email,City,Total Orders,Total Spent\n" + "\n".join(rows) + "\n",
                         encoding="utf-8")
    config = _config(ws, "data:\n  events:\n"
                         "    - {path: FIXTURE/ga4/events.ndjson, preset: ga4, person: user_id}\n"
                         "    - {path: FIXTURE/shopify/orders_export_1.csv, preset: shopify_orders}\n"
                         f"  profiles:\n    - {{path: {customers}, preset: shopify_customers}}\n")
    firsts = ", ".join(f"City {i}-0" for i in range(2000))
    run, printed, _ = run_and_printed_sql(ws, config, [f"- city: {{in: [{firsts}]}}"], AS_OF)
    assert printed == run and len(run["s00"]) == 2000


def test_engine_tables_name_both_joined_tables_or_neither(ws: Workspace):
    """The profiles' devices are joined by the links the events' sources give: one joined table named in
    engine.tables, the other read from its sources, is refused in the printed statement, saying so."""
    config = _config(ws, CONFIG.read_text().replace("site:", "engine:\n  tables: {profiles: crm.joined}\nsite:")
                     .replace("ga4/", "FIXTURE/ga4/").replace("shopify/", "FIXTURE/shopify/")
                     .replace("crm.csv", "FIXTURE/crm.csv"))
    printed = ws.cli("sql", str(ws.segment("rules:\n  - profile.tier: {is: gold}\n")), "--config", str(config),
                     "--as-of", AS_OF)
    assert printed.exit_code == 1 and "engine.tables" in printed.stderr and "Traceback" not in printed.stderr


def test_several_items_sources_with_a_visitor_column_are_read_by_every_engine(ws: Workspace):
    """Items listed from two files, one of which also names the visitor: the items' rows together, on polars
    and in the printed statement (was a column-not-found crash on both)."""
    (ws.root / "i1.csv").write_text("order_id,visitor_id,item_id,brand\n#1001,x,a,Nike\n", encoding="utf-8")
    (ws.root / "i2.csv").write_text("order_id,item_id,brand\n#1002,b,Puma\n", encoding="utf-8")
    config = _config(ws, CONFIG.read_text().replace("site:", f"  items:\n    - {{path: {ws.root}/i1.csv}}\n"
                                                             f"    - {{path: {ws.root}/i2.csv}}\nsite:")
                     .replace("ga4/", "FIXTURE/ga4/").replace("shopify/", "FIXTURE/shopify/")
                     .replace("crm.csv", "FIXTURE/crm.csv"))
    rules = ["- conversions: {gte: 1, items: {brand: {is: Puma}}}", "- conversions: {gte: 1, items: {brand: {is: Nike}}}"]
    run, printed, _ = run_and_printed_sql(ws, config, rules, AS_OF)
    assert printed == run == {"s00": {"bob@example.com"}, "s01": {"anna@example.com"}}


def test_a_list_of_one_source_is_named_by_its_place_in_engine_tables(ws: Workspace):
    config = _config(ws, "data:\n  events:\n    - {path: FIXTURE/ga4/events.ndjson, preset: ga4, person: user_id}\n"
                         "engine:\n  tables: {events_0: analytics.events_20240601}\n")
    printed = ws.cli("sql", str(ws.segment("rules:\n  - utm_source: {is: google}\n")), "--config", str(config),
                     "--as-of", AS_OF, "--dialect", "bigquery")
    assert printed.exit_code == 0, printed.stderr
    assert "analytics.events_20240601" in printed.stdout


@pytest.mark.slow
def test_the_items_a_preset_derives_from_one_joined_source_read_that_sources_table(ws: Workspace):
    """GA4's export joined with a CRM: the items GA4's view derives are read from the table `events_0` that holds
    GA4's export, as the joined events are (they read a table `events`, which a warehouse that loads the sources
    by their place in the config has not)."""
    config = _config(ws, f"data:\n  events:\n    - {{path: {VENDORS}/ga4/parquet, preset: ga4, person: user_id}}\n"
                         "  profiles:\n    - {path: FIXTURE/crm.csv, person: email}\n")
    db = duckdb.connect()
    ga4 = ws.root / "events_0.parquet"
    Session.open(config, Overrides(as_of=AS_OF)).inputs().events.sources[0].table.raw_scan().sink_parquet(ga4)
    db.execute(f"CREATE TABLE events_0 AS SELECT * FROM read_parquet('{ga4}')")
    db.execute(f"CREATE TABLE profiles_0 AS SELECT * FROM read_csv('{FIXTURE / 'crm.csv'}', all_varchar = true)")
    rules = ["- conversions: {gte: 1, items: {brand: {is: Nike}}}", "- utm_source: {is: google}"]
    run, printed, _ = run_and_printed_sql(ws, config, rules, "2024-06-30", "bigquery", db)
    assert printed == run and all(run.values())


def test_a_person_column_of_floating_point_numbers_is_an_error_at_its_line(ws: Workspace):
    """pandas writes an ID column with gaps as floats: 42 would be the key "42.0" to polars and "4.2E1" to Trino,
    joining no "42" anywhere, so it is refused on every engine at the config's line, as a float visitor_id is."""
    import polars as pl

    events = ws.root / "events.parquet"
    pl.DataFrame({"visitor_id": ["d1", "d2"], "timestamp": ["2024-06-01T10:00:00Z"] * 2,
                  "event_type": ["conversion"] * 2, "crm_id": [42.0, None]}).write_parquet(events)
    config = _config(ws, f"data:\n  events:\n    - path: {events}\n      person: crm_id\n"
                         "  profiles:\n    - {path: FIXTURE/crm.csv, person: email}\n")
    segment = ws.segment("rules:\n  - conversions: {gte: 1}\n")
    for command in ("run", "sql"):
        result = ws.cli(command, str(segment), "--config", str(config), "--as-of", AS_OF)
        assert result.exit_code == 3 and f"{config}:4:15" in result.stderr and "crm_id" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_person_key_is_written_alike_by_polars_and_the_sql():
    """Lower-casing where engines differ (İ is `i` and a dot to polars, `i` to DuckDB; a final Σ is ς to polars,
    σ to DuckDB) gives one key everywhere; surrounding white space trimmed, blank missing."""
    import polars as pl
    from sqlglot import exp

    from segtool.backends.sql.stitched import person_key as sql_key
    from segtool.backends.sql.dialects import DIALECTS
    from segtool.backends.sql.statement import Source
    from segtool.inputs.stitching import KeyPath, person_key

    values = ["İSTANBUL@X.TR", "ΟΔΥΣΣΕΥΣ@x.gr", "odysseus@ΧΑΟΣ.gr", " ÉMILE@X.FR\t", "i\u0307x", "   ", "Straße@X.de"]
    expected = pl.select(person_key(pl.Series(values))).to_series().to_list()
    rows = exp.select(exp.Unnest(expressions=[exp.Array(expressions=[exp.Literal.string(v) for v in values])])
                      .as_("k")).subquery("vendor")
    query = exp.select(sql_key(KeyPath("k"), Source(rows), DIALECTS["duckdb"])).from_(rows)
    assert [row[0] for row in duckdb.sql(query.sql("duckdb")).fetchall()] == expected
    assert expected[:2] == ["istanbul@x.tr", "οδυσσευσ@x.gr"] and expected[5] is None
