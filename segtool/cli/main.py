"""The command line: parse options, call the library, turn its errors into messages and exit codes."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from . import completion
from .. import __version__
from ..errors import SegtoolError, UsageError

app = typer.Typer(
    help="Audience segmentation over flat files: YAML segments in, visitor IDs out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_state = {"debug": False}

SegmentsArg = typer.Argument(..., help="Segment YAML files, or directories of them.", show_default=False)
ConfigOpt = typer.Option(None, "--config", help="Config file (default: ./segtool.yaml if present).")
AsOfOpt = typer.Option(None, "--as-of", help="Evaluate as of this date or ISO datetime, or 'latest' (default: config, else now).")
AllowFutureOpt = typer.Option(False, "--allow-future", help="Allow an --as-of (or --to) after now, which is "
                              "otherwise an error.")
EventsOpt = typer.Option(None, "--events", help="Events file, glob or directory (overrides the config).")
ProfilesOpt = typer.Option(None, "--profiles", help="Profiles file, glob or directory (overrides the config).")
ItemsOpt = typer.Option(None, "--items", help="Items file, glob or directory (overrides the config).")
QuietOpt = typer.Option(False, "-q", "--quiet", help="No per-segment lines or progress on stderr (errors, "
                        "guard breaches and warnings still show).")
SelectOpt = typer.Option(None, "--select", help="Run only these segments: a name, a glob (vip_*) or tag:NAME; "
                         "repeatable, or comma-separated.", autocompletion=completion.segment_patterns)
ExcludeOpt = typer.Option(None, "--exclude", help="Leave out these segments (name, glob or tag:NAME).",
                          autocompletion=completion.segment_patterns)
PredictiveOpt = typer.Option(None, "--predictive",
                             help="auto|profiles|events: the source of the predicted columns (clv, "
                                  "conversion_potential, p_alive; overrides config).",
                             autocompletion=completion.values_of("config", "PREDICTIVE_SOURCES"))

EngineOpt = typer.Option(None, "--engine", help="polars (default), duckdb (the SQL in an embedded DuckDB) or spark "
                         "(a local session or Spark Connect).", autocompletion=completion.values_of("config", "ENGINES"))


def _column_list(text: str | None) -> tuple[str, ...] | None:
    return tuple(c.strip() for c in text.split(",") if c.strip()) if text is not None else None


def output_option(help: str):
    return typer.Option(None, "-o", "--output", help=f"{help} `-` is stdout.")


def format_option(help: str, complete, default: str | None = None):
    """--format, completed by `complete` (see completion.py)."""
    return typer.Option(default, "--format", help=help, autocompletion=complete)


def _console(**options):
    """A rich console; NO_COLOR (any value) turns off every style, bold and dim included, not only colour."""
    from rich.console import Console

    plain = {"color_system": None} if os.environ.get("NO_COLOR") else {}
    return Console(highlight=False, soft_wrap=True, **plain, **options)


def _stderr():
    return _console(stderr=True)


def _feedback(quiet: bool = False):
    from .feedback import Feedback

    return Feedback(_stderr(), quiet)


def _stdout():
    return _console()


def handle_errors(command):
    """Print segtool's own errors as `Error: ...` on stderr and exit with their code; --debug re-raises."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SegtoolError as exc:
            if _state["debug"]:
                raise
            from rich.markup import escape

            lines = str(exc).splitlines() or [type(exc).__name__]
            console = _stderr()
            console.print(f"[bold red]Error:[/] {escape(lines[0])}", markup=True, highlight=False)
            for line in lines[1:]:
                console.print(f"       {line}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except MemoryError:
            from .supervisor import report_out_of_memory

            raise typer.Exit(report_out_of_memory()) from None
        except BrokenPipeError:  # `segtool run x.yaml | head`: end quietly, as other Unix tools do
            _silence_stdout()
            raise typer.Exit(141) from None
        except OSError as exc:  # an output that was never checked (e.g. stdout is /dev/full); inputs raise DataError
            if _state["debug"]:
                raise
            _silence_stdout()
            _stderr().print(f"Error: cannot write {exc.filename or 'stdout'}: {exc.strerror or exc}", markup=False)
            raise typer.Exit(2) from None
        except BaseException as exc:  # a panic in the engine's native code (pyo3's PanicException)
            if type(exc).__name__ != "PanicException" or _state["debug"]:
                raise
            from .supervisor import report_panic

            raise typer.Exit(report_panic(str(exc))) from None

    return wrapper


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is no file (tests capture it)
        pass


def _version(value: bool) -> None:
    if value:
        print(f"segtool {__version__}")
        raise typer.Exit()


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show a traceback on errors."),
         version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                      help="Print segtool's version and exit.")):
    """segtool: audience segments from YAML over CSV/Parquet exports."""
    _state["debug"] = debug


def _session(config: Optional[Path], as_of=None, events=None, profiles=None, items=None, predictive=None,
             memory_limit=None, allow_future=False):
    from ..api import Overrides, Session

    session = Session.open(config, Overrides(as_of, events, profiles, items, predictive, memory_limit,
                                             allow_future))
    limit = session.memory_limit()
    if limit is not None:
        from .supervisor import watch_memory

        watch_memory(*limit)
    return session


@app.command()
@handle_errors
def run(
    segments: List[Path] = SegmentsArg,
    as_of: Optional[str] = AsOfOpt,
    allow_future: bool = AllowFutureOpt,
    output: Optional[Path] = output_option("Write the IDs (and --columns) to this file."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="Write one file per segment, named after it."),
    summary: bool = typer.Option(False, "--summary", help="Print each segment's size, share and per-rule sizes."),
    fmt: Optional[str] = format_option("csv|parquet|json|ndjson|txt (for --summary: json), or a destination's "
                                       "file: google_ads|meta|tiktok|klaviyo|mailchimp (see docs/deliver.md).",
                                       completion.values_of("jobs.run", "RUN_FORMATS")),
    columns: Optional[str] = typer.Option(None, "--columns", help="Profile columns to add to output files, e.g. email,city."),
    events: Optional[str] = EventsOpt,
    profiles: Optional[str] = ProfilesOpt,
    items: Optional[str] = ItemsOpt,
    predictive: Optional[str] = PredictiveOpt,
    split: Optional[str] = typer.Option(None, "--split", help="Split each segment into stable parts by shares, "
                                        "e.g. 90:10: NAME.a.csv, NAME.b.csv (a holdout of 10%)."),
    split_seed: Optional[str] = typer.Option(None, "--split-seed", help="Seed of --split (default: the segment's "
                                             "name): the same seed puts a visitor in the same part."),
    changes: bool = typer.Option(False, "--changes", help="With --output-dir: also write NAME.entered.csv and "
                                 "NAME.exited.csv against the files the last run wrote there."),
    deliveries: bool = typer.Option(False, "--deliveries", help="With --output-dir: also write NAME.added and "
                                    "NAME.removed beside each file, against the delivery `segtool ack` acknowledged."),
    resend_all: bool = typer.Option(False, "--resend-all", help="With --output-dir: NAME.added holds every row and "
                                    "NAME.removed none, whatever `segtool ack` acknowledged (a full resend)."),
    keep_going: bool = typer.Option(False, "--keep-going", help="Write the valid segments when some segment "
                                    "files are invalid (reported; exit 1)."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Fail at once (exit 5) when another run is writing "
                                 "into --output-dir, instead of waiting for it."),
    select: Optional[List[str]] = SelectOpt,
    exclude: Optional[List[str]] = ExcludeOpt,
    ignore_consent: bool = typer.Option(False, "--ignore-consent", help="With an ads --format: keep the members "
                                        "without ads consent (recorded in the summary and the manifest)."),
    strict: bool = typer.Option(False, "--strict", help="With a destination --format: a file smaller than the "
                                "platform serves is not written (exit 4), instead of a warning."),
    summary_format: Optional[str] = typer.Option(None, "--summary-format", help="text or json (default: json "
                                                 "where --format json, else text).",
                                                 autocompletion=completion.one_of("text", "json")),
    engine: Optional[str] = EngineOpt,
    memory_limit: Optional[str] = typer.Option(None, "--memory-limit", help="The most memory the run may hold, "
                                               "e.g. 4GB (default: engine.memory_limit; else no limit)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write a run summary for Slack or e-mail: "
                                          "report.md (Markdown) or report.html."),
    quiet: bool = QuietOpt,
    config: Optional[Path] = ConfigOpt,
):
    """Evaluate segments and write the matching visitor IDs (one segment, no -o: IDs on stdout)."""
    from ..jobs.run import RunRequest, parse_split, run_segments
    from ..jobs.selection import patterns

    request = RunRequest(output=output, output_dir=output_dir, summary=summary, fmt=fmt,
                         columns=_column_list(columns) or (),
                         split=parse_split(split), split_seed=split_seed, changes=changes, deliveries=deliveries,
                         resend_all=resend_all, keep_going=keep_going,
                         wait=not no_wait, select=patterns(select), exclude=patterns(exclude, "--exclude"),
                         engine=engine, report=report, ignore_consent=ignore_consent, strict=strict,
                         summary_format=summary_format)
    session = _session(config, as_of, events, profiles, items, predictive, memory_limit, allow_future=allow_future)
    code = run_segments(session, segments, request, _stdout(), _feedback(quiet))
    if code:
        raise typer.Exit(code)


@app.command()
@handle_errors
def ack(
    output_dir: Path = typer.Argument(..., help="The --output-dir of the runs.", show_default=False),
    run_id: str = typer.Option(..., "--run", help="The run whose files were delivered: the `run` of its "
                               "manifest.json (the name of the folder DIR/current linked to).", show_default=False),
    select: Optional[List[str]] = SelectOpt,
    exclude: Optional[List[str]] = ExcludeOpt,
    no_wait: bool = typer.Option(False, "--no-wait", help="Fail at once (exit 5) when a run is writing into DIR, "
                                 "instead of waiting for it."),
    quiet: bool = QuietOpt,
):
    """Acknowledge a delivery: the files of the run named were uploaded and accepted, so the next run's
    NAME.added and NAME.removed files are relative to them."""
    from ..jobs.deliveries import acknowledge
    from ..jobs.selection import patterns

    feedback = _feedback(quiet)
    acknowledge(output_dir, run_id, patterns(select), patterns(exclude, "--exclude"), not no_wait,
                lambda holder: feedback.warn(f"waiting for another segtool run writing into {output_dir} "
                                             f"({holder or 'running'})"), feedback.note, feedback.warn)


@app.command()
@handle_errors
def show(
    segment: Path = typer.Argument(..., help="A segment YAML file.", show_default=False),
    limit: int = typer.Option(20, "--limit", min=0, help="Show this many members (the first by visitor_id)."),
    columns: Optional[str] = typer.Option(None, "--columns", help="Profile columns to show, e.g. email,city "
                                          "(default: every profile column)."),
    fmt: Optional[str] = format_option("table (default), csv, json or ndjson on stdout.",
                                       completion.values_of("cli.commands", "SHOW_FORMATS")),
    engine: Optional[str] = EngineOpt,
    as_of: Optional[str] = AsOfOpt,
    allow_future: bool = AllowFutureOpt,
    events: Optional[str] = EventsOpt,
    profiles: Optional[str] = ProfilesOpt,
    items: Optional[str] = ItemsOpt,
    predictive: Optional[str] = PredictiveOpt,
    quiet: bool = QuietOpt,
    config: Optional[Path] = ConfigOpt,
):
    """Preview a segment's members with their profile columns, evaluated as `run` evaluates it."""
    from .commands import show_members

    show_members(_session(config, as_of, events, profiles, items, predictive, allow_future=allow_future), segment,
                 limit, _column_list(columns), fmt, engine, _stdout(), _feedback(quiet))


@app.command()
@handle_errors
def why(
    visitor: str = typer.Argument(..., help="A visitor ID.", show_default=False),
    segment: Path = typer.Argument(..., help="A segment YAML file.", show_default=False),
    fmt: Optional[str] = format_option("json: the verdicts as data.", completion.one_of("json")),
    as_of: Optional[str] = AsOfOpt,
    allow_future: bool = AllowFutureOpt,
    events: Optional[str] = EventsOpt,
    profiles: Optional[str] = ProfilesOpt,
    items: Optional[str] = ItemsOpt,
    predictive: Optional[str] = PredictiveOpt,
    config: Optional[Path] = ConfigOpt,
):
    """Rule by rule, whether a visitor meets a segment, with the values and rows that decided each rule."""
    from .commands import why_member

    why_member(_session(config, as_of, events, profiles, items, predictive, allow_future=allow_future), visitor,
               segment, fmt, _stdout())


@app.command()
@handle_errors
def sql(
    segments: List[Path] = SegmentsArg,
    dialect: str = typer.Option("duckdb", "--dialect", help="duckdb, spark, databricks, bigquery, snowflake or trino.",
                                autocompletion=completion.values_of("backends.sql.dialects", "DIALECTS")),
    per_rule: bool = typer.Option(False, "--per-rule", help="Also a boolean per top-level rule of each segment."),
    output: Optional[Path] = output_option("Write the SQL to this file."),
    select: Optional[List[str]] = SelectOpt,
    exclude: Optional[List[str]] = ExcludeOpt,
    as_of: Optional[str] = AsOfOpt,
    allow_future: bool = AllowFutureOpt,
    events: Optional[str] = EventsOpt,
    profiles: Optional[str] = ProfilesOpt,
    items: Optional[str] = ItemsOpt,
    config: Optional[Path] = ConfigOpt,
):
    """The segments as one SQL statement for a warehouse or Spark: visitor_id and a boolean per segment."""
    from .commands import print_sql
    from ..jobs.selection import patterns

    print_sql(_session(config, as_of, events, profiles, items, allow_future=allow_future), segments, dialect,
              per_rule, output,
              patterns(select), patterns(exclude, "--exclude"))


@app.command()
@handle_errors
def diff(
    segments: List[Path] = SegmentsArg,
    start: str = typer.Option(..., "--from", help="The earlier instant: a date, datetime, yesterday, -7d, latest."),
    end: Optional[str] = typer.Option(None, "--to", help="The later instant (default: --as-of / the config's as_of)."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="Write NAME.entered.csv and "
                                              "NAME.exited.csv per segment here."),
    summary: bool = typer.Option(False, "--summary", help="Print the sizes at both instants and the counts."),
    fmt: Optional[str] = format_option("csv|json|ndjson|txt|parquet for the IDs; json for --summary.",
                                       completion.values_of("jobs.replay", "DIFF_FORMATS")),
    select: Optional[List[str]] = SelectOpt,
    exclude: Optional[List[str]] = ExcludeOpt,
    quiet: bool = QuietOpt,
    as_of: Optional[str] = AsOfOpt,
    allow_future: bool = AllowFutureOpt,
    events: Optional[str] = EventsOpt,
    profiles: Optional[str] = ProfilesOpt,
    items: Optional[str] = ItemsOpt,
    config: Optional[Path] = ConfigOpt,
):
    """Who entered and who left each segment between two instants (one read of the data)."""
    from ..jobs.replay import Replay, diff_segments
    from ..jobs.selection import patterns

    replay = Replay(segments, patterns(select), patterns(exclude, "--exclude"))
    diff_segments(_session(config, as_of, events, profiles, items, allow_future=allow_future), replay, start, end,
                  output_dir, fmt, summary,
                  _stdout(), _feedback(quiet))


@app.command()
@handle_errors
def history(
    segments: List[Path] = SegmentsArg,
    start: Optional[str] = typer.Option(None, "--from", help="The first instant (a date, datetime, -8w, ...)."),
    last: Optional[str] = typer.Option(None, "--last", help="Instead of --from: how far back from --to, e.g. 8w."),
    end: Optional[str] = typer.Option(None, "--to", help="The last instant (default: --as-of / the config's as_of)."),
    every: str = typer.Option("1d", "--every", help="The step between instants: 1d, 1w, 12h."),
    fmt: Optional[str] = format_option("table (a chart in the terminal), csv or json.",
                                       completion.values_of("jobs.replay", "HISTORY_FORMATS")),
    output: Optional[Path] = output_option("Write the sizes here: .csv, .json, or .png (a plot; more than 10 "
                                           "segments: a small panel each)."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="Only the N segments largest at --to."),
    log: bool = typer.Option(False, "--log", help="With -o FILE.png: sizes on a logarithmic axis."),
    select: Optional[List[str]] = SelectOpt,
    exclude: Optional[List[str]] = ExcludeOpt,
    quiet: bool = QuietOpt,
    as_of: Optional[str] = AsOfOpt,
    allow_future: bool = AllowFutureOpt,
    events: Optional[str] = EventsOpt,
    profiles: Optional[str] = ProfilesOpt,
    items: Optional[str] = ItemsOpt,
    config: Optional[Path] = ConfigOpt,
):
    """Each segment's size at each instant from --from (or --last) to --to (one read of the data)."""
    from ..jobs.replay import Replay, segment_history
    from ..jobs.selection import patterns

    replay = Replay(segments, patterns(select), patterns(exclude, "--exclude"))
    segment_history(_session(config, as_of, events, profiles, items, allow_future=allow_future), replay, start,
                    last, end, every, fmt, output,
                    _stdout(), _feedback(quiet), top, log)


@app.command()
@handle_errors
def validate(
    segments: List[Path] = SegmentsArg,
    data: bool = typer.Option(False, "--data", help="Also check the segments and config against the data "
                              "(columns, conversion types, timestamps, skipped rows), without evaluating them."),
    as_of: Optional[str] = AsOfOpt,
    allow_future: bool = AllowFutureOpt,
    events: Optional[str] = EventsOpt,
    profiles: Optional[str] = ProfilesOpt,
    items: Optional[str] = ItemsOpt,
    predictive: Optional[str] = PredictiveOpt,
    fmt: Optional[str] = format_option("json: every problem with its file, line, column, code and suggestions, "
                                       "on stdout, for editors and CI.", completion.one_of("json")),
    config: Optional[Path] = ConfigOpt,
):
    """Check segment files (no data read), and with --data the data they would run on."""
    from .commands import validate_segments

    if fmt not in (None, "json"):
        raise UsageError(f"validate --format takes json, found {fmt!r}")
    validate_segments(_session(config, as_of, events, profiles, items, predictive, allow_future=allow_future),
                      segments, data, _stdout(),
                      as_json=fmt == "json")


@app.command()
@handle_errors
def explain(
    segment: Path = typer.Argument(..., help="A segment YAML file.", show_default=False),
    as_of: Optional[str] = AsOfOpt,
    allow_future: bool = AllowFutureOpt,
    events: Optional[str] = EventsOpt,
    profiles: Optional[str] = ProfilesOpt,
    items: Optional[str] = ItemsOpt,
    predictive: Optional[str] = PredictiveOpt,
    prepare: bool = typer.Option(False, "--prepare", help="Do the data-dependent preparation a run does (resolve "
                                 "as_of latest, fit predictions, sample the events) and show the exact plan."),
    config: Optional[Path] = ConfigOpt,
):
    """Show a segment's rules in plain words, then the polars query plan (no event rows read)."""
    from .commands import explain_segment

    explain_segment(_session(config, as_of, events, profiles, items, predictive, allow_future=allow_future),
                    segment, _stdout(), prepare)


@app.command()
@handle_errors
def fields(fmt: Optional[str] = format_option("json: the catalog as data, for scripts and editors.",
                                              completion.one_of("json"))):
    """List the field catalog: fields, operators, rule kinds and qualifiers."""
    from .commands import print_fields

    if fmt not in (None, "json"):
        raise UsageError(f"fields --format takes json, found {fmt!r}")
    print_fields(_stdout(), as_json=fmt == "json")


@app.command()
@handle_errors
def grid(
    as_of: Optional[str] = AsOfOpt,
    allow_future: bool = AllowFutureOpt,
    fmt: Optional[str] = format_option("csv or json instead of the picture.",
                                       completion.values_of("cli.commands", "GRID_FORMATS")),
    output: Optional[Path] = output_option("Write the grid to this file (csv or json)."),
    events: Optional[str] = EventsOpt,
    profiles: Optional[str] = ProfilesOpt,
    config: Optional[Path] = ConfigOpt,
):
    """Draw the retention grid with the number of visitors in each cell."""
    from .commands import show_grid

    show_grid(_session(config, as_of, events, profiles, allow_future=allow_future), fmt, output, _stdout())


@app.command()
@handle_errors
def sample(
    visitors: int = typer.Option(..., "--visitors", min=1, help="How many visitors to generate."),
    output_dir: Path = typer.Option(..., "-o", "--output-dir", help="Directory to write events/items/profiles to."),
    seed: int = typer.Option(42, "--seed", help="Random seed: the same seed gives the same files."),
    fmt: Optional[str] = format_option("parquet, csv, or both (comma-separated); with --preset ga4: parquet or "
                                       "ndjson. Default: parquet, or the preset's own format.",
                                       completion.sample_formats),
    preset: Optional[str] = typer.Option(None, "--preset", help="Write the sample as a vendor's export: ga4, "
                                         "shopify_orders or segment, in the vendor's file names and folders (with "
                                         "a segtool.yaml naming the preset and the path).",
                                         autocompletion=completion.values_of("config", "PRESETS")),
    quiet: bool = QuietOpt,
):
    """Write synthetic exports (events, items, profiles) of any size."""
    from ..synth.sample import generate_sample
    from ..synth.vendors import FORMATS, formats_for, generate_vendor_sample

    allowed = formats_for(preset)
    if preset is not None and preset not in FORMATS:
        raise UsageError(f"--preset takes {', '.join(FORMATS)}, found {preset!r}")
    formats = tuple(f.strip() for f in (fmt or allowed[0]).split(",") if f.strip())
    if not formats or any(f not in allowed for f in formats) or (preset and len(formats) > 1):
        raise UsageError(f"--format takes {' or '.join(allowed)}{' (one)' if preset else ''}, found {fmt!r}")
    feedback = _feedback(quiet)
    if preset is None:
        written = generate_sample(output_dir, visitors, seed=seed, formats=formats, steps=feedback.steps)
    else:
        written = {"export": generate_vendor_sample(output_dir, visitors, preset, formats[0], seed, feedback.steps)}
    for paths in written.values():
        for path in paths:
            feedback.note(f"wrote {path}")


@app.command()
@handle_errors
def predict(
    as_of: Optional[str] = AsOfOpt,
    allow_future: bool = AllowFutureOpt,
    horizon: str = typer.Option("365d", "--horizon", help="How far ahead conversions and CLV look (365d, 52w)."),
    output: Optional[Path] = output_option("Write the predictions to this file."),
    params: bool = typer.Option(False, "--params", help="Print the fitted model parameters (JSON) instead."),
    fmt: Optional[str] = format_option("csv|parquet|json|ndjson (default: csv or the extension).",
                                       completion.values_of("predict.command", "PREDICT_FORMATS")),
    events: Optional[str] = EventsOpt,
    profiles: Optional[str] = ProfilesOpt,
    quiet: bool = QuietOpt,
    config: Optional[Path] = ConfigOpt,
):
    """Predict each visitor's conversion potential, expected conversions, P(alive) and CLV from events."""
    from ..predict.command import predict_command

    predict_command(_session(config, as_of, events, profiles, allow_future=allow_future), horizon, output, params,
                    fmt, _feedback(quiet))


def entry() -> None:
    from .supervisor import supervise

    sys.exit(supervise(_main))


def _main() -> None:
    try:
        app()
    except BrokenPipeError:  # stdout closed while flushing at the very end
        _silence_stdout()
        sys.exit(141)
