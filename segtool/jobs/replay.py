"""`segtool diff` and `segtool history`: the same segments evaluated at several instants over one read of
the data (point-in-time replay: events after an instant are ignored, so each answer is that instant's)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ..errors import UsageError
from .outdir import is_switched, locked
from .output import EXTENSIONS, is_stdout, output_target, write_members, write_text
from ..language.parse_periods import DURATION, UNITS
from ..language.timeframe import AsOf, instants_between, midnight, zone
from .selection import select

DIFF_FORMATS = ("csv", "json", "ndjson", "txt", "parquet")
HISTORY_FORMATS = ("table", "csv", "json")


@dataclass
class Replay:
    """Which segments, selected, over which tables."""

    paths: list[Path]
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


def _segments_held(session, replay: Replay, feedback):
    segments = select(session.load_segments(replay.paths), replay.select, replay.exclude)
    with feedback.phase("reading the data once"):
        session.hold(segments)
    return segments


def _sizes_at(session, segments, instants, feedback, count_universe: bool = False):
    """Each instant's run (RunResult), oldest first. Only the last instant must see every conversion type
    (the earlier ones may precede the first conversion)."""
    last = instants[-1]
    return [session.at(instant, check_conversion_types=instant is last).run(segments, count_universe=count_universe)
            for instant in feedback.steps(instants, "evaluating instants", total=len(instants))]


# -- diff ------------------------------------------------------------------------------------------------
def diff_segments(session, replay: Replay, start_text: str, end_text: str | None, output_dir: Path | None,
                  fmt: str | None, summary: bool, stdout, feedback) -> None:
    if fmt is not None and fmt not in DIFF_FORMATS:
        raise UsageError(f"diff --format takes {', '.join(DIFF_FORMATS)}, found {fmt!r}")
    start = session.parse_instant(start_text, "--from")
    end = session.parse_instant(end_text, "--to") if end_text else session.as_of()
    if start.last_instant >= end.last_instant:
        raise UsageError(f"--from ({start.describe()}) must be before --to ({end.describe()})")
    segments = _segments_held(session, replay, feedback)
    if len(segments) > 1 and output_dir is None and not summary:
        summary = True
    if output_dir is not None:
        for segment in segments:
            for kind in ("entered", "exited"):
                session.check_output(output_dir / f"{segment.name}.{kind}{EXTENSIONS[fmt or 'csv']}", replay.paths)
    if output_dir is not None:
        with locked(output_dir, wait=True):
            if is_switched(output_dir):  # its files are links into one run's folder: diff's would be written there
                raise UsageError(f"{output_dir} is where `segtool run` writes its runs; write the changes into "
                                 "another folder (or see `segtool run --changes`)")
            _diff(session, segments, start, end, output_dir, fmt, summary, stdout, feedback)
    else:
        _diff(session, segments, start, end, output_dir, fmt, summary, stdout, feedback)


def _diff(session, segments, start, end, output_dir: Path | None, fmt: str | None, summary: bool, stdout,
          feedback) -> None:
    before, after = _sizes_at(session, segments, [start, end], feedback)
    rows = []
    for old, new in zip(before.segments, after.segments):
        entered = new.members.select("visitor_id").join(old.members.select("visitor_id"), on="visitor_id", how="anti")
        exited = old.members.select("visitor_id").join(new.members.select("visitor_id"), on="visitor_id", how="anti")
        name = new.segment.name
        rows.append({"segment": name, "size_from": old.size, "size_to": new.size,
                     "entered": entered.height, "exited": exited.height})
        if output_dir is not None:
            for kind, frame in (("entered", entered), ("exited", exited)):
                target = output_dir / f"{name}.{kind}{EXTENSIONS[fmt or 'csv']}"
                write_members(frame, target, fmt or "csv")
            feedback.note(f"{name}: {entered.height} entered, {exited.height} exited → {output_dir}")
        elif not summary:
            _print_changes(entered, exited, fmt or "csv")
            feedback.note(f"{name}: {old.size:,} → {new.size:,} ({entered.height} entered, {exited.height} exited)")
    if summary:
        _diff_summary(rows, start, end, stdout, fmt == "json")


def _print_changes(entered, exited, fmt: str) -> None:
    """One segment's changes on stdout: visitor_id and change (entered|exited); txt: +ID and -ID lines."""
    import polars as pl

    if fmt == "txt":
        frame = pl.concat([entered.select(("+" + pl.col("visitor_id")).alias("visitor_id")),
                           exited.select(("-" + pl.col("visitor_id")).alias("visitor_id"))])
    else:
        frame = pl.concat([entered.with_columns(change=pl.lit("entered")),
                           exited.with_columns(change=pl.lit("exited"))])
    write_members(frame, None, fmt)


def _diff_summary(rows: list[dict], start, end, stdout, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"from": start.describe(), "to": end.describe(), "segments": rows}, indent=2,
                         ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title=f"From {start.describe()} to {end.describe()}")
    table.add_column("segment", overflow="fold")
    for heading in ("from", "to", "entered", "exited"):
        table.add_column(heading, justify="right")
    for row in rows:
        table.add_row(row["segment"], f"{row['size_from']:,}", f"{row['size_to']:,}", f"+{row['entered']:,}",
                      f"-{row['exited']:,}")
    stdout.print(table)


# -- history ---------------------------------------------------------------------------------------------
def segment_history(session, replay: Replay, start_text: str | None, last: str | None, end_text: str | None,
                    every: str, fmt: str | None, output: Path | None, stdout, feedback, top: int | None = None,
                    log: bool = False) -> None:
    amount, unit = _step(every, "--every")
    end = session.parse_instant(end_text, "--to") if end_text else session.as_of()
    if (start_text is None) == (last is None):
        raise UsageError("history needs either --from DATE or --last 8w (how far back from --to)")
    if last is not None:
        start = _shift(end, *_step(last, "--last"))
    else:
        start = session.parse_instant(start_text, "--from")
    if start.last_instant > end.last_instant:
        raise UsageError(f"--from ({start.describe()}) must not be after --to ({end.describe()})")
    instants = instants_between(start, end, amount, unit)
    fmt = _history_format(fmt, output)
    if log and fmt != "png":
        raise UsageError("--log draws the plot's size axis logarithmic: it needs -o FILE.png")
    if output is not None and not is_stdout(output):
        session.check_output(output, replay.paths)
    segments = _segments_held(session, replay, feedback)
    results = _sizes_at(session, segments, instants, feedback, count_universe=True)
    labels = [_label(i, with_time=unit == "hours") for i in instants]
    series = {s.name: [r.segments[k].size for r in results] for k, s in enumerate(segments)}
    if top is not None:  # the largest at the last instant, largest first
        series = dict(sorted(series.items(), key=lambda item: -item[1][-1])[:top])
    records = [{"as_of": label, "segment": name, "size": series[name][j],
                "share": round(series[name][j] / results[j].universe, 6) if results[j].universe else 0.0}
               for name in series for j, label in enumerate(labels)]
    if fmt == "png":
        from ..cli.charts import write_png

        with output_target(output) as target:
            write_png(target, labels, series, f"Segment sizes, {labels[0]} to {labels[-1]}", log)
        feedback.note(f"{len(series)} segments × {len(labels)} instants → {output}")
    elif fmt == "json":
        write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n", output)
    elif fmt == "csv":
        import polars as pl

        write_members(pl.DataFrame(records, schema={"as_of": pl.String, "segment": pl.String, "size": pl.Int64,
                                                    "share": pl.Float64}), output, "csv")
    else:
        _draw(labels, series, stdout)


def _draw(labels: list[str], series: dict[str, list[int]], stdout) -> None:
    from ..cli.charts import bars, overview

    width = stdout.width
    stdout.print(f"Segment sizes, {labels[0]} to {labels[-1]} ({len(labels)} instants)", markup=False)
    if len(series) == 1:
        (name, values), = series.items()
        stdout.print(name, markup=False)
        for line in bars(labels, values, width):
            stdout.print(line, markup=False)
    else:
        for line in overview(list(series), series, width):
            stdout.print(line, markup=False)


def _history_format(fmt: str | None, output: Path | None) -> str:
    if fmt is not None and fmt not in HISTORY_FORMATS:
        raise UsageError(f"history --format takes {', '.join(HISTORY_FORMATS)}, found {fmt!r}")
    if fmt is not None or output is None or is_stdout(output):
        return fmt or "table"
    suffix = output.suffix.lower().lstrip(".")
    if suffix not in ("png", "csv", "json"):
        raise UsageError(f"history writes .png, .csv or .json, not {output.name!r}")
    return suffix


def _step(text: str, option: str) -> tuple[int, str]:
    m = DURATION.fullmatch(text or "")
    unit = UNITS.get(m.group(2)) if m else None
    if m is None or unit not in ("hours", "days", "weeks") or int(m.group(1)) < 1:
        raise UsageError(f"{option} takes a length like 1d, 1w or 12h, found {text!r}")
    return int(m.group(1)), unit


def _shift(end, amount: int, unit: str):
    """`amount` `unit`s before `end`: on the local calendar from a date (days and weeks), else exactly."""
    try:
        if not end.inclusive and unit != "hours":
            day = end.local().date() - timedelta(**{unit: amount})
            return AsOf(midnight(day + timedelta(days=1), end.zone), False, end.zone)
        return AsOf(end.instant - amount * timedelta(**{unit: 1}), end.inclusive, end.zone)
    except (OverflowError, ValueError):
        raise UsageError(f"--last {amount} {unit} reaches before the year 1") from None


def _label(instant, with_time: bool) -> str:
    """The local date of the instant (the steps of days and weeks keep the time of day); for steps of hours
    the instant itself, local with its UTC offset (events before it count, or at it for a datetime --to)."""
    if with_time:
        return instant.instant.astimezone(zone(instant.zone)).isoformat(timespec="minutes")
    return instant.local().date().isoformat()
