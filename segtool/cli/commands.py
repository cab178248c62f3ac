"""What each CLI command does, over the library API; rendering stays here, options stay in cli.py."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from ..errors import Problem, SegtoolError, UsageError
from ..jobs.output import format_for, is_stdout, write_text
from ..jobs.selection import select
from .report import render_grid, write_grid


def validate_segments(session, paths: list[Path], data: bool, stdout, as_json: bool = False) -> None:
    if as_json:
        return _validate_as_json(session, paths, data)
    checked = session.load_segments(paths)
    if data:
        session.check_data(checked)
        health = session.check_events(conversions=session.reads_conversions(checked))
    for segment in checked:
        stdout.print(f"ok  {segment.file}  ({segment.name}, {len(segment.top_rules)} rule(s))", markup=False)
    if data:
        stdout.print(f"ok  data: {health.rows:,} event rows, {health.skipped:,} skipped, as of "
                     f"{session.as_of().describe()}", markup=False)


def _validate_as_json(session, paths: list[Path], data: bool) -> None:
    """{"ok", "segments": [{file, name, rules}], "problems": [{file, line, column, code, message,
    suggestions}]} on stdout; the exit code of the problems (1 segment or config, 3 data) as without JSON."""
    report, failure = {"ok": True, "segments": [], "problems": []}, None
    try:
        checked = session.load_segments(paths)
        report["segments"] = [{"file": s.file, "name": s.name, "rules": len(s.top_rules)} for s in checked]
        if data:
            session.check_data(checked)
            session.check_events(conversions=session.reads_conversions(checked))
    except SegtoolError as exc:
        failure = exc
        problems = getattr(exc, "problems", None) or [Problem(None, str(exc), type(exc).__name__)]
        report.update(ok=False, problems=[p.to_json() for p in problems])
    sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if failure is not None:
        raise SystemExit(failure.exit_code)


SHOW_FORMATS = ("table", "csv", "json", "ndjson")


def show_members(session, path: Path, limit: int, columns: tuple[str, ...] | None, fmt: str | None,
                 engine: str | None, stdout, feedback) -> None:
    """The first `limit` members of a segment (by visitor_id) with profile columns (default: every one of the
    profiles'), evaluated as `run` evaluates it, on its engine: a table, or CSV/JSON/NDJSON on stdout."""
    from ..jobs.output import write_members
    from ..jobs.run import RunRequest, check_engine, evaluate

    if (fmt or "table") not in SHOW_FORMATS:
        raise UsageError(f"show --format takes {', '.join(SHOW_FORMATS)}, found {fmt!r}")
    check_engine(engine)
    (segment,) = session.load_segments([path])
    columns = session.profile_columns() if columns is None else columns
    if columns and not session.has_profiles():
        raise UsageError("--columns needs a profiles table (data.profiles or --profiles)")
    result = evaluate(session, [segment], RunRequest(columns=columns, engine=engine), feedback, False)
    (found,) = result.segments
    shown = found.members.head(limit)
    if fmt not in (None, "table"):
        return write_members(shown, None, fmt)
    from rich.table import Table

    more = f", the first {shown.height:,} by visitor_id" if shown.height < found.size else ""
    table = Table(title=f"{segment.name}: {found.size:,} members as of {result.as_of.describe()}{more}")
    for column in shown.columns:
        table.add_column(column, overflow="fold")
    for row in shown.iter_rows():
        table.add_row(*("" if value is None else str(value) for value in row))
    stdout.print(table, markup=False)


def why_member(session, visitor: str, path: Path, fmt: str | None, stdout) -> None:
    """Rule by rule, whether the visitor meets the segment's rules, with the values and rows that decided."""
    if fmt not in (None, "json"):
        raise UsageError(f"why --format takes json, found {fmt!r}")
    (segment,) = session.load_segments([path])
    found = session.why(segment, visitor)
    if fmt == "json":
        return print(json.dumps(why_data(found), indent=2, ensure_ascii=False, default=str))
    verb = "is a member" if found.member else "is not a member"
    stdout.print(f"{visitor} {verb} of {segment.name} as of {found.as_of.describe()}", markup=False)
    for rule in found.rules:
        indent = "  " * rule.depth
        stdout.print(f"{'yes' if rule.met else 'no ':3}  {indent}{rule.text}", markup=False)
        for label, value in rule.values:
            stdout.print(f"       {indent}  {label}: {_value(value)}", markup=False)
        for rows in rule.rows:
            stdout.print(f"       {indent}  {rows.table} the rule counts: {rows.total:,}", markup=False)
            for row in rows.first.iter_rows():
                stdout.print(f"       {indent}    {'  '.join(_value(v) for v in row)}", markup=False)
            if rows.total > rows.first.height:
                stdout.print(f"       {indent}    ... and {rows.total - rows.first.height:,} more", markup=False)


def why_data(found) -> dict:
    """`segtool why --format json`: the verdicts as data."""
    return {"visitor_id": found.visitor, "segment": found.segment.name, "as_of": found.as_of.describe(),
            "member": found.member,
            "rules": [{"depth": r.depth, "rule": r.text, "met": r.met,
                       "values": [{"what": label, "value": _value(v, None)} for label, v in r.values],
                       "rows": [{"table": rows.table, "total": rows.total,
                                 "first": [{k: _value(v, None) for k, v in row.items()}
                                           for row in rows.first.iter_rows(named=True)]} for rows in r.rows]}
                      for r in found.rules]}


def _value(value, missing: str | None = "missing"):
    """A value as `why` shows it (as text; with `missing` None, as JSON data): instants in ISO 8601 (UTC as Z),
    floats without trailing noise."""
    from datetime import datetime

    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if missing is None or value is None:
        return missing if value is None else value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}" if value == int(value) else f"{value:.6g}"
    return str(value)


def explain_segment(session, path: Path, stdout, prepare: bool = False) -> None:
    (segment,) = session.load_segments([path])
    explanation = session.explain(segment, prepare=prepare)
    for line in explanation.words:
        stdout.print(line, markup=False)
    stdout.print(f"\nas of {explanation.as_of}", markup=False)
    stdout.print(f"over {explanation.universe}", markup=False)
    for table in explanation.sources:
        stdout.print(f"{table.table} from {table.read_from}:", markup=False)
        for column, source in table.columns:
            stdout.print(f"  {column} ← {', '.join(source) or 'nothing (the export has no such column)'}",
                         markup=False)
    for note in explanation.notes:
        stdout.print(note, markup=False)
    stdout.print("\npolars plan (optimized):", markup=False)
    stdout.print(explanation.plan, markup=False)


RULE_KINDS = {
    "event": "{type: {is: add_to_cart}, url: {contains: /sale/}, count: {gte: 2}, period: 7d}: how many of the "
             "visitor's events meet every condition on one and the same event (default count: {gte: 1})",
    "sequence": "{steps: [{...}, {..., within: 1h}], then_not: {..., within: 2d}, period: 30d}: events in order, "
                "each within its time of the one before, then none of a kind",
    "segment": "NAME: the members of another segment (of the run, the configured library or the same folder)",
    "sample": "{percent: 10, seed: spring-promo}: a stable share of the visitors (md5 of seed and visitor_id)",
}
QUALIFIERS = ("period (7d, 12h, 2w, {last: 30, unit: days}, {from: DATE, to: DATE}, {from: 90d, to: 30d}); "
              "items ({column: {operator: value}, ...}: one line item must meet all); "
              "ignore_case: true beside a text operator")


def catalog_data() -> dict:
    """The catalog as data: what `segtool fields` draws, and prints with --format json."""
    from ..language.catalog import FIELDS
    from ..language.operators import CASE_OPERATORS, OPERATORS
    from ..language.parse import operators_for

    fields = [{"field": spec.name, "group": spec.group, "type": spec.value_type,
               "operators": ["within_km", "of"] if spec.value_type == "location" else operators_for(spec.value_type),
               "qualifiers": sorted(spec.qualifiers), "meaning": spec.description} for spec in FIELDS.values()]
    fields.append({"field": "profile.<column>", "group": "Profile", "type": "any", "operators": list(OPERATORS),
                   "qualifiers": [], "meaning": "any profile column"})
    operators = [{"operator": spec.name, "meaning": spec.wording, "takes": spec.takes,
                  "ignore_case": spec.name in CASE_OPERATORS} for spec in OPERATORS.values()]
    return {"fields": fields, "operators": operators, "rule_kinds": RULE_KINDS, "qualifiers": QUALIFIERS,
            "combinators": "all: [rules], any: [rules], not: rule; match: all|any at the top"}


def print_fields(stdout, as_json: bool = False) -> None:
    """The catalog as lists that wrap to the terminal's width (60 columns are enough): each field with its
    type and qualifiers, its meaning below it; then the operators each type takes, and the rule kinds."""
    data = catalog_data()
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    def wrapped(text: str, first: str, rest: str, style: str | None = None) -> None:
        for line in textwrap.wrap(text, stdout.width, initial_indent=first, subsequent_indent=rest):
            stdout.print(line, markup=False, style=style)

    stdout.print("Fields", style="bold", markup=False)
    group = None
    for row in data["fields"]:
        if row["group"] != group:
            group = row["group"]
            wrapped(group, "", "", style="bold")
        qualifiers = f"; {', '.join(row['qualifiers'])}" if row["qualifiers"] else ""
        wrapped(f"{row['field']} ({row['type']}{qualifiers})", "  ", "      ")
        wrapped(row["meaning"], "      ", "      ")
    stdout.print("Operators by type", style="bold", markup=False)
    for value_type, operators in {row["type"]: row["operators"] for row in data["fields"]}.items():
        wrapped(", ".join(operators), f"  {value_type:<10}", " " * 12)
    ops = Table(title="Operators")
    for heading in ("operator", "meaning", "takes", "ignore_case"):
        ops.add_column(heading)
    for row in data["operators"]:
        ops.add_row(row["operator"], row["meaning"], row["takes"], "yes" if row["ignore_case"] else "-")
    stdout.print(ops)
    kinds = Table(title="Rule kinds besides fields")
    for heading in ("rule", "takes"):
        kinds.add_column(heading, overflow="fold")
    for name, text in data["rule_kinds"].items():
        kinds.add_row(name, text)
    stdout.print(kinds)
    wrapped(f"Qualifiers: {data['qualifiers']}.", "", "  ")
    wrapped(f"Combinators: {data['combinators']}.", "", "  ")


GRID_FORMATS = ("csv", "json")


def show_grid(session, fmt: str | None, output: Path | None, stdout) -> None:
    grid = session.grid()
    counts = grid.counts
    if output is not None or fmt:
        fmt = fmt or format_for(output, None, default="csv")
        if fmt not in GRID_FORMATS:
            raise UsageError(f"grid --format takes {' or '.join(GRID_FORMATS)}, found {fmt!r}")
        if output is not None and not is_stdout(output):
            session.check_output(output, [])
        write_grid(counts, session.config.grid, fmt, output)
        return
    render_grid(counts, grid.cells, grid.as_of, stdout)


def print_sql(session, paths: list[Path], dialect: str, per_rule: bool, output: Path | None, select_: tuple,
              exclude: tuple) -> None:
    """`segtool sql`: the statement on stdout or in a file (segment_<i> columns in the order listed below
    it, as a comment)."""
    segments = select(session.load_segments(paths), select_, exclude)
    if output is not None and not is_stdout(output):
        session.check_output(output, paths)
    text = session.sql(segments, dialect, per_rule=per_rule)
    legend = "".join(f"-- segment_{i}: {s.name} ({s.file})\n" for i, s in enumerate(segments))
    write_text(f"-- segtool {session.as_of().describe()} ({dialect})\n{legend}{text};\n", output)


__all__ = ["print_sql", "validate_segments", "explain_segment", "print_fields", "show_grid"]
