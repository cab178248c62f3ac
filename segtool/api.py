"""The library API the CLI is a thin layer over: configure once, then check, evaluate, explain."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from pathlib import Path

from .config import PREDICTIVE_SOURCES, Config, load_config, memory_size
from .errors import DataError, SegmentError, UsageError
from .language.parse import check_segments, segment_files
from .results import Explanation, GridResult, RunResult, SegmentResult, WhyResult
from .language import timeframe
from .language.timeframe import LATEST, NOW, AsOf, in_future, now, parse_as_of
from .language.tree import Segment


@dataclass
class Overrides:
    """Command-line flags that win over the config."""

    as_of: str | None = None
    events: str | None = None
    profiles: str | None = None
    items: str | None = None
    predictive: str | None = None
    memory_limit: str | None = None
    allow_future: bool = False  # an as_of after now (--allow-future)


@dataclass
class Session:
    config: Config
    overrides: Overrides = field(default_factory=Overrides)
    _inputs: object = None
    _as_of: AsOf | None = None
    _epoch_checked: bool = False
    _conversion_types_checked: bool = True  # off for the earlier instants of a replay
    _set_aside: dict | None = None
    _newest: tuple | None = None  # (the health of every event row,), once read

    @classmethod
    def open(cls, config_path: Path | None = None, overrides: Overrides | None = None) -> "Session":
        overrides = overrides or Overrides()
        config = load_config(config_path)
        if overrides.predictive is not None:
            if overrides.predictive not in PREDICTIVE_SOURCES:
                raise UsageError(f"--predictive must be one of {', '.join(PREDICTIVE_SOURCES)}, "
                                 f"found {overrides.predictive!r}")
            config = replace(config, predictive=overrides.predictive)
        if overrides.memory_limit is not None:
            try:
                limit = memory_size(overrides.memory_limit)
            except ValueError as exc:
                raise UsageError(f"--memory-limit: {exc}") from None
            config = replace(config, engine=replace(config.engine, memory_limit=limit))
        return cls(config, overrides)

    def memory_limit(self) -> tuple[int, str] | None:
        """The bytes this run may hold, and where that was said (for the message when it needs more)."""
        limit = self.config.engine.memory_limit
        if limit is None:
            return None
        if self.overrides.memory_limit is not None:
            return limit, f"--memory-limit {self.overrides.memory_limit}"
        where = self.config.where("engine.memory_limit")
        return limit, f"engine.memory_limit{f' at {where}' if where else ''}"

    # -- segments (no data read) ---------------------------------------------
    def load_segments(self, paths: list[Path]) -> list[Segment]:
        return check_segments(segment_files(paths), self.config.grid_cells, self.config.library)

    def load_valid_segments(self, paths: list[Path]) -> tuple[list[Segment], list]:
        """The segment files that check, and the problems of those that do not (`--keep-going`): a file
        with a problem is left out, then the rest checked again (a reference to it is then a problem too)."""
        files, problems = segment_files(paths), []
        while files:
            try:
                return self.load_segments(files), problems
            except SegmentError as exc:
                bad = {p.location.file for p in exc.problems if p.location is not None}
                problems += exc.problems
                kept = [f for f in files if str(f) not in bad]
                if len(kept) == len(files):
                    raise
                files = kept
        return [], problems

    def at(self, as_of: AsOf, check_conversion_types: bool = True) -> "Session":
        """The same session (the same opened, possibly held, tables) evaluated as of another instant. An
        earlier instant of a replay may precede the first conversion: `check_conversion_types` off lets it."""
        return replace(self, _as_of=as_of, _conversion_types_checked=check_conversion_types)

    def hold(self, segments: list[Segment], columns: tuple[str, ...] = ()) -> None:
        """Read the data once for runs at several instants: the columns the segments read, kept in memory."""
        from .inputs.checks import columns_read
        from .inputs.source import hold_inputs

        self.check_data(segments, columns)
        self.check_epoch_unit()
        hold_inputs(self.inputs(), columns_read(segments, self.inputs(), columns))

    def parse_instant(self, text: str, option: str) -> AsOf:
        """An instant given on the command line (--from, --to): like --as-of, `latest` and `now` resolved."""
        try:
            setting = parse_as_of(text, self.config.timezone)
        except UsageError as exc:
            raise UsageError(str(exc).replace("as_of:", f"{option}:", 1)) from None
        if setting == LATEST:
            return replace(self, _as_of=None, overrides=replace(self.overrides, as_of=LATEST)).as_of()
        return now(self.config.timezone) if setting == NOW else self._not_future(setting, option)

    def _not_future(self, as_of: AsOf, option: str) -> AsOf:
        """An instant asked for is no later than now, unless --allow-future says it may be: data cannot hold
        events after now, so a future as_of is mostly a typo of the year that would count too many days."""
        moment = timeframe.current_time().replace(microsecond=0)
        if not self.overrides.allow_future and in_future(as_of, moment):
            raise UsageError(f"{option} {as_of.describe()} is in the future (now is "
                             f"{moment.isoformat().replace('+00:00', 'Z')}); pass --allow-future to evaluate as of it")
        return as_of

    # -- data ----------------------------------------------------------------
    def inputs(self):
        """The tables, opened (file lists resolved; schemas read when first needed; no rows read)."""
        if self._inputs is None:
            from .inputs.stitching import open_inputs

            paths = {name: getattr(self.overrides, name) for name in ("events", "profiles", "items")}
            self._inputs = open_inputs(self.config, paths)
            self.config = self._inputs.config
        if self._as_of is not None:
            self._inputs.bind_as_of(self._as_of)
        return self._inputs

    def as_of(self) -> AsOf:
        """The run's instant; `latest` reads the events' timestamps (once)."""
        if self._as_of is None:
            setting = self._as_of_setting()
            if setting == LATEST:
                from .inputs.health import latest_event

                setting = latest_event(self._all_events(), self.inputs())
            elif setting == NOW:
                setting = now(self.config.timezone)
            else:
                setting = self._not_future(setting, "--as-of" if self.overrides.as_of is not None else "as_of")
            self._as_of = setting
        if self._inputs is not None:  # the tables read as of this instant (and no later)
            self._inputs.bind_as_of(self._as_of)
        return self._as_of

    def _all_events(self):
        """The health of every event row, whatever the as_of, with the newest timestamp: one pass, once."""
        if self._newest is None:
            from .inputs.health import check_events

            self.check_epoch_unit()
            self._newest = (check_events(self.inputs(), None),)
        return self._newest[0]

    def newest_event(self):
        """The newest event's timestamp (UTC; None where no event has a readable one), whatever the as_of."""
        return self._all_events().newest

    def as_of_requested(self) -> str:
        """The as_of as asked for (flag, config, or the default `now`), before it is resolved."""
        return self.overrides.as_of if self.overrides.as_of is not None else self.config.as_of or NOW

    def _as_of_setting(self) -> AsOf | str:
        return parse_as_of(self.as_of_requested(), self.config.timezone)

    def check_epoch_unit(self) -> None:
        """Epoch timestamps in the unit the config says (the first rows of the events tell)."""
        from .inputs.health import check_epoch_unit

        if not self._epoch_checked:
            check_epoch_unit(self.inputs())
            self._epoch_checked = True

    def check_output(self, target: Path, segment_files: list[Path]) -> None:
        """Refuse (usage error) an output that would overwrite an input: a data file, a file in an input
        directory or matching an input glob, the config, or a segment file of the run."""
        if str(target) == "-" or str(target.absolute()).startswith(("/dev/", "/proc/")):
            return
        resolved = target.resolve()
        files = [Path(f).resolve() for t in self.tables() for f in t.files]
        files += [p.resolve() for p in segment_files] + ([self.config.path.resolve()] if self.config.path else [])
        folders = [Path(t.spec).resolve() for t in self.tables() if Path(t.spec).is_dir()]
        patterns = [str(Path(t.spec).absolute()) for t in self.tables() if any(ch in t.spec for ch in "*?[")]
        if (resolved in files or any(resolved.is_relative_to(d) for d in folders)
                or any(fnmatch(str(target.absolute()), pattern) for pattern in patterns)):
            raise UsageError(f"refusing to write {target}: it is an input of this run (data, config or segment "
                             "file) or lies among the data files; choose another output path")

    def tables(self) -> list:
        """The tables read from files: each table, or each of its sources where it has several."""
        inputs = self.inputs()
        return [part for t in (inputs.events, inputs.profiles, inputs.items) if t is not None for part in t.parts()]

    def identity(self):
        """Where sources are joined by person: what each contributed as of the run's instant
        (results.IdentityCounts; a pass over the joined tables); else None."""
        if self.inputs().identity is None:
            return None
        from .inputs.stitching import counts

        self.as_of()
        return counts(self.inputs())

    def delivery_identity(self):
        """Where people's identifiers and consents are (delivery/identity.py): the config's `identity:`, the
        roles it does not name taken from the presets of the profiles' sources where the profiles have that
        column (Shopify's Email, Phone, Accepts Email Marketing; GA4's privacy_info.ads_storage)."""
        from .delivery.identity import Identity
        from .inputs.presets import presets

        identity, profiles, defaults = self.config.identity or Identity(), self.inputs().profiles, {}
        if profiles is not None:
            have = set(profiles.columns())
            for part in profiles.parts():
                preset = presets().get(part.preset)
                for key, column in (preset.identity.items() if preset is not None else ()):
                    if column in have:
                        defaults.setdefault(key, column)
        return identity.with_defaults(defaults)

    def profile_columns(self) -> list[str] | None:
        """The profiles' columns by their canonical names; None without profiles."""
        profiles = self.inputs().profiles
        return profiles.columns() if profiles is not None else None

    def has_profiles(self) -> bool:
        return self.inputs().profiles is not None

    def profile_columns(self) -> tuple[str, ...]:
        """The profiles' columns besides visitor_id, as the rules name them (none without profiles)."""
        return tuple(c for c in self.inputs().kinds().get("profiles", {}) if c != "visitor_id")

    # -- checks against the data --------------------------------------------------
    def check_data(self, segments: list[Segment], columns: tuple[str, ...] = (), values: bool = True) -> None:
        """The names the segments, the config and `columns` use must exist in the data (schemas only); with
        `values`, the places the segments name must not be misspellings of those in the profiles (a read)."""
        from .inputs.checks import check_names, check_place_values

        check_names(segments, self.inputs(), columns)
        if values:
            check_place_values(segments, self.inputs())

    def set_aside(self) -> dict[str, dict[str, int]]:
        """The rows each table's preset set aside (no data error), by reason: counted once per session."""
        if self._set_aside is None:
            from .inputs.source import set_aside_counts

            self._set_aside = set_aside_counts(self.inputs())
        return self._set_aside

    def reads_conversions(self, segments: list[Segment]) -> bool:
        """Whether evaluating the segments reads conversions (conversion or grid rules, or predictions)."""
        from .inputs.checks import reads_conversions

        return reads_conversions(segments, self.inputs())

    def check_events(self, conversions: bool = True):
        """The health of every event row up to as_of (skipped rows, conversion types), checked: one pass."""
        from .inputs.health import check_events

        self.check_epoch_unit()
        return check_events(self.inputs(), self.as_of(), conversions)

    # -- planning and running ---------------------------------------------------------
    def prepare(self, segments: list[Segment], columns: tuple[str, ...] = (), *, read_data: bool = True):
        """What the plan needs from the data besides its scans: predictions where a rule (or an output
        column) reads a predictive column computed from events. Without `read_data`, placeholders that read
        nothing (for explain)."""
        from .backends.polars.features import Preparation

        inputs = self.inputs()
        predicted = self._predicted(segments, columns)
        if not read_data:
            from .predict.predictions import MODELS_FOR

            notes = {c: f"computed from events when the segment runs ({MODELS_FOR[c]})" for c in predicted}
            return Preparation(prediction_notes=notes)
        predictions, notes = None, {}
        if predicted:
            from .predict import predict_visitors, source_note

            fitted = predict_visitors(inputs, self.as_of())
            predictions = fitted.frame
            notes = {c: source_note(c, fitted.models) for c in predicted}
        return Preparation(predictions, notes)

    def _predicted(self, segments: list[Segment], columns: tuple[str, ...] = ()) -> list[str]:
        """The predictive profile columns that a rule of the segments or an output column reads and that are
        computed from events (config `predictive`)."""
        from .language import catalog
        from .language.tree import conditions, with_references

        inputs = self.inputs()
        rules = [rule for segment in with_references(segments) for rule in conditions(segment.root)]
        return sorted({r.field.column for r in rules if r.field.family == catalog.PROFILE
                       and inputs.computes(r.field.column)} | {c for c in columns if inputs.computes(c)})

    def plan(self, segments: list[Segment], *, per_rule: bool = False, columns: tuple[str, ...] = ()):
        """The checked, prepared plan of a run (engine.plan.Plan)."""
        from .backends.polars.plan import build_plan

        self.check_data(segments, columns)
        self.check_epoch_unit()
        prepared = self.prepare(segments, columns)
        return build_plan(segments, self.inputs(), self.as_of(), per_rule=per_rule, columns=columns,
                          prepared=prepared)

    def run(self, segments: list[Segment], *, per_rule: bool = False, columns: tuple[str, ...] = (),
            count_universe: bool = False) -> RunResult:
        """Every segment in one pass over the data: its members (visitor_id and `columns`, sorted), and with
        `per_rule` the size of each top-level rule on its own. The universe is counted where the plan goes
        over all of it (per_rule), or where `count_universe` asks (a pass over two columns of the events);
        otherwise `universe` is the size of the narrower set of visitors the plan needed."""
        from .backends.polars.features import ALL, profile_name
        from .backends.polars.plan import rule_column, run_plan, segment_column

        plan = self.plan(segments, per_rule=per_rule, columns=columns)
        frame, health = run_plan(plan, self.inputs(), self.as_of(), self._conversion_types_checked)
        outputs = ["visitor_id", *(profile_name(c) for c in columns)]
        results = []
        for i, segment in enumerate(segments):
            members = frame.filter(frame[segment_column(i)]).select(outputs).rename(
                {profile_name(c): c for c in columns}).sort("visitor_id")
            sizes = tuple(int(frame[rule_column(i, j)].sum()) for j in range(len(segment.top_rules))) \
                if per_rule else ()
            results.append(SegmentResult(segment, members, sizes))
        universe, rows = frame.height, health.rows if health else None
        if count_universe and plan.scope != ALL:
            from .inputs.source import universe_counts

            universe, rows = universe_counts(self.inputs(), self.as_of())
        return RunResult(self.as_of(), universe, tuple(results), health.skipped if health else 0,
                         dict(plan.computed_predictive), rows, self.set_aside())

    def sql(self, segments: list[Segment], dialect: str, *, per_rule: bool = False,
            tables: dict[str, str] | None = None) -> str:
        """One SQL statement for the segments in `dialect`: visitor_id, a boolean per segment (`segment_<i>`)
        and with `per_rule` one per top-level rule (`segment_<i>_rule_<j>`). Tables are the config's
        `engine.tables`, else `tables`, else the files as the dialect's engine reads them; predictions computed
        from events are read from `engine.tables.predictions` (made by `segtool predict`)."""
        return self._sql(segments, dialect, per_rule, tables)[0]

    def _sql(self, segments: list[Segment], dialect: str, per_rule: bool, tables: dict[str, str] | None,
             checks: bool = False, staged: dict[str, str] | None = None) -> tuple[str, str | None]:
        """The statement for the segments, and with `checks` the one that counts what checks the input rows
        (as the polars engine's plan of the same run checks them). `staged`: the tables this run wrote as
        Parquet for an engine that runs here (None: the statement is printed, and reads no file of this run)."""
        try:
            import sqlglot  # noqa: F401
        except ImportError:
            raise UsageError("the SQL engines need sqlglot: pip install 'segtool[sql]'") from None
        from .backends.sql.engines import sql_columns, sql_tables
        from .backends.sql import render
        from .backends.sql.dialects import dialect as dialect_named
        from .backends.sql.statement import build, row_checks

        from .plan.lower import Lowering, Schema, Settings, lower_segments

        self.check_data(segments, values=False)
        self.check_epoch_unit()
        inputs = self.inputs()
        self.as_of()  # before the tables are read: sources joined by person are joined as of it
        named = {**(tables or {}), **self.config.engine.tables}
        sources, columns = sql_tables(inputs, dialect, named, staged), sql_columns(inputs)
        lowering = Lowering(Schema.of(inputs), Settings.of(self.config, self.as_of()))
        lowered = lower_segments(segments, lowering.schema, lowering.settings, per_rule=per_rule)
        query = build(segments, lowered, lowering, sources, columns, dialect_named(dialect),
                      self.config.conversion_events)
        statement = "".join(f"{render(setup, dialect)};\n" for setup in sources.setup) + render(query, dialect)
        if not checks:
            return statement, None
        from .inputs.checks import columns_read
        from .backends.polars.plan import checked_rows

        rows, conversion_types = checked_rows(segments, inputs, self.as_of(), per_rule)
        counts = row_checks(sources, columns, self.as_of(), dialect_named(dialect), rows,
                            self.config.conversion_events if conversion_types else (), columns_read(segments, inputs))
        return statement, render(counts, dialect)

    def run_sql(self, segments: list[Segment], engine: str, *, per_rule: bool = False,
                columns: tuple[str, ...] = ()) -> RunResult:
        """The segments run by an SQL engine (`run --engine duckdb|spark`) from the statement `sql` makes,
        after the engine counted what checks the input rows, judged as in `run`: the same members, errors and
        skipped rows as `run`; the universe is counted whole. A step before the engine hands it what it
        cannot read where it is, as Parquet files: exports read through a preset's view, and the
        predictions computed from events (with the polars engine's code); `columns` are the profile's (the
        first row per visitor) or the predictions', joined to the members as the polars engine joins them."""
        from . import temporaries
        from .backends.sql import engines as to_sql

        inputs, settings = self.inputs(), self.config.engine
        self.check_data(segments, columns)
        self.check_epoch_unit()
        self.as_of()  # before the tables are staged: sources joined by person are joined as of it
        predicted, fitted = self._predicted(segments, columns), None
        if predicted:
            from .predict import predict_visitors

            fitted = predict_visitors(inputs, self.as_of())
        read_by_rules = fitted is not None and bool(self._predicted(segments))
        dialect = "duckdb" if engine == "duckdb" else "spark"
        with temporaries.folder("segtool-staged-") as folder:
            staged = to_sql.stage_tables(inputs, folder, fitted.frame if read_by_rules else None, settings.tables,
                                         engine == "spark" and to_sql.remote_spark(settings))
            views = to_sql.spark_views(inputs, staged) if engine == "spark" else None
            statement, counts = self._sql(segments, dialect, per_rule, views, checks=True, staged=staged)
            with to_sql.engine(engine, inputs, views, staged, settings) as run:
                counted = {name: int(n or 0) for name, n in run(counts).row(0, named=True).items()}  # SUM of none: NULL
                health = to_sql.check_counts(counted, inputs, self.as_of(), self._conversion_types_checked)
                frame = to_sql.typed_answer(run(statement))
        joined = self._output_columns(columns, fitted.frame if fitted is not None else None)
        results = []
        for i, segment in enumerate(segments):
            members = frame.filter(f"segment_{i}").select("visitor_id")
            if joined is not None:
                members = members.join(joined, on="visitor_id", how="left")
            sizes = tuple(int(frame[f"segment_{i}_rule_{j}"].sum()) for j in range(len(segment.top_rules))) \
                if per_rule else ()
            results.append(SegmentResult(segment, members.sort("visitor_id"), sizes))
        notes = {}
        if fitted is not None:
            from .predict import source_note

            notes = {c: source_note(c, fitted.models) for c in predicted}
        return RunResult(self.as_of(), frame.height, tuple(results), health.skipped if health else 0, notes,
                         event_rows=counted["event_rows"], set_aside=self.set_aside())

    def _output_columns(self, columns: tuple[str, ...], predictions):
        """The output `columns` per visitor, as the polars engine writes them beside the IDs: the first
        profile row's, or the predictions' where a column is computed from events; None without columns."""
        if not columns:
            return None
        from .inputs.source import collect, profile_rows

        inputs = self.inputs()
        computed = [c for c in columns if inputs.computes(c)]
        joined = collect(profile_rows(inputs, [c for c in columns if c not in computed]), inputs)
        if computed:
            joined = joined.join(predictions.select("visitor_id", *computed), on="visitor_id", how="full",
                                 coalesce=True)
        return joined.select("visitor_id", *columns)

    def members(self, segment: Segment) -> list[str]:
        """The segment's visitor IDs, sorted (a convenience for scripts and tests)."""
        (result,) = self.run([segment]).segments
        return result.members["visitor_id"].to_list()

    def why(self, segment: Segment, visitor: str) -> WhyResult:
        """Whether `visitor` is a member of the segment, and every rule of its tree (groups, references and
        the rules of the segments they name) for that visitor, with the values and rows that decided each:
        the rules lowered and computed as a run computes them, over the whole universe."""
        from .backends.polars.why import verdicts
        from .language.describe import outline

        rules = list(outline(segment.root))
        self.check_data([segment])
        self.check_epoch_unit()
        found = verdicts(segment, rules, visitor, self.inputs(), self.as_of(), self.prepare([segment]))
        if isinstance(found, list):
            raise UsageError(f"visitor {visitor!r} is not among the {len(found):,} visitors as of "
                             f"{self.as_of().describe()} (none has a profile or an event up to as_of by that ID)"
                             f"{_close_ids(visitor, found)}")
        return WhyResult(visitor, segment, self.as_of(), *found)

    def grid(self) -> GridResult:
        """Visitors per retention grid cell (every configured cell listed, zeros included; null = no cell)."""
        import polars as pl

        from .backends.polars.plan import grid_plan, run_plan

        self.check_epoch_unit()
        cells, _ = run_plan(grid_plan(self.inputs(), self.as_of()), self.inputs(), self.as_of())
        counts = cells.group_by("cell").agg(pl.len().alias("visitors"))
        names = pl.DataFrame({"cell": [c.name for c in self.config.grid]})
        listed = names.join(counts, on="cell", how="left").with_columns(pl.col("visitors").fill_null(0))
        unplaced = counts.filter(pl.col("cell").is_null()).with_columns(pl.col("visitors").cast(listed["visitors"].dtype))
        return GridResult(self.as_of(), self.config.grid, pl.concat([listed, unplaced]))

    def explain(self, segment: Segment, *, prepare: bool = False) -> Explanation:
        """The segment in words and its query plan. Without reading event rows: `as_of: latest`, the
        predictions and the choices the events' first rows make stand in for what a run finds; with
        `prepare`, that work is done and the plan is the one a run would execute."""
        from .language.describe import describe_segment
        from .backends.polars.plan import build_plan

        if prepare:
            plan = self.plan([segment])
            as_of, when = self.as_of(), self.as_of().describe()
        else:
            self.check_data([segment], values=False)
            setting = self._as_of_setting()
            if setting == LATEST:
                as_of = now(self.config.timezone)
                when = "latest: the newest event's timestamp, found when the segment runs (the plan shows now)"
            else:
                as_of = setting if setting != NOW else now(self.config.timezone)
                when = as_of.describe()
            self.inputs().bind_as_of(as_of)
            plan = build_plan([segment], self.inputs(), as_of, prepared=self.prepare([segment], read_data=False))
        from .inputs.checks import column_sources
        from .backends.polars.features import SCOPE_WORDS

        notes = tuple(f"{column}: {note}" for column, note in plan.computed_predictive.items())
        if self.inputs().identity is not None:
            from .inputs.stitching import RULE

            notes += (f"visitor_id: {RULE}",)
        return Explanation(tuple(describe_segment(segment)), when, notes, plan.frame.explain(),
                           SCOPE_WORDS[plan.scope], column_sources([segment], self.inputs()))

    def predict(self, horizon_days: float):
        """Every visitor's predictions from the models (predict.Predictions)."""
        from .predict import predict_visitors

        self.check_events(conversions=True)
        return predict_visitors(self.inputs(), self.as_of(), horizon_days)


def _close_ids(visitor: str, ids: list[str]) -> str:
    """`; close IDs: ...` for the IDs spelt most like `visitor` (case aside), if any is close."""
    import difflib

    key = visitor.strip().lower()
    by_key: dict[str, str] = {}
    for vid in ids:
        by_key.setdefault(vid.lower(), vid)
    close = difflib.get_close_matches(key, [k for k in by_key if abs(len(k) - len(key)) <= 3], n=3, cutoff=0.6)
    return f"; close IDs: {', '.join(repr(by_key[k]) for k in close)}" if close else ""
