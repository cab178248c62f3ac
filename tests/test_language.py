"""Segment language v2 against hand-computed sets and DuckDB: `event`, first/last, relative periods, sequences,
segment references, samples and splits. Edges: window boundaries, repeats, missing values, negation,
visitors without events."""

import hashlib
from pathlib import Path

import duckdb
import polars as pl
import pytest

from conftest import Workspace, conversion, pageview
from segtool.language.parse_events import MAX_RULE_DEPTH

AS_OF = "2024-06-30T12:00:00Z"


def event(vid: str, ts: str, kind: str, **extra) -> dict:
    return {"visitor_id": vid, "timestamp": ts, "event_type": kind, **extra}


# -- event: conditions on one and the same event, counted ------------------------------------------------
@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    ws.events(
        event("a", "2024-06-29T10:00:00Z", "add_to_cart", colour="red"),
        event("a", "2024-06-25T10:00:00Z", "add_to_cart", colour="blue"),
        event("a", "2024-06-01T10:00:00Z", "add_to_cart"),
        event("b", "2024-06-28T10:00:00Z", "add_to_cart", colour="red"),
        event("c", "2024-06-28T10:00:00Z", "pageview"),
        # two different visits: google by e-mail, then facebook by cpc
        event("e", "2024-06-20T10:00:00Z", "pageview", utm_source="google", utm_medium="email"),
        event("e", "2024-06-21T10:00:00Z", "pageview", utm_source="fb", utm_medium="cpc"),
        event("g", "2024-06-22T10:00:00Z", "pageview", url="https://shop.example/?utm_source=google&utm_medium=cpc"),
        conversion("a", "2024-06-29T11:00:00Z", 10, "o1"),
    )
    ws.profiles({"visitor_id": "d", "city": "Milan"}, {"visitor_id": "a", "city": "Rome"})
    return ws


EVENT_CASES = [
    ("event: {type: {is: add_to_cart}}", {"a", "b"}),
    ("event: {type: {is: add_to_cart}, count: {gte: 2}, period: 7d}", {"a"}),
    ("event: {type: {is: add_to_cart}, count: {gte: 3}}", {"a"}),
    ("event: {type: {is: add_to_cart}, count: {lt: 1}}", {"c", "d", "e", "g"}),  # no such event: 0
    ("not: {event: {type: {is: add_to_cart}}}", {"c", "d", "e", "g"}),
    ("event: {type: {is: add_to_cart}, count: {eq: 0}, period: 7d}", {"c", "d", "e", "g"}),
    ("event: {type: {is: add_to_cart}, count: {between: [1, 1]}}", {"b"}),
    # one and the same event meets both, not two visits (the URL's UTMs count as anywhere else)
    ("event: {utm_source: {is: google}, utm_medium: {is: cpc}}", {"g"}),
    ("event: {properties.colour: {is: red}, type: {is: add_to_cart}, period: 7d}", {"a", "b"}),
    # negative conditions per event: an add_to_cart without colour is not red
    ("event: {type: {is: add_to_cart}, properties.colour: {is_not: red}}", {"a"}),
    ("event: {type: {is: add_to_cart}, properties.colour: {is_set: false}}", {"a"}),
    ("event: {count: {gte: 4}}", {"a"}),  # every event counts (the conversion too)
    ("event: {type: {is: conversion}, order_value: {gte: 10}}", {"a"}),
]


@pytest.mark.parametrize("rule, expected", EVENT_CASES, ids=[c[0] for c in EVENT_CASES])
def test_event_rule(shop: Workspace, rule, expected):
    assert set(shop.run(f"rules:\n  - {rule}\n", as_of=AS_OF)) == expected


def test_two_visits_meet_two_field_rules_but_not_one_event_rule(shop: Workspace):
    both_fields = "rules:\n  - utm_source: {is: google}\n  - utm_medium: {is: cpc}\n"
    assert shop.run(both_fields, as_of=AS_OF) == ["e", "g"]
    assert shop.run("rules:\n  - event: {utm_source: {is: google}, utm_medium: {is: cpc}}\n", as_of=AS_OF) == ["g"]


def test_event_rule_errors_have_positions(shop: Workspace):
    path = shop.segment("rules:\n  - event: {typ: {is: x}}\n")
    result = shop.cli("validate", str(path))
    assert result.exit_code == 1 and f"{path}:2:13: unknown event field 'typ' (did you mean 'type'?)" in result.stderr
    path = shop.segment("rules:\n  - event: {properties.size: {is: m}}\n")
    result = shop.cli("run", str(path), "--as-of", AS_OF)
    assert result.exit_code == 3 and "properties.size reads column 'size' of events" in result.stderr


# -- first and last -------------------------------------------------------------------------------------
@pytest.fixture
def timeline(ws: Workspace) -> Workspace:
    ws.events(
        pageview("old", "2024-01-01T00:00:00Z"), pageview("old", "2024-05-31T12:00:00Z"),
        pageview("edge", "2024-05-31T12:00:00Z"),           # exactly 30 days before AS_OF
        pageview("inside", "2024-05-31T12:00:01Z"),
        pageview("fresh", "2024-06-30T11:00:00Z"),
        conversion("buyer", "2024-06-10T00:00:00Z", 5, "b1"), conversion("buyer", "2024-03-01T00:00:00Z", 5, "b0"),
        conversion("new", "2024-06-29T00:00:00Z", 5, "n1"),
        pageview("future", "2024-07-02T00:00:00Z"),          # after as_of: not seen at all
    )
    ws.profiles({"visitor_id": "profile_only", "signup": "2024-06-20"}, {"visitor_id": "old", "signup": "2023-12-01"},
                {"visitor_id": "fresh", "signup": "2024-06-30T10:00:00+02:00"}, {"visitor_id": "new", "signup": ""})
    return ws


INSTANT_CASES = [
    # within 30d = the window `period: 30d` covers: after as_of - 30 days, up to as_of
    ("last_seen: {within: 30d}", AS_OF, {"inside", "fresh", "buyer", "new"}),
    ("last_seen: {before: 30d}", AS_OF, {"old", "edge"}),
    ("not: {last_seen: {within: 30d}}", AS_OF, {"old", "edge", "profile_only"}),
    ("first_seen: {before: 100d}", AS_OF, {"old", "buyer"}),
    ("first_seen: {gte: 30}", AS_OF, {"old", "edge", "buyer"}),  # whole days since
    ("first_seen: {is_set: false}", AS_OF, {"profile_only"}),
    ("first_conversion: {within: 30d}", AS_OF, {"new"}),  # buyer's first was in March
    ("first_conversion: {within: 2d}", "2024-06-30", {"new"}),  # a date as_of: the two days 06-29 and 06-30
    ("first_conversion: {within: 1d}", "2024-06-30", set()),
    ("first_conversion: {before: 90d}", AS_OF, {"buyer"}),
    ("last_seen: {within: 12h}", AS_OF, {"fresh"}),
    # a date column of the profiles takes the same operators
    ("profile.signup: {within: 30d}", AS_OF, {"profile_only", "fresh"}),
    ("profile.signup: {before: 30d}", AS_OF, {"old"}),
    ("not: {profile.signup: {within: 30d}}", AS_OF, {"old", "edge", "inside", "buyer", "new"}),
]


@pytest.mark.parametrize("rule, as_of, expected", INSTANT_CASES, ids=[f"{c[0]}@{c[1]}" for c in INSTANT_CASES])
def test_first_and_last(timeline: Workspace, rule, as_of, expected):
    assert set(timeline.run(f"rules:\n  - {rule}\n", as_of=as_of)) == expected


@pytest.mark.parametrize("period, expected", [
    ("{from: 31d, to: 30d}", {"edge", "old"}),   # (as_of - 31d, as_of - 30d]: 05-31 12:00 is in, 12:00:01 out
    ("{from: 30d, to: 1d}", {"inside", "buyer", "new"}),  # new's 06-29 00:00 is 36 hours before as_of
    ("{from: 200d, to: 100d}", {"old", "buyer"}),
])
def test_relative_periods(timeline: Workspace, period, expected):
    assert set(timeline.run(f"rules:\n  - event: {{period: {period}}}\n", as_of=AS_OF)) == expected


def test_a_relative_period_must_end_after_it_starts(timeline: Workspace):
    path = timeline.segment("rules:\n  - conversions: {gte: 1, period: {from: 30d, to: 90d}}\n")
    result = timeline.cli("validate", str(path))
    assert result.exit_code == 1 and "from 30d ago must be longer ago than to 90d" in result.stderr


# -- sequences --------------------------------------------------------------------------------------------
ABANDONED = """rules:
  - sequence:
      steps:
        - {type: {is: add_to_cart}}
        - {type: {is: begin_checkout}, within: 1h}
      then_not: {type: {is: purchase}, within: 2d}
      period: 30d
"""


@pytest.fixture
def carts(ws: Workspace) -> Workspace:
    rows = [
        # abandoned: cart, checkout 59 minutes later, nothing after
        ("abandoned", "2024-06-10T10:00:00Z", "add_to_cart"), ("abandoned", "2024-06-10T10:59:00Z", "begin_checkout"),
        # exactly an hour: counts (within is inclusive)
        ("hour", "2024-06-10T10:00:00Z", "add_to_cart"), ("hour", "2024-06-10T11:00:00Z", "begin_checkout"),
        # an hour and a second: too late
        ("late", "2024-06-10T10:00:00Z", "add_to_cart"), ("late", "2024-06-10T11:00:01Z", "begin_checkout"),
        # checkout at the same instant as the cart: not after it
        ("same", "2024-06-10T10:00:00Z", "add_to_cart"), ("same", "2024-06-10T10:00:00Z", "begin_checkout"),
        # checkout before the cart: wrong order
        ("order", "2024-06-10T10:00:00Z", "begin_checkout"), ("order", "2024-06-10T10:30:00Z", "add_to_cart"),
        # bought 2 days after the checkout exactly: not abandoned (then_not is inclusive)
        ("bought", "2024-06-10T10:00:00Z", "add_to_cart"), ("bought", "2024-06-10T10:30:00Z", "begin_checkout"),
        ("bought", "2024-06-12T10:30:00Z", "purchase"),
        # bought 2 days and a second later: abandoned
        ("slow", "2024-06-10T10:00:00Z", "add_to_cart"), ("slow", "2024-06-10T10:30:00Z", "begin_checkout"),
        ("slow", "2024-06-12T10:30:01Z", "purchase"),
        # repeats: a first chain bought, a later one abandoned -> matches (some chain qualifies)
        ("repeat", "2024-06-01T10:00:00Z", "add_to_cart"), ("repeat", "2024-06-01T10:10:00Z", "begin_checkout"),
        ("repeat", "2024-06-01T10:20:00Z", "purchase"),
        ("repeat", "2024-06-15T10:00:00Z", "add_to_cart"), ("repeat", "2024-06-15T10:10:00Z", "begin_checkout"),
        # many carts, the checkout near only the last one
        ("many", "2024-06-10T06:00:00Z", "add_to_cart"), ("many", "2024-06-10T09:30:00Z", "add_to_cart"),
        ("many", "2024-06-10T10:00:00Z", "begin_checkout"),
        # checkout 1 hour before as_of: the 2 days have not passed, not (yet) abandoned
        ("recent", "2024-06-30T10:30:00Z", "add_to_cart"), ("recent", "2024-06-30T11:00:00Z", "begin_checkout"),
        # a purchase after as_of is not seen: abandoned as of then
        ("later", "2024-06-20T10:00:00Z", "add_to_cart"), ("later", "2024-06-20T10:05:00Z", "begin_checkout"),
        ("later", "2024-07-01T00:00:00Z", "purchase"),
        # the cart before the period: the chain does not count
        ("before", "2024-05-31T11:30:00Z", "add_to_cart"), ("before", "2024-05-31T12:10:00Z", "begin_checkout"),
        # a purchase without a checkout before it
        ("buyer", "2024-06-10T10:00:00Z", "purchase"),
    ]
    ws.events(*(event(v, t, k) for v, t, k in rows))
    ws.profiles({"visitor_id": "profile_only"})
    ws.config("conversion_events: [purchase]\n")
    return ws


def test_abandoned_checkout(carts: Workspace):
    assert set(carts.run(ABANDONED, as_of=AS_OF)) == {"abandoned", "hour", "slow", "repeat", "many", "later"}


def test_a_sequence_without_then_not_and_its_negation(carts: Workspace):
    chain = "rules:\n  - sequence:\n      steps:\n        - {type: {is: add_to_cart}}\n" \
            "        - {type: {is: begin_checkout}, within: 1h}\n"
    reached = {"abandoned", "hour", "bought", "slow", "repeat", "many", "recent", "later", "before"}
    assert set(carts.run(chain, as_of=AS_OF)) == reached
    negated = chain.replace("  - sequence:", "  - not:\n      sequence:").replace("\n      steps:", "\n        steps:") \
        .replace("        - {", "          - {")
    everyone = reached | {"late", "same", "order", "buyer", "profile_only"}
    assert set(carts.run(negated, as_of=AS_OF)) == everyone - reached


def test_sequences_agree_with_duckdb(carts: Workspace):
    """The abandoned-checkout rule as SQL written from its definition in docs/segments.md (all chains, joined)."""
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    db.execute(f"CREATE VIEW ev AS SELECT visitor_id, CAST(timestamp AS TIMESTAMPTZ) AS ts, event_type "
               f"FROM read_csv('{carts.root / 'events.csv'}', all_varchar = true)")
    end = "TIMESTAMPTZ '2024-06-30 12:00:00+00'"
    sql = f"""
        SELECT DISTINCT c.visitor_id FROM ev c JOIN ev k ON k.visitor_id = c.visitor_id
        WHERE c.event_type = 'add_to_cart' AND k.event_type = 'begin_checkout'
          AND c.ts > {end} - INTERVAL 30 DAY AND c.ts <= {end} AND k.ts > {end} - INTERVAL 30 DAY AND k.ts <= {end}
          AND k.ts > c.ts AND k.ts <= c.ts + INTERVAL 1 HOUR
          AND k.ts + INTERVAL 2 DAY <= {end}
          AND NOT EXISTS (SELECT 1 FROM ev p WHERE p.visitor_id = k.visitor_id AND p.event_type = 'purchase'
                          AND p.ts > k.ts AND p.ts <= k.ts + INTERVAL 2 DAY AND p.ts <= {end})"""
    expected = {row[0] for row in db.execute(sql).fetchall()}
    assert set(carts.run(ABANDONED, as_of=AS_OF)) == expected


@pytest.mark.parametrize("text, message", [
    ("rules:\n  - sequence: {steps: [{type: {is: a}, within: 1h}]}\n", "the first step takes no `within`"),
    ("rules:\n  - sequence: {steps: [{type: {is: a}}], then_not: {type: {is: b}}}\n", "then_not needs `within`"),
    ("rules:\n  - sequence: {steps: []}\n", "a non-empty list"),
    ("rules:\n  - sequence: {steps: [{type: {is: a}}], then: 1}\n", "unknown sequence key 'then' (did you mean"),
])
def test_sequence_errors(ws: Workspace, text, message):
    result = ws.cli("validate", str(ws.segment(text)))
    assert result.exit_code == 1 and message in result.stderr


# -- segment references -----------------------------------------------------------------------------------
def test_references_within_a_run_and_from_the_library(shop: Workspace):
    (shop.root / "lib").mkdir()
    (shop.root / "lib" / "carted.yaml").write_text("name: carted\nrules:\n  - event: {type: {is: add_to_cart}}\n")
    shop.config("library: lib\n")
    exclusion = shop.segment("name: no_cart\nrules:\n  - not: {segment: carted}\n", name="no_cart.yaml")
    both = shop.segment("name: both\nmatch: any\nrules:\n  - segment: no_cart\n  - segment: carted\n", name="both.yaml")
    result = shop.cli("run", str(exclusion), str(both), "--as-of", AS_OF, "--summary", "--format", "json")
    assert result.exit_code == 0, result.stderr
    import json
    sizes = {s["name"]: s["size"] for s in json.loads(result.stdout)["segments"]}
    assert sizes == {"no_cart": 4, "both": 6}
    assert shop.cli("run", str(exclusion), "--as-of", AS_OF).ids == ["c", "d", "e", "g"]


def test_a_segment_may_name_a_neighbour_in_its_folder(shop: Workspace):
    folder = shop.root / "audiences"
    folder.mkdir()
    (folder / "carted.yaml").write_text("name: carted\nrules:\n  - event: {type: {is: add_to_cart}}\n")
    (folder / "no_cart.yaml").write_text("name: no_cart\nrules:\n  - not: {segment: carted}\n")
    (folder / "broken.yaml").write_text("rules:\n  - nonsense: {is: x}\n")  # not named: not reported
    result = shop.cli("run", str(folder / "no_cart.yaml"), "--as-of", AS_OF)
    assert result.exit_code == 0, result.stderr
    assert result.ids == ["c", "d", "e", "g"]


def test_unknown_and_circular_references(ws: Workspace):
    one = ws.segment("name: one\nrules:\n  - segment: two\n", name="one.yaml")
    two = ws.segment("name: two\nrules:\n  - not: {segment: one}\n", name="two.yaml")
    three = ws.segment("name: three\nrules:\n  - segment: tree\n", name="three.yaml")
    result = ws.cli("validate", str(one), str(two), str(three))
    assert result.exit_code == 1
    assert f"{three}:3:5: unknown segment 'tree' (did you mean 'three'?)" in result.stderr
    assert "refers back to itself: one -> two -> one" in result.stderr or \
           "refers back to itself: two -> one -> two" in result.stderr


def test_a_reference_to_an_invalid_file_names_that_file_and_its_problem(ws: Workspace):
    one = ws.segment("name: one\nrules:\n  - segment: two\n", name="one.yaml")
    ws.segment("name: two\nrules:\n  - segment: three\n", name="two.yaml")
    three = ws.segment("name: three\nrules:\n  - cty: {is: x}\n", name="three.yaml")
    result = ws.cli("validate", str(one))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert f"two.yaml:3:5: segment 'three' cannot be used: its file {three} has errors" in result.stderr
    assert f"{three}:3:5: unknown field 'cty'" in result.stderr and "unknown segment" not in result.stderr
    three.unlink()  # a name that is nowhere, two references away: an error at that reference, no KeyError
    result = ws.cli("validate", str(one))
    assert result.exit_code == 1 and "two.yaml:3:5: unknown segment 'three'" in result.stderr, result.stderr


def _chain(ws: Workspace, length: int) -> Path:
    """s0 names s1, which names s2, ... up to the last, which holds the rule."""
    for i in range(length):
        rule = f"segment: s{i + 1}" if i < length - 1 else "url: {contains: a}"
        ws.segment(f"rules:\n  - {rule}\n", name=f"s{i}.yaml")
    return ws.root / "s0.yaml"


def test_a_chain_of_references_gives_the_answer_up_to_the_depth_limit_and_one_error_beyond(ws: Workspace):
    ws.events(event("v1", "2024-06-01T10:00:00Z", "pageview", url="/a"),
              event("v2", "2024-06-01T10:00:00Z", "pageview", url="/b"))
    config = str(ws._write_config())
    first = _chain(ws, MAX_RULE_DEPTH)
    for engine in ("polars", "duckdb"):
        assert ws.cli("run", str(first), "--as-of", AS_OF, "--engine", engine).ids == ["v1"]
    assert ws.cli("sql", str(first), "--config", config).exit_code == 0
    first = _chain(ws, 1500)
    expected = (f"Error: {first}:2:5: rules nest 1,500 levels deep through segment 's1' "
                "(s0 -> s1 -> s2 -> ... -> s1498 -> s1499: 1,500 segments); at most 100, a named segment's rules "
                "counting one level below the reference\n")
    for args in (["validate"], ["run", "--as-of", AS_OF], ["run", "--as-of", AS_OF, "--engine", "duckdb"],
                 ["sql", "--config", config]):
        result = ws.cli(args[0], str(first), *args[1:])
        assert (result.exit_code, result.stderr) == (1, expected), args


# -- samples and splits -------------------------------------------------------------------------------------
def _bucket(seed: str, vid: str) -> int:
    return int(hashlib.md5(f"{seed}:{vid}".encode()).hexdigest()[:8], 16) % 10_000


@pytest.fixture
def crowd(ws: Workspace) -> Workspace:
    ws.events(*(pageview(f"v{i:04d}", url="/") for i in range(2000)))
    return ws


def test_a_sample_is_the_documented_hash_and_duckdb_agrees(crowd: Workspace):
    ids = set(crowd.run("rules:\n  - sample: {percent: 10, seed: spring-promo}\n", as_of=AS_OF))
    assert ids == {f"v{i:04d}" for i in range(2000) if _bucket("spring-promo", f"v{i:04d}") < 1000}
    assert 150 < len(ids) < 250
    sql = (f"SELECT visitor_id FROM read_csv('{crowd.root / 'events.csv'}', all_varchar = true) "
           "WHERE CAST(('0x' || left(md5('spring-promo:' || visitor_id), 8)) AS UBIGINT) % 10000 < 1000")
    assert ids == {row[0] for row in duckdb.sql(sql).fetchall()}
    rest = set(crowd.run("rules:\n  - not: {sample: {percent: 10, seed: spring-promo}}\n", as_of=AS_OF))
    assert ids.isdisjoint(rest) and len(ids | rest) == 2000


def test_a_sample_does_not_depend_on_the_order_of_the_rows(crowd: Workspace, tmp_path):
    rows = pl.read_csv(crowd.root / "events.csv", infer_schema=False)
    rows.reverse().write_parquet(tmp_path / "reversed.parquet")
    segment = crowd.segment("rules:\n  - sample: {percent: 37.5, seed: x}\n")
    forward = crowd.cli("run", str(segment), "--as-of", AS_OF).ids
    backward = crowd.cli("run", str(segment), "--as-of", AS_OF, "--events", str(tmp_path / "reversed.parquet")).ids
    assert forward == backward


def test_split_writes_stable_parts(crowd: Workspace, tmp_path):
    segment = crowd.segment("name: everyone\nrules:\n  - url: {is_set: true}\n")
    out = tmp_path / "out"
    result = crowd.cli("run", str(segment), "--as-of", AS_OF, "--output-dir", str(out), "--split", "90:10")
    assert result.exit_code == 0, result.stderr
    a = pl.read_csv(out / "everyone.a.csv", infer_schema=False)["visitor_id"].to_list()
    b = pl.read_csv(out / "everyone.b.csv", infer_schema=False)["visitor_id"].to_list()
    assert len(a) + len(b) == 2000 and not set(a) & set(b)
    assert set(b) == {f"v{i:04d}" for i in range(2000) if _bucket("everyone", f"v{i:04d}") >= 9000}
    bad = crowd.cli("run", str(segment), "--as-of", AS_OF, "--output-dir", str(out), "--split", "90:20")
    assert bad.exit_code == 2 and "add up to 100" in bad.stderr


def test_split_parts_keep_the_extension_and_never_go_to_stdout(crowd: Workspace, tmp_path):
    segment = crowd.segment("name: everyone\nrules:\n  - url: {is_set: true}\n")
    result = crowd.cli("run", str(segment), "--as-of", AS_OF, "-o", str(tmp_path / "promo.v2.csv"),
                       "--split", "50:30:20")
    assert result.exit_code == 0, result.stderr
    sizes = [len(pl.read_csv(tmp_path / f"promo.v2.{part}.csv", infer_schema=False)) for part in "abc"]
    assert sum(sizes) == 2000 and sizes[0] > sizes[1] > sizes[2] > 0
    refused = crowd.cli("run", str(segment), "--as-of", AS_OF, "-o", "-", "--split", "90:10")
    assert refused.exit_code == 2 and "not stdout" in refused.stderr


# -- explain and fields --------------------------------------------------------------------------------------
def test_explain_and_fields_cover_the_new_kinds(carts: Workspace):
    explained = carts.cli("explain", str(carts.segment(ABANDONED)), "--as-of", AS_OF).stdout
    assert ("a sequence: an event where type is 'add_to_cart', then within 1 hour an event where type is "
            "'begin_checkout', then no event where type is 'purchase' within 2 days; steps in the last 30 days") \
        in explained
    import json

    catalog = json.loads(carts.cli("fields", "--format", "json").stdout)
    names = {row["field"]: row for row in catalog["fields"]}
    assert {"first_seen", "last_seen", "first_conversion"} <= set(names)
    assert "within" in names["first_conversion"]["operators"] and "before" in names["last_seen"]["operators"]
    assert set(catalog["rule_kinds"]) == {"event", "sequence", "segment", "sample"}
