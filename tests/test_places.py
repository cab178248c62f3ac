"""Named places: the gazetteer lookup, and `of: Milan` end to end through the CLI."""

import pytest
from haversine import Unit, haversine
from typer.testing import CliRunner

from segtool.cli.main import app
from segtool.places import UnknownPlace, resolve_place


@pytest.mark.parametrize("query, name, country", [
    ("Milan", "Milan", "IT"),
    ("Milan, IT", "Milan", "IT"),
    ("Milan, ITA", "Milan", "IT"),
    ("milan,  italy", "Milan", "IT"),
    ("Milano", "Milan", "IT"),            # an alternate name
    ("Paris", "Paris", "FR"),
    ("Paris, France", "Paris", "FR"),
    ("Paris, US", "Paris", "US"),
    ("London", "London", "GB"),
    ("Zürich", "Zürich", "CH"),
    ("zurich", "Zürich", "CH"),
    ("ZURICH", "Zürich", "CH"),
    ("munster", "Münster", "DE"),
    ("sao  paulo", "São Paulo", "BR"),
    ("Den Haag", "The Hague", "NL"),
    ("s-Hertogenbosch", "'s-Hertogenbosch", "NL"),
    ("Porto", "Porto", "PT"),
    ("Washington, D.C.", "Washington", "US"),   # the comma is part of the name, not a country             # not Bordeaux, which has "Porto" among its alternate names
])
def test_resolves_own_names_first_then_alternates_most_populous_first(query, name, country):
    place = resolve_place(query)
    assert (place.name, place.country_code) == (name, country)


def test_milan_coordinates_and_description():
    place = resolve_place("Milan")
    assert place.latitude == pytest.approx(45.46, abs=0.01) and place.longitude == pytest.approx(9.19, abs=0.01)
    assert place.describe() == f"Milan, IT (Italy, pop. {place.population:,})" and place.population > 1_000_000
    assert resolve_place("Milan, IT") == place == resolve_place("Milano")


def test_narrowing_by_country_changes_the_place():
    paris, paris_us = resolve_place("Paris"), resolve_place("Paris, US")
    assert paris.country == "France" and paris_us.country == "United States"
    assert haversine((paris.latitude, paris.longitude), (paris_us.latitude, paris_us.longitude),
                     unit=Unit.KILOMETERS) > 5000


@pytest.mark.parametrize("query, reason, suggestion", [
    ("Milna", "no place named 'Milna'", "Milan, IT"),
    ("Milan, Atlantis", "unknown country 'Atlantis'", None),
    ("Milan, NL", "no place named 'Milan' in The Netherlands", "Milan, IT"),
    ("milan, netherlands", "no place named 'milan' in The Netherlands", "milan, IT"),
    ("", "needs a name", None),
    ("   ", "needs a name", None),
    (" , IT", "needs a name", None),
])
def test_unknown_places(query, reason, suggestion):
    with pytest.raises(UnknownPlace) as info:
        resolve_place(query)
    assert reason in info.value.reason
    assert len(info.value.suggestions) <= 3
    if suggestion:
        assert suggestion in info.value.suggestions


SEGMENT = "rules:\n  - location: {within_km: 5, of: %s}\n"


def _cli(tmp_path, monkeypatch, *args: str):
    monkeypatch.chdir(tmp_path)   # no ./segtool.yaml from the repository
    (tmp_path / "events.csv").write_text("visitor_id,timestamp,event_type\n" + "".join(
        f"{vid},2024-01-01T00:00:00Z,pageview\n" for vid in ("centre", "monza", "nowhere")))
    # Monza is about 15 km from Milan's centre
    (tmp_path / "profiles.csv").write_text("visitor_id,latitude,longitude\n"
                                           "centre,45.4642,9.1900\nmonza,45.5845,9.2744\nnowhere,,\n")
    return CliRunner().invoke(app, [*args, "--events", "events.csv", "--profiles", "profiles.csv",
                                    "--as-of", "2024-06-01"], catch_exceptions=False)


def test_named_place_end_to_end(tmp_path, monkeypatch):
    (tmp_path / "seg.yaml").write_text(SEGMENT % "Milan")
    result = _cli(tmp_path, monkeypatch, "run", "seg.yaml")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["centre"]
    explained = _cli(tmp_path, monkeypatch, "explain", "seg.yaml")
    assert explained.exit_code == 0 and "Milan, IT (Italy, pop. " in explained.stdout
    assert "(45.46" in explained.stdout


def test_unknown_place_is_a_segment_error_with_position(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seg.yaml").write_text(SEGMENT % "Milna")
    result = CliRunner().invoke(app, ["validate", "seg.yaml"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "seg.yaml:2:34: unknown place 'Milna'" in result.stderr and "'Milan, IT'" in result.stderr
