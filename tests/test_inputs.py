"""Reading exports: timestamps to UTC whatever the machine's TZ, as_of, the universe, column mapping, bad data."""

import json
import os
import time

import polars as pl
import pytest

from conftest import Workspace, conversion, pageview

LAST_DAY = "rules:\n  - conversions: {gte: 1, period: 1d}\n"


@pytest.fixture
def far_tz():
    """Run under a machine time zone far from UTC: nothing may depend on it."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"  # UTC+14
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.usefixtures("far_tz")
def test_offsets_are_converted_to_utc_across_midnight(ws: Workspace):
    ws.events(
        conversion("a", "2024-06-30T01:30:00+02:00"),   # 2024-06-29 23:30 UTC: outside (06-30 00:00, 07-01 00:00)
        conversion("b", "2024-06-29T23:30:00-02:00"),   # 2024-06-30 01:30 UTC: inside
        conversion("c", "2024-06-30T00:00:00Z"),        # exactly midnight: the window's start is exclusive
        conversion("d", "2024-06-30 12:00:00"),         # no offset: UTC
        conversion("e", "2024-06-30"),                  # a date alone: its midnight UTC, excluded as c
        conversion("f", "2024-07-01T00:00:00Z"),        # at as_of: included
        conversion("g", "2024-07-01T00:00:01Z"),        # after as_of: ignored
    )
    assert ws.run(LAST_DAY, as_of="2024-07-01T00:00:00Z") == ["b", "d", "f"]


@pytest.mark.usefixtures("far_tz")
def test_date_as_of_means_through_the_end_of_that_day(ws: Workspace):
    ws.events(conversion("a", "2024-06-30T00:00:00Z"), conversion("b", "2024-06-30T23:59:59.999Z"),
              conversion("c", "2024-07-01T00:00:00Z"), conversion("d", "2024-06-29T23:59:59Z"))
    assert ws.run(LAST_DAY, as_of="2024-06-30") == ["a", "b"]
    # events after as_of are not in the universe either
    assert ws.run("rules:\n  - conversions: {lt: 1}\n", as_of="2024-06-30") == []
    assert ws.run("rules:\n  - conversions: {gte: 0}\n", as_of="2024-06-30") == ["a", "b", "d"]


@pytest.mark.parametrize("fmt, values", [
    ("epoch_s", [1719705600, 1719792000]),
    ("epoch_ms", [1719705600000, 1719792000000]),
    ("epoch_us", [1719705600000000, 1719792000000000]),
])
def test_epoch_timestamps(ws: Workspace, fmt, values):
    # 2024-06-30 00:00:00 UTC and 2024-07-01 00:00:00 UTC
    ws.events(conversion("early", values[0]), conversion("late", values[1])).config(f"timestamp_format: {fmt}\n")
    assert ws.run(LAST_DAY, as_of="2024-07-01T00:00:00Z") == ["late"]


def test_strftime_timestamp_format(ws: Workspace):
    ws.events(conversion("a", "30/06/2024 13:00"), conversion("b", "01/05/2024 13:00"))
    ws.config("timestamp_format: '%d/%m/%Y %H:%M'\n")
    assert ws.run(LAST_DAY, as_of="2024-06-30") == ["a"]


def test_numeric_timestamps_without_epoch_format_are_a_data_error(ws: Workspace, tmp_path):
    pl.DataFrame({"visitor_id": ["a"], "timestamp": [1719705600], "event_type": ["pageview"]}).write_parquet(
        tmp_path / "ev.parquet")
    result = ws.cli("run", str(ws.segment(LAST_DAY)), "--events", str(tmp_path / "ev.parquet"), "--as-of", "2024-07-01")
    assert result.exit_code == 3
    assert "epoch" in result.stderr and "timestamp" in result.stderr


def test_native_parquet_timestamps_and_ids(ws: Workspace, tmp_path):
    frame = pl.DataFrame({"visitor_id": ["007", "7"], "event_type": ["conversion", "conversion"]}).with_columns(
        pl.Series("timestamp", ["2024-06-30T12:00:00", "2024-06-20T12:00:00"]).str.to_datetime())
    frame.write_parquet(tmp_path / "ev.parquet")
    result = ws.cli("run", str(ws.segment(LAST_DAY)), "--events", str(tmp_path / "ev.parquet"), "--as-of", "2024-06-30")
    assert result.ids == ["007"]


def test_integer_ids_in_parquet_become_text(ws: Workspace, tmp_path):
    pl.DataFrame({"visitor_id": [7, 42], "timestamp": ["2024-06-30T12:00:00Z"] * 2,
                  "event_type": ["pageview", "conversion"]}).write_parquet(tmp_path / "ev.parquet")
    result = ws.cli("run", str(ws.segment("rules:\n  - conversions: {lt: 1}\n")), "--events",
                    str(tmp_path / "ev.parquet"), "--as-of", "2024-07-01")
    assert result.ids == ["7"]


def test_latest_as_of_is_the_newest_event(ws: Workspace):
    ws.events(conversion("a", "2024-03-01T10:00:00Z"), pageview("b", "2024-03-05T10:00:00Z"),
              conversion("c", "2024-02-01T10:00:00Z"))
    ws.config("as_of: latest\n")
    path = ws.segment("rules:\n  - days_since_last_conversion: {lte: 4}\n")
    assert ws.cli("run", str(path)).ids == ["a"]


def test_rows_without_visitor_or_timestamp_are_skipped_and_counted(ws: Workspace):
    ws.events(conversion("a", "2024-06-30T10:00:00Z"), conversion("", "2024-06-30T10:00:00Z"),
              conversion("b", "not a time"), conversion("c", ""), pageview("d"))
    ws.config("max_skipped_rows: 60%\n")  # 3 of 5
    path = ws.segment("name: buyers\nrules:\n  - conversions: {gte: 1}\n")
    result = ws.cli("run", str(path), "--as-of", "2024-07-01", "--summary", "--format", "json")
    summary = json.loads(result.stdout)
    assert summary["skipped_event_rows"] == 3
    assert ws.cli("run", str(path), "--as-of", "2024-07-01").ids == ["a"]
    assert ws.run("rules:\n  - conversions: {lt: 1}\n", as_of="2024-07-01") == ["d"]


def test_column_mapping(ws: Workspace):
    ws.events({"user_pseudo_id": "u1", "event_time": "2024-06-30T10:00:00Z", "event_name": "purchase",
               "Total": "12.5"},
              {"user_pseudo_id": "u2", "event_time": "2024-06-30T10:00:00Z", "event_name": "page_view",
               "Total": ""},
              columns=["user_pseudo_id", "event_time", "event_name", "Total"])
    ws.profiles({"id": "u2", "Town": "Milan"}, columns=["id", "Town"])
    ws.config("""
        columns:
          events: {visitor_id: user_pseudo_id, timestamp: event_time, event_type: event_name, order_value: Total}
          profiles: {visitor_id: id, city: Town}
        conversion_events: [purchase]
    """)
    assert ws.run("rules:\n  - total_order_value: {gt: 10}\n") == ["u1"]
    assert ws.run("rules:\n  - city: {is: Milan}\n") == ["u2"]
    explained = ws.cli("explain", str(ws.segment("rules:\n  - total_order_value: {gt: 10}\n  - city: {is: Milan}\n")),
                       "--as-of", "2024-07-01").stdout.splitlines()
    assert {"  visitor_id ← user_pseudo_id", "  order_value ← Total", "  visitor_id ← id", "  city ← Town"} <= \
        set(explained)
    assert sum(line.endswith("the config's columns: mapping:") for line in explained) == 2


def test_missing_events_file_is_exit_3_naming_it(ws: Workspace):
    result = ws.cli("run", str(ws.segment(LAST_DAY)), "--events", "nowhere/events.csv")
    assert result.exit_code == 3
    assert "nowhere/events.csv" in result.stderr
    assert result.stdout == ""


def test_missing_required_column_is_exit_3_naming_file_and_column(ws: Workspace):
    ws.events({"visitor_id": "a", "timestamp": "2024-06-30"}, columns=["visitor_id", "timestamp"])
    result = ws.cli("run", str(ws.segment(LAST_DAY)), "--as-of", "2024-07-01")
    assert result.exit_code == 3
    assert "event_type" in result.stderr and "events.csv" in result.stderr


def test_text_in_a_number_column_is_exit_3_naming_file_and_column(ws: Workspace):
    ws.events(conversion("a", "2024-06-30T10:00:00Z", "12.50"), conversion("b", "2024-06-30T10:00:00Z", "twelve"))
    result = ws.cli("run", str(ws.segment("rules:\n  - total_order_value: {gt: 1}\n")), "--as-of", "2024-07-01")
    assert result.exit_code == 3
    assert "order_value" in result.stderr and "events.csv" in result.stderr and "twelve" in result.stderr


def test_text_in_a_numeric_profile_column_is_exit_3(ws: Workspace):
    ws.events(pageview("a")).profiles({"visitor_id": "a", "clv": "lots"})
    result = ws.cli("run", str(ws.segment("rules:\n  - clv: {gt: 1}\n")), "--as-of", "2024-07-01")
    assert result.exit_code == 3
    assert "clv" in result.stderr and "profiles.csv" in result.stderr


def test_events_from_a_directory_and_a_glob(ws: Workspace, tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, vid in enumerate(["a", "b"]):
        pl.DataFrame({"visitor_id": [vid], "timestamp": ["2024-06-30T10:00:00Z"], "event_type": ["conversion"]}
                     ).write_parquet(parts / f"part-{i}.parquet")
    path = str(ws.segment(LAST_DAY))
    assert ws.cli("run", path, "--events", str(parts), "--as-of", "2024-06-30").ids == ["a", "b"]
    assert ws.cli("run", path, "--events", str(parts / "part-1*.parquet"), "--as-of", "2024-06-30").ids == ["b"]


def test_a_visitor_with_two_profile_rows_counts_once_with_the_first(ws: Workspace):
    ws.events(pageview("a"), pageview("b"))
    ws.profiles({"visitor_id": "a", "city": "Milan"}, {"visitor_id": "a", "city": "Rome"},
                {"visitor_id": "", "city": "Milan"})
    assert ws.run("rules:\n  - city: {is: Milan}\n") == ["a"]
    assert ws.run("rules:\n  - city: {is: Rome}\n") == []
    assert ws.run("rules:\n  - not: {city: {is: Rome}}\n") == ["a", "b"]
