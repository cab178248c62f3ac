"""What shows why a rule holds for a visitor or not (`segtool why`): the per-visitor values its lowered test
reads (a count, a sum, a profile value, days since), and the row tests whose rows decided it (the events or
conversions an aggregate counts). Nodes of the lowered rule itself, so a backend computes them as it
computes the rule, and the evidence is what the verdict was made of."""

from __future__ import annotations

from dataclasses import dataclass

from . import ir

AGGREGATE_WORDS = {
    (ir.EventAggregate, "count"): "matching events", (ir.EventAggregate, "any"): "a matching event",
    (ir.EventAggregate, "min"): "first event", (ir.EventAggregate, "max"): "last event",
    (ir.ConversionAggregate, "count"): "conversions counted", (ir.ConversionAggregate, "any"): "a matching conversion",
    (ir.ConversionAggregate, "sum"): "sum of order values", (ir.ConversionAggregate, "mean"): "mean order value",
    (ir.ConversionAggregate, "min"): "first conversion", (ir.ConversionAggregate, "max"): "last conversion",
}
ROW_TABLES = {ir.EventAggregate: "events", ir.ConversionAggregate: "conversions"}


@dataclass(frozen=True)
class Evidence:
    values: tuple[tuple[str, ir.Node], ...] = ()  # what it is, in words; a per-visitor value
    rows: tuple[tuple[str, ir.Node], ...] = ()  # `events` or `conversions`; the test a row meets to count


def evidence(node: ir.Node) -> Evidence:
    """The per-visitor values and row tests a lowered rule reads, each once, in the order the rule reads them
    (those of the rules it is made of, for a group)."""
    values: dict[ir.Node, str] = {}
    rows: dict[tuple[str, ir.Node], None] = {}
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ir.FirstProfile):  # a test of the profile row: the values it reads
            for column in ir.walk(n.value):
                if isinstance(column, ir.Column) and column.kind != "absent":
                    values.setdefault(ir.FirstProfile(column), f"profile.{column.name}")
            continue
        if isinstance(n, (ir.EventAggregate, ir.ConversionAggregate)):  # counted as the lowering counts no rows
            missing = {"count": ir.Const(0.0), "any": ir.FALSE}.get(n.fn)
            values.setdefault(n if missing is None else ir.Coalesce((n, missing)), AGGREGATE_WORDS[type(n), n.fn])
            if n.where != ir.TRUE:
                rows.setdefault((ROW_TABLES[type(n)], n.where), None)
            continue
        if isinstance(n, ir.Predicted):
            values.setdefault(n, n.column)
        elif isinstance(n, ir.Chain):
            values.setdefault(n, "a chain of the sequence's events")
        elif isinstance(n, ir.Bucket):
            values.setdefault(n, f"sample bucket of seed {n.seed!r}")
        elif isinstance(n, ir.DaysSince):
            values.setdefault(n, "whole days since, to as_of")
        elif isinstance(n, ir.Case):  # per visitor, only the retention grid's cell is a case
            values.setdefault(n, "retention grid cell")
        if not isinstance(n, (ir.Chain, ir.Bucket)):
            stack.extend(reversed(ir.children(n)))
    return Evidence(tuple((label, value) for value, label in values.items()), tuple(rows))
