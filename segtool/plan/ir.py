"""The lowered plan: what every backend computes, with the meaning of every rule already decided.

The lowering passes (lower.py) turn the checked rule tree into these nodes; a backend translates each node
type with one small function (backends/polars/translate.py, backends/sql/compiler.py) and assembles the
per-visitor aggregates into its own plan. Nothing here knows an engine.

Expressions are evaluated at two levels with one set of nodes:
- on one row of a table (an event, a conversion, a line item, a profile row): `Column` reads that row;
- on one row per visitor: the aggregates (`EventAggregate`, `ConversionAggregate`, `FirstProfile`,
  `Predicted`, `Chain`, `Bucket`) are that visitor's values, missing (null) for a visitor without rows;
  the lowering says what a missing aggregate counts as (`Coalesce(aggregate, Const(0))`).
Every predicate is two-valued: a test of a missing value is false, never missing, so `Not` is exact.
Instants are UTC; windows and as_of are absolute instants computed once by the lowering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class Node:
    """A node of the lowered plan (immutable; equal nodes are the same computation)."""

    __slots__ = ()


# -- values of one row --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Column(Node):
    """A canonical column of the row's table, typed as the input layer types it (`kind`: text, integer,
    float, instant, date, other; `absent` where the export lacks the column: every value missing)."""

    name: str
    kind: str = "text"


@dataclass(frozen=True, slots=True)
class Const(Node):
    value: object  # None, bool, int, float or str


@dataclass(frozen=True, slots=True)
class Number(Node):
    """A value as a float: numbers as they are, text that reads as one (timeframe.NUMBER_TEXT, white space
    stripped); other text, and NaN, missing."""

    value: Node
    kind: str  # the kind of `value`


@dataclass(frozen=True, slots=True)
class Text(Node):
    """A value of another kind as text: integers in decimal digits, dates as YYYY-MM-DD."""

    value: Node
    kind: str


@dataclass(frozen=True, slots=True)
class Instant(Node):
    """A profile value as a UTC instant: a date-time (naive ones are UTC), a date (its midnight in `zone`),
    or ISO 8601 text (timeframe.ISO_TEXT; a date alone is its midnight in `zone`); anything else missing."""

    value: Node
    kind: str
    zone: str


@dataclass(frozen=True, slots=True)
class Host(Node):
    """The host of a URL (semantics.HOST_PATTERN), lower-cased in ASCII, without a leading `www.` and a
    trailing dot; missing without one."""

    url: Node


@dataclass(frozen=True, slots=True)
class OwnHost(Node):
    """Whether a host is one of `domains` or a subdomain of one (false where the host is missing)."""

    host: Node
    domains: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UrlParameter(Node):
    """The query parameter `name` of a URL (after the first `?`, before any `#`; the last if repeated),
    percent-decoded with `+` as a space; missing where the URL does not carry it."""

    url: Node
    name: str


@dataclass(frozen=True, slots=True)
class Coalesce(Node):
    """The first of `values` that is not missing."""

    values: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Case(Node):
    """The value of the first `(predicate, value)` whose predicate holds, else `default`."""

    whens: tuple[tuple[Node, Node], ...]
    default: Node


@dataclass(frozen=True, slots=True)
class Arithmetic(Node):
    """`left op right` for op in + - * / ** (floats)."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Function(Node):
    """A float function of one float: sin, cos, asin, sqrt."""

    name: str
    value: Node


@dataclass(frozen=True, slots=True)
class Round(Node):
    """A float rounded to `decimals`, half away from zero."""

    value: Node
    decimals: int


@dataclass(frozen=True, slots=True)
class DaysSince(Node):
    """Whole days (rounded down) from an instant to `until` on the wall clock of `zone`: from 10:00 one day to
    10:00 the next is a day, also when the clocks changed in between. Missing where the instant is."""

    instant: Node
    until: datetime  # the last instant that counts (as_of.last_instant)
    zone: str


# -- predicates --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TextTest(Node):
    """A text operator (is, in, contains, starts_with, ends_with, matches) on a text value."""

    value: Node
    op: str
    operand: object  # str, or a tuple of str for `in`
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class NumberTest(Node):
    """A numeric operator (eq, in, lt, lte, gt, gte, between) on a float value."""

    value: Node
    op: str
    operand: object  # float, or a tuple of floats for `in` and `between`


@dataclass(frozen=True, slots=True)
class Present(Node):
    """The value is there: not missing, and for text not empty."""

    value: Node
    text: bool = False


@dataclass(frozen=True, slots=True)
class Within(Node):
    """An instant in a window: after `start` (or at it, when `start_inclusive`), before `end` (or at it);
    None is open."""

    instant: Node
    start: datetime | None
    start_inclusive: bool
    end: datetime | None
    end_inclusive: bool


@dataclass(frozen=True, slots=True)
class And(Node):
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or(Node):
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not(Node):
    part: Node


TRUE, FALSE = Const(True), Const(False)


# -- per-visitor aggregates ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventAggregate(Node):
    """Over the visitor's events up to as_of with a readable timestamp: `any` (some event meets `where`),
    `count` (how many do), `min`/`max` (of `value` over those that do)."""

    fn: str
    where: Node = TRUE
    value: Node | None = None


@dataclass(frozen=True, slots=True)
class OrderHasLine(Node):
    """On a conversion: some line item of its order meets `where` (a predicate on item rows)."""

    where: Node


@dataclass(frozen=True, slots=True)
class ConversionAggregate(Node):
    """Over the visitor's conversions (events of the conversion types up to as_of, an order tracked twice
    counted once: its first event, of events at one instant the lowest value): `count`, `any` (some
    conversion meets `where`), and `sum`/`mean`/`min`/`max` of `value` (missing values left out) over the
    conversions that meet `where`."""

    fn: str
    where: Node = TRUE
    value: Node | None = None


@dataclass(frozen=True, slots=True)
class FirstProfile(Node):
    """A value (or predicate) of the visitor's first profile row."""

    value: Node


@dataclass(frozen=True, slots=True)
class Predicted(Node):
    """A column the models compute per visitor from the events (predictions)."""

    column: str


@dataclass(frozen=True, slots=True)
class Chain(Node):
    """Some chain of the visitor's events e1 … ek: ei meets `steps[i]` (each step's predicate holds the
    period), each strictly later than the one before and at most `within[i]` after it (None: any time); with
    `then_not`, no event meeting it comes after ek and at most `gap` later, and ek + gap is at or before
    `until` (as_of's last instant)."""

    steps: tuple[Node, ...]
    within: tuple[int | None, ...]  # microseconds; the first is None
    then_not: Node | None
    gap: int | None  # microseconds
    until: datetime


@dataclass(frozen=True, slots=True)
class Bucket(Node):
    """The visitor's sample bucket for `seed` (sampling.bucket: 0-9999)."""

    seed: str


AGGREGATES = (EventAggregate, ConversionAggregate, FirstProfile, Predicted, Chain, Bucket)


def children(node: Node) -> tuple[Node, ...]:
    """The nodes directly below `node` (the operands of its expression)."""
    found = []
    for name in node.__slots__:
        value = getattr(node, name)
        if isinstance(value, Node):
            found.append(value)
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, Node):
                    found.append(item)
                elif isinstance(item, tuple):
                    found.extend(v for v in item if isinstance(v, Node))
    return tuple(found)


def walk(node: Node):
    """`node` and every node below it, depth first, without recursion."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


@dataclass(frozen=True)
class SegmentPlan:
    """A segment lowered: its answer per visitor, and with per-rule sizes each top-level rule's."""

    name: str
    answer: Node
    rules: tuple[Node, ...] = ()


@dataclass(frozen=True)
class LoweredPlan:
    segments: tuple[SegmentPlan, ...]
    columns: tuple[str, ...] = ()  # profile columns written beside the IDs
