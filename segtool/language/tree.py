"""The checked rule tree. Immutable, engine-independent: backends compile it.

Locations are kept for messages but left out of equality, so two identical
conditions in different files compare (and hash) equal and share one aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Union

from .catalog import FieldSpec
from ..errors import Location
from .operators import Predicate


@dataclass(frozen=True)
class LastPeriod:
    """A dynamic period: the `amount` units that end at as_of. Hours, days and weeks are exact durations;
    months and years are calendar steps (a month back from 31 March is the last day of February)."""

    amount: int
    unit: str  # "hours" | "days" | "weeks" | "months" | "years"

    def describe(self) -> str:
        return f"in the last {self.length()}"

    def length(self) -> str:
        return f"{self.amount} {self.unit[:-1] if self.amount == 1 else self.unit}"


Moment = Union[date, datetime]  # a whole day, or an instant (naive: in the configured time zone)


@dataclass(frozen=True)
class FixedPeriod:
    """From `start` to `end`, both inclusive: a date is the whole day (in the configured time zone), a
    datetime that instant. A missing end is as_of; a missing start, the beginning of the data."""

    start: Moment | None
    end: Moment | None

    def describe(self) -> str:
        if self.end is None:
            return f"since {_moment(self.start)}"
        if self.start is None:
            return f"up to {_moment(self.end)}"
        return f"from {_moment(self.start)} to {_moment(self.end)}"


@dataclass(frozen=True)
class RelativePeriod:
    """Between `start` and `end` before as_of: `{from: 90d, to: 30d}` is between 90 and 30 days ago; without
    a start, everything up to `end` ago."""

    start: LastPeriod | None
    end: LastPeriod

    def describe(self) -> str:
        if self.start is None:
            return f"more than {self.end.length()} ago"
        if self.start.unit == self.end.unit:
            return f"between {self.start.amount} and {self.end.amount} {self.end.unit} ago"
        return f"between {self.start.length()} and {self.end.length()} ago"


@dataclass(frozen=True)
class CalendarPeriod:
    """`{this: month}`: from the start of the calendar unit that holds as_of, up to as_of; `{previous:
    month}`: the whole unit before it (weeks start on Monday; in the configured time zone)."""

    which: str  # "this" | "previous"
    unit: str   # "day" | "week" | "month" | "quarter" | "year"

    def describe(self) -> str:
        return f"{'this' if self.which == 'this' else 'the previous'} {self.unit}" + \
            (" so far" if self.which == "this" else "")


def _moment(value: Moment) -> str:
    return value.isoformat()


Period = Union[LastPeriod, FixedPeriod, RelativePeriod, CalendarPeriod]


@dataclass(frozen=True)
class WithinKm:
    """Great-circle distance from a point at most `km`."""

    km: float
    latitude: float
    longitude: float
    place: str | None = None  # the place as resolved, for explain

    def describe(self) -> str:
        where = f"{self.place} " if self.place else ""
        return f"is within {self.km:g} km of {where}({self.latitude:.4f}, {self.longitude:.4f})"


@dataclass(frozen=True)
class ItemCondition:
    """A condition on one line item's column."""

    column: str
    predicate: Predicate


@dataclass(frozen=True)
class EventCondition:
    """A condition on one event's value: `field` as written in the segment (`type`, `url`, `utm_medium`,
    `properties.colour`), `column` the events column it reads."""

    field: str
    column: str
    predicate: Predicate
    value_type: str = "text"


@dataclass(frozen=True)
class EventRule:
    """How many of the visitor's events (in the period) meet every condition, on one and the same event."""

    conditions: tuple[EventCondition, ...]
    count: Predicate
    period: Period | None = None
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Step:
    """A step of a sequence: an event meeting `conditions`, at most `within` after the step before it."""

    conditions: tuple[EventCondition, ...]
    within: LastPeriod | None = None


@dataclass(frozen=True)
class Sequence:
    """Events meeting the steps in order (each strictly later than the one before, within its `within`), all
    in the period; with `then_not`, no event meeting it within its `within` after the last step."""

    steps: tuple[Step, ...]
    then_not: Step | None = None
    period: Period | None = None
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SegmentRef:
    """The members of another segment (of the run, the configured library or the same folder): `target` once resolved."""

    name: str
    loc: Location | None = field(default=None, compare=False)
    target: "Segment | None" = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Sample:
    """A stable share of the visitors: int(md5(seed + ':' + visitor_id)[:8], 16) mod 10000 < percent × 100."""

    percent: float
    seed: str
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Condition:
    field: FieldSpec
    predicate: Predicate | WithinKm
    period: Period | None = None
    items: tuple[ItemCondition, ...] = ()
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AllOf:
    rules: tuple["Rule", ...]
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AnyOf:
    rules: tuple["Rule", ...]
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Not:
    rule: "Rule"
    loc: Location | None = field(default=None, compare=False)


Rule = Union[Condition, EventRule, Sequence, SegmentRef, Sample, AllOf, AnyOf, Not]


@dataclass(frozen=True)
class Expectation:
    """`expect:` of a segment file: bounds a run checks its size against (max_change: a fraction of the
    previous run's size, from the output directory's manifest)."""

    min_size: int | None = None
    max_size: int | None = None
    max_change: float | None = None
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Segment:
    name: str
    description: str
    root: AllOf | AnyOf
    file: str = ""
    tags: tuple[str, ...] = ()
    expect: Expectation | None = None

    @property
    def top_rules(self) -> tuple[Rule, ...]:
        return self.root.rules


def with_references(segments: list[Segment]) -> list[Segment]:
    """The segments and every segment they reference, directly or not, each once: what a run computes."""
    found: dict[int, Segment] = {}
    waiting = list(reversed(segments))
    while waiting:
        segment = waiting.pop()
        if id(segment) not in found:
            found[id(segment)] = segment
            waiting += [node.target for node in nodes(segment.root)
                        if isinstance(node, SegmentRef) and node.target is not None]
    return list(found.values())


def conditions(rule: Rule):
    """Every Condition in a rule tree, depth first (not those of referenced segments)."""
    for node in nodes(rule):
        if isinstance(node, Condition):
            yield node


def nodes(rule: Rule):
    """Every node of a rule tree, depth first (not those of referenced segments)."""
    yield rule
    if isinstance(rule, Not):
        yield from nodes(rule.rule)
    elif isinstance(rule, (AllOf, AnyOf)):
        for child in rule.rules:
            yield from nodes(child)
