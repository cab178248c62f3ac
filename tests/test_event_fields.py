"""Referrer & UTM and Conversion fields: windows, de-duplication, items, internal referrers, zero-event visitors."""

import pytest

from conftest import Workspace, conversion, pageview

AS_OF = "2024-06-30T12:00:00Z"


def ids(ws: Workspace, rule: str, as_of: str = AS_OF) -> list[str]:
    return ws.run(f"rules:\n  - {rule}\n", as_of=as_of)


# -- periods ----------------------------------------------------------------------------------------

@pytest.fixture
def edges(ws: Workspace) -> Workspace:
    return ws.events(
        conversion("at_start", "2024-06-23T12:00:00Z"),      # exactly as_of - 7d: outside (start exclusive)
        conversion("after_start", "2024-06-23T12:00:01Z"),   # inside
        conversion("at_as_of", "2024-06-30T12:00:00Z"),      # inside (end inclusive)
        conversion("after_as_of", "2024-06-30T12:00:01Z"),   # ignored everywhere
        conversion("june_first", "2024-06-01T00:00:00Z"),
        conversion("may_last", "2024-05-31T23:59:59Z"),
        conversion("june_last", "2024-06-30T23:59:59Z"),
        conversion("july_first", "2024-07-01T00:00:00Z"),
    )


def test_dynamic_period_edges_with_a_datetime_as_of(edges):
    assert ids(edges, "conversions: {gte: 1, period: 7d}") == ["after_start", "at_as_of"]
    assert ids(edges, "conversions: {gte: 1, period: {last: 1, unit: weeks}}") == ["after_start", "at_as_of"]
    assert ids(edges, "conversions: {gte: 1, period: 168h}") == ["after_start", "at_as_of"]
    # the visitor whose only event is after as_of is not in the universe at all
    assert "after_as_of" not in ids(edges, "conversions: {lt: 1, period: 7d}")


def test_dynamic_period_with_a_date_as_of_covers_whole_days(edges):
    # 7 calendar days ending with 2024-06-30: [06-24 00:00, 07-01 00:00)
    assert ids(edges, "conversions: {gte: 1, period: 7d}", as_of="2024-06-30") == ["after_as_of", "at_as_of",
                                                                                  "june_last"]


def test_fixed_period_is_whole_utc_days_inclusive(edges):
    rule = "conversions: {gte: 1, period: {from: 2024-06-01, to: 2024-06-30}}"
    assert ids(edges, rule, as_of="2024-07-31") == ["after_as_of", "after_start", "at_as_of", "at_start",
                                                    "june_first", "june_last"]
    # as_of still cuts a fixed window: nothing after it counts
    assert ids(edges, rule) == ["after_start", "at_as_of", "at_start", "june_first"]


def test_period_on_referrer_and_utm_rules(ws: Workspace):
    ws.events(pageview("old", "2024-05-01T10:00:00Z", utm_medium="cpc"),
              pageview("new", "2024-06-29T10:00:00Z", utm_medium="cpc"))
    assert ids(ws, "utm_medium: {is: cpc, period: 30d}") == ["new"]
    assert ids(ws, "utm_medium: {is: cpc}") == ["new", "old"]
    assert ids(ws, "utm_medium: {is_not: cpc, period: 30d}") == ["old"]


# -- conversions ----------------------------------------------------------------------------------

@pytest.fixture
def orders(ws: Workspace) -> Workspace:
    ws.events(
        conversion("twice", "2024-06-10T10:00:00Z", 50, "o1"),
        conversion("twice", "2024-06-10T10:05:00Z", 55, "o1"),   # the same order tracked again
        conversion("two", "2024-06-01T10:00:00Z", 100, "o2"),
        conversion("two", "2024-06-20T10:00:00Z", "", "o3"),     # no value: 0 in sums, not in averages
        conversion("free", "2024-06-20T10:00:00Z", ""),
        conversion("noid", "2024-06-28T10:00:00Z", 10),
        conversion("noid", "2024-06-28T10:00:00Z", 10),          # no order_id: each event counts
        pageview("browser"),
    )
    ws.profiles({"visitor_id": "profile_only"})
    return ws


CONVERSION_CASES = [
    ("conversions: {eq: 1}", ["free", "twice"]),
    ("conversions: {eq: 2}", ["noid", "two"]),
    ("conversions: {lt: 1}", ["browser", "profile_only"]),
    ("conversions: {gte: 0}", ["browser", "free", "noid", "profile_only", "twice", "two"]),
    ("total_order_value: {eq: 50}", ["twice"]),
    ("total_order_value: {eq: 0}", ["browser", "free", "profile_only"]),
    ("total_order_value: {eq: 100}", ["two"]),
    ("average_order_value: {eq: 100}", ["two"]),
    ("average_order_value: {lt: 1000}", ["noid", "twice", "two"]),
    ("average_order_value: {is_set: false}", ["browser", "free", "profile_only"]),
    ("not: {average_order_value: {gte: 20}}", ["browser", "free", "noid", "profile_only"]),
    ("order_value: {between: [50, 60]}", ["twice"]),
    ("order_value: {gte: 100, period: 14d}", []),
    ("order_value: {ne: 100}", ["browser", "free", "noid", "profile_only", "twice"]),
    ("days_since_last_conversion: {eq: 10}", ["free", "two"]),  # 06-20 10:00 → 06-30 12:00: 10.08 days
    ("days_since_last_conversion: {lte: 2}", ["noid"]),
    ("days_since_last_conversion: {is_set: false}", ["browser", "profile_only"]),
    ("conversions: {gte: 1, period: 15d}", ["free", "noid", "two"]),
]


@pytest.mark.parametrize("rule, expected", CONVERSION_CASES, ids=[c[0] for c in CONVERSION_CASES])
def test_conversion_fields(orders, rule, expected):
    assert ids(orders, rule) == expected


def test_conversion_event_types_come_from_the_config(ws: Workspace):
    ws.events({"visitor_id": "a", "timestamp": "2024-06-01", "event_type": "purchase"},
              {"visitor_id": "b", "timestamp": "2024-06-01", "event_type": "conversion"},
              {"visitor_id": "c", "timestamp": "2024-06-01", "event_type": "Purchase"})
    ws.config("conversion_events: [purchase]\n")
    assert ids(ws, "conversions: {gte: 1}") == ["a"]


# -- items ----------------------------------------------------------------------------------------

@pytest.fixture
def baskets(ws: Workspace) -> Workspace:
    ws.events(conversion("split", "2024-06-01", 10, "s1"), conversion("one", "2024-06-01", 10, "n1"),
              conversion("nobrand", "2024-06-01", 10, "b1"), conversion("twice", "2024-06-01", 10, "t1"),
              conversion("twice", "2024-06-02", 10, "t1"), conversion("two_orders", "2024-06-01", 10, "x1"),
              conversion("two_orders", "2024-06-02", 10, "x2"), conversion("noitems", "2024-06-01", 10, "none"))
    ws.items(
        {"order_id": "s1", "item_id": "SS24-1", "name": "Nike Sock", "brand": "Nike", "category": "socks",
         "price": 5, "quantity": 2},
        {"order_id": "s1", "item_id": "FW23-2", "name": "Adidas Runner", "brand": "Adidas", "category": "shoes",
         "price": 90, "quantity": 1},
        {"order_id": "n1", "item_id": "SS24-3", "name": "NIKE Air", "brand": "Nike", "category": "shoes",
         "price": 120, "quantity": 1},
        {"order_id": "b1", "item_id": "CORE-4", "name": "Plain tee", "brand": "", "category": "shirts",
         "price": 15, "quantity": 3},
        {"order_id": "t1", "item_id": "SS24-5", "name": "Nike Cap", "brand": "Nike", "category": "caps",
         "price": 20, "quantity": 1},
        {"order_id": "x1", "item_id": "SS24-6", "name": "Nike Shorts", "brand": "Nike", "category": "pants",
         "price": 30, "quantity": 1},
        {"order_id": "x2", "item_id": "FW23-7", "name": "Puma Shoe", "brand": "Puma", "category": "shoes",
         "price": 60, "quantity": 1},
    )
    return ws


ITEM_CASES = [
    ("conversions: {gte: 1, items: {brand: {is: Nike}, category: {is: shoes}}}", ["one"]),
    ("conversions: {gte: 1, items: {brand: {is: Nike}}}", ["one", "split", "twice", "two_orders"]),
    ("conversions: {eq: 1, items: {brand: {is: Nike}}}", ["one", "split", "twice", "two_orders"]),
    ("conversions: {gte: 1, items: {brand: {is_not: Nike}}}", ["nobrand", "split", "two_orders"]),
    ("conversions: {gte: 1, items: {name: {contains: nike, ignore_case: true}}}",
     ["one", "split", "twice", "two_orders"]),
    ("conversions: {gte: 1, items: {item_id: {starts_with: SS24-}}}", ["one", "split", "twice", "two_orders"]),
    ("conversions: {gte: 1, items: {price: {gte: 100}}}", ["one"]),
    ("conversions: {gte: 1, items: {quantity: {gt: 1}, category: {in: [socks, shirts]}}}", ["nobrand", "split"]),
    ("conversions: {lt: 1, items: {brand: {is: Nike}}}", ["nobrand", "noitems"]),
    ("total_order_value: {eq: 10, items: {brand: {is: Puma}}}", ["two_orders"]),
]


@pytest.mark.parametrize("rule, expected", ITEM_CASES, ids=[c[0] for c in ITEM_CASES])
def test_items_qualifier_applies_per_line_item(baskets, rule, expected):
    assert ids(baskets, rule) == expected


def test_items_rule_without_an_items_table_is_a_clear_error(ws: Workspace):
    ws.events(conversion("a", "2024-06-01", 1, "o"))
    result = ws.cli("run", str(ws.segment("rules:\n  - conversions: {gte: 1, items: {brand: {is: Nike}}}\n")),
                    "--as-of", AS_OF)
    assert result.exit_code == 3 and "items" in result.stderr


# -- referrers and UTMs ---------------------------------------------------------------------------

@pytest.fixture
def visits(ws: Workspace) -> Workspace:
    return ws.events(
        pageview("insta", referrer="https://WWW.Instagram.COM:443/shopexample/"),
        pageview("out", referrer="https://shop.example/out?to=www.instagram.com"),
        pageview("sub", referrer="https://blog.shop.example/post?from=instagram.com"),
        pageview("www_own", referrer="https://www.shop.example/"),
        pageview("lookalike", referrer="https://notshop.example/"),
        pageview("bare", referrer="instagram.com/x"),
        pageview("direct"),
        pageview("col", url="https://shop.example/?utm_source=url_wins_not", utm_source="column"),
        pageview("url", url="https://shop.example/p?a=1&utm_source=news%20letter&utm_campaign=summer+sale"),
        pageview("both", url="https://shop.example/?utm_source=fb", utm_source=""),
        pageview("plus", url="https://shop.example/?utm_medium=cpc&utm_source=a%2Bb"),
    )


REFERRER_CASES = [
    ("referrer_domain: {is: instagram.com}", ["bare", "insta"]),
    ("referrer: {contains: instagram}", ["bare"]),  # the full URL keeps its case
    ("referrer: {contains: instagram, ignore_case: true}", ["bare", "insta"]),
    ("referrer_domain: {is: notshop.example}", ["lookalike"]),
    ("referrer: {is: 'https://shop.example/out?to=www.instagram.com'}", []),  # internal, even named exactly
    ("referrer: {in: ['https://WWW.Instagram.COM:443/shopexample/', 'instagram.com/x', nowhere]}", ["bare", "insta"]),
    ("url: {is: 'https://shop.example/p?a=1&utm_source=news%20letter&utm_campaign=summer+sale'}", ["url"]),
    ("referrer: {is_set: true}", ["bare", "insta", "lookalike"]),
    ("referrer: {is_set: false}", ["both", "col", "direct", "out", "plus", "sub", "url", "www_own"]),
    ("referrer_domain: {not_in: [instagram.com]}",
     ["both", "col", "direct", "lookalike", "out", "plus", "sub", "url", "www_own"]),
    ("utm_source: {is: column}", ["col"]),
    ("utm_source: {is: url_wins_not}", []),
    ("utm_source: {is: news letter}", ["url"]),
    ("utm_campaign: {is: summer sale}", ["url"]),
    ("utm_source: {is: fb}", ["both"]),
    ("utm_source: {is: a+b}", ["plus"]),
    ("utm_medium: {is: cpc}", ["plus"]),
    ("url: {contains: 'a=1'}", ["url"]),
    ("utm_source: {is_not: column}",
     ["bare", "both", "direct", "insta", "lookalike", "out", "plus", "sub", "url", "www_own"]),
]


@pytest.mark.parametrize("rule, expected", REFERRER_CASES, ids=[c[0] for c in REFERRER_CASES])
def test_referrer_and_utm_fields(visits, rule, expected):
    assert ids(visits, rule) == expected


def test_utm_from_url_when_the_export_has_no_utm_columns(ws: Workspace):
    ws.events(pageview("a", url="https://shop.example/?utm_medium=cpc"), pageview("b", url="https://shop.example/"),
              columns=["visitor_id", "timestamp", "event_type", "url"])
    assert ids(ws, "utm_medium: {is: cpc}") == ["a"]


def test_negative_event_rules_match_visitors_without_events(ws: Workspace):
    ws.events(pageview("cpc", utm_medium="cpc"), pageview("email", utm_medium="email"))
    ws.profiles({"visitor_id": "quiet"})
    assert ids(ws, "utm_medium: {is_not: cpc}") == ["email", "quiet"]
    assert ids(ws, "not: {utm_medium: {is: cpc}}") == ["email", "quiet"]
    assert ids(ws, "utm_medium: {is_set: false}") == ["quiet"]


def test_a_visitor_matches_when_any_one_event_qualifies(ws: Workspace):
    ws.events(pageview("mixed", utm_medium="cpc"), pageview("mixed", utm_medium="email"))
    assert ids(ws, "utm_medium: {is: cpc}") == ["mixed"]
    assert ids(ws, "utm_medium: {is: email}") == ["mixed"]
    assert ids(ws, "utm_medium: {is_not: cpc}") == []  # not (some event is cpc)


# -- segments that need a matching event: only those visitors are aggregated ------------------------

@pytest.fixture
def campaigns(ws: Workspace) -> Workspace:
    ws.events(pageview("cpc_fb", utm_medium="cpc"), pageview("cpc_fb", utm_source="fb"),
              pageview("cpc", utm_medium="cpc"), pageview("fb", utm_source="fb"),
              pageview("cpc_old", "2024-01-01T12:00:00Z", utm_medium="cpc"), pageview("plain"),
              pageview("gold_cpc", utm_medium="cpc"))
    ws.profiles({"visitor_id": "gold_cpc", "tier": "gold"}, {"visitor_id": "gold_quiet", "tier": "gold"})
    return ws


SCOPED_CASES = [
    # the other event rules are still decided over all of the visitor's events
    ("- utm_medium: {is: cpc}\n  - not: {utm_source: {is: fb}}", ["cpc", "cpc_old", "gold_cpc"]),
    ("- utm_medium: {is: cpc}\n  - utm_source: {is_not: fb}", ["cpc", "cpc_old", "gold_cpc"]),
    ("- utm_medium: {is: cpc, period: 30d}\n  - utm_medium: {is: cpc}", ["cpc", "cpc_fb", "gold_cpc"]),
    ("- any: [{utm_medium: {is: cpc, period: 30d}}, {utm_source: {is: fb}}]", ["cpc", "cpc_fb", "fb", "gold_cpc"]),
    ("- utm_medium: {is: cpc}\n  - profile.tier: {is: gold}", ["gold_cpc"]),
    ("- utm_medium: {is: cpc}\n  - profile.tier: {is_set: false}", ["cpc", "cpc_fb", "cpc_old"]),
    # not every branch needs an event: the whole universe, profile-only visitors included
    ("- any: [{utm_medium: {is: cpc}}, {profile.tier: {is: gold}}]", ["cpc", "cpc_fb", "cpc_old", "gold_cpc",
                                                                      "gold_quiet"]),
]


@pytest.mark.parametrize("rules, expected", SCOPED_CASES, ids=[c[0] for c in SCOPED_CASES])
def test_segments_that_need_a_matching_event(campaigns, rules, expected):
    assert campaigns.run(f"rules:\n  {rules}\n", as_of=AS_OF) == expected


def test_a_segment_that_needs_a_matching_event_goes_over_the_visitors_with_one(campaigns):
    needs_event = campaigns.segment("rules:\n  - utm_medium: {is: cpc}\n", name="cpc.yaml")
    explained = campaigns.cli("explain", str(needs_event), "--as-of", AS_OF).stdout
    assert "over the visitors with an event that meets one of the segment's event rules" in explained
    either = campaigns.segment("rules:\n  - any: [{utm_medium: {is: cpc}}, {profile.tier: {is: gold}}]\n")
    explained = campaigns.cli("explain", str(either), "--as-of", AS_OF).stdout
    assert "over every visitor (profiles and events up to as_of)" in explained


def test_sums_of_money_do_not_depend_on_the_order_of_the_rows(ws: Workspace):
    """216.95 + 82.91 + 35.46 + 89.18 + 75.5 is 500 (a mean of 100), but in floating point a hair under or
    over depending on the order: every order of the five rows must give the same answer."""
    from itertools import permutations

    values = (216.95, 82.91, 35.46, 89.18, 75.5)
    rows = [conversion(f"v{n:03d}", f"2024-06-0{i + 1}T10:00:00Z", value, f"o{n}-{i}")
            for n, order in enumerate(permutations(values)) for i, value in enumerate(order)]
    ws.events(*rows)
    everyone = {f"v{n:03d}" for n in range(120)}
    assert set(ws.run("rules:\n  - average_order_value: {gte: 100}\n")) == everyone
    assert set(ws.run("rules:\n  - average_order_value: {lte: 100}\n")) == everyone
    assert set(ws.run("rules:\n  - total_order_value: {eq: 500}\n")) == everyone


@pytest.mark.parametrize("rows", [0, 1])
def test_an_order_tracked_twice_at_the_same_instant_takes_the_lower_value_whatever_the_row_order(ws: Workspace, rows):
    """Ties on the timestamp are broken by the value (lowest first, a missing value last): a total order."""
    tracked = [conversion("a", "2024-06-10T10:00:00Z", 80, "o1"), conversion("a", "2024-06-10T10:00:00Z", 40, "o1"),
               conversion("a", "2024-06-10T10:00:00Z", "", "o1")]
    ws.events(*(tracked if rows == 0 else tracked[::-1]))
    assert ws.run("rules:\n  - total_order_value: {eq: 40}\n") == ["a"]
