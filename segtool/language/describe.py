"""The rule tree in plain words, for `explain` and the summary."""

from __future__ import annotations

from dataclasses import replace
from functools import singledispatch

from .catalog import REFERRER_UTM
from .operators import describe_predicate
from .tree import AllOf, AnyOf, Condition, EventRule, Not, Sample, Segment, SegmentRef, Sequence, WithinKm


def describe_segment(segment: Segment) -> list[str]:
    head = f"{segment.name}: visitors who match {'all' if isinstance(segment.root, AllOf) else 'one or more'} of"
    lines = [head + (f"  ({segment.description})" if segment.description else "")]
    for rule in segment.top_rules:
        lines.extend("  " + line for line in describe_rule(rule))
    return lines


@singledispatch
def describe_rule(rule) -> list[str]:
    raise TypeError(f"cannot describe {type(rule).__name__}")


@describe_rule.register
def _(rule: Condition) -> list[str]:
    return ["- " + describe_condition(rule)]


@describe_rule.register
def _(rule: EventRule) -> list[str]:
    events = f"events where {_conditions(rule.conditions)}" if rule.conditions else "events"
    text = f"number of {events} {describe_predicate(rule.count)}"
    return ["- " + text + (f", {rule.period.describe()}" if rule.period else "")]


@describe_rule.register
def _(rule: Sequence) -> list[str]:
    parts = [f"an event where {_conditions(rule.steps[0].conditions) or 'anything'}"]
    for step in rule.steps[1:]:
        within = f" within {_duration(step.within)}" if step.within else ""
        parts.append(f"then{within} an event where {_conditions(step.conditions) or 'anything'}")
    text = "a sequence: " + ", ".join(parts)
    if rule.then_not:
        text += (f", then no event where {_conditions(rule.then_not.conditions) or 'anything'} within "
                 f"{_duration(rule.then_not.within)}")
    return ["- " + text + (f"; steps {rule.period.describe()}" if rule.period else "")]


@describe_rule.register
def _(rule: SegmentRef) -> list[str]:
    return [f"- in segment {rule.name!r}"]


@describe_rule.register
def _(rule: Sample) -> list[str]:
    return [f"- in the {rule.percent:g}% sample {rule.seed!r}"]


def _conditions(conditions) -> str:
    return " and ".join(f"{c.field} {describe_predicate(c.predicate)}" for c in conditions)


def _duration(period) -> str:
    return f"{period.amount} {period.unit[:-1] if period.amount == 1 else period.unit}"


def _group(rule, word: str) -> list[str]:
    lines = [f"- {word} of:"]
    for child in rule.rules:
        lines.extend("  " + line for line in describe_rule(child))
    return lines


@describe_rule.register
def _(rule: AllOf) -> list[str]:
    return _group(rule, "all")


@describe_rule.register
def _(rule: AnyOf) -> list[str]:
    return _group(rule, "one or more")


@describe_rule.register
def _(rule: Not) -> list[str]:
    inner = describe_rule(rule.rule)
    if len(inner) == 1:
        return ["- not: " + inner[0][2:]]
    return ["- none of:"] + ["  " + line for line in inner]


def describe_condition(rule: Condition) -> str:
    if isinstance(rule.predicate, WithinKm):
        return f"location {rule.predicate.describe()}"
    p = rule.predicate
    if rule.field.family == REFERRER_UTM:
        quantifier = "no event's" if p.negated else "an event's"
        text = f"{quantifier} {rule.field.subject} {describe_predicate(replace(p, negated=False, written='') if p.negated else p)}"
    elif rule.field.value_type == "instant" and not p.takes_duration and p.op != "is_set":
        text = f"days since {rule.field.subject} {describe_predicate(p)}"
    else:
        text = f"{rule.field.subject} {describe_predicate(p)}"
    if rule.items:
        conds = " and ".join(f"{c.column} {describe_predicate(c.predicate)}" for c in rule.items)
        text += f", counting conversions with a line item whose {conds}"
    if rule.period is not None:
        text += f", {rule.period.describe()}"
    return text


def rule_text(rule) -> str:
    """A top-level rule in words on one line, whole (JSON summaries, the manifest)."""
    lines = describe_rule(rule)
    return lines[0][2:] if len(lines) == 1 else " ".join(line.strip().lstrip("- ") for line in lines)


def short_rule(text: str, width: int = 90) -> str:
    """A rule's text cut to fit a table cell."""
    return text if len(text) <= width else text[:width - 3] + "..."


def outline(rule, depth: int = 0):
    """(depth, rule, its text on one line) for the rule and every rule under it, depth first: a group's
    heading (all of, one or more of, not), a reference followed by the rules of the segment it names."""
    if isinstance(rule, (AllOf, AnyOf)):
        yield depth, rule, "all of:" if isinstance(rule, AllOf) else "one or more of:"
        for child in rule.rules:
            yield from outline(child, depth + 1)
    elif isinstance(rule, Not):
        yield depth, rule, "not:"
        yield from outline(rule.rule, depth + 1)
    elif isinstance(rule, SegmentRef):
        yield depth, rule, f"in segment {rule.name!r}:"
        if rule.target is not None:
            yield from outline(rule.target.root, depth + 1)
    else:
        yield depth, rule, rule_text(rule)
