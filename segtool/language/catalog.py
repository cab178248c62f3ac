"""The field catalog: every field a rule may name, one registry entry each.

An entry says everything about a field that does not depend on an engine: its family, the type of value it
compares, its qualifiers, its wording in `segtool fields` and `explain`, the columns it reads, and the
per-visitor value it is (`measure`: a name each backend's compiler maps to an expression of its own, as
ibis maps reductions). The operators a field takes follow from its value type (parse.operators_for).
Adding a field is an entry here and, for a new measure, one compiler function per backend.
"""

from __future__ import annotations

from dataclasses import dataclass

REFERRER_UTM = "referrer_utm"
VISITS = "visits"
CONVERSION = "conversion"
RETENTION = "retention"
PROFILE = "profile"
LOCATION = "location"

PROFILE_PREFIX = "profile."
ITEM_COLUMNS = ("order_id", "item_id", "name", "brand", "category", "price", "quantity")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@dataclass(frozen=True)
class Reads:
    """A field reads one of `columns` (canonical names; the first that exists) of `table`."""

    table: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    family: str
    value_type: str  # "text" | "number" | "location" | "grid" | "any"
    qualifiers: frozenset[str]
    description: str  # for `segtool fields`
    subject: str      # for explain: "<subject> <operator> <value>"
    group: str        # the heading it is listed under in `segtool fields`
    column: str = ""  # the input column it reads, where there is one
    reads: tuple[Reads, ...] = ()
    measure: str = ""  # the per-visitor value: a key of plan.lower.MEASURES
    predicted: bool = False  # a profile column the models can compute from events (predictions)


_PERIOD = frozenset({"period"})
_CONVERSION_QUALIFIERS = frozenset({"period", "items"})
_NONE: frozenset[str] = frozenset()
_ORDER_VALUES = (Reads("events", ("order_value",)),)


def _event_field(name: str, reads: tuple[str, ...], description: str, subject: str = "") -> FieldSpec:
    return FieldSpec(name, REFERRER_UTM, "text", _PERIOD, description, subject or name, "Referrer & UTM",
                     column=name, reads=(Reads("events", reads),), measure="some_event")


def _utm(name: str) -> FieldSpec:
    return _event_field(name, (name, "url"), f"UTM {name[4:]} of an event (column, else the URL's query string)")


def _conversion(name: str, measure: str, description: str, subject: str, reads=()) -> FieldSpec:
    return FieldSpec(name, CONVERSION, "number", _CONVERSION_QUALIFIERS, description, subject, "Conversion",
                     reads=reads, measure=measure)


def _profile(name: str, value_type: str, description: str, group: str, predicted: bool = False) -> FieldSpec:
    return FieldSpec(name, PROFILE, value_type, _NONE, description, name, group, column=name,
                     reads=(Reads("profiles", (name,)),), measure="profile", predicted=predicted)


FIELDS: dict[str, FieldSpec] = {
    f.name: f
    for f in (
        _event_field("referrer", ("referrer",), "full referrer URL of an event (internal referrers excluded)"),
        _event_field("referrer_domain", ("referrer",), "referrer host, lower-cased, without port and leading www.",
                     "referrer domain"),
        *(_utm(name) for name in UTM_FIELDS),
        _event_field("url", ("url",), "page URL of an event"),
        _conversion("conversions", "count", "number of conversions (0 for none)", "number of conversions"),
        _conversion("order_value", "some_value", "value of at least one conversion", "some conversion's order value",
                    _ORDER_VALUES),
        _conversion("total_order_value", "sum", "sum of conversion values (0 for none)", "total order value",
                    _ORDER_VALUES),
        _conversion("average_order_value", "mean", "mean of the conversion values present (missing for none)",
                    "average order value", _ORDER_VALUES),
        _conversion("days_since_last_conversion", "days_since_last",
                    "whole days from the last conversion to as_of (missing for none)", "days since the last conversion"),
        FieldSpec("retention_grid", RETENTION, "grid", _NONE, "the visitor's cell of the retention grid",
                  "retention grid cell", "Conversion", measure="grid_cell"),
        FieldSpec("first_conversion", CONVERSION, "instant", _NONE,
                  "the visitor's first conversion (within: 30d, before: 30d, or whole days since it)",
                  "the first conversion", "Conversion", measure="first_conversion"),
        FieldSpec("first_seen", VISITS, "instant", _NONE,
                  "the visitor's first event (within: 30d, before: 30d, or whole days since it)",
                  "the first event", "Activity", measure="first_seen"),
        FieldSpec("last_seen", VISITS, "instant", _NONE,
                  "the visitor's last event (within: 30d, before: 30d, or whole days since it)",
                  "the last event", "Activity", measure="last_seen"),
        _profile("conversion_potential", "number", "predicted chance to convert, 0-100", "Predictive", predicted=True),
        _profile("clv", "number", "customer lifetime value", "Predictive", predicted=True),
        _profile("p_alive", "number", "probability the visitor is still a customer, 0-1", "Predictive",
                 predicted=True),
        _profile("customer_type", "text", "customer type (Economical, Believer, ...)", "Predictive"),
        _profile("persuasion_type", "text", "persuasion type (Authority, Scarcity, ...)", "Predictive"),
        _profile("city", "text", "city of the visitor's profile", "Geographic"),
        _profile("region", "text", "region of the visitor's profile (text as written)", "Geographic"),
        _profile("country", "text", "country of the visitor's profile (is/in: an ISO code or a name matches it "
                 "written either way)", "Geographic"),
        FieldSpec("location", LOCATION, "location", _NONE,
                  "within_km of a point or a named place (profile latitude/longitude)", "location", "Geographic",
                  reads=(Reads("profiles", ("latitude",)), Reads("profiles", ("longitude",))), measure="distance"),
    )
}


# Profile columns the models compute from events where the profiles lack them (config `predictive`).
PREDICTED_COLUMNS = tuple(f.column for f in FIELDS.values() if f.predicted)
# Columns read as numbers whatever the file stores; a value that is not a number is a data error.
NUMBER_COLUMNS = {
    "events": ("order_value",),
    "profiles": ("latitude", "longitude", *PREDICTED_COLUMNS),
    "items": ("price", "quantity"),
}
# The fields of one event an `event:` or `sequence:` condition may name: the events column it reads and how
# it compares (`properties.<column>` names any other column).
EVENT_FIELDS = {
    "type": ("event_type", "text"),
    **{f.name: (f.reads[0].columns[0], "text")
       for f in sorted(FIELDS.values(), key=lambda f: f.name != "url") if f.family == REFERRER_UTM},
    "order_id": ("order_id", "text"),
    "order_value": ("order_value", "number"),
}


def profile_field(column: str) -> FieldSpec:
    """The field behind `profile.<column>`: any profile column, generic operators."""
    value_type = "number" if column in NUMBER_COLUMNS["profiles"] else "any"
    return FieldSpec(PROFILE_PREFIX + column, PROFILE, value_type, _NONE, f"profile column {column!r}",
                     PROFILE_PREFIX + column, "Profile", column=column, reads=(Reads("profiles", (column,)),),
                     measure="profile")


def lookup_field(name: str) -> FieldSpec | None:
    if name.startswith(PROFILE_PREFIX) and len(name) > len(PROFILE_PREFIX):
        return profile_field(name[len(PROFILE_PREFIX):])
    return FIELDS.get(name)


def item_value_type(column: str) -> str:
    """How an item column compares: `price` and `quantity` as numbers, any other by its values."""
    return "number" if column in NUMBER_COLUMNS["items"] else "any"
