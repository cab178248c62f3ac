"""Profile fields (predictive, geographic, profile.<column>) and every operator, against hand-computed sets."""

import random

import pytest
from haversine import Unit, haversine

from conftest import Workspace, pageview

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
    ("country: {in: [NL, BE]}", {"007"}),
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
