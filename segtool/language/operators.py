"""The operator catalog: names, the values they take, and their wording.

Engine-independent. A negative operator is stored as its positive form plus a
`negated` flag, because every negative operator is exactly `not` of its
positive form (so it also matches missing values).
"""

from __future__ import annotations

from dataclasses import dataclass

# Kinds of value an operator takes.
TEXT = "text"          # one text value
NUMBER = "number"      # one number
SCALAR = "scalar"      # text or number, compared by the field's type
LIST = "list"          # a non-empty list of scalars
RANGE = "range"        # [lo, hi]
BOOL = "bool"          # true / false
DURATION = "duration"  # a length of time: 30d, 12h, 2w


@dataclass(frozen=True)
class OperatorSpec:
    name: str
    positive: str
    negated: bool
    takes: str
    wording: str
    families: frozenset[str]  # value types of fields it applies to: "text", "number"


_TEXT = frozenset({"text"})
_NUM = frozenset({"number", "instant"})  # on an instant: whole days since it, up to as_of
_BOTH = frozenset({"text", "number"})
_ANY = frozenset({"text", "number", "instant"})
_INSTANT = frozenset({"instant"})


def _spec(name, positive, negated, takes, wording, families):
    return OperatorSpec(name, positive, negated, takes, wording, families)


OPERATORS: dict[str, OperatorSpec] = {
    s.name: s
    for s in (
        _spec("is", "is", False, SCALAR, "is", _BOTH),
        _spec("is_not", "is", True, SCALAR, "is not", _BOTH),
        _spec("in", "in", False, LIST, "is one of", _BOTH),
        _spec("not_in", "in", True, LIST, "is not one of", _BOTH),
        _spec("contains", "contains", False, TEXT, "contains", _TEXT),
        _spec("not_contains", "contains", True, TEXT, "does not contain", _TEXT),
        _spec("starts_with", "starts_with", False, TEXT, "starts with", _TEXT),
        _spec("ends_with", "ends_with", False, TEXT, "ends with", _TEXT),
        _spec("matches", "matches", False, TEXT, "matches the regular expression", _TEXT),
        _spec("eq", "eq", False, NUMBER, "=", _NUM),
        _spec("ne", "eq", True, NUMBER, "≠", _NUM),
        _spec("lt", "lt", False, NUMBER, "<", _NUM),
        _spec("lte", "lte", False, NUMBER, "≤", _NUM),
        _spec("gt", "gt", False, NUMBER, ">", _NUM),
        _spec("gte", "gte", False, NUMBER, "≥", _NUM),
        _spec("between", "between", False, RANGE, "is between", _NUM),
        _spec("is_set", "is_set", False, BOOL, "is set", _ANY),
        _spec("within", "within", False, DURATION, "is within the last", _INSTANT),
        _spec("before", "before", False, DURATION, "is before the last", _INSTANT),
    )
}

# Operators that accept `ignore_case: true` beside them.
CASE_OPERATORS = frozenset({"is", "is_not", "in", "not_in", "contains", "not_contains", "starts_with", "ends_with", "matches"})


@dataclass(frozen=True)
class Predicate:
    """A checked operator application: `op` is always a positive operator name."""

    op: str
    value: object  # str | float | tuple[...] | bool
    negated: bool = False
    ignore_case: bool = False
    written: str = ""  # the operator as the user wrote it, for explain

    @property
    def takes_duration(self) -> bool:
        return self.op in ("within", "before")


def describe_predicate(p: Predicate) -> str:
    """`is not one of ['a', 'b'] (ignoring case)` — for explain."""
    if p.op == "is_set":
        present = bool(p.value) != p.negated
        return "is set" if present else "is not set"
    spec = OPERATORS[p.written or p.op]
    wording = spec.wording if p.written else ("not " if p.negated else "") + spec.wording
    if p.takes_duration:
        text = f"{wording} {p.value.amount} {p.value.unit[:-1] if p.value.amount == 1 else p.value.unit}"
    elif isinstance(p.value, tuple) and p.op == "between":
        text = f"{wording} {_fmt(p.value[0])} and {_fmt(p.value[1])}"
    elif isinstance(p.value, tuple):
        text = f"{wording} [{', '.join(_fmt(v) for v in p.value)}]"
    else:
        text = f"{wording} {_fmt(p.value)}"
    return text + (" (ignoring case)" if p.ignore_case else "")


def _fmt(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):  # quoted, as written: a regex's backslashes are not doubled
        return f"'{value}'" if "'" not in value else f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(map(_fmt, value)) + "]"
    return str(value)
