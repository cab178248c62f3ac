"""Many segments, one plan: one visitor frame, then one boolean column per segment."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl

from ..errors import DataError, UsageError
from ..timeframe import AsOf, parse_as_of
from ..tree import Segment
from .compile import Context, required_events, translate
from .features import (ALL, BOTH, CONVERTERS, MATCHING_EVENTS, PROFILES, VID, Features, Inputs, VisitorFrame,
                       event_base, known_visitors, predicted_columns, profile_name, visitor_frame)
from .health import EventHealth, check_health, conversion_type_counts, read_health, skip_counts
from .inputs import FLOAT_COLUMNS


def segment_column(index: int) -> str:
    return f"segment:{index}"


def rule_column(index: int, rule_index: int) -> str:
    return f"segment:{index}:rule:{rule_index}"


@dataclass
class Plan:
    segments: list[Segment]
    frame: pl.LazyFrame  # visitor_id, profile:<col>..., segment:<i>, segment:<i>:rule:<j>
    computed_predictive: dict[str, str] = field(default_factory=dict)  # column -> how it was computed from events
    checks: VisitorFrame | None = None  # the counts that check the event rows the frame reads


def build_plan(segments: list[Segment], inputs: Inputs, as_of: AsOf, *,
               per_rule: bool = False, columns: tuple[str, ...] = ()) -> Plan:
    """Compile every segment against one shared set of per-visitor features."""
    features = Features()
    ctx = Context(features, inputs, as_of)
    outputs = []
    for i, segment in enumerate(segments):
        outputs.append(translate(segment.root, ctx).alias(segment_column(i)))
        if per_rule:
            outputs.extend(translate(rule, ctx).alias(rule_column(i, j)) for j, rule in enumerate(segment.top_rules))
    extra = [features.profile(c).alias(profile_name(c)) for c in columns]
    needs_event = all(required_events(segment.root, ctx) for segment in segments)
    scope = ALL if per_rule else universe_scope(features, inputs, as_of, outputs, needs_event)
    visitors = visitor_frame(inputs, features, as_of, scope)
    frame = visitors.frame.select(pl.col(VID), *extra, *outputs)
    return Plan(segments, frame, features.computed_predictive, visitors)


def run_plan(plan: Plan, inputs: Inputs, as_of: AsOf) -> tuple[pl.DataFrame, EventHealth | None]:
    """The plan's frame, and the health of the event rows it read (counted in the same run, each count by
    the branch that reads those rows) checked: a DataError where the data does not fit."""
    checks = plan.checks
    counts = [q for q in (checks.skips, checks.conversion_types) if q is not None] if checks else []
    frame, *rows = collect_all([plan.frame, *counts], inputs)
    health = None
    if checks is not None and checks.skips is not None:
        health = read_health(rows[0], checks.skipped_from, rows[1] if checks.conversion_types is not None else None)
        check_health(health, inputs, as_of)
    return (known_visitors(frame) if VID in frame.columns else frame), health


def universe_scope(features: Features, inputs: Inputs, as_of: AsOf, outputs: list[pl.Expr],
                   needs_event: bool = False) -> str:
    """The narrowest set of visitors outside which no output can be true.

    When every segment needs an event that meets one of its referrer/UTM rules (`needs_event`, from
    compile.required_events), only the visitors with such an event. When no rule reads events one by one, a visitor without a profile and without a conversion has
    only default features (null profile columns, zero conversions). If every output is false for such a
    visitor, the universe can be profiles ∪ converters (or just one of them), and the pass over all events
    that finds every visitor is not needed. Decided by evaluating the outputs on that one default row."""
    if needs_event:
        return MATCHING_EVENTS
    if features.event_tests or predicted_columns(inputs, features):  # predictions value visitors without either
        return ALL
    schema = visitor_frame(inputs, features, as_of).frame.collect_schema()
    defaults = {a.name: a.default for a in [*features.conversion_aggs.values(), *features.profile_tests.values()]}
    row = pl.DataFrame({name: [defaults.get(name)] for name in schema}, schema=dict(schema))
    if row.select(pl.any_horizontal(pl.lit(False), *outputs).fill_null(False)).item():
        return ALL
    if not features.conversion_aggs:
        return PROFILES if inputs.profiles is not None else ALL
    return CONVERTERS if not features.reads_profiles else BOTH


def collect(frame: pl.LazyFrame, inputs: Inputs) -> pl.DataFrame:
    """Run a plan; a value that cannot be read as its column's type becomes a DataError naming file and column."""
    return collect_all([frame], inputs)[0]


# Branches of a plan that read the same scan would share it through a cache that holds every row in
# memory; each reads its own columns instead, streaming, so memory stays with the per-visitor results.
NO_SHARED_SCANS = pl.QueryOptFlags(comm_subplan_elim=False)


def collect_all(frames: list[pl.LazyFrame], inputs: Inputs) -> list[pl.DataFrame]:
    """Run several plans at once, so a scan they share is read once."""
    try:
        return pl.collect_all(frames, engine="streaming", optimizations=NO_SHARED_SCANS)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        raise _data_error(exc, inputs) from None
    except OSError as exc:
        raise _data_error(exc, inputs) from None


def _data_error(exc: Exception, inputs: Inputs) -> DataError:
    message = str(exc)
    found = re.search(r"in column '([^']+)'.*?: (\[.*?\])", message, re.S)
    for table in (inputs.events, inputs.profiles, inputs.items):
        if table is None or not found:
            continue
        for canonical in FLOAT_COLUMNS[table.name]:
            if found.group(1) in (canonical, table.export_name(canonical)):
                return DataError(f"values that are not numbers in {table.name}: {found.group(2)}",
                                 file=table.label, column=table.export_name(canonical))
    first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    if "os error 12" in first or "Cannot allocate memory" in first or "memory allocation" in first:
        from ..supervisor import MEMORY_HINT

        return DataError(f"ran out of memory while reading the data; {MEMORY_HINT}")
    for table in (inputs.events, inputs.profiles, inputs.items):
        file = table.unreadable_file() if table is not None else None
        if file is not None:
            hint = "; the file is not UTF-8 text: convert it to UTF-8" if "utf-8" in first else ""
            return DataError(f"cannot read {table.name}: {first}{hint}", file=file)
    return DataError(f"cannot read the input data: {first}")


def event_health(inputs: Inputs, as_of: AsOf | None, conversions: bool = False) -> EventHealth:
    """The health of the event rows up to as_of (all of them, and the newest timestamp, where it is None),
    checked: a pass of its own, for commands that need it before or without a plan (`as_of: latest`,
    `validate --data`, `predict`)."""
    rows = event_base(inputs, Features(), as_of, event_type=conversions)
    types = inputs.config.conversion_events
    queries = [skip_counts(rows, newest=as_of is None)]
    if conversions:
        queries.append(conversion_type_counts(rows.filter(pl.col("event_type").is_in(list(types))), types))
    skips, *converted = collect_all(queries, inputs)
    health = read_health(skips, rows, converted[0] if converted else None)
    check_health(health, inputs, as_of)
    return health


def latest_event(health: EventHealth, inputs: Inputs) -> AsOf:
    """`as_of: latest`: the newest event's timestamp."""
    if health.newest is None:
        raise DataError("as_of: latest needs at least one event with a readable timestamp", file=inputs.events.label)
    try:
        return parse_as_of(health.newest.isoformat())
    except UsageError as exc:
        raise DataError(f"as_of: latest is the newest event, {exc}", file=inputs.events.label) from None


def grid_counts(inputs: Inputs, as_of: AsOf) -> pl.DataFrame:
    """Visitors per retention grid cell (every configured cell listed, zeros included; null = no cell)."""
    from .compile import grid_cell

    features = Features()
    cell = grid_cell(Context(features, inputs, as_of)).alias("cell")
    visitors = visitor_frame(inputs, features, as_of)
    cells, _ = run_plan(Plan([], visitors.frame.select(VID, cell), checks=visitors), inputs, as_of)
    counts = cells.group_by("cell").agg(pl.len().alias("visitors"))
    names = pl.DataFrame({"cell": [c.name for c in inputs.config.grid]})
    listed = names.join(counts, on="cell", how="left").with_columns(pl.col("visitors").fill_null(0))
    unplaced = counts.filter(pl.col("cell").is_null())
    return pl.concat([listed, unplaced.with_columns(pl.col("visitors").cast(listed["visitors"].dtype))])
