"""The segments and config against the tables' schemas (no rows read): every column they name must exist.

A name that does not fit the data would otherwise give an empty or full audience with exit 0; each is a
DataError instead, saying what exists. The rows themselves are checked in health.py.
"""

from __future__ import annotations

import difflib

from ..language import catalog
from ..language.catalog import Reads
from ..errors import DataError, Location, Problem
from ..language.tree import Condition, EventCondition, EventRule, Segment, Sequence, conditions, nodes, with_references
from ..results import ColumnSources
from .tables import REQUIRED, Inputs, Table


def column_needs(rule: Condition, inputs: Inputs) -> list[Reads]:
    """The columns a condition reads (its field's, and those of its `items:`), beyond the required ones."""
    spec = rule.field
    if spec.family == catalog.PROFILE and inputs.computes(spec.column):
        return []  # computed from events
    needs = list(spec.reads)
    if rule.items:
        needs.append(Reads("events", ("order_id",)))
        needs += [Reads("items", (c.column,)) for c in rule.items]
    return needs


def check_names(segments: list[Segment], inputs: Inputs, columns: tuple[str, ...] = ()) -> None:
    """Every column the segments, the config's `columns:` mapping and `--columns` name must exist, and so must
    the required columns of the tables the run reads: the same error whichever engine runs the segments."""
    problems = mapping_problems(inputs)
    for segment in with_references(segments):
        for rule in conditions(segment.root):
            problems += [p for need in column_needs(rule, inputs)
                         if (p := _missing(need, inputs, rule.field.name, rule.loc)) is not None]
        for node, event_conditions in _event_conditions(segment.root):
            problems += [p for c in event_conditions
                         if (p := _missing(_event_reads(c), inputs, c.field, node.loc)) is not None]
    problems += [p for column in columns if not inputs.computes(column)
                 if (p := _missing(Reads("profiles", (column,)), inputs, "--columns", None)) is not None]
    if problems:
        raise DataError(problems=_unique(problems))
    reads_items = any(rule.items for segment in segments for rule in conditions(segment.root))
    for table in (inputs.events, inputs.profiles, inputs.items if reads_items else None):
        if table is not None:
            table.require(REQUIRED[table.name])


def columns_read(segments: list[Segment], inputs: Inputs, columns: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """The canonical columns of each table that the segments can read besides the required and the
    conversion columns: what a replay over several instants holds in memory."""
    wanted: dict[str, set[str]] = {"events": set(), "profiles": set(columns), "items": set()}
    for segment in with_references(segments):
        needs = [need for rule in conditions(segment.root) for need in column_needs(rule, inputs)]
        needs += [_event_reads(c) for _, event_conditions in _event_conditions(segment.root)
                  for c in event_conditions]
        for need in needs:
            wanted[need.table].update(need.columns)
    return wanted


def column_sources(segments: list[Segment], inputs: Inputs) -> tuple[ColumnSources, ...]:
    """Where the columns the segments read come from, for each table whose columns are not read under their
    own names: a preset's view of the vendor's columns, or the config's `columns:` mapping."""
    wanted = columns_read(segments, inputs)
    found = []
    for joined in (inputs.events, inputs.profiles, inputs.items):
        if joined is None or (joined.name != "events" and not wanted[joined.name]):
            continue
        joined_by_person = getattr(joined, "identity", None) is not None  # stitching.Stitched: its sources' Parts
        for table, part in zip(joined.parts(), joined.sources if joined_by_person else [None]):
            read = dict.fromkeys([*REQUIRED[table.name], *sorted(wanted[table.name])])
            columns = [(c, tuple(source)) for c in read if (source := table.source(c)) is not None]
            how = [f"preset {table.preset}"] if table.preset else []
            how += ["the config's columns: mapping"] if table.mapping else []
            if part is not None:
                device = [d for d in table.source("visitor_id") or ["visitor_id"] if d not in part.names] \
                    if table.has("visitor_id") else []
                person = tuple(f"{name} (the person)" for name in part.names)
                columns = [("visitor_id", person + tuple(f"{d} (the device)" for d in device))] + [
                    c for c in columns if c[0] != "visitor_id"]
                how.insert(0, part.where)
            if columns:
                found.append(ColumnSources(table.name, f"{table.label}, {' and '.join(how)}", tuple(columns)))
    return tuple(found)


def single_event_columns(segments: list[Segment]) -> set[str]:
    """The events columns that the tests of single events read: field rules on referrers, UTMs and URLs,
    and the conditions of `event` rules (sequences read their events apart)."""
    wanted = set()
    for segment in with_references(segments):
        reads = [rule.field.reads[0] for rule in conditions(segment.root) if rule.field.family == catalog.REFERRER_UTM]
        reads += [_event_reads(c) for node, event_conditions in _event_conditions(segment.root)
                  if isinstance(node, EventRule) for c in event_conditions]
        wanted.update(c for need in reads for c in need.columns)
    return wanted


def mapping_problems(inputs: Inputs) -> list[Problem]:
    """Each export name in the config's `columns:` mapping must be a column of its table."""
    problems = []
    for table in (part for t in (inputs.events, inputs.profiles, inputs.items) if t is not None for part in t.parts()):
        key = table.columns_key or f"columns.{table.name}"
        for canonical, export in table.mapping.items():
            if export not in table.schema():
                hint, close = closest(export, table.schema())
                problems.append(Problem(inputs.config.where(f"{key}.{canonical}"),
                                        f"{key}.{canonical}: {table.label} has no column {export!r}{hint}",
                                        "missing-column", close))
    return problems


def _missing(need: Reads, inputs: Inputs, reader: str, location: Location | None) -> Problem | None:
    table: Table | None = getattr(inputs, need.table)
    if table is None:
        option = f"data.{need.table} in the config or --{need.table}"
        return Problem(location, f"{reader} reads the {need.table} table, but none is configured ({option})",
                       "missing-table")
    if any(table.has(c) for c in need.columns):
        return None
    names = [table.export_name(c) for c in need.columns]
    mapped = [f"{table.export_name(c)!r} (mapped from {c!r})" if table.export_name(c) != c else repr(c)
              for c in need.columns]
    what = mapped[0] if len(mapped) == 1 else " or ".join(mapped)
    via = " (the UTM column, or the URL's query string)" if len(need.columns) > 1 else ""
    hint, close = closest(names[0], table.schema())
    return Problem(location, f"{reader} reads column {what} of {need.table}{via}, which {table.label} does not have"
                             f"{table.separator_hint() or hint}", "missing-column", close)


def closest(name: str, existing) -> tuple[str, tuple[str, ...]]:
    """`; did you mean 'x'?` with the close names (and those names), else the columns that exist."""
    names = list(existing)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    close += [n for n in names if n.lower() == name.lower() and n not in close]
    if close:
        return f"; did you mean {', '.join(map(repr, close))}?", tuple(close)
    shown = ", ".join(names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12 else "")
    return f"; its columns: {shown}", ()


def _unique(problems: list[Problem]) -> list[Problem]:
    return list({str(p): p for p in problems}.values())


def reads_conversions(segments: list[Segment], inputs: Inputs) -> bool:
    """Whether the segments read conversions: a conversion or grid rule, or a prediction computed from them."""
    families = (catalog.CONVERSION, catalog.RETENTION)
    return any(rule.field.family in families or (rule.field.family == catalog.PROFILE
                                                  and inputs.computes(rule.field.column))
               for segment in with_references(segments) for rule in conditions(segment.root))


def _event_conditions(root):
    """(rule, its conditions on single events) for each `event` and `sequence` rule of a tree."""
    for node in nodes(root):
        if isinstance(node, EventRule):
            yield node, node.conditions
        elif isinstance(node, Sequence):
            for step in (*node.steps, *([node.then_not] if node.then_not else [])):
                yield node, step.conditions


def _event_reads(condition: EventCondition) -> Reads:
    spec = catalog.FIELDS.get(condition.field)
    if spec is not None and spec.family == catalog.REFERRER_UTM:
        return spec.reads[0]
    return Reads("events", (condition.column,))
