"""Profile fields (predictive, geographic, profile.<column>) and every operator, against hand-computed sets."""

import random
from datetime import date, datetime

import pytest
from haversine import Unit, haversine

from conftest import Workspace, pageview, spark

AMSTERDAM = (52.3740, 4.8897)
MILAN = (45.4642, 9.1900)
UNIVERSE = {"007", "7", "a1", "b2", "e1"}

PROFILES = [
    {"visitor_id": "007", "city": "Amsterdam", "region": "09", "country": "NL", "latitude": AMSTERDAM[0],
     "longitude": AMSTERDAM[1], "conversion_potential": 80, "clv": 1500, "customer_type": "Economical",
     "persuasion_type": "Scarcity", "newsletter": "yes"},
    {"visitor_id": "7", "city": "amsterdam", "region": "9", "country": "nl", "latitude": 52.3, "longitude": 4.7,
     "conversion_potential": 50, "clv": 999.99, "customer_type": "economical", "persuasion_type": "Authority",
     "newsletter": "no"},
    {"visitor_id": "a1", "city": "Milan", "region": "09", "country": "IT", "latitude": MILAN[0],
     "longitude": MILAN[1], "conversion_potential": 49.9, "clv": None, "customer_type": None,
     "persuasion_type": "Scarcity", "newsletter": "n/a"},
    {"visitor_id": "b2"},
]


@pytest.fixture
def profiles_ws(ws: Workspace) -> Workspace:
    ws.profiles(*PROFILES, columns=list(PROFILES[0]))
    return ws.events(pageview("007"), pageview("e1"))


CASES = [
    ("city: {is: Amsterdam}", {"007"}),
    ("city: {is: amsterdam, ignore_case: true}", {"007", "7"}),
    ("city: {is_not: Amsterdam}", {"7", "a1", "b2", "e1"}),
    ("city: {is_not: AMSTERDAM, ignore_case: true}", {"a1", "b2", "e1"}),
    ("city: {in: [Milan, Rome]}", {"a1"}),
    ("city: {not_in: [Milan]}", {"007", "7", "b2", "e1"}),
    ("city: {in: [MILAN], ignore_case: true}", {"a1"}),
    ("city: {contains: ster}", {"007", "7"}),
    ("city: {not_contains: ster}", {"a1", "b2", "e1"}),
    ("city: {starts_with: Am}", {"007"}),
    ("city: {starts_with: AM, ignore_case: true}", {"007", "7"}),
    ("city: {ends_with: an}", {"a1"}),
    ("city: {matches: '^[Aa]m.*dam$'}", {"007", "7"}),
    ("city: {is_set: true}", {"007", "7", "a1"}),
    ("city: {is_set: false}", {"b2", "e1"}),
    ("region: {is: '09'}", {"007", "a1"}),
    ("region: {is: '9'}", {"7"}),
    ("country: {in: [NL, BE]}", {"007", "7"}),  # countries, not spellings: `nl` is the Netherlands
    ("country: {in: [NL, BE], ignore_case: true}", {"007", "7"}),
    ("conversion_potential: {gte: 50}", {"007", "7"}),
    ("conversion_potential: {gt: 50}", {"007"}),
    ("conversion_potential: {lt: 50}", {"a1"}),
    ("conversion_potential: {lte: 50}", {"7", "a1"}),
    ("conversion_potential: {eq: 50}", {"7"}),
    ("conversion_potential: {ne: 50}", {"007", "a1", "b2", "e1"}),
    ("conversion_potential: {between: [49.9, 50]}", {"7", "a1"}),
    ("clv: {gte: 1000}", {"007"}),
    ("clv: {lt: 1000}", {"7"}),
    ("clv: {is_set: false}", {"a1", "b2", "e1"}),
    ("customer_type: {is: Economical}", {"007"}),
    ("customer_type: {is: ECONOMICAL, ignore_case: true}", {"007", "7"}),
    ("customer_type: {is_not: Economical, ignore_case: true}", {"a1", "b2", "e1"}),
    ("persuasion_type: {in: [Scarcity]}", {"007", "a1"}),
    ("profile.newsletter: {is: 'yes'}", {"007"}),
    ("profile.newsletter: {not_in: ['yes', 'no']}", {"a1", "b2", "e1"}),
    ("profile.region: {eq: 9}", {"007", "7", "a1"}),  # numeric operator on text compares as numbers
    ("profile.newsletter: {gt: 0}", set()),  # text that is not a number never matches
    ("profile.clv: {between: [999, 1000]}", {"7"}),
    ("location: {within_km: 5, of: {lat: 52.3740, lon: 4.8897}}", {"007"}),
    ("location: {within_km: 20, of: {lat: 52.3740, lon: 4.8897}}", {"007", "7"}),
    ("not: {location: {within_km: 5, of: {lat: 52.3740, lon: 4.8897}}}", {"7", "a1", "b2", "e1"}),
    ("not: {city: {is: Amsterdam}}", {"7", "a1", "b2", "e1"}),
]


@pytest.mark.parametrize("rule, expected", CASES, ids=[c[0] for c in CASES])
def test_profile_rule(profiles_ws: Workspace, rule: str, expected: set):
    assert profiles_ws.run(f"rules:\n  - {rule}\n") == sorted(expected)


def test_ids_stay_text_and_output_is_sorted(profiles_ws: Workspace):
    assert profiles_ws.run("rules:\n  - city: {is_set: false}\n  - not: {city: {is: x}}\n") == ["b2", "e1"]
    assert profiles_ws.run("match: any\nrules:\n  - city: {is_set: true}\n  - city: {is_set: false}\n") == \
        sorted(UNIVERSE)


def test_universe_is_profiles_union_events(profiles_ws: Workspace):
    assert set(profiles_ws.run("rules:\n  - not: {city: {is: nowhere}}\n")) == UNIVERSE


# -- dates: whole days since, to as_of ------------------------------------------------------------------
@pytest.fixture
def dated(ws: Workspace) -> Workspace:
    """Profiles as Parquet with a date, a date-time and the same dates as ISO text."""
    import polars as pl

    days = {"today": date(2024, 3, 31), "yesterday": date(2024, 3, 30), "d30": date(2024, 3, 1),
            "d31": date(2024, 2, 29), "none": None}
    times = {"today": datetime(2024, 3, 31, 23, 30), "yesterday": datetime(2024, 3, 30), "d30": datetime(2024, 3, 1),
             "d31": datetime(2024, 2, 29, 23, 59, 59), "none": None}
    pl.DataFrame({"visitor_id": list(days), "birthday": list(days.values()), "joined": list(times.values()),
                  "text": [d and d.isoformat() for d in days.values()]}).write_parquet(ws.root / "profiles.parquet")
    return ws.events(pageview("e1", "2024-03-01T12:00:00Z"))


DATE_CASES = [  # rule, as_of, timezone, expected
    ("profile.birthday: {eq: 0}", "2024-03-31", "UTC", {"today"}),
    ("profile.birthday: {gte: 30}", "2024-03-31", "UTC", {"d30", "d31"}),
    ("profile.birthday: {between: [1, 30]}", "2024-03-31", "UTC", {"yesterday", "d30"}),
    ("profile.birthday: {ne: 0}", "2024-03-31", "UTC", {"yesterday", "d30", "d31", "none", "e1"}),
    ("profile.birthday: {lt: 1}", "2024-03-31T00:00:00Z", "UTC", {"today"}),  # midnight is a day of 0 days
    ("profile.birthday: {eq: 30}", "2024-03-31T23:59:59Z", "UTC", {"d30"}),
    ("profile.joined: {eq: 0}", "2024-03-31", "UTC", {"today"}),
    ("profile.joined: {gte: 31}", "2024-03-31", "UTC", {"d31"}),  # 29 Feb 23:59:59 is 31 days before 1 April
    ("profile.joined: {eq: 0}", "2024-03-31T12:00:00Z", "UTC", set()),  # today's 23:30 is after as_of: -1
    # on a local calendar, a date is its local day; a naive date-time stays UTC (30 March 00:00 UTC is 29 March
    # 20:00 in New York: two days before 31 March there)
    ("profile.birthday: {eq: 0}", "2024-03-31", "America/New_York", {"today"}),
    ("profile.birthday: {within: 1d}", "2024-03-31", "America/New_York", {"today"}),
    ("profile.birthday: {before: 30d}", "2024-03-31", "America/New_York", {"d30", "d31"}),
    ("profile.joined: {eq: 2}", "2024-03-31", "America/New_York", {"yesterday"}),
    ("profile.text: {within: 1d}", "2024-03-31", "America/New_York", {"today"}),
    # text holding dates: a number compares numbers (an ISO date is none); within/before read the text
    ("profile.text: {gte: 30}", "2024-03-31", "UTC", set()),
    ("profile.text: {eq: 0}", "2024-03-31", "UTC", set()),
    ("profile.text: {before: 30d}", "2024-03-31", "UTC", {"d30", "d31"}),
]


@pytest.mark.parametrize("rule, as_of, zone, expected", DATE_CASES, ids=[f"{c[0]}@{c[1]}/{c[2]}" for c in DATE_CASES])
def test_a_number_on_a_date_column_is_whole_days_since_it(dated: Workspace, rule, as_of, zone, expected):
    dated.config(f"timezone: {zone}\n")
    assert dated.run(f"rules:\n  - {rule}\n", "--profiles", str(dated.root / "profiles.parquet"),
                     as_of=as_of) == sorted(expected)


@pytest.mark.parametrize("rule, as_of, zone, expected", DATE_CASES, ids=[f"{c[0]}@{c[1]}/{c[2]}" for c in DATE_CASES])
def test_the_sql_engines_read_dates_in_profiles_as_polars_does(dated: Workspace, rule, as_of, zone, expected):
    dated.config(f"timezone: {zone}\n")
    assert dated.run(f"rules:\n  - {rule}\n", "--profiles", str(dated.root / "profiles.parquet"),
                     "--engine", "duckdb", as_of=as_of) == sorted(expected)


SPARK_CASES = [c for c in DATE_CASES if (c[0], c[2]) in {
    ("profile.joined: {gte: 31}", "UTC"), ("profile.birthday: {eq: 0}", "America/New_York"),
    ("profile.joined: {eq: 2}", "America/New_York"), ("profile.text: {within: 1d}", "America/New_York")}]


@spark
@pytest.mark.parametrize("rule, as_of, zone, expected", SPARK_CASES, ids=[f"{c[0]}@{c[1]}/{c[2]}" for c in SPARK_CASES])
def test_spark_reads_dates_in_profiles_as_polars_does(dated: Workspace, rule, as_of, zone, expected):
    dated.config(f"timezone: {zone}\n")
    assert dated.run(f"rules:\n  - {rule}\n", "--profiles", str(dated.root / "profiles.parquet"),
                     "--engine", "spark", as_of=as_of) == sorted(expected)


# -- location against the haversine package ------------------------------------------------------

@pytest.mark.parametrize("origin, km", [(MILAN, 5), (MILAN, 250), ((0.0, 179.9), 300), ((89.0, 0.0), 500)])
def test_within_km_agrees_with_haversine(ws: Workspace, origin, km):
    rng = random.Random(7)
    spread = 1.5 * km / 111  # degrees: about half the points fall inside
    points = {f"p{i}": (min(89.9, max(-89.9, origin[0] + rng.uniform(-spread, spread))),
                        (origin[1] + rng.uniform(-2 * spread, 2 * spread) + 180) % 360 - 180) for i in range(400)}
    ws.profiles(*({"visitor_id": v, "latitude": lat, "longitude": lon} for v, (lat, lon) in points.items()))
    ws.events(pageview("p0"))
    expected = sorted(v for v, p in points.items() if haversine(origin, p, unit=Unit.KILOMETERS) <= km)
    assert expected, "the sample should have points inside"
    rule = f"rules:\n  - location: {{within_km: {km}, of: {{lat: {origin[0]!r}, lon: {origin[1]!r}}}}}\n"
    assert ws.run(rule) == expected


def test_visitor_exactly_at_the_distance_matches(ws: Workspace):
    point = (45.5845, 9.2744)
    km = haversine(MILAN, point, unit=Unit.KILOMETERS)
    ws.profiles({"visitor_id": "monza", "latitude": point[0], "longitude": point[1]}).events(pageview("monza"))
    rule = f"rules:\n  - location: {{within_km: {km!r}, of: {{lat: {MILAN[0]}, lon: {MILAN[1]}}}}}\n"
    assert ws.run(rule) == ["monza"]
    smaller = f"rules:\n  - location: {{within_km: {km - 1e-6!r}, of: {{lat: {MILAN[0]}, lon: {MILAN[1]}}}}}\n"
    assert ws.run(smaller) == []


def test_profile_without_coordinates_never_matches_location(ws: Workspace):
    ws.profiles({"visitor_id": "x", "latitude": "", "longitude": 9.19}, {"visitor_id": "y"}).events(pageview("z"))
    assert ws.run("rules:\n  - location: {within_km: 20000, of: {lat: 0, lon: 0}}\n") == []
