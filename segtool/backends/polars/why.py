"""`segtool why`: one visitor's verdict on every rule of a segment, with the values and rows that decided it.

The rules are lowered and translated as a run lowers and translates them (plan/lower.py, translate.py), over
the whole universe as `run --summary` goes over it, so each verdict is the run's; plan/evidence.py says
which values of the same lowered rule to show beside it."""

from __future__ import annotations

import polars as pl

from ...inputs import source
from ...inputs.tables import VID, Inputs
from ...language.timeframe import AsOf
from ...language.tree import AllOf, AnyOf, Not, Segment, SegmentRef
from ...plan import ir
from ...plan.evidence import Evidence, evidence
from ...plan.lower import Lowering, Schema, Settings, lower
from ...results import Rows, RuleVerdict
from .features import ALL, Features, Preparation, columns_of, conversion_rows, visitor_frame
from .plan import Plan, run_plan
from .translate import Context, translate

SHOWN_ROWS = 10
GROUPS = (AllOf, AnyOf, Not, SegmentRef)  # their rules below them show what decided


def verdicts(segment: Segment, outline: list[tuple[int, object, str]], visitor: str, inputs: Inputs, as_of: AsOf,
             prepared: Preparation = Preparation()) -> tuple[bool, tuple[RuleVerdict, ...]] | list[str]:
    """Whether the visitor is a member, and each rule of `outline` (describe.outline) for the visitor; where the
    visitor is not in the universe, every visitor ID of it instead (for the message that names close ones)."""
    lowering = Lowering(Schema.of(inputs), Settings.of(inputs.config, as_of))
    features = Features()
    ctx = features.rows
    lowered = [lower(rule, lowering) for _, rule, _ in outline]
    shown = [Evidence() if isinstance(rule, GROUPS) else evidence(node) for (_, rule, _), node in zip(outline, lowered)]
    outputs = [translate(lowering.answer(segment), ctx).alias("member")]
    outputs += [translate(node, ctx).alias(f"rule:{j}") for j, node in enumerate(lowered)]
    outputs += [translate(value, ctx).alias(f"value:{j}:{k}") for j, found in enumerate(shown)
                for k, (_, value) in enumerate(found.values)]
    visitors = visitor_frame(inputs, features, as_of, ALL, prepared)
    frame, _ = run_plan(Plan([segment], visitors.frame.select(VID, *outputs), checks=visitors), inputs, as_of)
    row = frame.filter(pl.col(VID) == visitor)
    if row.is_empty():
        return frame[VID].to_list()
    values = row.row(0, named=True)
    rules = []
    for j, ((depth, _, text), found) in enumerate(zip(outline, shown)):
        read = tuple((label, values[f"value:{j}:{k}"]) for k, (label, _) in enumerate(found.values))
        rows = tuple(_rows(table, where, visitor, inputs, as_of, features) for table, where in found.rows)
        rules.append(RuleVerdict(depth, text, bool(values[f"rule:{j}"]), read, rows))
    return bool(values["member"]), tuple(rules)


def _rows(table: str, where: ir.Node, visitor: str, inputs: Inputs, as_of: AsOf, features: Features) -> Rows:
    """The visitor's rows that meet `where`, the test by which an aggregate of the rule counts a row."""
    read = sorted(columns_of(where) - {VID, "timestamp"})
    if table == "events":
        rows = source.event_rows(inputs, as_of, ["event_type", *read])
        shown = ["timestamp", "event_type", *(c for c in read if c != "event_type")]
    else:  # one row per conversion, with the item flags of its lines, as the run's aggregates read them
        rows = conversion_rows(source.conversion_events(inputs, as_of), inputs, features)
        shown = ["timestamp", "order_id", "order_value"]
    matching = rows.filter(pl.col(VID) == visitor).filter(translate(where, Context(features))).select(shown)
    found = source.collect(matching.sort("timestamp", maintain_order=True), inputs)
    return Rows(table, found.height, found.head(SHOWN_ROWS))
