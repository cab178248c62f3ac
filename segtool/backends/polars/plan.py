"""Many segments, one plan: one visitor frame, then one boolean column per segment.

Planning is a pure function of the checked segments, the tables' schemas, as_of, the settings and what
was prepared from the data beforehand (features.Preparation): it reads no rows. `run_plan` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from dataclasses import replace

from ...inputs.health import EventHealth, check_health, read_health
from ...inputs.source import collect_all, known_visitors
from ...inputs.tables import VID, Inputs
from ...language.timeframe import AsOf
from ...language.tree import Segment
from ...plan import ir
from ...plan.lower import Lowering, Schema, Settings, grid_cell, lower_segments, profile_value
from .features import (ALL, BOTH, CHECKED_ROWS, CONVERTERS, MATCHING_EVENTS, PROFILES, Features, Preparation,
                       VisitorFrame, profile_name, visitor_frame)
from .translate import Context, translate


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
    output_columns: tuple[str, ...] = ()  # profile columns written beside the IDs, as `profile:<column>`
    scope: str = ALL  # which visitors the frame lists (features.SCOPE_WORDS)


def build_plan(segments: list[Segment], inputs: Inputs, as_of: AsOf, *, per_rule: bool = False,
               columns: tuple[str, ...] = (), prepared: Preparation = Preparation()) -> Plan:
    """Lower every segment (plan/lower.py) and translate it against one shared set of per-visitor features."""
    schema = Schema.of(inputs)
    lowered = lower_segments(segments, schema, Settings.of(inputs.config, as_of), per_rule=per_rule,
                             columns=columns)
    features = Features()
    ctx = features.rows
    outputs = []
    for i, segment in enumerate(lowered.segments):
        outputs.append(translate(segment.answer, ctx).alias(segment_column(i)))
        outputs.extend(translate(rule, ctx).alias(rule_column(i, j)) for j, rule in enumerate(segment.rules))
    extra = [translate(profile_value(c, schema), ctx).alias(profile_name(c)) for c in columns]
    needs_event = all(required_events(segment.answer, features) for segment in lowered.segments)
    samples = any(isinstance(n, ir.Bucket) for segment in lowered.segments for n in ir.walk(segment.answer))
    scope = ALL if per_rule else universe_scope(features, inputs, as_of, outputs, needs_event, samples)
    visitors = visitor_frame(inputs, features, as_of, scope, prepared)
    frame = visitors.frame.select(pl.col(VID), *extra, *outputs)
    notes = {c: note for c, note in prepared.prediction_notes.items() if c in features.predicted_columns}
    return Plan(segments, frame, notes, visitors, columns, scope)


def required_events(node: ir.Node, features: Features) -> frozenset[str] | None:
    """Names of event aggregates or chains at least one of which holds wherever `node` holds (None: no such
    set). `all` needs one of its parts' sets, `any` all of them; `not` and negative operators never do."""
    if isinstance(node, ir.And):
        options = [r for r in (required_events(part, features) for part in node.parts) if r is not None]
        return min(options, key=len) if options else None
    if isinstance(node, ir.Or):
        options = [required_events(part, features) for part in node.parts]
        return frozenset().union(*options) if options and None not in options else None
    if isinstance(node, ir.Coalesce) and isinstance(node.values[0], ir.Chain):
        return frozenset({features.sequences[node.values[0]][0]})
    if isinstance(node, ir.Coalesce) and isinstance(node.values[0], ir.EventAggregate) and node.values[0].fn == "any":
        return frozenset({features.event_tests[node.values[0]].name})
    counted = node.value.values[0] if isinstance(node, ir.NumberTest) and isinstance(node.value, ir.Coalesce) else None
    if isinstance(counted, ir.EventAggregate) and counted.fn == "count":
        zero_passes = pl.select(translate(replace(node, value=ir.Const(0.0)), Context(features))).item()
        return None if zero_passes else frozenset({features.event_tests[counted].name})
    return None


def checked_rows(segments: list[Segment], inputs: Inputs, as_of: AsOf, per_rule: bool = False
                 ) -> tuple[str | None, bool]:
    """Which event rows a run checks (features.CHECKED_ROWS), and whether it counts the conversion types: as
    the plan of the run decides, whichever engine then runs it (no rows read)."""
    plan = build_plan(segments, inputs, as_of, per_rule=per_rule)
    return CHECKED_ROWS[plan.scope], plan.checks.conversion_types is not None


def grid_plan(inputs: Inputs, as_of: AsOf) -> Plan:
    """Every visitor's retention grid cell (`cell`; null where a redefined grid has no cell for them)."""
    features = Features()
    lowering = Lowering(Schema.of(inputs), Settings.of(inputs.config, as_of))
    cell = translate(grid_cell(lowering), features.rows).alias("cell")
    visitors = visitor_frame(inputs, features, as_of)
    return Plan([], visitors.frame.select(VID, cell), checks=visitors)


def run_plan(plan: Plan, inputs: Inputs, as_of: AsOf, conversion_types: bool = True
             ) -> tuple[pl.DataFrame, EventHealth | None]:
    """The plan's frame (one row per visitor of the universe), and the health of the event rows it read
    (counted in the same run, each count by the branch that reads those rows), checked: a DataError where
    the data does not fit."""
    checks = plan.checks
    counts = [q for q in (checks.skips, checks.conversion_types) if q is not None] if checks else []
    frame, *rows = collect_all([plan.frame, *counts], inputs)
    health = None
    if checks is not None and checks.skips is not None:
        health = read_health(rows[0], checks.skipped_from, rows[1] if checks.conversion_types is not None else None)
        check_health(health, inputs, as_of, conversion_types)
    return known_visitors(frame), health


def universe_scope(features: Features, inputs: Inputs, as_of: AsOf, outputs: list[pl.Expr],
                   needs_event: bool = False, samples: bool = False) -> str:
    """The narrowest set of visitors outside which no output can be true.

    When every segment needs an event that meets one of its event rules, or a chain of one of its sequences
    (`needs_event`, from required_events), only the visitors with such an event or chain. When no rule reads events one by one,
    a visitor without a profile and without a conversion has only default features (null profile columns,
    zero conversions). If every output is false for such a visitor, the universe can be profiles ∪
    converters (or just one of them), and the pass over all events that finds every visitor is not needed.
    Decided by evaluating the outputs on that one default row (no data read)."""
    if needs_event and not features.visit_aggs:
        return MATCHING_EVENTS
    if samples:  # a sample's answer depends on the visitor's ID alone: the default row cannot tell
        return ALL
    if features.reads_events_one_by_one or features.predicted_columns:
        return ALL  # predictions value visitors without a profile or a conversion too
    schema = visitor_frame(inputs, features, as_of).frame.collect_schema()
    row = pl.DataFrame({name: [None] for name in schema}, schema=dict(schema))
    if row.select(pl.any_horizontal(pl.lit(False), *outputs).fill_null(False)).item():
        return ALL
    if not features.conversion_aggs:
        return PROFILES if inputs.profiles is not None else ALL
    return CONVERTERS if not features.reads_profiles else BOTH
