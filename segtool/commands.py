"""What each CLI command does, over the library API; rendering stays here, options stay in cli.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import Problem, UsageError
from .output import EXTENSIONS, FORMATS, format_for, is_stdout, print_ids, write_members, write_text
from .parse import is_safe_name, segment_files


@dataclass
class RunRequest:
    output: Path | None = None
    output_dir: Path | None = None
    summary: bool = False
    fmt: str | None = None
    columns: tuple[str, ...] = ()


def _check_request(request: RunRequest, count: int) -> None:
    if request.output and request.output_dir:
        raise UsageError("use either -o or --output-dir, not both")
    if request.output and count > 1:
        raise UsageError(f"-o writes one segment, but {count} were given; use --output-dir DIR")
    if request.fmt and request.fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, found {request.fmt!r}")
    if request.columns and not (request.output or request.output_dir):
        raise UsageError("--columns adds columns to output files; use it with -o or --output-dir")


def run_segments(session, paths: list[Path], request: RunRequest, stdout, stderr) -> None:
    segments = session.load_segments(paths)
    _check_request(request, len(segments))
    if request.output_dir:
        bad = [s.name for s in segments if not is_safe_name(s.name)]
        if bad:
            raise UsageError(f"segment name {bad[0]!r} is not a safe file name (letters, digits, . _ -); "
                             "set `name:` in the segment file")
    if request.columns and not session.has_profiles():
        raise UsageError("--columns needs a profiles table (data.profiles or --profiles)")
    targets = _targets(request, segments)
    for target in targets:
        session.check_output(target, segment_files(paths))
    show_summary = request.summary or (len(segments) > 1 and not request.output_dir)
    result = session.run(segments, per_rule=show_summary, columns=request.columns)
    for i, segment_result in enumerate(result.segments):
        if targets:
            target = targets[i]
            write_members(segment_result.members, target, _output_format(request, target))
            if not is_stdout(target):
                stderr.print(f"{segment_result.segment.name}: {segment_result.size} visitors → {target}", markup=False)
        elif not show_summary:
            print_ids(segment_result.members["visitor_id"])
    if show_summary:
        from .report import render_summary, summary_data

        render_summary(summary_data(result), stdout, as_json=request.fmt == "json")


def _targets(request: RunRequest, segments) -> list[Path]:
    """The file each segment is written to (none when the IDs go to stdout)."""
    if request.output:
        return [request.output]
    if request.output_dir:
        ext = EXTENSIONS[request.fmt or "csv"]
        return [request.output_dir / f"{segment.name}{ext}" for segment in segments]
    return []


def _output_format(request: RunRequest, target: Path) -> str:
    if request.output_dir:
        return request.fmt or "csv"
    return format_for(target, request.fmt, default="csv" if request.columns else "txt")  # `-o -`: like no -o


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
    import json
    import sys

    from .errors import SegtoolError

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


def explain_segment(session, path: Path, stdout, prepare: bool = False) -> None:
    (segment,) = session.load_segments([path])
    explanation = session.explain(segment, prepare=prepare)
    for line in explanation.words:
        stdout.print(line, markup=False)
    stdout.print(f"\nas of {explanation.as_of}", markup=False)
    stdout.print(f"over {explanation.universe}", markup=False)
    for note in explanation.notes:
        stdout.print(note, markup=False)
    stdout.print("\npolars plan (optimized):", markup=False)
    stdout.print(explanation.plan, markup=False)


def print_fields(stdout) -> None:
    from rich.table import Table

    from .catalog import FIELDS
    from .operators import CASE_OPERATORS, OPERATORS
    from .parse import operators_for

    table = Table(title="Fields", show_lines=False)
    for heading in ("field", "group", "type", "operators", "qualifiers", "meaning"):
        table.add_column(heading, overflow="fold")
    rows = list(FIELDS.values())
    for spec in rows:
        ops = "within_km, of" if spec.value_type == "location" else ", ".join(operators_for(spec.value_type))
        table.add_row(spec.name, spec.group, spec.value_type, ops, ", ".join(sorted(spec.qualifiers)) or "-",
                      spec.description)
    table.add_row("profile.<column>", "Profile", "any", ", ".join(OPERATORS), "-", "any profile column")
    stdout.print(table)
    ops = Table(title="Operators")
    for heading in ("operator", "meaning", "takes", "ignore_case"):
        ops.add_column(heading)
    for spec in OPERATORS.values():
        ops.add_row(spec.name, spec.wording, spec.takes, "yes" if spec.name in CASE_OPERATORS else "-")
    stdout.print(ops)
    stdout.print("Qualifiers: period (7d, 12h, 2w, {last: 30, unit: days}, {from: DATE, to: DATE}); "
                 "items ({column: {operator: value}, ...}: one line item must meet all); "
                 "ignore_case: true beside a text operator.", markup=False)
    stdout.print("Combinators: all: [rules], any: [rules], not: rule; match: all|any at the top.", markup=False)


def show_grid(session, fmt: str | None, output: Path | None, stdout) -> None:
    from .report import render_grid, write_grid

    grid = session.grid()
    counts = grid.counts
    if output is not None or fmt:
        fmt = fmt or format_for(output, None, default="csv")
        if fmt not in ("csv", "json"):
            raise UsageError(f"grid --format takes csv or json, found {fmt!r}")
        if output is not None and not is_stdout(output):
            session.check_output(output, [])
        write_grid(counts, session.config.grid, fmt, output)
        return
    render_grid(counts, grid.cells, grid.as_of, stdout)


__all__ = ["RunRequest", "run_segments", "validate_segments", "explain_segment", "print_fields", "show_grid"]
