"""`segtool run`: evaluate segments and write them to stdout, a file, or an output directory that keeps a
manifest (outdir.py), with guards (guards.py) and the changes against the last run."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .. import __version__
from ..config import ENGINES
from ..delivery.formats import DESTINATIONS
from ..errors import SegmentError, StaleData, UsageError, did_you_mean, suggest
from ..language import timeframe
from ..results import identity_data
from .deliveries import Acknowledged, change_files, write_changes
from .guards import EXIT_GUARD, breaches, stale
from .outdir import (MANIFEST, check_names, checksum, file_facts, last_run, locked, publish, run_id, staging,
                     write_manifest)
from .report import report_data, report_format, write_report
from .output import EXTENSIONS, FORMATS, format_for, is_stdout, write_members
from ..language.parse import segment_files
from .selection import select

PARTS = "abcdefghijklmnopqrstuvwxyz"
RUN_FORMATS = (*FORMATS, *DESTINATIONS)  # what `run --format` takes


@dataclass
class RunRequest:
    output: Path | None = None
    output_dir: Path | None = None
    summary: bool = False
    fmt: str | None = None
    columns: tuple[str, ...] = ()
    split: tuple[float, ...] = ()  # shares of a stable split, adding up to 100
    split_seed: str | None = None
    changes: bool = False  # entered/exited against the files the last run wrote into output_dir
    deliveries: bool = False  # added/removed against the delivery `segtool ack` acknowledged (deliveries.py)
    resend_all: bool = False  # added/removed against nothing, not the acknowledged delivery
    keep_going: bool = False
    wait: bool = True  # for another run's lock on output_dir
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    engine: str | None = None  # polars, duckdb or spark (default: the config's engine.name)
    report: Path | None = None  # a run summary in Markdown or HTML (report.py)
    ignore_consent: bool = False  # a destination format keeps people without ads consent
    strict: bool = False  # a destination file smaller than the platform serves is a guard breach, not a warning
    summary_format: str | None = None  # text or json (default: json where --format json)


def parse_split(text: str | None) -> tuple[float, ...]:
    """`90:10` → (90.0, 10.0): two to 26 positive shares that add up to 100."""
    if not text:
        return ()
    try:
        shares = tuple(float(part) for part in text.split(":"))
    except ValueError:
        shares = ()
    if not 2 <= len(shares) <= 26 or any(not math.isfinite(s) or s <= 0 for s in shares) \
            or abs(sum(shares) - 100) > 1e-9:
        raise UsageError(f"--split takes shares that add up to 100, like 90:10 or 50:25:25, found {text!r}")
    return shares


def is_destination(fmt: str | None) -> bool:
    """Whether `--format` names an ad platform's or e-mail tool's file (delivery/formats.py)."""
    return fmt in DESTINATIONS


def _extension(fmt: str | None) -> str:
    return ".csv" if is_destination(fmt) else EXTENSIONS[fmt or "csv"]


def _check_request(request: RunRequest, count: int) -> None:
    if request.output and request.output_dir:
        raise UsageError("use either -o or --output-dir, not both")
    if request.output and count > 1:
        raise UsageError(f"-o writes one segment, but {count} were given; use --output-dir DIR")
    destination = is_destination(request.fmt)
    if request.fmt is not None and request.fmt not in FORMATS and not destination:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, or a destination: {', '.join(DESTINATIONS)}; "
                         f"found {request.fmt!r}{did_you_mean(suggest(request.fmt, [*FORMATS, *DESTINATIONS]))}")
    if destination and (request.columns or request.split or request.changes):
        raise UsageError(f"--format {request.fmt} writes the columns the platform takes, for whole segments; it "
                         "cannot be used with --columns, --split or --changes")
    for flag, given in (("--ignore-consent", request.ignore_consent), ("--strict", request.strict)):
        if given and not destination:
            raise UsageError(f"{flag} is about destination files; use it with --format {'|'.join(DESTINATIONS)}")
    if request.summary_format is not None and request.summary_format not in ("text", "json"):
        raise UsageError(f"--summary-format takes text or json, found {request.summary_format!r}")
    if request.summary_format is not None and not request.summary:
        raise UsageError("--summary-format is the format of --summary; use it with --summary")
    if request.columns and not (request.output or request.output_dir):
        raise UsageError("--columns adds columns to output files; use it with -o or --output-dir")
    if request.split and not (request.output or request.output_dir):
        raise UsageError("--split writes a file per part; use it with -o FILE or --output-dir DIR")
    if request.split and request.output and is_stdout(request.output):
        raise UsageError("--split writes a file per part, not stdout; use -o FILE or --output-dir DIR")
    if not request.wait and not request.output_dir:
        raise UsageError("--no-wait is about the lock of an output directory; use it with --output-dir DIR")
    if request.split_seed is not None and not request.split:
        raise UsageError("--split-seed seeds --split; use it with --split")
    check_engine(request.engine)
    if request.report is not None:
        report_format(request.report)
    if request.changes and request.split:
        raise UsageError("--changes compares whole segments; it cannot be used with --split")
    if (request.deliveries or request.resend_all) and not request.output_dir:
        raise UsageError(f"{'--resend-all' if request.resend_all else '--deliveries'} is about the change files of "
                         "an output directory; use it with --output-dir DIR")
    if request.changes and not request.output_dir:
        raise UsageError("--changes compares with the files of the last run in an output directory; use it "
                         "with --output-dir DIR (or see `segtool diff`)")


def check_engine(engine: str | None) -> None:
    if engine is not None and engine not in ENGINES:
        raise UsageError(f"--engine takes {', '.join(ENGINES)}, found {engine!r}")


def run_segments(session, paths: list[Path], request: RunRequest, stdout, feedback) -> int:
    """Run, write, and return the exit code: 0, 4 when a guard broke, 1 when --keep-going left out an
    invalid segment file (problems are reported on stderr as they are found)."""
    started = time.time()
    if request.keep_going:
        segments, invalid = session.load_valid_segments(paths)
        for problem in invalid:
            feedback.warn(f"Error: {problem}")
        if not segments:
            raise SegmentError(invalid)
    else:
        segments, invalid = session.load_segments(paths), []
    segments = select(segments, request.select, request.exclude)
    _check_request(request, len(segments))
    identity = None
    if is_destination(request.fmt):
        identity = _delivery_identity(session, request)
        request = replace(request, columns=tuple(c for c in identity.profile_columns if c != "visitor_id"))
    if request.columns and not session.has_profiles():
        raise UsageError("--columns needs a profiles table (data.profiles or --profiles)")
    targets = _targets(request, segments)
    for target in targets + ([request.report] if request.report is not None else []):
        for path in [_part_path(target, letter) for letter in PARTS[:len(request.split)]] or [target]:
            session.check_output(path, segment_files(paths))
    fresh = _freshness(session, feedback)
    if request.output_dir:
        def waiting(holder: str) -> None:
            feedback.warn(f"waiting for another segtool run writing into {request.output_dir} ({holder or 'running'})")

        with locked(request.output_dir, request.wait, waiting):
            code, result, entries, sizes = _into_folder(session, paths, segments, request, stdout, feedback, started,
                                                        fresh, identity)
    else:
        (code, result, entries), sizes = _into_file(session, segments, request, stdout, feedback, targets,
                                                    identity), {}
    if request.report is not None:
        write_report(request.report, report_data(result, entries, sizes, fresh, session.as_of_requested()))
        feedback.note(f"report → {request.report}")
    return 1 if invalid else code


def _freshness(session, feedback) -> dict | None:
    """The config's `freshness:` against the newest event and the clock, before anything is evaluated: past
    error_after the run fails (StaleData, exit 6), past warn_after it warns. What the manifest records."""
    freshness = session.config.freshness
    if freshness is None:
        return None
    newest = session.newest_event()
    found = stale(freshness, newest, timeframe.current_time())
    if found is not None and found[0] == "error":
        raise StaleData(f"freshness: {found[1]}; nothing was written")
    if found is not None:
        feedback.warn(f"Freshness: {found[1]}")
    return {"newest_event": newest.isoformat().replace("+00:00", "Z") if newest else None,
            "status": "warn" if found else "fresh", **({"warning": found[1]} if found else {})}


def _check_file_names(request: RunRequest, segments, kept: dict[str, str]) -> set[str]:
    """No two files of a run into a folder may share a name, nor take the manifest's, nor the name of a file a
    segment not run this time keeps (`kept`: file -> segment). The names of the run's files."""
    ext = _extension(request.fmt)
    owners: dict[str, str] = {}
    data = [(name, file) for file, name in kept.items()]  # files of members; each comes with its change files
    entered = []
    for segment in segments:
        data += [(segment.name, f"{segment.name}.{letter}{ext}") for letter in PARTS[:len(request.split)]] or [
            (segment.name, f"{segment.name}{ext}")]
        if request.changes:
            entered += [(segment.name, f"{segment.name}.{kind}{ext}") for kind in ("entered", "exited")]
    delivered = [(owner, c) for owner, file in data for c in change_files(file).values()] if _delivers(request) else []
    for owner, name in [*data, *entered, *delivered]:
        if name == MANIFEST or name in owners:
            other = f"segment {owners[name]!r}" if name in owners else "segtool's own file"
            raise UsageError(f"segment {owner!r} would write {name}, which is also {other}'s; "
                             "rename one of them (`name:` in the segment file)")
        owners[name] = owner
    return set(owners)


def evaluate(session, segments, request: RunRequest, feedback, show_summary: bool, count_universe: bool = False,
              identity: bool = False):
    """The segments' result; with `identity`, what each source contributed where sources are joined by person."""
    engine = request.engine or session.config.engine.name
    with feedback.phase(f"evaluating {len(segments)} segment{'s' * (len(segments) != 1)} ({engine})"):
        if engine == "polars":
            result = session.run(segments, per_rule=show_summary, columns=request.columns,
                                 count_universe=count_universe)
        else:
            result = session.run_sql(segments, engine, per_rule=show_summary, columns=request.columns)
        return replace(result, identity=session.identity()) if identity else result


def _into_file(session, segments, request: RunRequest, stdout, feedback, targets: list[Path], identity=None):
    """The exit code, the result, and each segment's entry for the report (its status and breaches)."""
    show_summary = request.summary or len(segments) > 1
    result = evaluate(session, segments, request, feedback, show_summary, identity=show_summary)
    broken, entries, deliveries = False, {}, {}
    for i, segment_result in enumerate(result.segments):
        problems = _report_breaches(segment_result, None, feedback)
        entries[segment_result.segment.name] = {"status": "guard_failed" if problems else "written",
                                                "breaches": problems}
        if problems:
            broken = True
            continue
        if identity is not None:
            name = segment_result.segment.name
            rows, deliveries[name], problems = _destination_rows(segment_result, request, identity, feedback)
            if problems:
                broken, entries[name] = True, {"status": "guard_failed", "breaches": problems}
            elif targets or not show_summary:
                _write_delivery(segment_result, rows, deliveries[name], targets[i] if targets else None, request.fmt,
                                feedback)
        elif targets and request.split:
            _write_split(segment_result, targets[i], request, feedback)
        elif targets:
            write_members(segment_result.members, targets[i], _output_format(request, targets[i]))
            if not is_stdout(targets[i]):
                feedback.note(f"{segment_result.segment.name}: {segment_result.size} visitors → {targets[i]}")
        elif not show_summary:
            write_members(segment_result.members.select("visitor_id"), None, request.fmt or "txt")
    if show_summary:
        _summary(result, request, stdout, deliveries)
    return EXIT_GUARD if broken else 0, result, entries


def _delivery_identity(session, request: RunRequest):
    """The identity a destination format reads, checked against the destination and the profiles before any
    row is read."""
    from ..delivery import formats

    identity = session.delivery_identity()
    formats.check(request.fmt, identity, session.profile_columns(), ignore_consent=request.ignore_consent)
    return identity


def _destination_rows(segment_result, request: RunRequest, identity, feedback):
    """The rows of the destination file for the segment's members, the members per outcome, and the breach
    (with --strict) where the file is smaller than the platform serves; without --strict that is a warning."""
    from ..delivery import formats

    members = segment_result.members.lazy()
    rows, counts = formats.build(members.select("visitor_id"), members, identity, request.fmt,
                                 ignore_consent=request.ignore_consent)
    name, short = segment_result.segment.name, formats.DESTINATIONS[request.fmt].below_minimum(counts.rows)
    if short is None:
        return rows, counts, []
    if request.strict:
        feedback.warn(f"Guard: {name}: {short}; its output was not written (--strict)")
        return rows, counts, [short]
    feedback.warn(f"Warning: {name}: {short}")
    return rows, counts, []


def _write_delivery(segment_result, rows, counts, target: Path | None, fmt: str, feedback,
                    shown: Path | None = None) -> list[Path]:
    from ..delivery import formats
    from ..cli.report import delivery_line

    formats.write_csv(rows, target)
    final = shown / target.name if shown is not None and target is not None else target
    feedback.note(f"{segment_result.segment.name}: {delivery_line(fmt, counts.to_json())}"
                  + (f" → {final}" if final is not None and not is_stdout(final) else ""))
    return [target] if target is not None else []


def _into_folder(session, paths, segments, request: RunRequest, stdout, feedback, started: float,
                 fresh: dict | None = None, identity=None):
    """Every file is written into a new folder in DIR/.segtool, then DIR/current is switched to it at once
    (outdir.py): a run that dies midway leaves DIR as the last run left it, and a reader sees one run's files.
    The exit code, the result, each segment's manifest entry and the size the last run found."""
    folder = request.output_dir
    previous = last_run(folder, feedback.note, feedback.warn)
    kept = {name for name, entry in previous.segments.items() if name not in {s.name for s in segments}
            and _still_there(entry, name, segments)}
    check_names(folder, _check_file_names(request, segments, previous.names(kept)) | {MANIFEST}, previous)
    acked = Acknowledged.read(folder)
    fmt, ext = request.fmt or "csv", _extension(request.fmt)
    with staging(folder) as (stage, link):
        result = evaluate(session, segments, request, feedback, request.summary, count_universe=True, identity=True)
        entries, broken, deliveries = {}, False, {}
        for segment_result in feedback.steps(result.segments, "writing", total=len(result.segments)):
            segment = segment_result.segment
            problems = _report_breaches(segment_result, previous.size(segment.name), feedback)
            if not problems and identity is not None:
                rows, deliveries[segment.name], problems = _destination_rows(segment_result, request, identity, feedback)
            delivered = {"delivery": _delivery_data(fmt, deliveries[segment.name])} if segment.name in deliveries else {}
            if problems:
                broken = True
                entries[segment.name] = {**_carried(previous, segment.name, stage, feedback), "status": "guard_failed",
                                         "breaches": problems, "found_size": segment_result.size, **delivered}
                continue
            before = previous.ids(segment.name, feedback.warn) if request.changes else None
            target = stage / f"{segment.name}{ext}"
            written = (_write_delivery(segment_result, rows, deliveries[segment.name], target, fmt, feedback, folder)
                       if delivered else _write_split(segment_result, target, request, feedback, folder)
                       if request.split else _write_one(segment_result, target, fmt, feedback, folder))
            entry = {**_entry(segment_result, result, None if request.split else target, fmt), **delivered}
            entry["files"] = [p.name for p in written]
            if request.changes:
                entry.update(_write_changes(segment_result, before, stage, fmt, feedback))
                entry["files"] += [entry["entered_file"], entry["exited_file"]]
            entries[segment.name] = entry
        for name, entry in previous.segments.items():
            if name in kept:  # not run this time (--select, --keep-going)
                entries[name] = {**_carried(previous, name, stage, feedback), "status": "kept"}
            elif name not in entries and previous.files(name):
                feedback.note(f"{name}: its files are gone from {folder} (its segment file is gone or renamed it)")
        for name, entry in entries.items():
            if _delivers(request):
                _delivery_changes(entry, stage, acked, request.resend_all, feedback)
            entry["checksums"] = {file: checksum(stage / file) for file in entry["files"]}
        write_manifest(_manifest(session, result, entries, started, run=run_id(stage),
                                 resend_all=request.resend_all, fresh=fresh), stage)
        publish(folder, stage, link, previous, feedback.warn)
    if request.summary:
        _summary(result, request, stdout, deliveries)
    sizes = {s.segment.name: previous.size(s.segment.name) for s in result.segments}
    return EXIT_GUARD if broken else 0, result, entries, sizes


def _carried(previous, name: str, stage: Path, feedback) -> dict:
    """The manifest entry of a segment whose files of members stay as the last run left them (carried into
    this run's folder), without the figures of the change files that stay behind."""
    files = previous.carry(name, stage, feedback.warn)
    entry = {key: value for key, value in previous.segments.get(name, {}).items() if key not in _CHANGES}
    return {**entry, "files": files}


_CHANGES = ("entered", "exited", "entered_file", "exited_file", "changes_since", "delivery_changes", "files",
            "checksums")


def _delivery_changes(entry: dict, stage: Path, acked: Acknowledged, resend: bool, feedback) -> None:
    """The change files of each file of members in the entry, against the acknowledged delivery (deliveries.py)."""
    entry["delivery_changes"] = {}
    for file in [f for f in entry["files"] if f not in (entry.get("entered_file"), entry.get("exited_file"))]:
        record = entry["delivery_changes"][file] = write_changes(stage, file, acked, resend, feedback.warn)
        entry["files"] += [record["added_file"], record["removed_file"]]
        since = "every row (--resend-all)" if resend else (
            f"since the delivery acknowledged in run {record['relative_to']}" if record["relative_to"]
            else "nothing acknowledged yet")
        if entry.get("status") != "kept":
            feedback.note(f"{file}: {record['added']} added, {record['removed']} removed: {since}")


def _delivers(request: RunRequest) -> bool:
    """Whether the run writes NAME.added and NAME.removed beside each file (--deliveries, --resend-all, a
    destination --format)."""
    return request.deliveries or request.resend_all or is_destination(request.fmt)


def _delivery_data(fmt: str, counts) -> dict:
    """A destination file's counts as the summary and the manifest give them."""
    return {"format": fmt, **counts.to_json(), "platform_minimum": DESTINATIONS[fmt].minimum}


def _still_there(entry: dict, name: str, segments) -> bool:
    """Whether a segment of the last run that this run does not run still exists (left out by --select,
    or its file is invalid now): its file is there and does not give a segment of another name now."""
    source = entry.get("segment_file")
    return isinstance(source, str) and Path(source).is_file() and not _renamed(source, name, segments)


def _renamed(source: str, name: str, segments) -> bool:
    """Whether the file that gave `name` last time now gives a segment of another name."""
    resolved = str(Path(source).resolve())
    return any(str(Path(s.file).resolve()) == resolved and s.name != name for s in segments)


def _report_breaches(segment_result, previous_size: int | None, feedback) -> list[str]:
    segment = segment_result.segment
    problems = breaches(segment.expect, segment_result.size, previous_size)
    for problem in problems:
        where = segment.expect.loc or segment.file
        feedback.warn(f"Guard: {where}: {segment.name}: {problem}; its output was not written")
    return problems


def _write_one(segment_result, target: Path, fmt: str, feedback, shown: Path | None = None) -> list[Path]:
    """Write the members to `target`; `shown`: the folder the file ends up in, when it is staged first."""
    write_members(segment_result.members, target, fmt)
    final = shown / target.name if shown is not None else target
    feedback.note(f"{segment_result.segment.name}: {segment_result.size} visitors → {final}")
    return [target]


def _write_changes(segment_result, before, folder: Path, fmt: str, feedback) -> dict:
    """NAME.entered.EXT and NAME.exited.EXT: against the IDs of the file the last run wrote (none: everyone
    entered)."""
    import polars as pl

    now = segment_result.members.select("visitor_id")
    known = before is not None
    before = (before if known else pl.Series("visitor_id", [], dtype=pl.String)).rename("visitor_id").to_frame()
    entered = now.join(before, on="visitor_id", how="anti").sort("visitor_id")
    exited = before.unique().join(now, on="visitor_id", how="anti").sort("visitor_id")
    name, ext = segment_result.segment.name, EXTENSIONS[fmt]
    for kind, frame in (("entered", entered), ("exited", exited)):
        write_members(frame, folder / f"{name}.{kind}{ext}", fmt)
    feedback.note(f"{name}: {entered.height} entered, {exited.height} exited since the last run")
    return {"entered": entered.height, "exited": exited.height, "entered_file": f"{name}.entered{ext}",
            "exited_file": f"{name}.exited{ext}", "changes_since": "last run" if known else "nothing (no earlier file)"}


def _entry(segment_result, result, target: Path | None, fmt: str) -> dict:
    segment, universe = segment_result.segment, result.universe
    return {"status": "written", "as_of": result.as_of.describe(), "segment_file": str(Path(segment.file).resolve()),
            "description": segment.description, "tags": list(segment.tags), "size": segment_result.size,
            "share": round(segment_result.size / universe, 6) if universe else 0.0,
            "output": target.name if target is not None else None, "format": fmt}


def _manifest(session, result, entries: dict, started: float, run: str, resend_all: bool,
              fresh: dict | None = None) -> dict:
    inputs = []
    tables = session.tables()
    for table in tables:
        one = [t for t in tables if t.name == table.name] == [table]  # else one source of several
        rows = result.event_rows if table.name == "events" and one else table.exact_rows()
        inputs.append({"table": table.name, "path": table.spec, "read_as": table.origin or table.format,
                       "files": [file_facts(f) for f in table.files], "rows": rows,
                       "rows_counted": ("up to as_of" if table.name == "events" and one else "all")
                       if rows is not None else None, "set_aside": result.set_aside.get(table.name, {})})
    config = session.config.path
    return {
        "segtool_version": __version__,
        "run": run,
        **({"resend_all": True} if resend_all else {}),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 3),
        "as_of": {"requested": session.as_of_requested(), "resolved": result.as_of.describe(),
                  "instant": result.as_of.instant.isoformat().replace("+00:00", "Z"),
                  "timezone": result.as_of.zone},
        "universe": result.universe,
        "skipped_event_rows": result.skipped_event_rows,
        **({"freshness": fresh} if fresh is not None else {}),
        **({"identity": identity_data(result.identity)} if result.identity is not None else {}),
        "inputs": inputs,
        "config": ({"path": str(config), "sha256": checksum(config), "text": config.read_text(encoding="utf-8")}
                   if config is not None and config.is_file() else None),
        "segments": dict(sorted(entries.items())),
    }


def _summary(result, request: RunRequest, stdout, deliveries: dict | None = None) -> None:
    from ..cli.report import render_summary, summary_data

    delivered = {name: _delivery_data(request.fmt, counts) for name, counts in (deliveries or {}).items()}
    as_json = (request.summary_format or ("json" if request.fmt == "json" else "text")) == "json"
    render_summary(summary_data(result, delivered), stdout, as_json=as_json)


def _write_split(result, target: Path, request: RunRequest, feedback, shown: Path | None = None) -> list[Path]:
    """NAME.a.csv, NAME.b.csv, ...: the members by their bucket for the seed (sampling.py)."""
    import polars as pl

    from ..plan.sampling import buckets, split_bounds

    members = result.members
    seed = request.split_seed if request.split_seed is not None else result.segment.name
    placed = members.with_columns(pl.Series("_bucket", buckets(seed, members["visitor_id"].to_list())))
    fmt = _output_format(request, target)
    written = []
    for letter, (low, high) in zip(PARTS, split_bounds(request.split)):
        part = placed.filter((pl.col("_bucket") >= low) & (pl.col("_bucket") < high)).drop("_bucket")
        path = _part_path(target, letter)
        write_members(part, path, fmt)
        final = shown / path.name if shown is not None else path
        feedback.note(f"{result.segment.name} part {letter}: {part.height} visitors → {final}")
        written.append(path)
    return written


def _part_path(target: Path, letter: str) -> Path:
    """out/x.csv → out/x.a.csv; out/x → out/x.a"""
    return target.with_name(f"{target.stem}.{letter}{target.suffix}")


def _targets(request: RunRequest, segments) -> list[Path]:
    """The file each segment is written to (none when the IDs go to stdout)."""
    if request.output:
        return [request.output]
    if request.output_dir:
        ext = _extension(request.fmt)
        return [request.output_dir / f"{segment.name}{ext}" for segment in segments]
    return []


def _output_format(request: RunRequest, target: Path) -> str:
    if request.output_dir:
        return request.fmt or "csv"
    return format_for(target, request.fmt, default="csv" if request.columns else "txt")  # `-o -`: like no -o
