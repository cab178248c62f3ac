"""Per-visitor features: every aggregate the compiled rules need, computed once per run.

Rules register what they need (a profile column, an aggregate over events, over
de-duplicated conversions, or a flag over line items) under a structural key, so
the same aggregate asked for by several rules or segments is computed once. The
visitor frame is then one aggregation over events, one over conversions and a
join with profiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ..config import Config
from ..errors import DataError
from ..timeframe import AsOf
from . import expressions as ex
from .inputs import Table, before_as_of, parse_timestamps

VID = "visitor_id"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@dataclass
class Aggregate:
    name: str
    expr: pl.Expr
    default: object
    row: pl.Expr | None = None  # for event aggregates: the per-event condition the aggregate is `any` of


@dataclass
class Features:
    event_aggs: dict[object, Aggregate] = field(default_factory=dict)
    conversion_aggs: dict[object, Aggregate] = field(default_factory=dict)
    item_flags: dict[object, Aggregate] = field(default_factory=dict)
    value_flags: dict[str, dict[object, Aggregate]] = field(default_factory=dict)  # "referrer"/"url" -> flags
    event_columns: set[str] = field(default_factory=set)  # raw event columns read per event (utm_*)
    flag_candidates: dict[str, tuple[str, ...]] = field(default_factory=dict)  # flag -> the only values it can match
    profile_columns: dict[str, None] = field(default_factory=dict)
    computed_predictive: dict[str, str] = field(default_factory=dict)  # column -> how it was computed from events

    def _register(self, table: dict, prefix: str, key, expr: pl.Expr, default, row: pl.Expr | None = None):
        if key not in table:
            table[key] = Aggregate(f"{prefix}{len(table)}", expr, default, row)
        return pl.col(table[key].name)

    def any_event(self, key, row: pl.Expr) -> pl.Expr:
        """Whether at least one of the visitor's events (up to as_of) meets `row`."""
        return self._register(self.event_aggs, "e", key, row.any(), False, row)

    def over_conversions(self, key, expr: pl.Expr, default) -> pl.Expr:
        """An aggregate over the visitor's de-duplicated conversions."""
        return self._register(self.conversion_aggs, "c", key, expr, default)

    def item_flag(self, key, line_expr: pl.Expr) -> pl.Expr:
        """Per conversion: whether one of its line items meets `line_expr`."""
        return self._register(self.item_flags, "i", key, line_expr, False)

    def value_flag(self, source: str, key, expr: pl.Expr, candidates: tuple[str, ...] | None = None) -> pl.Expr:
        """Per event: whether its `source` value (referrer or url) meets `expr`, which reads the values
        derived from it (`referrer`, `referrer_domain`, `utm_*` from the URL); evaluated once per distinct
        value. `candidates`, where the rule names them (`is`, `in`), are the only values that can match."""
        flag = self._register(self.value_flags.setdefault(source, {}), f"{source[0]}", key, expr, False)
        if candidates is not None:
            self.flag_candidates[flag.meta.output_name()] = candidates
        return flag

    def event_column(self, name: str) -> pl.Expr:
        self.event_columns.add(name)
        return pl.col(name)

    def profile(self, column: str) -> pl.Expr:
        self.profile_columns[column] = None
        return pl.col(profile_name(column))


def profile_name(column: str) -> str:
    return f"profile:{column}"


@dataclass
class Inputs:
    """The run's tables and settings: what the visitor frame is built from."""

    events: Table
    profiles: Table | None
    items: Table | None
    config: Config


def event_base(inputs: Inputs, features: Features, as_of: AsOf | None, *, conversions: bool = False,
               event_type: bool = False) -> pl.LazyFrame:
    """The event rows up to as_of (all rows where it is None) with the columns the features read (and the
    conversion columns where `conversions` is set, event_type where `event_type` is), timestamps parsed.
    Rows without a visitor or a readable timestamp are still there: the health check (checks.py) counts
    them over this same scan, and `event_rows` drops them."""
    events = inputs.events
    events.require(("visitor_id", "timestamp", "event_type"))
    raw = {source for source, flags in features.value_flags.items() if flags}
    raw |= {c for c in features.event_columns if events.has(c)}
    if features.conversion_aggs or conversions:
        raw |= {"event_type", "order_id", "order_value"}
    if event_type:
        raw.add("event_type")
    frame = events.select([VID, "timestamp", *sorted(raw)]).with_columns(
        parse_timestamps(events, inputs.config.timestamp_format, pl.col("timestamp")).alias("timestamp"))
    ts = pl.col("timestamp")
    return frame if as_of is None else frame.filter(ts.is_null() | before_as_of(ts, as_of))


def event_rows(inputs: Inputs, features: Features, as_of: AsOf, *, conversions: bool = False,
               base: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Events up to as_of with a visitor and a timestamp (rows of `base`, or of a new `event_base`)."""
    frame = event_base(inputs, features, as_of, conversions=conversions) if base is None else base
    return frame.filter(pl.col(VID).is_not_null() & pl.col("timestamp").is_not_null())


def known_visitors(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Rows whose visitor_id has some text: an empty or all-whitespace ID is no visitor (its events are
    skipped, and counted so by the health check). Applied once per visitor, after aggregation."""
    return frame.filter(pl.col(VID).str.contains(r"\S"))


def _with_value_flags(frame: pl.LazyFrame, features: Features, inputs: Inputs) -> pl.LazyFrame:
    """Each event's referrer and URL flags, decided once per distinct referrer or URL.

    Exports repeat the same referrers and landing URLs over and over. One pass collects the distinct
    values; the regex work (host, internal or not, UTM parameters) and each rule's test run on those;
    the main pass then only asks whether an event's value is one of the matching ones."""
    from .plan import collect

    sources = [source for source, flags in features.value_flags.items() if flags]
    from_data = [s for s in sources if any(a.name not in features.flag_candidates for a in features.value_flags[s].values())]
    distinct = {s: collect(_worth_testing(frame, s, features).select(pl.col(s).unique().drop_nulls().implode()),
                           inputs)[s] for s in from_data}
    for source in sources:
        flags = features.value_flags[source]
        if source in from_data:
            keys = distinct[source][0]
        else:  # every rule names its values: test those, no pass over the data
            keys = pl.Series(sorted({v for a in flags.values() for v in features.flag_candidates[a.name]}))
        values = pl.DataFrame({"key": keys}, schema={"key": pl.String}).lazy()
        tested = collect(values.with_columns(pl.col("key").alias(source))
                         .select("key", *_derived_values(source, inputs.config))
                         .select("key", *(a.expr.fill_null(False).alias(a.name) for a in flags.values())), inputs)
        for a in flags.values():
            matching = tested.filter(pl.col(a.name))["key"]
            if matching.len() <= LITERAL_SET_LIMIT:
                frame = frame.with_columns(pl.col(source).is_in(matching.implode()).fill_null(False).alias(a.name))
            else:
                lookup = pl.DataFrame({source: matching, a.name: True}).lazy()
                frame = frame.join(lookup, on=source, how="left").with_columns(pl.col(a.name).fill_null(False))
    return frame


def _worth_testing(frame: pl.LazyFrame, source: str, features: Features) -> pl.LazyFrame:
    """The events whose `source` value a flag could match: when only UTM rules read URLs, URLs with a UTM."""
    only_utms = all(key[1] in UTM_FIELDS for key in features.value_flags[source])
    return frame.filter(pl.col("url").str.contains("utm_", literal=True)) if source == "url" and only_utms else frame


LITERAL_SET_LIMIT = 10_000  # matching values tested with is_in; beyond that, a join


def _derived_values(source: str, config: Config) -> list[pl.Expr]:
    if source == "referrer":  # internal navigation is not a referrer
        domain = ex.referrer_domain(pl.col("referrer"))
        internal = ex.is_internal(domain, config.site_domains)
        return [pl.when(internal).then(None).otherwise(pl.col("referrer")).alias("referrer"),
                pl.when(internal).then(None).otherwise(domain).alias("referrer_domain")]
    return [pl.col("url"), *(ex.utm_from_url(pl.col("url"), utm).alias(utm) for utm in UTM_FIELDS)]


def conversion_rows(events: pl.LazyFrame, inputs: Inputs, features: Features) -> pl.LazyFrame:
    """One row per conversion: events of the conversion types, an order tracked twice counted once (first event)."""
    conversions = events.filter(pl.col("event_type").is_in(list(inputs.config.conversion_events)))
    columns = [VID, "timestamp", "order_id", "order_value"]
    orders = (conversions.filter(pl.col("order_id").is_not_null())
              .group_by([VID, "order_id"])
              .agg(pl.col("timestamp").min(), pl.col("order_value").sort_by("timestamp").first())
              .select(columns))
    unordered = conversions.filter(pl.col("order_id").is_null()).select(columns)
    rows = pl.concat([orders, unordered])
    if features.item_flags:
        rows = rows.join(_item_flags(inputs, features), on="order_id", how="left").with_columns(
            pl.col(a.name).fill_null(False) for a in features.item_flags.values())
    return rows


def _item_flags(inputs: Inputs, features: Features) -> pl.LazyFrame:
    if inputs.items is None:
        raise DataError("a rule uses `items`, but no items table is configured (data.items or --items)")
    columns = sorted({c for key in features.item_flags for c in key[0]})
    inputs.items.require(["order_id"])
    lines = inputs.items.select(["order_id", *columns]).filter(pl.col("order_id").is_not_null())
    return lines.group_by("order_id").agg(a.expr.any().alias(a.name) for a in features.item_flags.values())


ALL = "all"              # the universe: profiles ∪ events up to as_of
MATCHING_EVENTS = "matching events"  # only visitors with an event that meets some event rule's condition
PROFILES = "profiles"    # only visitors with a profile
CONVERTERS = "converters"  # only visitors with a conversion
BOTH = "both"            # profiles ∪ converters


def visitor_frame(inputs: Inputs, features: Features, as_of: AsOf, scope: str = ALL,
                  base: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """One row per visitor of the universe (profiles ∪ events up to as_of) with every feature column.

    A narrower `scope` leaves out visitors that cannot match any output (see plan.universe_scope), which
    spares the per-visitor pass over all events when no rule reads events one by one. `base` is the event
    scan to read (see `event_base`), where the caller shares it with the health check."""
    events = event_rows(inputs, features, as_of, base=base)
    predicted = predicted_columns(inputs, features)
    profiles = _profile_rows(inputs.profiles, features, predicted) if inputs.profiles is not None else None
    per_converter = None
    if features.conversion_aggs:
        per_converter = conversion_rows(events, inputs, features).group_by(VID).agg(
            a.expr.alias(a.name) for a in features.conversion_aggs.values())
    if scope in (ALL, MATCHING_EVENTS):
        # conversions read `events` as is: only the per-event rules need the flags
        flagged = _with_value_flags(events, features, inputs)
        if scope == MATCHING_EVENTS:  # dropping events that meet no event rule leaves every `any` as it was
            flagged = flagged.filter(pl.any_horizontal(a.row for a in features.event_aggs.values()))
        universe = flagged.group_by(VID).agg(a.expr.alias(a.name) for a in features.event_aggs.values())
        if profiles is not None and (scope == ALL or features.profile_columns):
            universe = universe.join(profiles, on=VID, how="full" if scope == ALL else "left", coalesce=True)
    elif scope == CONVERTERS or (scope == BOTH and profiles is None):
        universe = per_converter.select(VID)
        if profiles is not None and features.profile_columns:
            universe = universe.join(profiles, on=VID, how="left")
    else:
        universe = profiles
        if scope == BOTH:
            universe = universe.join(per_converter.select(VID), on=VID, how="full", coalesce=True)
    if profiles is None and features.profile_columns:
        universe = universe.with_columns(pl.lit(None).alias(profile_name(c)) for c in features.profile_columns
                                         if c not in predicted)
    if predicted:
        universe = universe.join(_predictions(inputs, features, as_of, predicted), on=VID, how="left")
    if per_converter is not None:
        universe = universe.join(per_converter, on=VID, how="left")
    defaults = [*features.event_aggs.values(), *features.conversion_aggs.values()]
    return known_visitors(universe).with_columns(pl.col(a.name).fill_null(a.default) for a in defaults
                                                 if a.default is not None)


def _profile_rows(profiles: Table, features: Features, predicted: list[str]) -> pl.LazyFrame:
    profiles.require(["visitor_id"])
    wanted = [c for c in features.profile_columns if c not in predicted]
    present = [c for c in wanted if profiles.has(c)]
    rows = profiles.select([VID, *present]).filter(pl.col(VID).is_not_null() & pl.col(VID).is_first_distinct())
    missing = [pl.lit(None, profiles.typed_dtype(c)).alias(profile_name(c)) for c in wanted if c not in present]
    return rows.rename({c: profile_name(c) for c in present}).with_columns(missing)


PREDICTIVE_COLUMNS = ("conversion_potential", "clv")


def predicted_columns(inputs: Inputs, features: Features) -> list[str]:
    """The predictive profile columns the features read that are computed from events."""
    return [c for c in features.profile_columns if computed_from_events(c, inputs)]


def computed_from_events(column: str, inputs: Inputs) -> bool:
    """Whether a predictive column comes from the models: config `predictive: events`, or `auto` where the
    profiles lack the column (or there are no profiles)."""
    source, profiles = inputs.config.predictive, inputs.profiles
    return column in PREDICTIVE_COLUMNS and (
        source == "events" or (source == "auto" and (profiles is None or not profiles.has(column))))


def _predictions(inputs: Inputs, features: Features, as_of: AsOf, columns: list[str]) -> pl.LazyFrame:
    from ..predict import predict_visitors, source_note

    predictions = predict_visitors(inputs, as_of)
    features.computed_predictive.update({c: source_note(c, predictions.models) for c in columns})
    return predictions.frame.lazy().select(VID, *(pl.col(c).alias(profile_name(c)) for c in columns))
