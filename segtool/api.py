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
            from .engine.features import Inputs
            from .engine.inputs import resolve_table

            def table(name: str):
                spec = getattr(self.overrides, name) or self.config.data.get(name)
                return resolve_table(name, spec, self.config.columns.get(name))

            events = table("events")
            if events is None:
                raise DataError("no events table: set data.events in segtool.yaml or pass --events")
            self._inputs = Inputs(events, table("profiles"), table("items"), self.config)
        return self._inputs

    def as_of(self) -> AsOf:
        if self._as_of is None:
            setting = parse_as_of(self.overrides.as_of or self.config.as_of or NOW)
            if setting == LATEST:
                from .engine.plan import latest_event

                setting = latest_event(self.inputs())
            elif setting == NOW:
                setting = now()
            self._as_of = setting
        return self._as_of

    def plan(self, segments: list[Segment], *, per_rule: bool = False, columns: tuple[str, ...] = ()):
        from .engine.plan import build_plan

        return build_plan(segments, self.inputs(), self.as_of(), per_rule=per_rule, columns=columns)

    def evaluate(self, segments: list[Segment], *, per_rule: bool = False, columns: tuple[str, ...] = ()):
        """One pass over the data: a DataFrame of visitor_id and one boolean column per segment (and rule)."""
        from .engine.plan import collect

        return collect(self.plan(segments, per_rule=per_rule, columns=columns).frame, self.inputs())

    def members(self, segment: Segment) -> list[str]:
        """The segment's visitor IDs, sorted (a convenience for scripts and tests)."""
        from .engine.plan import segment_column

        frame = self.evaluate([segment])
        return sorted(frame.filter(frame[segment_column(0)])["visitor_id"].to_list())
