"""Never silently wrong: every name, value or format that does not fit the data is an error saying what exists,
or, where the row was a semantic slip, the corrected answer. One test per case of issue 9's table."""

import json

import polars as pl
import pytest

from conftest import Workspace, conversion, pageview, write_csv

AS_OF = "2024-07-01"


def error_of(ws: Workspace, *args: str, code: int = 3) -> str:
    result = ws.cli(*args)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    return result.stderr


@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    ws.events(pageview("a", url="https://shop.example/"), conversion("a", "2024-06-30T10:00:00Z", 20, "o1"),
              pageview("b"))
    ws.profiles({"visitor_id": "a", "city": "Milan", "newsletter": "yes", "email": "a@x"},
                {"visitor_id": "b", "city": "Rome", "newsletter": "no", "email": "b@x"})
    ws.items({"order_id": "o1", "item_id": "SS24-1", "name": "Nike Air", "brand": "Nike", "category": "shoes",
              "price": 20, "quantity": 1})
    return ws


# -- names against the data ---------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", ["profile.newsleter: {is: 'yes'}", "not: {profile.newsleter: {is: 'yes'}}"])
def test_unknown_profile_column(shop: Workspace, rule):
    path = shop.segment(f"rules:\n  - {rule}\n")
    assert shop.cli("validate", str(path)).exit_code == 0  # no data read
    err = error_of(shop, "run", str(path), "--as-of", AS_OF)
    column = 5 if rule.startswith("profile") else 11
    assert f"{path}:2:{column}: profile.newsleter reads column 'newsleter' of profiles, which " in err
    assert "did you mean 'newsletter'?" in err
    assert "newsleter" in error_of(shop, "validate", "--data", str(path))


def test_unknown_item_column(shop: Workspace):
    path = shop.segment("rules:\n  - conversions: {gte: 1, items: {colour: {is: red}}}\n")
    err = error_of(shop, "run", str(path), "--as-of", AS_OF)
    assert f"{path}:2:5: conversions reads column 'colour' of items, which" in err
    assert "its columns: order_id, item_id, name, brand, category, price, quantity" in err


def test_items_rule_without_an_items_table(ws: Workspace):
    ws.events(conversion("a", "2024-06-30T10:00:00Z", 20, "o1"))
    err = error_of(ws, "run", str(ws.segment("rules:\n  - conversions: {gte: 1, items: {brand: {is: x}}}\n")),
                   "--as-of", AS_OF)
    assert "reads the items table, but none is configured" in err


def test_items_rule_without_order_ids_in_events(ws: Workspace):
    ws.events(conversion("a", "2024-06-30T10:00:00Z", 20), columns=["visitor_id", "timestamp", "event_type",
                                                                   "order_value"])
    ws.items({"order_id": "o1", "brand": "x"})
    err = error_of(ws, "run", str(ws.segment("rules:\n  - conversions: {gte: 1, items: {brand: {is: x}}}\n")),
                   "--as-of", AS_OF)
    assert "conversions reads column 'order_id' of events" in err


def test_typo_in_an_optional_column_mapping(shop: Workspace):
    shop.events({"visitor_id": "a", "timestamp": "2024-06-30T10:00:00Z", "event_type": "conversion",
                 "ecommerce_purchase_revenue": "120"})
    shop.config("columns:\n  events: {order_value: ecommerce_purchase_revenu}\n")
    path = shop.segment("rules:\n  - average_order_value: {gte: 100}\n")
    err = error_of(shop, "run", str(path), "--as-of", AS_OF)
    assert "columns.events.order_value: " in err and "has no column 'ecommerce_purchase_revenu'" in err
    assert "did you mean 'ecommerce_purchase_revenue'?" in err
    assert "segtool.yaml:" in err  # the position of the mapping in the config
    # mapped right, it runs
    shop.config("columns:\n  events: {order_value: ecommerce_purchase_revenue}\n")
    assert shop.run("rules:\n  - average_order_value: {gte: 100}\n", as_of=AS_OF) == ["a"]


def test_value_rules_on_events_without_order_values(ws: Workspace):
    ws.events(conversion("a", "2024-06-30T10:00:00Z"), columns=["visitor_id", "timestamp", "event_type"])
    for field in ("total_order_value", "average_order_value", "order_value"):
        err = error_of(ws, "run", str(ws.segment(f"rules:\n  - {field}: {{gte: 1}}\n")), "--as-of", AS_OF)
        assert f"{field} reads column 'order_value' of events" in err


def test_unknown_output_column(shop: Workspace, tmp_path):
    path = shop.segment("rules:\n  - city: {is: Milan}\n")
    err = error_of(shop, "run", str(path), "--as-of", AS_OF, "-o", str(tmp_path / "out.csv"), "--columns", "emial")
    assert "--columns reads column 'emial' of profiles" in err and "did you mean 'email'?" in err
    assert not (tmp_path / "out.csv").exists()


def test_location_on_profiles_without_coordinates(shop: Workspace):
    path = shop.segment("rules:\n  - location: {within_km: 5, of: Milan}\n")
    err = error_of(shop, "run", str(path), "--as-of", AS_OF)
    assert f"{path}:2:5: location reads column 'latitude' of profiles" in err
    assert "location reads column 'longitude' of profiles" in err


def test_profile_rule_without_a_profiles_table(ws: Workspace):
    ws.events(pageview("a"))
    err = error_of(ws, "run", str(ws.segment("rules:\n  - city: {is: Milan}\n")), "--as-of", AS_OF)
    assert "city reads the profiles table, but none is configured (data.profiles in the config or --profiles)" in err


def test_utm_rule_without_its_column_or_urls(ws: Workspace):
    ws.events(pageview("a", utm_source="x"))
    path = ws.segment("rules:\n  - utm_term: {is: shoes}\n")
    err = error_of(ws, "run", str(path), "--as-of", AS_OF)
    assert "utm_term reads column 'utm_term' or 'url' of events (the UTM column, or the URL's query string)" in err
    ws.events(pageview("a", url="https://shop.example/?utm_term=shoes"))  # URLs alone are enough
    assert ws.run("rules:\n  - utm_term: {is: shoes}\n", as_of=AS_OF) == ["a"]


def test_every_missing_name_is_reported_at_once(shop: Workspace):
    one = shop.segment("rules:\n  - profile.agee: {gt: 1}\n", name="one.yaml")
    two = shop.segment("rules:\n  - referrer: {contains: x}\n", name="two.yaml")
    err = error_of(shop, "run", str(one), str(two), "--as-of", AS_OF)
    assert f"{one}:2:5:" in err and f"{two}:2:5: referrer reads column 'referrer' of events" in err


# -- what the config names must occur -----------------------------------------------------------------------
def test_conversion_event_in_the_wrong_case(ws: Workspace):
    ws.events(pageview("a"), {"visitor_id": "a", "timestamp": "2024-06-30T10:00:00Z", "event_type": "purchase"})
    ws.config("conversion_events: [Purchase]\n")
    err = error_of(ws, "run", str(ws.segment("rules:\n  - conversions: {gte: 1}\n")), "--as-of", AS_OF)
    assert "segtool.yaml:5:20: conversion_events: no event up to as_of (end of 2024-07-01 (UTC)) has event_type " \
           "'Purchase' (did you mean 'purchase'?); event types in" in err
    assert "pageview (1), purchase (1)" in err


def test_default_conversion_events_on_ga4_style_data(ws: Workspace):
    ws.events({"visitor_id": "a", "timestamp": "2024-06-30T10:00:00Z", "event_type": "purchase", "url": "/"})
    err = error_of(ws, "grid", "--as-of", AS_OF)
    assert "conversion_events (the default; set conversion_events in the config): no event" in err
    assert "purchase (1)" in err
    # a run that reads no conversion does not care
    assert ws.run("rules:\n  - url: {is_set: true}\n", as_of=AS_OF) == ["a"]


def test_empty_conversion_events_is_a_config_error(ws: Workspace):
    ws.events(pageview("a")).config("conversion_events: []\n")
    err = error_of(ws, "validate", str(ws.segment("rules:\n  - conversions: {gte: 1}\n")), code=1)
    assert "segtool.yaml:5:20: conversion_events must name at least one event type" in err


def test_conversions_after_as_of_do_not_count_as_occurring(ws: Workspace):
    ws.events(pageview("a", "2024-01-01"), conversion("a", "2024-06-30T10:00:00Z"))
    path = ws.segment("rules:\n  - conversions: {gte: 1}\n")
    assert "no event up to as_of" in error_of(ws, "run", str(path), "--as-of", "2024-03-01")


def test_an_as_of_before_the_data_says_so_naming_the_earliest_event(ws: Workspace):
    ws.events(conversion("b", "2024-06-30T10:00:00Z", 5, "o1"), pageview("a", "2024-01-01T08:30:00+01:00"))
    ws.config("conversion_events: [conversion]\n")
    err = error_of(ws, "run", str(ws.segment("rules:\n  - conversions: {gte: 1}\n")), "--as-of", "2023-12-31")
    assert err == ("Error: as_of (end of 2023-12-31 (UTC)) is before the earliest event, at 2024-01-01T07:30:00Z: "
                   f"no event counts; give a later as_of (--as-of, or as_of in the config) (file {ws.root / 'events.csv'})\n")


# -- timestamps ---------------------------------------------------------------------------------------------
def test_a_timestamp_format_that_reads_no_row(ws: Workspace):
    ws.events(conversion("a", "2024-06-30T10:00:00Z"), conversion("b", "2024-06-29T10:00:00Z"))
    ws.config("timestamp_format: '%d/%m/%Y %H:%M'\n")
    err = error_of(ws, "run", str(ws.segment("rules:\n  - conversions: {gte: 1}\n")), "--as-of", AS_OF)
    assert "2 of 2 (100.0%) of the event rows have a timestamp that timestamp_format '%d/%m/%Y %H:%M' cannot " \
           "read, e.g. '2024-06-30T10:00:00Z', '2024-06-29T10:00:00Z'" in err
    assert "more than max_skipped_rows (1%) allows" in err and "column 'timestamp'" in err


@pytest.mark.parametrize("values, unit", [([1719705600, 1719792000], "epoch_s"),
                                          ([1719705600000, 1719792000000], "epoch_ms")])
def test_epoch_numbers_in_a_csv_read_as_iso(ws: Workspace, values, unit):
    ws.events(conversion("a", values[0]), conversion("b", values[1]))
    err = error_of(ws, "run", str(ws.segment("rules:\n  - conversions: {gte: 1}\n")), "--as-of", AS_OF)
    assert f"they look like epoch {'seconds' if unit == 'epoch_s' else 'milliseconds'}: " \
           f"set timestamp_format: {unit}" in err


def test_epoch_milliseconds_on_data_in_seconds(ws: Workspace, tmp_path):
    ws.events(conversion("a", 1719705600), conversion("b", 1719792000)).config("timestamp_format: epoch_ms\n")
    err = error_of(ws, "run", str(ws.segment("rules:\n  - conversions: {gte: 1}\n")), "--as-of", AS_OF)
    assert "with timestamp_format 'epoch_ms' the first events are all before 1980 (e.g. 1719705600): the values " \
           "look like epoch seconds, set timestamp_format: epoch_s" in err


def test_epoch_seconds_on_data_in_milliseconds(ws: Workspace):
    ws.events(conversion("a", 1719705600000), conversion("b", 1719792000000)).config("timestamp_format: epoch_s\n")
    err = error_of(ws, "run", str(ws.segment("rules:\n  - conversions: {gte: 1}\n")), "--as-of", AS_OF)
    assert "the first events are all after 2200" in err and "look like epoch milliseconds" in err
    ws.config("timestamp_format: epoch_s\nas_of: latest\n")
    assert "look like epoch milliseconds" in error_of(ws, "run", str(ws.segment("rules:\n  - conversions: {gte: 1}\n")))


def test_skipped_rows_under_the_limit_are_counted_not_refused(ws: Workspace):
    rows = [conversion(f"v{i}", "2024-06-30T10:00:00Z") for i in range(99)] + [conversion("x", "garbage")]
    ws.events(*rows)
    assert len(ws.run("rules:\n  - conversions: {gte: 1}\n", as_of=AS_OF)) == 99  # 1% is allowed
    ws.events(*rows, conversion("y", "more garbage"))
    assert "2 of 101 (2.0%)" in error_of(ws, "run", str(ws.segment("rules:\n  - conversions: {gte: 1}\n")),
                                         "--as-of", AS_OF)
    ws.config("max_skipped_rows: 5%\n")
    assert len(ws.run("rules:\n  - conversions: {gte: 1}\n", as_of=AS_OF)) == 99


def test_max_skipped_rows_must_be_a_percentage(ws: Workspace):
    ws.events(pageview("a")).config("max_skipped_rows: 5\n")
    err = error_of(ws, "validate", str(ws.segment("rules:\n  - url: {is_set: true}\n")), code=1)
    assert "max_skipped_rows takes a percentage of event rows between 0% and 100%, like 5%, found '5'" in err


# -- numbers and text are what they say ---------------------------------------------------------------------
@pytest.mark.parametrize("rule, column", [("clv: {lte: .nan}", 16), ("conversions: {between: [.nan, 5]}", 29),
                                          ("location: {within_km: .nan, of: Milan}", 27),
                                          ("clv: {gte: .inf}", 16), ("clv: {gte: 1e400}", 16)])
def test_nan_and_infinite_operands_are_refused(ws: Workspace, rule, column):
    path = ws.segment(f"rules:\n  - {rule}\n")
    err = error_of(ws, "validate", str(path), code=1)
    assert f"{path}:2:{column}:" in err and "takes a finite number" in err


def test_nan_in_data_is_missing(ws: Workspace, tmp_path):
    ws.events(pageview("a"), pageview("b"), pageview("c"))
    ws.profiles({"visitor_id": "a", "clv": "NaN"}, {"visitor_id": "b", "clv": "1500"}, {"visitor_id": "c", "clv": ""})
    assert ws.run("rules:\n  - clv: {gte: 1000}\n") == ["b"]
    assert ws.run("rules:\n  - clv: {is_set: false}\n") == ["a", "c"]
    assert ws.run("rules:\n  - profile.clv: {lte: 1e300}\n") == ["b"]
    pl.DataFrame({"visitor_id": ["a", "b"], "score": [float("nan"), 3.0]}).write_parquet(tmp_path / "p.parquet")
    path = ws.segment("rules:\n  - profile.score: {gte: 1}\n")
    assert ws.cli("run", str(path), "--profiles", str(tmp_path / "p.parquet")).ids == ["b"]
    path = ws.segment("rules:\n  - profile.score: {is_set: true}\n")
    assert ws.cli("run", str(path), "--profiles", str(tmp_path / "p.parquet")).ids == ["b"]


def test_nan_order_values_count_as_missing(ws: Workspace):
    ws.events(conversion("a", "2024-06-30T10:00:00Z", "NaN", "o1"), conversion("a", "2024-06-29T10:00:00Z", 10, "o2"))
    assert ws.run("rules:\n  - average_order_value: {eq: 10}\n", as_of=AS_OF) == ["a"]
    assert ws.run("rules:\n  - total_order_value: {eq: 10}\n", as_of=AS_OF) == ["a"]


def test_duplicate_column_in_a_csv_header(ws: Workspace):
    (ws.root / "events.csv").write_text("visitor_id,timestamp,event_type,order_value,order_value\n"
                                        "a,2024-06-30T10:00:00Z,conversion,1,500\n")
    err = error_of(ws, "run", str(ws.segment("rules:\n  - total_order_value: {gte: 100}\n")), "--as-of", AS_OF)
    assert "the CSV header names the column 'order_value' twice" in err and "events.csv" in err


@pytest.mark.parametrize("written", ["https://shop.example", "shop.example:443", "*.shop.example", "shop.example/",
                                     "  Shop.Example  ", "https://www.shop.example:8443/nl/"])
def test_site_domains_are_normalised(ws: Workspace, written):
    ws.events(pageview("in", referrer="https://shop.example/cart"), pageview("sub", referrer="https://m.shop.example/"),
              pageview("out", referrer="https://www.google.com/"))
    ws.site_domains = f"['{written}']"
    assert ws.run("rules:\n  - referrer: {is_set: true}\n") == ["out"]


@pytest.mark.parametrize("written", ["shop example", "", "https://", "@"])
def test_site_domains_that_are_no_domain_are_refused(ws: Workspace, written):
    ws.events(pageview("a")).site_domains = f"['{written}']"
    err = error_of(ws, "validate", str(ws.segment("rules:\n  - referrer: {is_set: true}\n")), code=1)
    assert f"site.domains: {written!r} is not a domain name like shop.example" in err


def test_empty_and_blank_ids_are_skipped_and_counted(ws: Workspace):
    ws.events(pageview("a"), pageview(""), pageview("   "), pageview("\t"), conversion("b", "2024-06-30T10:00:00Z"))
    ws.profiles({"visitor_id": " "}, {"visitor_id": "c"})
    ws.config("max_skipped_rows: 100%\n")
    path = ws.segment("name: s\nrules:\n  - conversions: {lt: 1}\n")
    result = ws.cli("run", str(path), "--as-of", AS_OF)
    assert result.stdout == "a\nc\n"
    summary = json.loads(ws.cli("run", str(path), "--as-of", AS_OF, "--summary", "--format", "json").stdout)
    assert summary["skipped_event_rows"] == 3 and summary["universe"] == 3


def test_unicode_blank_ids_are_skipped_too(ws: Workspace):
    ws.events(*(pageview(v, url="/") for v in ("a", "\u00a0", "\u3000", "é")))
    ws.config("max_skipped_rows: 100%\n")
    path = ws.segment("name: s\nrules:\n  - url: {is_set: true}\n")
    summary = json.loads(ws.cli("run", str(path), "--as-of", AS_OF, "--summary", "--format", "json").stdout)
    assert summary["skipped_event_rows"] == 2 and summary["universe"] == 2


def test_ids_with_a_line_break_are_refused_for_line_formats(ws: Workspace, tmp_path):
    ws.events(pageview("a\nb", url="/"), pageview("c", url="/"))
    path = ws.segment("rules:\n  - url: {is_set: true}\n")
    err = error_of(ws, "run", str(path), "--as-of", AS_OF)
    assert "1 visitor IDs contain a line break (e.g. 'a\\nb')" in err
    error_of(ws, "run", str(path), "--as-of", AS_OF, "-o", str(tmp_path / "ids.txt"))
    assert not (tmp_path / "ids.txt").exists()
    assert ws.cli("run", str(path), "--as-of", AS_OF, "-o", str(tmp_path / "ids.csv")).exit_code == 0
    assert pl.read_csv(tmp_path / "ids.csv")["visitor_id"].to_list() == ["a\nb", "c"]


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv", "parquet"])
def test_integer_ids_are_written_as_text(ws: Workspace, tmp_path, fmt):
    pl.DataFrame({"visitor_id": [7, 42], "timestamp": ["2024-06-30T12:00:00Z"] * 2,
                  "event_type": ["pageview", "pageview"], "url": ["/", "/"]}).write_parquet(tmp_path / "ev.parquet")
    out = tmp_path / f"ids.{fmt}"
    path = ws.segment("rules:\n  - url: {is_set: true}\n")
    assert ws.cli("run", str(path), "--events", str(tmp_path / "ev.parquet"), "--as-of", AS_OF, "-o",
                  str(out)).exit_code == 0
    if fmt == "json":
        assert json.loads(out.read_text()) == [{"visitor_id": "42"}, {"visitor_id": "7"}]
    elif fmt == "ndjson":
        assert out.read_text() == '{"visitor_id":"42"}\n{"visitor_id":"7"}\n'
    else:
        frame = pl.read_parquet(out) if fmt == "parquet" else pl.read_csv(out, infer_schema=False)
        assert frame.schema["visitor_id"] == pl.String and frame["visitor_id"].to_list() == ["42", "7"]


def test_integer_ids_join_text_ids(ws: Workspace, tmp_path):
    pl.DataFrame({"visitor_id": [7], "timestamp": ["2024-06-30T12:00:00Z"], "event_type": ["pageview"], "url": ["/"]}
                 ).write_parquet(tmp_path / "ev.parquet")
    ws.profiles({"visitor_id": "7", "city": "Milan"})
    path = ws.segment("rules:\n  - city: {is: Milan}\n  - url: {is_set: true}\n")
    assert ws.cli("run", str(path), "--events", str(tmp_path / "ev.parquet"), "--as-of", AS_OF).ids == ["7"]


@pytest.mark.parametrize("as_of, days", [("2024-06-30", 0), ("2024-07-01", 1), ("2024-06-30T00:00:00Z", 0),
                                         ("2024-06-30T23:59:59Z", 0), ("2024-07-01T00:00:00Z", 1)])
def test_date_only_conversion_is_zero_days_old_on_its_day(ws: Workspace, as_of, days):
    ws.events(conversion("a", "2024-06-30"))
    assert ws.run(f"rules:\n  - days_since_last_conversion: {{eq: {days}}}\n", as_of=as_of) == ["a"]


def test_ninety_days_before_a_date_as_of_is_still_a_one_time_buyer(ws: Workspace):
    ws.events(conversion("a", "2024-04-01"), conversion("b", "2024-03-31"))  # D-90 and D-91 for D = 2024-06-30
    assert ws.run("rules:\n  - retention_grid: {is: one_time_buyer}\n", as_of="2024-06-30") == ["a"]
    assert ws.run("rules:\n  - retention_grid: {is: sleeper}\n", as_of="2024-06-30") == ["b"]


def test_a_name_with_a_trailing_line_break_is_not_safe(ws: Workspace, tmp_path):
    ws.events(pageview("a", url="/"))
    path = ws.segment('name: "evil\\n"\nrules:\n  - url: {is_set: true}\n')
    err = error_of(ws, "run", str(path), "--as-of", AS_OF, "--output-dir", str(tmp_path / "out"), code=1)
    assert "seg.yaml:1:7: segment name 'evil\\n' is not a safe file name" in err
    assert "is not a safe file name" in error_of(ws, "validate", str(path), code=1)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("cells, message", [
    ("[{name: a, conversions: [5, 1]}]", "conversions: the minimum 5 is above the maximum 1"),
    ("[{name: a, conversions: [0, 0]}, {name: a, conversions: [1, null]}]", "two cells are named 'a'"),
    ("[{name: a, conversions: [0, null], days: [10, 2]}]", "days: the minimum 10 is above the maximum 2"),
    ("[{name: a, conversions: [-1, 0]}]", "whole numbers of at least 0"),
])
def test_grid_cells_are_validated(ws: Workspace, cells, message):
    ws.events(pageview("a")).config(f"retention_grid: {cells}\n")
    assert message in error_of(ws, "validate", str(ws.segment("rules:\n  - url: {is_set: true}\n")), code=1)


@pytest.mark.parametrize("url, expected", [
    ("https://shop.example/#utm_source=x&utm_medium=cpc", []),
    ("https://shop.example/?a=1#utm_medium=cpc", []),
    ("https://shop.example/?a=1&utm_medium=cpc#top", ["a"]),
    ("https://shop.example/?utm_medium=cpc", ["a"]),
    ("https://shop.example/?xutm_medium=cpc", []),
])
def test_utms_come_from_the_query_string_only(ws: Workspace, url, expected):
    ws.events(pageview("a", url=url))
    assert ws.run("rules:\n  - utm_medium: {is: cpc}\n") == expected


# -- every operator on every column type, in CSV and Parquet ------------------------------------------------
MATRIX_PROFILES = {
    "visitor_id": ["a", "b", "c", "d"],
    "age": [70, 18, None, 35],                       # integers
    "score": [1.5, 70.0, None, float("nan")],        # floats
    "code": ["70", "018", None, "x"],                # text
}
NAN_TEXT = {"csv": {"a", "b", "d"}, "parquet": {"a", "b"}}  # in a CSV, the text 'NaN' is a value; as a number missing
MATRIX = [
    # (column, rule, expected: a set, or per format)
    ("age", "is: 70", {"a"}), ("age", "in: [70, 18]", {"a", "b"}), ("age", "not_in: [70]", {"b", "c", "d"}),
    ("age", "is_not: 70", {"b", "c", "d"}), ("age", "eq: 18", {"b"}), ("age", "ne: 18", {"a", "c", "d"}),
    ("age", "lt: 35", {"b"}), ("age", "lte: 35", {"b", "d"}), ("age", "gt: 35", {"a"}), ("age", "gte: 35", {"a", "d"}),
    ("age", "between: [18, 35]", {"b", "d"}), ("age", "is_set: true", {"a", "b", "d"}),
    ("age", "is_set: false", {"c"}), ("age", "contains: '7'", {"a"}), ("age", "starts_with: '3'", {"d"}),
    ("age", "ends_with: '8'", {"b"}), ("age", "matches: '^1'", {"b"}), ("age", "not_contains: '7'", {"b", "c", "d"}),
    ("score", "is: 70", {"b"}), ("score", "in: [1.5]", {"a"}), ("score", "not_in: [1.5]", {"b", "c", "d"}),
    ("score", "gte: 1", {"a", "b"}), ("score", "lt: 100", {"a", "b"}), ("score", "between: [0, 1e9]", {"a", "b"}),
    ("score", "is_set: true", NAN_TEXT), ("score", "ne: 70", {"a", "c", "d"}), ("score", "eq: 1.5", {"a"}),
    ("code", "is: '70'", {"a"}), ("code", "in: ['018', x]", {"b", "d"}), ("code", "eq: 18", {"b"}),
    ("code", "gte: 18", {"a", "b"}), ("code", "between: [0, 100]", {"a", "b"}), ("code", "contains: '1'", {"b"}),
    ("code", "is: x", {"d"}), ("code", "is_set: false", {"c"}), ("code", "not_in: ['70']", {"b", "c", "d"}),
]


@pytest.fixture(params=["csv", "parquet"])
def matrix_ws(request, ws: Workspace, tmp_path) -> tuple[Workspace, str, str]:
    frame = pl.DataFrame(MATRIX_PROFILES, schema={"visitor_id": pl.String, "age": pl.Int64, "score": pl.Float64,
                                                  "code": pl.String})
    path = tmp_path / f"matrix.{request.param}"
    if request.param == "csv":  # as an export writes it: 70, not 70.0
        write_csv(path, frame.with_columns(pl.col("score").cast(pl.String).str.strip_suffix(".0")).to_dicts())
    else:
        frame.write_parquet(path)
    ws.events(pageview("a", url="/"))
    return ws, str(path), request.param


@pytest.mark.parametrize("column, rule, expected", MATRIX, ids=[f"{c}-{r}" for c, r, _ in MATRIX])
def test_operator_by_column_type(matrix_ws, column, rule, expected):
    ws, profiles, fmt = matrix_ws
    expected = expected[fmt] if isinstance(expected, dict) else expected
    path = ws.segment(f"rules:\n  - profile.{column}: {{{rule}}}\n")
    assert set(ws.cli("run", str(path), "--profiles", profiles, "--as-of", AS_OF).ids) == expected
    negated = ws.segment(f"rules:\n  - not: {{profile.{column}: {{{rule}}}}}\n", name="not.yaml")
    assert set(ws.cli("run", str(negated), "--profiles", profiles, "--as-of", AS_OF).ids) == \
        set(MATRIX_PROFILES["visitor_id"]) - expected


# -- validate --data ----------------------------------------------------------------------------------------
def test_validate_data_checks_everything_without_evaluating(shop: Workspace):
    good = shop.segment("rules:\n  - conversions: {gte: 1}\n  - city: {is: Milan}\n", name="good.yaml")
    result = shop.cli("validate", "--data", str(good), "--as-of", AS_OF)
    assert result.exit_code == 0, result.stderr
    assert "ok  data: 3 event rows, 0 skipped" in result.stdout
    shop.config("conversion_events: [purchase]\n")
    assert "has event_type 'purchase'" in error_of(shop, "validate", "--data", str(good), "--as-of", AS_OF)
    shop.config("columns:\n  profiles: {city: town}\n")
    assert "columns.profiles.city: " in error_of(shop, "validate", "--data", str(good), "--as-of", AS_OF)
