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


@dataclass
class Features:
    event_aggs: dict[object, Aggregate] = field(default_factory=dict)
    conversion_aggs: dict[object, Aggregate] = field(default_factory=dict)
    item_flags: dict[object, Aggregate] = field(default_factory=dict)
    event_values: set[str] = field(default_factory=set)  # derived event columns: referrer_domain, utm_*, ...
    profile_columns: dict[str, None] = field(default_factory=dict)

    def _register(self, table: dict, prefix: str, key, expr: pl.Expr, default) -> pl.Expr:
        if key not in table:
            table[key] = Aggregate(f"{prefix}{len(table)}", expr, default)
        return pl.col(table[key].name)

    def over_events(self, key, expr: pl.Expr, default) -> pl.Expr:
        """An aggregate over the visitor's events (up to as_of)."""
        return self._register(self.event_aggs, "e", key, expr, default)

    def over_conversions(self, key, expr: pl.Expr, default) -> pl.Expr:
        """An aggregate over the visitor's de-duplicated conversions."""
        return self._register(self.conversion_aggs, "c", key, expr, default)

    def item_flag(self, key, line_expr: pl.Expr) -> pl.Expr:
        """Per conversion: whether one of its line items meets `line_expr`."""
        return self._register(self.item_flags, "i", key, line_expr, False)

    def event_value(self, name: str) -> pl.Expr:
        self.event_values.add(name)
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


def event_rows(inputs: Inputs, features: Features, as_of: AsOf) -> pl.LazyFrame:
    """Events up to as_of with a visitor and a timestamp, with only the columns the features read."""
    events = inputs.events
    events.require(("visitor_id", "timestamp", "event_type"))
    wanted = set(features.event_values)
    if features.conversion_aggs:
        wanted |= {"event_type", "order_id", "order_value"}
    raw = {"url"} if any(v in UTM_FIELDS for v in wanted) else set()
    raw |= {"referrer"} if wanted & {"referrer", "referrer_domain"} else set()
    raw |= {v for v in wanted if v in UTM_FIELDS and events.has(v)}
    raw |= wanted & {"event_type", "order_id", "order_value", "url"}
    frame = events.select([VID, "timestamp", *sorted(raw)]).with_columns(
        parse_timestamps(events, inputs.config.timestamp_format, pl.col("timestamp")).alias("timestamp"))
    frame = frame.filter(pl.col(VID).is_not_null() & pl.col("timestamp").is_not_null()
                         & before_as_of(pl.col("timestamp"), as_of))
    return frame


def _with_derived_values(frame: pl.LazyFrame, events: Table, wanted: set[str], config: Config) -> pl.LazyFrame:
    """Referrer domains and UTMs from URLs, parsed once per distinct referrer or URL and joined back.

    Exports repeat the same referrers and landing URLs over and over; regex work per distinct value
    instead of per event is what keeps these fields cheap."""
    if wanted & {"referrer", "referrer_domain"}:
        domain = ex.referrer_domain(pl.col("referrer"))
        internal = ex.is_internal(domain, config.site_domains)
        referrers = frame.select("referrer").unique().select(
            "referrer",
            pl.when(internal).then(None).otherwise(pl.col("referrer")).alias("referrer:external"),
            pl.when(internal).then(None).otherwise(domain).alias("referrer_domain"))
        frame = (frame.join(referrers, on="referrer", how="left")
                 .drop("referrer").rename({"referrer:external": "referrer"}))
    utms = [utm for utm in UTM_FIELDS if utm in wanted]
    if utms:
        urls = frame.select("url").unique().select(
            "url", *(ex.utm_from_url(pl.col("url"), utm).alias(f"{utm}:url") for utm in utms))
        frame = frame.join(urls, on="url", how="left").with_columns(
            (pl.coalesce(pl.col(utm), pl.col(f"{utm}:url")) if events.has(utm) else pl.col(f"{utm}:url")).alias(utm)
            for utm in utms).drop(f"{utm}:url" for utm in utms)
    return frame


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


def visitor_frame(inputs: Inputs, features: Features, as_of: AsOf) -> pl.LazyFrame:
    """One row per visitor of the universe (profiles ∪ events up to as_of) with every feature column."""
    events = event_rows(inputs, features, as_of)
    # conversions read `events` as is: only the per-event rules need the derived values
    derived = _with_derived_values(events, inputs.events, set(features.event_values), inputs.config)
    per_visitor = derived.group_by(VID).agg(a.expr.alias(a.name) for a in features.event_aggs.values())
    universe = per_visitor
    if inputs.profiles is not None:
        universe = per_visitor.join(_profile_rows(inputs.profiles, features), on=VID, how="full", coalesce=True)
    elif features.profile_columns:
        universe = universe.with_columns(pl.lit(None).alias(profile_name(c)) for c in features.profile_columns)
    if features.conversion_aggs:
        per_converter = conversion_rows(events, inputs, features).group_by(VID).agg(
            a.expr.alias(a.name) for a in features.conversion_aggs.values())
        universe = universe.join(per_converter, on=VID, how="left")
    defaults = [*features.event_aggs.values(), *features.conversion_aggs.values()]
    return universe.with_columns(pl.col(a.name).fill_null(a.default) for a in defaults if a.default is not None)


def _profile_rows(profiles: Table, features: Features) -> pl.LazyFrame:
    profiles.require(["visitor_id"])
    present = [c for c in features.profile_columns if profiles.has(c)]
    rows = profiles.select([VID, *present]).filter(pl.col(VID).is_not_null()).unique(VID, keep="first")
    missing = [pl.lit(None, pl.String).alias(profile_name(c)) for c in features.profile_columns if c not in present]
    return rows.rename({c: profile_name(c) for c in present}).with_columns(missing)
