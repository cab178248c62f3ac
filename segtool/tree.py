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


Period = Union[LastPeriod, FixedPeriod]


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


Rule = Union[Condition, AllOf, AnyOf, Not]


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
    """Every Condition in a rule tree, depth first."""
    if isinstance(rule, Condition):
        yield rule
    elif isinstance(rule, Not):
        yield from conditions(rule.rule)
    else:
        for child in rule.rules:
            yield from conditions(child)
