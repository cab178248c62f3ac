"""What the library API returns: typed results that the CLI renders without knowing the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .language.grid import GridCell
from .language.timeframe import AsOf
from .language.tree import Segment

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class SegmentResult:
    segment: Segment
    members: "pl.DataFrame"  # visitor_id and the requested profile columns, sorted by visitor_id, unique
    rule_sizes: tuple[int, ...] = ()  # each top-level rule on its own (when asked for)

    @property
    def size(self) -> int:
        return self.members.height


@dataclass(frozen=True)
class SourceIds:
    """What one source of a table joined by person contributed, as of the run's as_of (inputs/stitching.py)."""

    table: str  # events or profiles
    source: str  # where the config names it: data.events[1]
    read_from: str  # its files, and how they are read
    person: str  # the column its person key comes from ("" where it has none)
    rows: int  # its rows with a visitor (events: up to as_of, with a readable timestamp)
    ids: int  # the visitors its rows belong to
    persons: int  # of those, persons (visitors named by a person key)
    devices: int  # devices (its visitor_id) with rows that carry no person key
    devices_stitched: int  # of those, devices whose rows belong to a person through a key the device carried
    joined: int  # its visitors that another source has too
    unmatched: int | None = None  # profiles: its visitors without an event up to as_of


@dataclass(frozen=True)
class IdentityCounts:
    visitors: int  # in all the joined sources
    persons: int  # of those, persons
    joined: int  # visitors that two sources or more have
    sources: tuple[SourceIds, ...]


def identity_data(counts: IdentityCounts) -> dict:
    """The counts as the summary's JSON and the manifest write them."""
    return {"visitors": counts.visitors, "persons": counts.persons, "joined": counts.joined,
            "sources": [{k: v for k, v in vars(s).items() if k != "unmatched" or v is not None}
                        for s in counts.sources]}


@dataclass(frozen=True)
class RunResult:
    as_of: AsOf
    universe: int  # visitors in the universe (profiles ∪ events up to as_of), or in the narrower one used
    segments: tuple[SegmentResult, ...]
    skipped_event_rows: int = 0  # rows without a visitor or a readable timestamp
    notes: dict[str, str] = field(default_factory=dict)  # column -> how it was computed from events
    event_rows: int | None = None  # event rows up to as_of that the run read (when it counted them)
    set_aside: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> reason -> rows a preset left out
    identity: IdentityCounts | None = None  # where sources are joined by person (and it was asked for)


@dataclass(frozen=True)
class Rows:
    """Rows of one visitor that a rule's aggregate counted (`segtool why`): the first few, and how many."""

    table: str  # events or conversions
    total: int
    first: "pl.DataFrame"  # by timestamp: the timestamp, and the columns the rule's test reads


@dataclass(frozen=True)
class RuleVerdict:
    """Whether one rule of the segment (a group, a reference, a condition) holds for the visitor, and why."""

    depth: int  # 0: the segment's root; its rules 1, theirs 2, ...
    text: str  # the rule in words, on one line
    met: bool
    values: tuple[tuple[str, object], ...] = ()  # what the test read for the visitor, in words, and its value
    rows: tuple[Rows, ...] = ()


@dataclass(frozen=True)
class WhyResult:
    visitor: str
    segment: Segment
    as_of: AsOf
    member: bool  # as a run finds it
    rules: tuple[RuleVerdict, ...]  # the rule tree, depth first


@dataclass(frozen=True)
class GridResult:
    as_of: AsOf
    cells: tuple[GridCell, ...]
    counts: "pl.DataFrame"  # cell (null: no cell), visitors; every configured cell listed, zeros included


@dataclass(frozen=True)
class ColumnSources:
    table: str  # events, profiles or items
    read_from: str  # the table's files and how they are read (a preset, a `columns:` mapping)
    columns: tuple[tuple[str, tuple[str, ...]], ...]  # canonical column, the export's columns it comes from


@dataclass(frozen=True)
class Explanation:
    words: tuple[str, ...]  # the rules in plain words
    as_of: str  # the instant, or how it will be found
    notes: tuple[str, ...]  # where predictive columns come from
    plan: str  # the polars query plan, optimized
    universe: str = ""  # which visitors the plan goes over, in words
    sources: tuple[ColumnSources, ...] = ()  # where the columns the rules read come from, where renamed
