"""The health of the event rows a run reads, counted in the same pass as the segments: rows without a
visitor or a readable timestamp, epoch numbers in the wrong unit, conversion types that never occur.

Each would otherwise give a wrong audience with exit 0; each is a DataError naming the file, the column
and what was found.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from ..errors import DataError, Problem, UsageError
from ..language.timeframe import AsOf, parse_as_of
from . import source
from .tables import EPOCH_UNITS, VID, Inputs, Table, before_as_of, parse_timestamps

PLAUSIBLE = (datetime(1980, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))
ROWS, UNREADABLE = "health:rows", "health:unreadable"  # per-visitor counts (skip_counts_per_visitor)


@dataclass(frozen=True)
class EventHealth:
    """What the pass over the event rows a run reads (those up to as_of) found, before any rule read them."""

    rows: int
    without_visitor: int        # null, empty or all-whitespace visitor_id
    unreadable_timestamps: int  # null, or text the timestamp_format cannot read (visitor present)
    conversions: dict[str, int]  # conversion event type -> readable events (only when the run reads them)
    newest: datetime | None = None  # asked for by `as_of: latest`

    @property
    def skipped(self) -> int:
        return self.without_visitor + self.unreadable_timestamps


def skip_counts(rows: pl.LazyFrame, *, newest: bool = False) -> pl.LazyFrame:
    """One row of counts over event `rows` (timestamps parsed, unreadable ones null). Whitespace-only IDs are
    found exactly but cheaply: only an ID that sorts below "!" or starts with a non-ASCII character can be
    one, and only when such IDs occur does a test per row run (`read_health`)."""
    vid, ts = pl.col(VID), pl.col("timestamp")
    no_visitor = vid.is_null() | (vid.str.len_bytes() == 0)
    return rows.select(
        pl.len().alias("rows"),
        no_visitor.sum().alias("without_visitor"),
        (~no_visitor & ts.is_null()).sum().alias("unreadable_timestamps"),
        (~no_visitor & ((vid < "!") | (vid >= "\x80"))).sum().alias("maybe_blank"),
        *([ts.max().dt.epoch("us").alias("newest")] if newest else []),
    )


def skip_counts_per_visitor(visitors: pl.LazyFrame) -> pl.LazyFrame:
    """The same counts from rows already grouped per visitor_id (with ROWS and UNREADABLE per group): exact,
    a blank ID being one group."""
    blank = pl.col(VID).is_null() | ~pl.col(VID).str.contains(r"\S")
    return visitors.select(
        pl.col(ROWS).sum().alias("rows"),
        pl.col(ROWS).filter(blank).sum().alias("without_visitor"),
        pl.col(UNREADABLE).filter(~blank).sum().alias("unreadable_timestamps"),
        pl.lit(0).alias("maybe_blank"),
    )


def conversion_type_counts(conversions: pl.LazyFrame, types: tuple[str, ...]) -> pl.LazyFrame:
    """One row: for each conversion type, its events with a visitor and a readable timestamp."""
    counted = pl.col(VID).is_not_null() & (pl.col(VID).str.len_bytes() > 0) & pl.col("timestamp").is_not_null()
    return conversions.select(((pl.col("event_type") == t) & counted).sum().alias(f"conversion:{t}") for t in types)


def read_health(skips: pl.DataFrame, rows: pl.LazyFrame | None, conversion_types: pl.DataFrame | None = None
                ) -> EventHealth:
    """The counts of `skips` (and `conversion_types`), made exact for whitespace IDs over `rows` if needed."""
    values = skips.row(0, named=True)
    without, unreadable = values["without_visitor"], values["unreadable_timestamps"]
    if values["maybe_blank"] and rows is not None:
        blank = pl.col(VID).str.contains(r"^\s+$")
        extra = rows.select(blank.sum().alias("ids"), (blank & pl.col("timestamp").is_null()).sum().alias("both"))
        ids, both = extra.collect(engine="streaming").row(0)
        without, unreadable = without + ids, unreadable - both
    counts = {} if conversion_types is None else {
        name.removeprefix("conversion:"): n for name, n in conversion_types.row(0, named=True).items()}
    return EventHealth(values["rows"], without, unreadable, counts, _instant(values.get("newest")))


def _instant(epoch_us: int | None) -> datetime | None:
    if epoch_us is None:
        return None
    try:
        return datetime.fromtimestamp(0, UTC) + timedelta(microseconds=epoch_us)
    except OverflowError:
        raise DataError(f"the newest event is beyond the year 9999 ({epoch_us} µs after 1970); "
                        "check timestamp_format") from None


def check_health(health: EventHealth, inputs: Inputs, as_of: AsOf | None, conversion_types: bool = True) -> None:
    """Too many skipped rows, timestamps that cannot be right, conversion types that never occur (unless
    `conversion_types` is off: an early instant of a replay may precede the first conversion): errors."""
    events, config = inputs.events, inputs.config
    vid_column, ts_column = events.export_name("visitor_id"), events.export_name("timestamp")
    allowed = config.max_skipped_share
    setting = f"max_skipped_rows ({allowed * 100:.4g}%)"
    if health.rows and health.without_visitor / health.rows > allowed:
        raise DataError(f"{_share(health.without_visitor, health.rows)} of the event rows have no visitor_id "
                        f"(missing, empty or only spaces), more than {setting} allows; check the column mapping, "
                        "or raise max_skipped_rows in the config", file=events.label, column=vid_column)
    if health.rows and health.unreadable_timestamps / health.rows > allowed:
        table, samples = _unreadable_samples(inputs)
        raise DataError(f"{_share(health.unreadable_timestamps, health.rows)} of the event rows have a timestamp "
                        f"that timestamp_format {config.timestamp_format!r} cannot read"
                        + (f", e.g. {', '.join(map(repr, samples))}" if samples else " (it is empty)")
                        + _format_hint(samples, config.timestamp_format)
                        + f"; more than {setting} allows", file=table.label, column=table.export_name("timestamp"))
    missing = [t for t, n in health.conversions.items() if n == 0] if conversion_types else []
    if config.where("conversion_events") is None and len(missing) < len(health.conversions):
        missing = []  # a default (a preset's) names every spelling its vendor uses: one of them is enough
    if missing:
        _check_as_of_reaches_the_data(inputs, as_of)
        raise DataError(problems=[Problem(config.where("conversion_events"),
                                          _no_conversions(missing, inputs, as_of))])


def _check_as_of_reaches_the_data(inputs: Inputs, as_of: AsOf | None) -> None:
    """An as_of before the earliest event counts no event at all: say that, rather than blame the types."""
    if as_of is None:
        return
    events = inputs.events
    ts = parse_timestamps(events, inputs.config.timestamp_format, pl.col("timestamp"))
    first, reached = events.select(["timestamp"]).select(
        ts.min().alias("first"), before_as_of(ts, as_of).any().alias("reached")).collect(engine="streaming").row(0)
    if first is not None and not reached:
        raise DataError(f"as_of ({as_of.describe()}) is before the earliest event, at "
                        f"{first.isoformat().replace('+00:00', 'Z')}: no event counts; give a later as_of "
                        "(--as-of, or as_of in the config)", file=events.label)


def check_epoch_unit(inputs: Inputs) -> None:
    """Epoch numbers read in the wrong unit put every event in 1970 or past the year 2200. A unit is the
    same for every row, so the first rows tell (a cheap read, whatever the size of the export)."""
    config = inputs.config
    if config.timestamp_format not in EPOCH_UNITS:
        return
    for events in inputs.events.parts():
        if events.has("timestamp") and not events.stores_instants("timestamp"):  # dates are no epoch numbers
            _check_epoch_unit(events, config.timestamp_format)


def _check_epoch_unit(events: Table, timestamp_format: str) -> None:
    raw = pl.col(events.export_name("timestamp"))
    numbers = (raw.cast(pl.String).str.strip_chars() if events.dtype("timestamp") == pl.String else raw)
    first = events.scan().select(numbers.cast(pl.Float64, strict=False).alias("n")).head(1000).drop_nulls()
    values = first.collect(engine="streaming")["n"]
    if not values.len():
        return
    per_second = EPOCH_PER_SECOND[timestamp_format]
    low, high = (bound.timestamp() * per_second for bound in PLAUSIBLE)
    if values.max() < low or values.min() > high:
        side = "before 1980" if values.max() < low else "after 2200"
        raise DataError(f"with timestamp_format {timestamp_format!r} the first events are all {side} "
                        f"(e.g. {values[0]:.0f})" + _epoch_hint(values[0], timestamp_format),
                        file=events.label, column=events.export_name("timestamp"))


EPOCH_PER_SECOND = {"epoch_s": 1, "epoch_ms": 1e3, "epoch_us": 1e6}


def _share(part: int, whole: int) -> str:
    return f"{part:,} of {whole:,} ({part / whole:.1%})"


def _unreadable_samples(inputs: Inputs) -> tuple[Table, list[str]]:
    """The first events table (of the events' sources) with timestamps that cannot be read, and a few."""
    for events in inputs.events.parts():
        raw = pl.col(events.export_name("timestamp"))
        parsed = parse_timestamps(events, inputs.config.timestamp_format)
        vid = pl.col(events.export_name("visitor_id")).is_not_null() if events.has("visitor_id") else True
        bad = events.scan().filter(vid & raw.is_not_null() & parsed.is_null())
        samples = [str(v) for v in bad.select(raw.cast(pl.String)).head(3).collect(engine="streaming").to_series()]
        if samples:
            return events, samples
    return inputs.events, []


_EPOCH_DIGITS = ((1e8, 1e11, "epoch_s", "epoch seconds"), (1e11, 1e14, "epoch_ms", "epoch milliseconds"),
                 (1e14, 1e17, "epoch_us", "epoch microseconds"))


def _format_hint(samples: list[str], timestamp_format: str) -> str:
    numbers = [float(s) for s in samples if re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", s)]
    if samples and len(numbers) == len(samples):
        for low, high, name, words in _EPOCH_DIGITS:
            if all(low <= abs(n) < high for n in numbers):
                return f"; they look like {words}: set timestamp_format: {name}"
        return "; they are numbers: set timestamp_format to epoch_s, epoch_ms or epoch_us"
    if timestamp_format in EPOCH_UNITS:
        return "; they are not whole numbers: use timestamp_format iso or a strftime pattern"
    return "; set timestamp_format to the pattern of the export (e.g. '%d/%m/%Y %H:%M')"


def _epoch_hint(value: float, timestamp_format: str) -> str:
    for low, high, name, words in _EPOCH_DIGITS:
        if low <= abs(value) < high and name != timestamp_format:
            return f": the values look like {words}, set timestamp_format: {name}"
    return ""


def _no_conversions(missing: list[str], inputs: Inputs, as_of: AsOf | None) -> str:
    events = inputs.events
    frame = events.select([VID, "timestamp", "event_type"]).with_columns(
        parse_timestamps(events, inputs.config.timestamp_format, pl.col("timestamp")).alias("timestamp"))
    valid = pl.col("timestamp").is_not_null() & (before_as_of(pl.col("timestamp"), as_of) if as_of else True)
    counts = (frame.filter(valid).group_by("event_type").agg(pl.len().alias("n"))
              .sort("n", descending=True).collect(engine="streaming"))
    occurring = [t for t in counts["event_type"].to_list() if t is not None]
    listed = ", ".join(f"{t} ({n:,})" for t, n in counts.head(12).iter_rows() if t is not None)
    hints = "".join(
        f" (did you mean {close[0]!r}?)" if (close := [o for o in occurring if o.lower() == t.lower()]
                                               or difflib.get_close_matches(t, occurring, n=1)) else ""
        for t in missing[:1])
    when = f" up to as_of ({as_of.describe()})" if as_of else ""
    configured = "" if inputs.config.where("conversion_events") else \
        f" (the default; set conversion_events in the config)"
    which = ", ".join(map(repr, missing))
    return (f"conversion_events{configured}: no event{when} has event_type {which}{hints}; "
            f"event types in {events.label}: {listed or 'none'}")


def check_events(inputs: Inputs, as_of: AsOf | None, conversions: bool = False) -> EventHealth:
    """The health of the event rows up to as_of (all of them, and the newest timestamp, where it is None),
    checked: a pass of its own, for commands that need it before or without a plan (`as_of: latest`,
    `validate --data`, `predict`)."""
    rows = source.event_base(inputs, as_of, ("event_type",))
    types = inputs.config.conversion_events
    queries = [skip_counts(rows, newest=as_of is None)]
    if conversions:
        queries.append(conversion_type_counts(rows.filter(pl.col("event_type").is_in(list(types))), types))
    skips, *converted = source.collect_all(queries, inputs)
    health = read_health(skips, rows, converted[0] if converted else None)
    check_health(health, inputs, as_of)
    return health


def latest_event(health: EventHealth, inputs: Inputs) -> AsOf:
    """`as_of: latest`: the newest event's timestamp."""
    if health.newest is None:
        raise DataError("as_of: latest needs at least one event with a readable timestamp", file=inputs.events.label)
    try:
        return parse_as_of(health.newest.isoformat(), inputs.config.timezone)
    except UsageError as exc:
        raise DataError(f"as_of: latest is the newest event, {exc}", file=inputs.events.label) from None
