"""The checked rule tree. Immutable, engine-independent: backends compile it.

Locations are kept for messages but left out of equality, so two identical
conditions in different files compare (and hash) equal and share one aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Union

from .catalog import FieldSpec
from .errors import Location
from .operators import Predicate


@dataclass(frozen=True)
class LastPeriod:
    """A dynamic period: the `amount` units that end at as_of."""

    amount: int
    unit: str  # "hours" | "days" | "weeks"

    def describe(self) -> str:
        unit = self.unit[:-1] if self.amount == 1 else self.unit
        return f"in the last {self.amount} {unit}"


@dataclass(frozen=True)
class FixedPeriod:
    """Whole UTC days from `start` to `end`, both inclusive."""

    start: date
    end: date

    def describe(self) -> str:
        return f"from {self.start.isoformat()} to {self.end.isoformat()}"


@dataclass(frozen=True)
class RelativePeriod:
    """Between `start` and `end` before as_of: `{from: 90d, to: 30d}` is between 90 and 30 days ago."""

    start: LastPeriod
    end: LastPeriod

    def describe(self) -> str:
        return (f"between {self.start.amount} {self.start.unit} and {self.end.amount} {self.end.unit} ago"
                if self.start.unit == self.end.unit else
                f"between {self.start.describe()[12:]} and {self.end.describe()[12:]} ago")


Period = Union[LastPeriod, FixedPeriod, RelativePeriod]


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
class Segment:
    name: str
    description: str
    root: AllOf | AnyOf
    file: str = ""

    @property
    def top_rules(self) -> tuple[Rule, ...]:
        return self.root.rules


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
