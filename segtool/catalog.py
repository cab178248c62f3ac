"""The field catalog: every field a rule may name, its family, type and qualifiers.

Engine-independent: each backend registers one compiler per family.
"""

from __future__ import annotations

from dataclasses import dataclass

REFERRER_UTM = "referrer_utm"
CONVERSION = "conversion"
RETENTION = "retention"
PROFILE = "profile"
LOCATION = "location"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    family: str
    value_type: str  # "text" | "number" | "location" | "grid" | "any"
    qualifiers: frozenset[str]
    description: str
    column: str = ""  # the input column it reads, where there is one

    @property
    def group(self) -> str:
        """The heading it is listed under in `segtool fields`."""
        return _GROUPS.get(self.name, _GROUPS.get(self.family, "Profile"))


_PERIOD = frozenset({"period"})
_CONVERSION_QUALIFIERS = frozenset({"period", "items"})
_NONE: frozenset[str] = frozenset()


def _event_text(name: str, description: str) -> FieldSpec:
    return FieldSpec(name, REFERRER_UTM, "text", _PERIOD, description, column=name)


def _conversion(name: str, description: str) -> FieldSpec:
    return FieldSpec(name, CONVERSION, "number", _CONVERSION_QUALIFIERS, description)


def _profile(name: str, value_type: str, description: str) -> FieldSpec:
    return FieldSpec(name, PROFILE, value_type, _NONE, description, column=name)


FIELDS: dict[str, FieldSpec] = {
    f.name: f
    for f in (
        _event_text("referrer", "full referrer URL of an event (internal referrers excluded)"),
        FieldSpec("referrer_domain", REFERRER_UTM, "text", _PERIOD,
                  "referrer host, lower-cased, without port and leading www.", column="referrer"),
        _event_text("utm_source", "UTM source of an event (column, else the URL's query string)"),
        _event_text("utm_medium", "UTM medium of an event (column, else the URL's query string)"),
        _event_text("utm_campaign", "UTM campaign of an event (column, else the URL's query string)"),
        _event_text("utm_term", "UTM term of an event (column, else the URL's query string)"),
        _event_text("utm_content", "UTM content of an event (column, else the URL's query string)"),
        _event_text("url", "page URL of an event"),
        _conversion("conversions", "number of conversions (0 for none)"),
        _conversion("order_value", "value of at least one conversion"),
        _conversion("total_order_value", "sum of conversion values (0 for none)"),
        _conversion("average_order_value", "mean of the conversion values present (missing for none)"),
        _conversion("days_since_last_conversion", "whole days from the last conversion to as_of (missing for none)"),
        FieldSpec("retention_grid", RETENTION, "grid", _NONE, "the visitor's cell of the retention grid"),
        _profile("conversion_potential", "number", "predicted chance to convert, 0-100"),
        _profile("clv", "number", "customer lifetime value"),
        _profile("customer_type", "text", "customer type (Economical, Believer, ...)"),
        _profile("persuasion_type", "text", "persuasion type (Authority, Scarcity, ...)"),
        _profile("city", "text", "city of the visitor's profile"),
        _profile("region", "text", "region of the visitor's profile (text as written)"),
        _profile("country", "text", "country of the visitor's profile"),
        FieldSpec("location", LOCATION, "location", _NONE,
                  "within_km of a point or a named place (profile latitude/longitude)"),
    )
}

_GROUPS = {
    REFERRER_UTM: "Referrer & UTM",
    CONVERSION: "Conversion",
    RETENTION: "Conversion",
    "conversion_potential": "Predictive",
    "clv": "Predictive",
    "customer_type": "Predictive",
    "persuasion_type": "Predictive",
    "city": "Geographic",
    "region": "Geographic",
    "country": "Geographic",
    LOCATION: "Geographic",
}

PROFILE_PREFIX = "profile."
# Profile columns read as numbers whatever the file stores.
NUMERIC_PROFILE_COLUMNS = ("latitude", "longitude", "conversion_potential", "clv")
ITEM_COLUMNS = ("order_id", "item_id", "name", "brand", "category", "price", "quantity")
NUMERIC_ITEM_COLUMNS = ("price", "quantity")


def profile_field(column: str) -> FieldSpec:
    """The field behind `profile.<column>`: any profile column, generic operators."""
    value_type = "number" if column in NUMERIC_PROFILE_COLUMNS else "any"
    return FieldSpec(PROFILE_PREFIX + column, PROFILE, value_type, _NONE, f"profile column {column!r}", column=column)


def lookup_field(name: str) -> FieldSpec | None:
    if name.startswith(PROFILE_PREFIX) and len(name) > len(PROFILE_PREFIX):
        return profile_field(name[len(PROFILE_PREFIX):])
    return FIELDS.get(name)
