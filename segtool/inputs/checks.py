"""The segments and config against the tables' schemas (no rows read): every column they name must exist;
and the places they name against the places the profiles hold (`check_place_values`, a read of those columns).

A name that does not fit the data would otherwise give an empty or full audience with exit 0; each is a
DataError instead, saying what exists. The rows themselves are checked in health.py.
"""

from __future__ import annotations

import difflib

import polars as pl

from ..language import catalog
from ..language.catalog import Reads
from ..errors import DataError, Location, Problem, did_you_mean
from ..language.tree import Condition, EventCondition, EventRule, Segment, Sequence, conditions, nodes, with_references
from ..results import ColumnSources
from ..places import country_spellings, is_city_name
from .source import collect_all
from .tables import REQUIRED, Inputs, Table

PLACES = ("city", "region", "country")


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


def check_place_values(segments: list[Segment], inputs: Inputs) -> None:
    """A value of an `is`/`in` rule on city, region or country that no profile holds, where a profile holds
    it in another case or, for a value that names no known place, one spelled alike (a letter off, a
    country's name for its code): an error suggesting that spelling. A place that exists (a country, a
    gazetteer city's own name) or has no close spelling is no error: no visitor from there is an answer.
    `country` values are compared as countries (lower.country_test)."""
    profiles = inputs.profiles
    rules = [rule for segment in with_references(segments) for rule in conditions(segment.root)
             if rule.field.family == catalog.PROFILE and rule.field.column in PLACES and profiles is not None
             and rule.predicate.op in ("is", "in") and profiles.kind(rule.field.column) == "text"]
    columns = sorted({rule.field.column for rule in rules})
    if not columns:
        return
    found = collect_all([profiles.select([c]).select(pl.col(c).drop_nulls().unique()) for c in columns], inputs)
    held = {c: frame.to_series().to_list() for c, frame in zip(columns, found)}
    problems = []
    for rule in rules:
        column, p = rule.field.column, rule.predicate
        values = held[column]
        folded = {v.lower() for v in values}
        named = [name for code in values for name in country_spellings(code)] if column == "country" else []
        for value in map(str, p.value if isinstance(p.value, tuple) else (p.value,)):
            spellings = country_spellings(value) if column == "country" else ()
            if spellings or (value.lower() in folded if p.ignore_case else value in values):
                continue  # a country matches however the profiles write it, or no one is from there
            close = tuple(dict.fromkeys([v for v in values if v.lower() == value.lower()]))
            if not close and not (column == "city" and is_city_name(value)):
                close = tuple(difflib.get_close_matches(value, list(dict.fromkeys(values + named)), n=3,
                                                        cutoff=0.8))
            if close:
                problems.append(Problem(rule.loc, f"{rule.field.name}: no profile in {profiles.label} has the "
                                                  f"{column} {value!r}{did_you_mean(close)}", "unknown-value", close))
    if problems:
        raise DataError(problems=problems)


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
    lacks = table.view_lacks(*need.columns)
    return Problem(location, f"{reader} reads column {what} of {need.table}{via}, which {table.label} does not have"
                             f"{table.separator_hint() or lacks or hint}", "missing-column", () if lacks else close)


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
