"""Named places: the gazetteer lookup, and `of: Milan` end to end."""

import pytest
from haversine import Unit, haversine

from conftest import Workspace, pageview
from segtool.places import UnknownPlace, resolve_place


@pytest.mark.parametrize("query, name, country", [
    ("Milan", "Milan", "IT"),
    ("Milan, IT", "Milan", "IT"),
    ("Milan, ITA", "Milan", "IT"),
    ("milan,  italy", "Milan", "IT"),
    ("Milano", "Milan", "IT"),
    ("Paris", "Paris", "FR"),
    ("Paris, France", "Paris", "FR"),
    ("Paris, US", "Paris", "US"),
    ("London", "London", "GB"),
    ("Zürich", "Zürich", "CH"),
    ("ZURICH", "Zürich", "CH"),
    ("sao paulo", "São Paulo", "BR"),
    ("Den Haag", "The Hague", "NL"),
    ("s-Hertogenbosch", "'s-Hertogenbosch", "NL"),
])
def test_resolves_to_the_most_populous_match(query, name, country):
    place = resolve_place(query)
    assert (place.name, place.country_code) == (name, country)


def test_milan_coordinates_and_description():
    place = resolve_place("Milan")
    assert haversine((place.latitude, place.longitude), (45.4642, 9.1900), unit=Unit.KILOMETERS) < 1
    assert place.describe().startswith("Milan, IT (Italy")


def test_narrowing_by_country_changes_the_place():
    assert haversine(*((p.latitude, p.longitude) for p in (resolve_place("Paris"), resolve_place("Paris, US")))) > 5000


@pytest.mark.parametrize("query, reason, suggestion", [
    ("Milna", "no place named 'Milna'", "Milan, IT"),
    ("Milan, Atlantis", "unknown country 'Atlantis'", None),
    ("Milan, NL", "no place named 'Milan' in The Netherlands", "Milan, IT"),
    ("", "needs a name", None),
    (" , IT", "needs a name", None),
])
def test_unknown_places(query, reason, suggestion):
    with pytest.raises(UnknownPlace) as info:
        resolve_place(query)
    assert reason in info.value.reason
    if suggestion:
        assert suggestion in info.value.suggestions


@pytest.fixture
def milan_ws(ws: Workspace) -> Workspace:
    ws.profiles({"visitor_id": "centre", "latitude": 45.4642, "longitude": 9.1900},
                {"visitor_id": "monza", "latitude": 45.5845, "longitude": 9.2744},
                {"visitor_id": "nowhere"})
    return ws.events(pageview("centre"), pageview("monza"), pageview("nowhere"))


def test_named_place_end_to_end(milan_ws: Workspace):
    assert milan_ws.run("rules:\n  - location: {within_km: 5, of: Milan}\n") == ["centre"]
    assert milan_ws.run("rules:\n  - location: {within_km: 20, of: \"Milan, IT\"}\n") == ["centre", "monza"]
    explained = milan_ws.cli("explain", str(milan_ws.segment("rules:\n  - location: {within_km: 5, of: Milan}\n")))
    assert explained.exit_code == 0 and "Milan, IT" in explained.stdout and "45.46" in explained.stdout


def test_unknown_place_is_a_segment_error_with_position(milan_ws: Workspace):
    path = milan_ws.segment("rules:\n  - location: {within_km: 5, of: Milna}\n")
    result = milan_ws.cli("validate", str(path))
    assert result.exit_code == 1
    assert f"{path}:2:34:" in result.stderr and "Milan, IT" in result.stderr
