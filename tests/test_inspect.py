"""Looking at a segment before an upload: `segtool show` (members with profile columns, on every engine) and
`segtool why` (one visitor rule by rule, with the values and rows that decided each; the verdicts are the
run's), and `run --report` (a run summary for Slack or e-mail)."""

from __future__ import annotations

import json

import pytest

from conftest import Workspace, conversion, pageview

AS_OF = "2024-06-30T23:59:59Z"
NESTED = """
name: nested
match: any
rules:
  - all:
      - conversions: {gte: 2, period: 30d}
      - not: {city: {is: Berlin}}
  - event: {type: {is: pageview}, utm_source: {is: mail}, count: {gte: 2}}
  - segment: big
"""
BIG = "name: big\nrules:\n  - total_order_value: {gte: 100}\n"


@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    ws.events(conversion("ann", "2024-06-10T10:00:00Z", 20, "o1"), conversion("ann", "2024-06-20T10:00:00Z", 30, "o2"),
              conversion("ben", "2024-06-11T10:00:00Z", 60, "o3"), conversion("ben", "2024-06-12T10:00:00Z", 50, "o4"),
              conversion("cid", "2024-04-01T10:00:00Z", 10, "o5"), conversion("cid", "2024-06-21T10:00:00Z", 10, "o6"),
              pageview("dee", "2024-06-01T10:00:00Z", utm_source="mail"),
              pageview("dee", "2024-06-03T10:00:00Z", utm_source="mail"),
              pageview("eve", "2024-06-05T10:00:00Z", utm_source="mail"),
              pageview("ann", "2024-06-05T10:00:00Z", utm_source="ads"))
    ws.profiles({"visitor_id": "ann", "city": "Amsterdam", "email": "ann@example.com"},
                {"visitor_id": "ben", "city": "Berlin", "email": "ben@example.com"},
                {"visitor_id": "fay", "city": "Berlin", "email": None})
    (ws.root / "big.yaml").write_text(BIG)
    ws.segment(NESTED, "nested.yaml")
    return ws


def why(ws: Workspace, visitor: str, *args: str) -> dict:
    out = ws.cli("why", visitor, str(ws.root / "nested.yaml"), "--as-of", AS_OF, "--format", "json",
                 "--config", str(ws.root / "segtool.yaml"), *args)
    assert out.exit_code == 0, out.stderr
    return json.loads(out.stdout)


def test_why_gives_the_runs_verdict_for_every_visitor(shop: Workspace):
    members = set(shop.cli("run", str(shop.root / "nested.yaml"), "--as-of", AS_OF).ids)
    assert members == {"ann", "ben", "dee"}  # by hand: ann two orders, dee two mail visits, ben 110 spent
    for visitor in ("ann", "ben", "cid", "dee", "eve", "fay"):
        found = why(shop, visitor)
        assert found["member"] == (visitor in members) == found["rules"][0]["met"], visitor
        assert [r["depth"] for r in found["rules"]] == [0, 1, 2, 2, 3, 1, 1, 2, 3]


def test_why_shows_the_values_and_rows_that_decided(shop: Workspace):
    rules = why(shop, "ben")["rules"]
    assert [(r["rule"], r["met"]) for r in rules] == [
        ("one or more of:", True), ("all of:", False),
        ("number of conversions ≥ 2, in the last 30 days", True), ("not:", False), ("city is 'Berlin'", True),
        ("number of events where type is 'pageview' and utm_source is 'mail' ≥ 2", False),
        ("in segment 'big':", True), ("all of:", True), ("total order value ≥ 100", True)]
    conversions = rules[2]
    assert conversions["values"] == [{"what": "conversions counted", "value": 2.0}]
    assert conversions["rows"] == [{"table": "conversions", "total": 2, "first": [
        {"timestamp": "2024-06-11T10:00:00Z", "order_id": "o3", "order_value": 60.0},
        {"timestamp": "2024-06-12T10:00:00Z", "order_id": "o4", "order_value": 50.0}]}]
    assert rules[4]["values"] == [{"what": "profile.city", "value": "Berlin"}]
    dee = why(shop, "dee")["rules"]
    visits = dee[5]
    assert visits["met"] and visits["values"] == [{"what": "matching events", "value": 2.0}]
    assert [row["timestamp"] for row in visits["rows"][0]["first"]] == ["2024-06-01T10:00:00Z", "2024-06-03T10:00:00Z"]
    assert [(r["rule"], r["met"]) for r in dee[6:]] == [("in segment 'big':", False), ("all of:", False),
                                                        ("total order value ≥ 100", False)]
    assert dee[8]["values"] == [{"what": "sum of order values", "value": None}]


def test_why_in_words(shop: Workspace):
    out = shop.cli("why", "ben", str(shop.root / "nested.yaml"), "--as-of", AS_OF, "--config",
                   str(shop.root / "segtool.yaml"))
    assert out.exit_code == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "ben is a member of nested as of 2024-06-30T23:59:59Z"
    assert lines[1] == "yes  one or more of:"
    assert "no     all of:" in lines and "yes      number of conversions ≥ 2, in the last 30 days" in lines
    assert "               2024-06-11T10:00:00Z  o3  60" in lines


def test_why_an_unknown_visitor_names_close_ids(shop: Workspace):
    out = shop.cli("why", "Bem", str(shop.root / "nested.yaml"), "--as-of", AS_OF, "--config",
                   str(shop.root / "segtool.yaml"))
    assert out.exit_code == 2
    assert out.stderr.startswith("Error: visitor 'Bem' is not among the 6 visitors as of 2024-06-30T23:59:59Z")
    assert "close IDs: 'ben'" in out.stderr
    later = shop.cli("why", "eve", str(shop.root / "nested.yaml"), "--as-of", "2024-06-01", "--config",
                     str(shop.root / "segtool.yaml"))  # eve has no profile, and her one event is after as_of
    assert later.exit_code == 2 and "visitor 'eve' is not among the 5 visitors" in later.stderr


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_show_previews_members_with_profile_columns(shop: Workspace, engine):
    path = str(shop.root / "nested.yaml")
    config = ("--config", str(shop.root / "segtool.yaml"), "--as-of", AS_OF, "--engine", engine)
    out = shop.cli("show", path, "--format", "csv", *config)
    assert out.exit_code == 0, out.stderr
    assert out.stdout == ("visitor_id,city,email\nann,Amsterdam,ann@example.com\nben,Berlin,ben@example.com\n"
                          "dee,,\n")
    limited = shop.cli("show", path, "--format", "json", "--limit", "1", "--columns", "city", *config)
    assert json.loads(limited.stdout) == [{"visitor_id": "ann", "city": "Amsterdam"}]
    table = shop.cli("show", path, "--limit", "2", *config)
    assert "nested: 3 members as of 2024-06-30T23:59:59Z, the first 2 by visitor_id" in table.stdout
    assert "Amsterdam" in table.stdout and "dee" not in table.stdout
    bad = shop.cli("show", path, "--format", "xml", *config)
    assert bad.exit_code == 2 and "show --format takes table, csv, json, ndjson" in bad.stderr


def test_run_report_sizes_changes_guards_and_overlap(shop: Workspace):
    (shop.root / "small.yaml").write_text("name: small\nrules:\n  - conversions: {gte: 2}\n"
                                          "expect: {max_size: 2}\n")
    out, report = shop.root / "out", shop.root / "report.md"
    segments = [str(shop.root / name) for name in ("big.yaml", "nested.yaml", "small.yaml")]
    config = ("--config", str(shop.root / "segtool.yaml"), "-q")
    first = shop.cli("run", *segments, "--output-dir", str(out), "--as-of", "2024-06-15", "--report", str(report),
                     *config)
    assert first.exit_code == 0, first.stderr
    second = shop.cli("run", *segments, "--output-dir", str(out), "--changes", "--as-of", AS_OF,
                      "--report", str(report), *config)
    assert second.exit_code == 4  # small: 3 buyers, more than max_size 2
    text = report.read_text()
    assert text.startswith("# segtool run as of 2024-06-30T23:59:59Z\n")
    assert "| big | 1 | 16.7% | +0 (+0 / -0) | written |" in text  # ben, by 12 June already
    assert "| nested | 3 | 50.0% | +1 (+1 / -0) | written |" in text  # ann's second order on 20 June
    assert "| small | 3 | 50.0% | +2 | guard failed |" in text
    assert "- Guard: small: 3 visitors, more than max_size 2; its last file was kept" in text
    assert "| big | nested | 1 |" in text and "| nested | small | 2 |" in text and "| big | small | 1 |" in text
    page = shop.root / "report.html"
    assert shop.cli("run", *segments[:2], "--as-of", AS_OF, "--report", str(page), *config).exit_code == 0
    assert "<td>nested</td><td>3</td><td>50.0%</td>" in page.read_text() and page.read_text().startswith("<!DOCTYPE")
    bad = shop.cli("run", *segments[:2], "--as-of", AS_OF, "--report", str(shop.root / "report.txt"), *config)
    assert bad.exit_code == 2 and "--report writes Markdown (.md) or HTML (.html), found 'report.txt'" in bad.stderr
