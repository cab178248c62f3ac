"""The library API the CLI is a thin layer over: configure once, then check, evaluate, explain."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .config import PREDICTIVE_SOURCES, Config, load_config
from .errors import DataError, UsageError
from .parse import check_segments, segment_files
from .timeframe import LATEST, NOW, AsOf, now, parse_as_of
from .tree import Segment


@dataclass
class Overrides:
    """Command-line flags that win over the config."""

    as_of: str | None = None
    events: str | None = None
    profiles: str | None = None
    items: str | None = None
    predictive: str | None = None


@dataclass
class Session:
    config: Config
    overrides: Overrides = field(default_factory=Overrides)
    _inputs: object = None
    _as_of: AsOf | None = None

    @classmethod
    def open(cls, config_path: Path | None = None, overrides: Overrides | None = None) -> "Session":
        overrides = overrides or Overrides()
        config = load_config(config_path)
        if overrides.predictive is not None:
            if overrides.predictive not in PREDICTIVE_SOURCES:
                raise UsageError(f"--predictive must be one of {', '.join(PREDICTIVE_SOURCES)}, "
                                 f"found {overrides.predictive!r}")
            config = replace(config, predictive=overrides.predictive)
        return cls(config, overrides)

    # -- segments (no data read) ---------------------------------------------
    def load_segments(self, paths: list[Path]) -> list[Segment]:
        return check_segments(segment_files(paths), self.config.grid_cells)

    # -- data ----------------------------------------------------------------
    def inputs(self):
        if self._inputs is None:
            from .engine.health import check_epoch_unit
            from .engine.inputs import Inputs, resolve_table

            def table(name: str):
                spec = getattr(self.overrides, name) or self.config.data.get(name)
                return resolve_table(name, spec, self.config.columns.get(name))

            events = table("events")
            if events is None:
                raise DataError("no events table: set data.events in segtool.yaml or pass --events")
            inputs = Inputs(events, table("profiles"), table("items"), self.config)
            check_epoch_unit(inputs)
            self._inputs = inputs
        return self._inputs

    def as_of(self) -> AsOf:
        if self._as_of is None:
            setting = parse_as_of(self.overrides.as_of or self.config.as_of or NOW)
            if setting == LATEST:
                from .engine.plan import event_health, latest_event

                setting = latest_event(event_health(self.inputs(), None), self.inputs())
            elif setting == NOW:
                setting = now()
            self._as_of = setting
        return self._as_of

    def check_output(self, target: Path, segment_files: list[Path]) -> None:
        """Refuse (usage error) an output that would overwrite an input: a data file, a file in an input
        directory or matching an input glob, the config, or a segment file of the run."""
        from fnmatch import fnmatch

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
        inputs = self.inputs()
        return [t for t in (inputs.events, inputs.profiles, inputs.items) if t is not None]

    def check_data(self, segments: list[Segment], columns: tuple[str, ...] = ()) -> None:
        """The names the segments, the config and `columns` use must exist in the data (schemas only)."""
        from .engine.checks import check_names

        check_names(segments, self.inputs(), columns)

    def reads_conversions(self, segments: list[Segment]) -> bool:
        """Whether evaluating the segments reads conversions (conversion or grid rules, or predictions)."""
        from .engine.checks import reads_conversions

        return reads_conversions(segments, self.inputs())

    def check_events(self, conversions: bool = True):
        """The health of every event row (skipped rows, timestamps, conversion types), checked: one pass."""
        from .engine.plan import event_health

        return event_health(self.inputs(), self.as_of(), conversions)

    def plan(self, segments: list[Segment], *, per_rule: bool = False, columns: tuple[str, ...] = ()):
        from .engine.plan import build_plan

        self.check_data(segments, columns)
        return build_plan(segments, self.inputs(), self.as_of(), per_rule=per_rule, columns=columns)

    def run(self, segments: list[Segment], *, per_rule: bool = False, columns: tuple[str, ...] = ()) -> Evaluation:
        """One pass over the data: every segment (and rule, with `per_rule`) as a boolean column per visitor."""
        from .engine.plan import run_plan

        plan = self.plan(segments, per_rule=per_rule, columns=columns)
        frame, health = run_plan(plan, self.inputs(), self.as_of())
        return Evaluation(frame, health, plan.computed_predictive)

    def evaluate(self, segments: list[Segment], *, per_rule: bool = False, columns: tuple[str, ...] = ()):
        """A DataFrame of visitor_id and one boolean column per segment (and rule)."""
        return self.run(segments, per_rule=per_rule, columns=columns).frame

    def members(self, segment: Segment) -> list[str]:
        """The segment's visitor IDs, sorted (a convenience for scripts and tests)."""
        from .engine.plan import segment_column

        frame = self.evaluate([segment])
        return sorted(frame.filter(frame[segment_column(0)])["visitor_id"].to_list())


@dataclass
class Evaluation:
    """What one run computed: `frame` has visitor_id, `profile:<column>`s asked for, and a boolean column per
    segment (`segment:<i>`) and, with per_rule, per top-level rule; `health` is what the pass over the events
    found (None when the run read no events)."""

    frame: object  # polars.DataFrame
    health: object | None  # engine.health.EventHealth
    computed_predictive: dict[str, str]
