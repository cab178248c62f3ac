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
    split: tuple[float, ...] = ()  # shares of a stable split, adding up to 100
    split_seed: str | None = None


def parse_split(text: str | None) -> tuple[float, ...]:
    """`90:10` → (90.0, 10.0): two to 26 positive shares that add up to 100."""
    if not text:
        return ()
    try:
        shares = tuple(float(part) for part in text.split(":"))
    except ValueError:
        shares = ()
    if not 2 <= len(shares) <= 26 or any(s <= 0 for s in shares) or abs(sum(shares) - 100) > 1e-9:
        raise UsageError(f"--split takes shares that add up to 100, like 90:10 or 50:25:25, found {text!r}")
    return shares


def _check_request(request: RunRequest, count: int) -> None:
    if request.output and request.output_dir:
        raise UsageError("use either -o or --output-dir, not both")
    if request.output and count > 1:
        raise UsageError(f"-o writes one segment, but {count} were given; use --output-dir DIR")
    if request.fmt and request.fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, found {request.fmt!r}")
    if request.columns and not (request.output or request.output_dir):
        raise UsageError("--columns adds columns to output files; use it with -o or --output-dir")
    if request.split and not (request.output or request.output_dir):
        raise UsageError("--split writes a file per part; use it with -o FILE or --output-dir DIR")
    if request.split and request.output and is_stdout(request.output):
        raise UsageError("--split writes a file per part, not stdout; use -o FILE or --output-dir DIR")


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
    parts = "abcdefghijklmnopqrstuvwxyz"[:len(request.split)] if request.split else ""
    for target in targets:
        for path in [_part_path(target, letter) for letter in parts] or [target]:
            session.check_output(path, segment_files(paths))
    show_summary = request.summary or (len(segments) > 1 and not request.output_dir)
    result = session.run(segments, per_rule=show_summary, columns=request.columns)
    for i, segment_result in enumerate(result.segments):
        if targets and request.split:
            _write_split(segment_result, targets[i], request, stderr)
        elif targets:
            target = targets[i]
            write_members(segment_result.members, target, _output_format(request, target))
            if not is_stdout(target):
                stderr.print(f"{segment_result.segment.name}: {segment_result.size} visitors → {target}", markup=False)
        elif not show_summary:
            print_ids(segment_result.members["visitor_id"])
    if show_summary:
        from .report import render_summary, summary_data

        render_summary(summary_data(result), stdout, as_json=request.fmt == "json")


def _write_split(result, target: Path, request: RunRequest, stderr) -> None:
    """NAME.a.csv, NAME.b.csv, ...: the members by their bucket for the seed (sampling.py)."""
    import polars as pl

    from .sampling import buckets, split_bounds

    members = result.members
    seed = request.split_seed if request.split_seed is not None else result.segment.name
    placed = members.with_columns(pl.Series("_bucket", buckets(seed, members["visitor_id"].to_list())))
    fmt = _output_format(request, target)
    for letter, (low, high) in zip("abcdefghijklmnopqrstuvwxyz", split_bounds(request.split)):
        part = placed.filter((pl.col("_bucket") >= low) & (pl.col("_bucket") < high)).drop("_bucket")
        path = _part_path(target, letter)
        write_members(part, path, fmt)
        stderr.print(f"{result.segment.name} part {letter}: {part.height} visitors → {path}", markup=False)


def _part_path(target: Path, letter: str) -> Path:
    """out/x.csv → out/x.a.csv; out/x → out/x.a"""
    return target.with_name(f"{target.stem}.{letter}{target.suffix}")


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
    from .catalog import FIELDS
    from .operators import CASE_OPERATORS, OPERATORS
    from .parse import operators_for

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
    import json

    data = catalog_data()
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title="Fields", show_lines=False)
    for heading in ("field", "group", "type", "operators", "qualifiers", "meaning"):
        table.add_column(heading, overflow="fold")
    for row in data["fields"]:
        table.add_row(row["field"], row["group"], row["type"], ", ".join(row["operators"]),
                      ", ".join(row["qualifiers"]) or "-", row["meaning"])
    stdout.print(table)
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
    stdout.print(f"Qualifiers: {data['qualifiers']}.", markup=False)
    stdout.print(f"Combinators: {data['combinators']}.", markup=False)


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
